/* An HTTP/1.1 server written against WasmEdge's socket ABI as the wasmedge_wasi_socket crate
 * (0.5.5) imports it: V1 sock_accept (2 parameters), V1 sock_getlocaladdr/sock_getpeeraddr
 * (4 parameters, family written as 4 or 6), V2-shaped sock_recv_from (8 parameters), and the
 * calls both versions share. Answers GET /hello and POST /echo, keeps connections alive, and
 * exits after the given number of connections.
 *
 *   httpd ADDR PORT CONNECTIONS     (PORT 0: the kernel picks one; the port is printed)
 *   httpd udp ADDR PORT             (echoes one datagram back, through sock_recv_from/send_to)
 *   httpd mix                       (one socket through both versions of accept and getlocaladdr)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

typedef struct { const uint8_t *buf; uint32_t size; } WasiAddress;  /* __wasi_address_t */
typedef struct { uint8_t *buf; uint32_t size; } Iovec;

IMPORT("sock_open") uint32_t sock_open(uint8_t family, uint8_t type, uint32_t *fd);
IMPORT("sock_bind") uint32_t sock_bind(uint32_t fd, WasiAddress *addr, uint32_t port);
IMPORT("sock_listen") uint32_t sock_listen(uint32_t fd, uint32_t backlog);
IMPORT("sock_accept") uint32_t sock_accept(uint32_t fd, uint32_t *newfd);
IMPORT("sock_recv") uint32_t sock_recv(uint32_t fd, Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len, uint32_t *oflags);
IMPORT("sock_send") uint32_t sock_send(uint32_t fd, const Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len);
IMPORT("sock_recv_from") uint32_t sock_recv_from(uint32_t fd, Iovec *iov, uint32_t n, uint8_t *addr, uint16_t flags,
                                                 uint32_t *port, uint32_t *len, uint32_t *oflags);
IMPORT("sock_send_to") uint32_t sock_send_to(uint32_t fd, const Iovec *iov, uint32_t n, const uint8_t *addr,
                                             uint32_t port, uint16_t flags, uint32_t *len);
IMPORT("sock_shutdown") uint32_t sock_shutdown(uint32_t fd, uint8_t how);
IMPORT("sock_getlocaladdr") uint32_t sock_getlocaladdr(uint32_t fd, WasiAddress *addr, uint32_t *type, uint32_t *port);
IMPORT("sock_getpeeraddr") uint32_t sock_getpeeraddr(uint32_t fd, WasiAddress *addr, uint32_t *type, uint32_t *port);
IMPORT("sock_accept_v2") uint32_t sock_accept_v2(uint32_t fd, uint16_t flags, uint32_t *newfd);
IMPORT("sock_getlocaladdr_v2") uint32_t sock_getlocaladdr_v2(uint32_t fd, WasiAddress *addr, uint32_t *port);
IMPORT("sock_connect") uint32_t sock_connect(uint32_t fd, WasiAddress *addr, uint32_t port);
IMPORT("sock_setsockopt") uint32_t sock_setsockopt(uint32_t fd, int32_t level, int32_t name, const int32_t *flag, uint32_t size);
IMPORT("sock_getsockopt") uint32_t sock_getsockopt(uint32_t fd, int32_t level, int32_t name, int32_t *flag, uint32_t *size);

static int parse_ipv4(const char *s, uint8_t out[4]) {
    unsigned a, b, c, d;
    if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 || c > 255 || d > 255) return -1;
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
    return 0;
}

static void fail(const char *what, uint32_t e) {
    printf("%s: error %u\n", what, e);
    fflush(stdout);
    exit(1);
}

static int send_all(uint32_t fd, const char *data, size_t len) {
    while (len > 0) {
        Iovec v = {(uint8_t *)data, (uint32_t)len};
        uint32_t sent = 0, e = sock_send(fd, &v, 1, 0, &sent);
        if (e) { printf("send: error %u\n", e); return -1; }
        data += sent; len -= sent;
    }
    return 0;
}

