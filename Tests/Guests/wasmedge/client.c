/* An HTTP/1.1 client written against WasmEdge's socket ABI as WasmEdge 0.12 and later define it
 * for C: sock_getaddrinfo to resolve, the `_v2` names with the 128-byte address storage
 * (sock_connect_v2, sock_getlocaladdr_v2), the 3-parameter (V2) sock_getpeeraddr bound by type,
 * and sock_send_v2/sock_recv_v2.
 *
 *   client get HOST PORT PATH
 *   client post HOST PORT PATH BODY
 *   client resolve HOST SERVICE       (prints what sock_getaddrinfo answers)
 *   client udp HOST PORT TEXT         (sock_send_to_v2, then sock_recv_from_v2)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

typedef struct { uint8_t *buf; uint32_t size; } WasiAddress;
typedef struct { uint8_t *buf; uint32_t size; } Iovec;
typedef struct { uint16_t family; uint8_t address[126]; } AddrStorage;  /* WasiAddrStorage */
typedef struct { uint8_t family; uint32_t sa_data_len; uint8_t *sa_data; } Sockaddr;
typedef struct {
    uint16_t ai_flags; uint8_t ai_family; uint8_t ai_socktype; uint8_t ai_protocol;
    uint32_t ai_addrlen; Sockaddr *ai_addr; char *ai_canonname; uint32_t ai_canonname_len; void *ai_next;
} Addrinfo;

IMPORT("sock_open_v2") uint32_t sock_open(uint8_t family, uint8_t type, uint32_t *fd);
IMPORT("sock_connect_v2") uint32_t sock_connect(uint32_t fd, WasiAddress *addr, uint32_t port);
IMPORT("sock_send_v2") uint32_t sock_send(uint32_t fd, const Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len);
IMPORT("sock_recv_v2") uint32_t sock_recv(uint32_t fd, Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len, uint16_t *oflags);
IMPORT("sock_send_to_v2") uint32_t sock_send_to(uint32_t fd, const Iovec *iov, uint32_t n, WasiAddress *addr, uint32_t port,
                                                uint16_t flags, uint32_t *len);
IMPORT("sock_recv_from_v2") uint32_t sock_recv_from(uint32_t fd, Iovec *iov, uint32_t n, WasiAddress *addr, uint16_t flags,
                                                    uint16_t *port, uint32_t *len, uint16_t *oflags);
IMPORT("sock_getlocaladdr_v2") uint32_t sock_getlocaladdr(uint32_t fd, WasiAddress *addr, uint32_t *port);
IMPORT("sock_getpeeraddr") uint32_t sock_getpeeraddr(uint32_t fd, WasiAddress *addr, uint32_t *port);
IMPORT("sock_getaddrinfo") uint32_t sock_getaddrinfo(const char *node, uint32_t node_len, const char *service,
                                                     uint32_t service_len, const Addrinfo *hints, uint32_t *res,
                                                     uint32_t max, uint32_t *res_len);

static void fail(const char *what, uint32_t e) {
    printf("%s: error %u\n", what, e);
    fflush(stdout);
    exit(1);
}

static void show(const char *what, AddrStorage *s, uint32_t port) {
    if (s->family == 1)
        printf("%s family 1 %u.%u.%u.%u port %u\n", what, s->address[0], s->address[1], s->address[2], s->address[3], port);
    else
        printf("%s family %u port %u\n", what, s->family, port);
}

#define MAX 8
static Addrinfo results[MAX];
static Sockaddr sockaddrs[MAX];
static uint8_t data[MAX][26];

/* Resolves HOST/SERVICE into `results`; returns the count. */
static uint32_t resolve(const char *host, const char *service, uint8_t socktype) {
    for (int i = 0; i < MAX; i++) {
        sockaddrs[i].sa_data = data[i];
        results[i].ai_addr = &sockaddrs[i];
        results[i].ai_next = i + 1 < MAX ? &results[i + 1] : NULL;
    }
    Addrinfo hints = {0};
    hints.ai_socktype = socktype;
    uint32_t res = (uint32_t)(uintptr_t)results, count = 0;
    /* As the crate: the strings carry their NUL, counted in the length. */
    uint32_t e = sock_getaddrinfo(host, strlen(host) + 1, service, strlen(service) + 1, &hints, &res, MAX, &count);
    if (e) fail("sock_getaddrinfo", e);
    return count;
}

