/* Quicksort of 10M pseudo-random ints (insertion sort below 16). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static void sort(int32_t *a, long lo, long hi) {
    while (hi - lo > 16) {
        int32_t p = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) { int32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { sort(a, lo, j); lo = i; } else { sort(a, i, hi); hi = j; }
    }
    for (long i = lo + 1; i <= hi; i++) {
        int32_t v = a[i];
        long k = i - 1;
        while (k >= lo && a[k] > v) { a[k + 1] = a[k]; k--; }
        a[k + 1] = v;
    }
}
int main(void) {
    long n = 10000000;
    int32_t *a = malloc(sizeof(int32_t) * n);
    uint32_t s = 12345;
    for (long i = 0; i < n; i++) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; a[i] = (int32_t)s; }
    sort(a, 0, n - 1);
    for (long i = 1; i < n; i++) if (a[i - 1] > a[i]) { puts("unsorted"); return 1; }
    printf("sorted %ld, median %d\n", n, a[n / 2]);
    return 0;
}