/* Handles requests on one connection until the client closes it or asks to. */
static void serve(uint32_t fd) {
    static char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf) { send_all(fd, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n", 46); return; }
            Iovec v = {(uint8_t *)buf + have, (uint32_t)(sizeof buf - have)};
            uint32_t n = 0, of = 0, e = sock_recv(fd, &v, 1, 0, &n, &of);
            if (e) { printf("recv: error %u\n", e); return; }
            if (n == 0) return;  /* the client closed the connection */
            have += n;
        }
        size_t head = end - buf + 4;
        char method[16] = {0}, path[256] = {0};
        sscanf(buf, "%15s %255s", method, path);
        size_t length = 0;
        int close_after = 0;
        for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
            if (!strncasecmp(line + 2, "Content-Length:", 15)) length = strtoul(line + 17, NULL, 10);
            if (!strncasecmp(line + 2, "Connection: close", 17)) close_after = 1;
        }
        if (head + length > sizeof buf) { send_all(fd, "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n", 46); return; }
        while (have < head + length) {
            Iovec v = {(uint8_t *)buf + have, (uint32_t)(sizeof buf - have)};
            uint32_t n = 0, of = 0, e = sock_recv(fd, &v, 1, 0, &n, &of);
            if (e || n == 0) { printf("recv body: error %u\n", e); return; }
            have += n;
        }
        char header[256], body[300];
        const char *payload = body;
        size_t payload_len;
        int status = 200;
        if (!strcmp(method, "GET") && !strcmp(path, "/hello")) {
            payload_len = snprintf(body, sizeof body, "hello from a WasmEdge socket guest\n");
        } else if (!strcmp(method, "POST") && !strcmp(path, "/echo")) {
            payload = buf + head;
            payload_len = length;
        } else {
            status = 404;
            payload_len = snprintf(body, sizeof body, "no %s %s here\n", method, path);
        }
        printf("%s %s %zu\n", method, path, length);
        fflush(stdout);
        int n = snprintf(header, sizeof header, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                         status, status == 200 ? "OK" : "Not Found", payload_len, close_after ? "Connection: close\r\n" : "");
        if (send_all(fd, header, n) || send_all(fd, payload, payload_len)) return;
        memmove(buf, buf + head + length, have - head - length);
        have -= head + length;
        if (close_after) return;
    }
}

static int udp_echo(const char *addr, uint32_t port) {
    uint8_t ip[4];
    uint32_t fd, e;
    if (parse_ipv4(addr, ip)) return 2;
    if ((e = sock_open(1, 1, &fd))) fail("sock_open", e);
    WasiAddress a = {ip, 4};
    if ((e = sock_bind(fd, &a, port))) fail("sock_bind", e);
    uint8_t local[16];
    WasiAddress l = {local, 16};
    uint32_t type = 0, lport = 0;
    if ((e = sock_getlocaladdr(fd, &l, &type, &lport))) fail("sock_getlocaladdr", e);
    printf("udp on port %u\n", lport);
    fflush(stdout);
    /* As the crate's recv_from: a 128-byte address buffer, family (LE u16) then address. */
    uint8_t storage[128] = {0};
    WasiAddress from = {storage, 128};
    char data[512];
    Iovec v = {(uint8_t *)data, sizeof data};
    uint32_t fport = 0, n = 0, of = 0;
    if ((e = sock_recv_from(fd, &v, 1, (uint8_t *)&from, 0, &fport, &n, &of))) fail("sock_recv_from", e);
    printf("datagram of %u bytes from family %u %u.%u.%u.%u port %u\n", n, storage[0] | storage[1] << 8, storage[2],
           storage[3], storage[4], storage[5], fport);
    WasiAddress to = {storage + 2, 4};
    Iovec out = {(uint8_t *)data, n};
    uint32_t sent = 0;
    if ((e = sock_send_to(fd, &out, 1, (const uint8_t *)&to, fport, 0, &sent))) fail("sock_send_to", e);
    printf("echoed %u bytes\n", sent);
    close(fd);
    return 0;
}