static uint32_t connect_to(const char *host, const char *service) {
    uint32_t count = resolve(host, service, 2);
    for (uint32_t i = 0; i < count; i++) {
        Addrinfo *ai = &results[i];
        if (ai->ai_family != 1) continue;
        uint16_t port = ai->ai_addr->sa_data[0] << 8 | ai->ai_addr->sa_data[1];
        AddrStorage s = {.family = 1};
        memcpy(s.address, ai->ai_addr->sa_data + 2, 4);
        uint32_t fd, e;
        if ((e = sock_open(1, 2, &fd))) fail("sock_open", e);
        WasiAddress a = {(uint8_t *)&s, 128};
        if ((e = sock_connect(fd, &a, port))) fail("sock_connect", e);
        AddrStorage peer = {0}, local = {0};
        WasiAddress p = {(uint8_t *)&peer, 128}, l = {(uint8_t *)&local, 128};
        uint32_t pport = 0, lport = 0;
        if ((e = sock_getpeeraddr(fd, &p, &pport))) fail("sock_getpeeraddr", e);
        if ((e = sock_getlocaladdr(fd, &l, &lport))) fail("sock_getlocaladdr", e);
        show("connected to", &peer, pport);
        show("from", &local, lport);
        return fd;
    }
    fail("no IPv4 address", 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "resolve")) {
        uint32_t count = resolve(argv[2], argv[3], 0);
        for (uint32_t i = 0; i < count; i++) {
            Addrinfo *ai = &results[i];
            uint8_t *d = ai->ai_addr->sa_data;
            printf("answer family %u socktype %u protocol %u addrlen %u sa_data_len %u port %u ", ai->ai_family,
                   ai->ai_socktype, ai->ai_protocol, ai->ai_addrlen, ai->ai_addr->sa_data_len, d[0] << 8 | d[1]);
            if (ai->ai_family == 1) printf("%u.%u.%u.%u\n", d[2], d[3], d[4], d[5]);
            else printf("ipv6 last byte %u\n", d[21]);
        }
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "udp")) {
        uint32_t count = resolve(argv[2], argv[3], 1), fd, e;
        if (count == 0 || results[0].ai_family != 1) fail("resolve", 0);
        uint8_t *d = results[0].ai_addr->sa_data;
        AddrStorage s = {.family = 1};
        memcpy(s.address, d + 2, 4);
        if ((e = sock_open(1, 1, &fd))) fail("sock_open", e);
        WasiAddress a = {(uint8_t *)&s, 128};
        Iovec v = {(uint8_t *)argv[4], strlen(argv[4])};
        uint32_t sent = 0;
        if ((e = sock_send_to(fd, &v, 1, &a, d[0] << 8 | d[1], 0, &sent))) fail("sock_send_to_v2", e);
        AddrStorage from = {0};
        WasiAddress f = {(uint8_t *)&from, 128};
        char buf[512];
        Iovec r = {(uint8_t *)buf, sizeof buf - 1};
        uint16_t port = 0, of = 0;
        uint32_t n = 0;
        if ((e = sock_recv_from(fd, &r, 1, &f, 0, &port, &n, &of))) fail("sock_recv_from_v2", e);
        buf[n] = 0;
        show("reply from", &from, port);
        printf("reply: %s\n", buf);
        return 0;
    }
    if (argc < 5) { fprintf(stderr, "usage: client get|post HOST PORT PATH [BODY]\n"); return 2; }
    int post = !strcmp(argv[1], "post");
    const char *body = post && argc > 5 ? argv[5] : "";
    uint32_t fd = connect_to(argv[2], argv[3]), e;
    char request[1024];
    int n = post ? snprintf(request, sizeof request,
                            "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                            argv[4], argv[2], strlen(body), body)
                 : snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", argv[4], argv[2]);
    /* Two iovecs: the request split in the middle. */
    Iovec v[2] = {{(uint8_t *)request, n / 2}, {(uint8_t *)request + n / 2, n - n / 2}};
    uint32_t sent = 0;
    if ((e = sock_send(fd, v, 2, 0, &sent))) fail("sock_send", e);
    if (sent != (uint32_t)n) fail("short send", sent);
    printf("response:\n");
    for (;;) {
        char buf[4096];
        Iovec r = {(uint8_t *)buf, sizeof buf};
        uint32_t got = 0;
        uint16_t of = 0;
        if ((e = sock_recv(fd, &r, 1, 0, &got, &of))) fail("sock_recv", e);
        if (got == 0) break;
        fwrite(buf, 1, got, stdout);
    }
    printf("\nend of response\n");
    close(fd);
    return 0;
}
