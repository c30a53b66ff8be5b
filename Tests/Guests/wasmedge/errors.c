/* Bad input through WasmEdge's socket ABI: each case prints the errno the guest got. Imports
 * mix the versions: V1 sock_recv_from (7 parameters) and sock_connect, V2 sock_getlocaladdr_v2,
 * sock_recv_v2 and sock_send_v2, and the preview-1-shaped sock_accept (fd, flags, fd*).
 *
 *   errors REFUSED_PORT RESET_PORT HALF_PORT
 * REFUSED_PORT: nothing listens there; RESET_PORT: a server that resets each connection;
 * HALF_PORT: a server that sends "bye", shuts its sending side and reads until the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

typedef struct { uint8_t *buf; uint32_t size; } WasiAddress;
typedef struct { uint8_t *buf; uint32_t size; } Iovec;

IMPORT("sock_open") uint32_t sock_open(uint8_t family, uint8_t type, uint32_t *fd);
IMPORT("sock_bind") uint32_t sock_bind(uint32_t fd, WasiAddress *addr, uint32_t port);
IMPORT("sock_listen") uint32_t sock_listen(uint32_t fd, uint32_t backlog);
IMPORT("sock_accept") uint32_t sock_accept(uint32_t fd, uint16_t flags, uint32_t *newfd);
IMPORT("sock_connect") uint32_t sock_connect(uint32_t fd, WasiAddress *addr, uint32_t port);
IMPORT("sock_recv_v2") uint32_t sock_recv(uint32_t fd, Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len, uint16_t *oflags);
IMPORT("sock_send_v2") uint32_t sock_send(uint32_t fd, const Iovec *iov, uint32_t n, uint16_t flags, uint32_t *len);
IMPORT("sock_recv_from") uint32_t sock_recv_from(uint32_t fd, Iovec *iov, uint32_t n, WasiAddress *addr, uint16_t flags,
                                                 uint32_t *len, uint16_t *oflags);
IMPORT("sock_shutdown") uint32_t sock_shutdown(uint32_t fd, uint8_t how);
IMPORT("sock_getlocaladdr_v2") uint32_t sock_getlocaladdr(uint32_t fd, WasiAddress *addr, uint32_t *port);
IMPORT("sock_getsockopt") uint32_t sock_getsockopt(uint32_t fd, int32_t level, int32_t name, void *flag, uint32_t *size);
IMPORT("sock_setsockopt") uint32_t sock_setsockopt(uint32_t fd, int32_t level, int32_t name, const void *flag, uint32_t size);
IMPORT("sock_getaddrinfo") uint32_t sock_getaddrinfo(const char *node, uint32_t node_len, const char *service,
                                                     uint32_t service_len, const void *hints, uint32_t *res,
                                                     uint32_t max, uint32_t *res_len);

static uint8_t loopback[4] = {127, 0, 0, 1};

static uint32_t stream(void) {
    uint32_t fd, e = sock_open(1, 2, &fd);
    if (e) { printf("sock_open: error %u\n", e); exit(1); }
    return fd;
}

static uint32_t connected(uint32_t port) {
    uint32_t fd = stream();
    WasiAddress a = {loopback, 4};
    uint32_t e = sock_connect(fd, &a, port);
    if (e) { printf("connect %u: error %u\n", port, e); exit(1); }
    return fd;
}

#define CASE(name, expr) printf("%s=%u\n", name, (unsigned)(expr))

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    uint32_t refused = atoi(argv[1]), reset = atoi(argv[2]), half = atoi(argv[3]);
    uint32_t fd = stream(), out, len, port;
    uint16_t of;
    WasiAddress a = {loopback, 4};
    char buf[64];
    Iovec v = {(uint8_t *)buf, sizeof buf};

    /* Descriptors that are not sockets, or not open. */
    CASE("listen_stdout", sock_listen(1, 5));
    CASE("connect_stdin", sock_connect(0, &a, 80));
    CASE("accept_stdout", sock_accept(1, 0, &out));
    CASE("recv_from_stderr", sock_recv_from(2, &v, 1, &a, 0, &len, &of));
    CASE("getsockopt_stdout", sock_getsockopt(1, 0, 1, buf, &len));
    CASE("listen_root_directory", sock_listen(3, 5));
    CASE("listen_unopened", sock_listen(4000, 5));
    CASE("bind_unopened", sock_bind(4000, &a, 0));

    /* Pointers and lengths. */
    CASE("bind_address_out_of_memory", sock_bind(fd, (WasiAddress *)0xfffffff0u, 0));
    WasiAddress far = {(uint8_t *)0xfffffffcu, 4};
    CASE("bind_buffer_out_of_memory", sock_bind(fd, &far, 0));
    WasiAddress odd = {loopback, 5};
    CASE("bind_length_5", sock_bind(fd, &odd, 0));
    WasiAddress big = {loopback, 128};
    CASE("bind_v1_storage_128", sock_bind(fd, &big, 0));
    CASE("bind_port_70000", sock_bind(fd, &a, 70000));
    CASE("open_out_of_memory", sock_open(1, 2, (uint32_t *)0xfffffffcu));
    CASE("open_family_9", sock_open(9, 2, &out));
    CASE("open_type_0", sock_open(1, 0, &out));
    CASE("open_unix", sock_open(3, 2, &out));
    CASE("recv_1025_iovecs", sock_recv(fd, (Iovec *)buf, 1025, 0, &len, &of));
    CASE("recv_iovec_out_of_memory", sock_recv(fd, (Iovec *)0xfffffff8u, 1, 0, &len, &of));
    CASE("getsockopt_level_1", sock_getsockopt(fd, 1, 1, buf, &len));
    CASE("getsockopt_name_99", sock_getsockopt(fd, 0, 99, buf, &len));
    len = 0x10000;
    CASE("getsockopt_size_65536", sock_getsockopt(fd, 0, 1, buf, &len));
    CASE("setsockopt_value_out_of_memory", sock_setsockopt(fd, 0, 0, (void *)0xfffffffeu, 4));
    uint8_t storage[16];
    WasiAddress small = {storage, 16};
    CASE("getlocaladdr_v2_buffer_16", sock_getlocaladdr(fd, &small, &port));
    CASE("shutdown_not_connected", sock_shutdown(fd, 3));
    CASE("shutdown_how_0", sock_shutdown(fd, 0));
    uint32_t count = 0, res = 0;
    char hints[28] = {0};
    CASE("getaddrinfo_unknown_name", sock_getaddrinfo("no-such-host.invalid", 21, "80", 3, hints, &res, 1, &count));
    CASE("getaddrinfo_empty", sock_getaddrinfo("", 0, "", 0, hints, &res, 1, &count));
    CASE("getaddrinfo_bad_service", sock_getaddrinfo("127.0.0.1", 10, "no-such-service", 16, hints, &res, 1, &count));
    hints[2] = 7;
    CASE("getaddrinfo_family_7", sock_getaddrinfo("127.0.0.1", 10, "80", 3, hints, &res, 1, &count));
    CASE("getaddrinfo_node_out_of_memory", sock_getaddrinfo((char *)0xfffffff0u, 64, "80", 3, hints, &res, 1, &count));

    /* The network. */
    uint32_t c = stream();
    CASE("connect_refused", sock_connect(c, &a, refused));
    close(c);

    c = connected(reset);
    CASE("recv_after_reset", sock_recv(c, &v, 1, 0, &len, &of));
    close(c);

    c = connected(half);
    uint32_t e = sock_recv(c, &v, 1, 0, &len, &of);
    printf("half_first_recv=%u len=%u\n", e, len);
    e = sock_recv(c, &v, 1, 0, &len, &of);
    printf("half_recv_at_end=%u len=%u\n", e, len);
    Iovec msg = {(uint8_t *)"still here", 10};
    uint32_t sent = 0;
    e = sock_send(c, &msg, 1, 0, &sent);
    printf("half_send_after_peer_shutdown=%u sent=%u\n", e, sent);
    CASE("half_shutdown_write", sock_shutdown(c, 2));
    CASE("half_send_after_own_shutdown", sock_send(c, &msg, 1, 0, &sent));
    close(c);

    /* Nothing leaks: with RLIMIT_NOFILE 64 in the config, 500 sockets opened and closed in turn,
     * and 500 whose out-pointer is bad, all within the limit. */
    int opened = 0, faults = 0;
    for (int i = 0; i < 500; i++) {
        uint32_t s;
        if (sock_open(1, 2, &s) == 0) { opened++; close(s); }
        if (sock_open(2, 1, (uint32_t *)0xfffffffcu) == 21) faults++;
    }
    printf("opened_and_closed=%d faults=%d\n", opened, faults);
    /* A listener: 300 connections to it, each accepted and closed. */
    uint32_t l = stream(), lp = 0;
    WasiAddress any = {loopback, 4};
    sock_bind(l, &any, 0);
    sock_listen(l, 8);
    uint8_t st[128];
    WasiAddress sa = {st, 128};
    sock_getlocaladdr(l, &sa, &lp);
    int accepted = 0;
    for (int i = 0; i < 300; i++) {
        uint32_t cl = connected(lp), acc;
        if (sock_accept(l, 0, &acc) == 0) { accepted++; close(acc); }
        close(cl);
    }
    printf("accepted_and_closed=%d\n", accepted);
    printf("done\n");
    return 0;
}