/* The same listener through V1 and V2 calls in one module. */
static int mix(void) {
    uint8_t loopback[4] = {127, 0, 0, 1};
    uint32_t l, e;
    if ((e = sock_open(1, 2, &l))) fail("sock_open", e);
    WasiAddress a = {loopback, 4};
    if ((e = sock_bind(l, &a, 0))) fail("sock_bind", e);
    if ((e = sock_listen(l, 4))) fail("sock_listen", e);
    uint8_t v1[16], v2[128] = {0};
    WasiAddress a1 = {v1, 16}, a2 = {v2, 128};
    uint32_t type = 0, port1 = 0, port2 = 0;
    if ((e = sock_getlocaladdr(l, &a1, &type, &port1))) fail("sock_getlocaladdr", e);
    if ((e = sock_getlocaladdr_v2(l, &a2, &port2))) fail("sock_getlocaladdr_v2", e);
    printf("V1 local: type %u %u.%u.%u.%u port matches V2: %s; V2 local: family %u %u.%u.%u.%u\n", type, v1[0], v1[1], v1[2],
           v1[3], port1 == port2 && port1 != 0 ? "yes" : "no", v2[0] | v2[1] << 8, v2[2], v2[3], v2[4], v2[5]);
    uint32_t c1, c2, s1, s2, s3;
    sock_open(1, 2, &c1);
    if ((e = sock_connect(c1, &a, port1))) fail("sock_connect", e);
    e = sock_accept_v2(l, 4 /* NONBLOCK: the connection's */, &s1);
    printf("V2 accept with NONBLOCK, one pending: %u, connection nonblocking: %s\n", e,
           fcntl(s1, F_GETFL) & O_NONBLOCK ? "yes" : "no");
    /* The listener made nonblocking through fd_fdstat_set_flags: none pending is EAGAIN. */
    if (fcntl(l, F_SETFL, O_NONBLOCK) != 0) fail("fcntl", 0);
    e = sock_accept_v2(l, 0, &s2);
    printf("V2 accept on a nonblocking listener, none pending: %u\n", e);
    sock_open(1, 2, &c2);
    if ((e = sock_connect(c2, &a, port1))) fail("sock_connect", e);
    e = sock_accept(l, &s3);
    printf("V1 accept, one pending: %u, connection nonblocking: %s\n", e, fcntl(s3, F_GETFL) & O_NONBLOCK ? "yes" : "no");
    uint8_t p1[16], p2[16];
    WasiAddress pa1 = {p1, 16}, pa2 = {p2, 16};
    uint32_t t1 = 0, t2 = 0, pp1 = 0, pp2 = 0, lp1 = 0, lp2 = 0;
    sock_getpeeraddr(s1, &pa1, &t1, &pp1);
    sock_getpeeraddr(s3, &pa2, &t2, &pp2);
    sock_getlocaladdr(c1, &a1, &type, &lp1);
    sock_getlocaladdr(c2, &a1, &type, &lp2);
    printf("peers are the two clients: %s\n", pp1 == lp1 && pp2 == lp2 && lp1 != lp2 ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "mix")) return mix();
    if (argc == 4 && !strcmp(argv[1], "udp")) return udp_echo(argv[2], atoi(argv[3]));
    if (argc != 4) { fprintf(stderr, "usage: httpd ADDR PORT CONNECTIONS\n"); return 2; }
    uint8_t ip[4];
    if (parse_ipv4(argv[1], ip)) return 2;
    int connections = atoi(argv[3]);
    uint32_t fd, e;
    if ((e = sock_open(1, 2, &fd))) fail("sock_open", e);
    int32_t one = 1;
    if ((e = sock_setsockopt(fd, 0, 0, &one, sizeof one))) fail("sock_setsockopt SO_REUSEADDR", e);
    int32_t kind = 0;
    uint32_t size = sizeof kind;
    if ((e = sock_getsockopt(fd, 0, 1, &kind, &size))) fail("sock_getsockopt SO_TYPE", e);
    WasiAddress a = {ip, 4};
    if ((e = sock_bind(fd, &a, atoi(argv[2])))) fail("sock_bind", e);
    if ((e = sock_listen(fd, 16))) fail("sock_listen", e);
    uint8_t local[16];
    WasiAddress l = {local, 16};
    uint32_t type = 0, port = 0;
    if ((e = sock_getlocaladdr(fd, &l, &type, &port))) fail("sock_getlocaladdr", e);
    printf("listening on %u.%u.%u.%u port %u (family %u, SO_TYPE %d)\n", local[0], local[1], local[2], local[3], port, type, kind);
    fflush(stdout);
    for (int i = 0; i < connections; i++) {
        uint32_t conn;
        if ((e = sock_accept(fd, &conn))) fail("sock_accept", e);
        uint8_t peer[16];
        WasiAddress p = {peer, 16};
        uint32_t ptype = 0, pport = 0;
        if ((e = sock_getpeeraddr(conn, &p, &ptype, &pport))) fail("sock_getpeeraddr", e);
        printf("connection from %u.%u.%u.%u (family %u)\n", peer[0], peer[1], peer[2], peer[3], ptype);
        fflush(stdout);
        serve(conn);
        sock_shutdown(conn, 3);
        close(conn);
    }
    close(fd);
    printf("served %d connections\n", connections);
    return 0;
}
