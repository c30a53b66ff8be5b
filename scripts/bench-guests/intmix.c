/* An integer mix in the spirit of CoreMark: list walking, a small matrix product, a state
   machine over bytes and a CRC, repeated. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#define N 64
static uint32_t crc32_step(uint32_t crc, uint8_t b) {
    crc ^= b;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    return crc;
}
int main(void) {
    static int32_t a[N][N], b[N][N], c[N][N];
    static uint8_t text[4096];
    static int next[1024];
    uint32_t crc = 0xffffffffu, seed = 1;
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { a[i][j] = (i * 7 + j) % 13; b[i][j] = (i + j * 3) % 11; }
    for (int i = 0; i < 4096; i++) { seed = seed * 1103515245u + 12345u; text[i] = (uint8_t)(seed >> 16); }
    for (int i = 0; i < 1024; i++) next[i] = (i * 389 + 1) % 1024;
    for (int round = 0; round < 600; round++) {
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) {
            int32_t s = 0;
            for (int k = 0; k < N; k++) s += a[i][k] * b[k][j];
            c[i][j] = s;
        }
        int state = 0, counts[4] = {0};
        for (int i = 0; i < 4096; i++) {
            uint8_t ch = text[i] ^ (uint8_t)round;
            state = (ch < 64) ? (state + 1) & 3 : (ch < 128) ? (state ^ 2) : (ch < 192) ? 0 : state;
            counts[state]++;
            crc = crc32_step(crc, ch);
        }
        int p = 0;
        for (int i = 0; i < 200000; i++) p = next[p];
        crc ^= (uint32_t)(c[round % N][(round * 5) % N] + counts[round & 3] + p);
    }
    printf("intmix crc %08x\n", crc);
    return 0;
}
