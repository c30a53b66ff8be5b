/* A small HTTP/1.1 server for wasm32-wasi (wasi-libc's accept, recv, send, poll) and, built
   natively, for the benchmark's native side. It serves the listening sockets it is given at fds
   3, 4, … (LISTEN_FDS of them), as runwasm hands them over.

   httpd serve   blocking: one connection at a time, keep-alive
   httpd loop    event loop over poll(): non-blocking accept and connections, a clock tick
   httpd probe   prints what the guest sees of its fds and of the socket calls, then exits

   Requests: GET /            "hello\n"
             GET /file/PATH   the file at /PATH in the container (through the "/" preopen)
             POST /echo       the request body
             GET /quit        answers, then the server exits 0 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __wasi__
#include <wasi/api.h>
#endif

#define MAX_CONN 256
#define BUF 65536

struct conn {
    int fd;
    size_t len;
    char buf[BUF];
};

static int quit;

static int listener_count(void) {
    const char *n = getenv("LISTEN_FDS");
    return n ? atoi(n) : 1;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, 0);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                poll(&pfd, 1, 1000);
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int respond(int fd, int status, const char *reason, const char *body, size_t len, int keep) {
    static char out[BUF + 256];
    int h = snprintf(out, 256,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\nConnection: %s\r\n\r\n",
                     status, reason, len, keep ? "keep-alive" : "close");
    /* Head and body in one send. */
    memcpy(out + h, body, len);
    return send_all(fd, out, (size_t)h + len);
}

/* One complete request in c->buf: answers it and drops it from the buffer. Returns 1 when a
   request was handled, 0 when more bytes are needed, -1 to close the connection. */
static int handle(struct conn *c) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return c->len >= BUF ? -1 : 0;
    size_t head = (size_t)(end - c->buf) + 4;
    size_t body = 0;
    char *cl = memmem(c->buf, head, "Content-Length:", 15);
    if (cl) body = (size_t)strtoul(cl + 15, NULL, 10);
    if (head + body > BUF) return -1;
    if (c->len < head + body) return 0;
    int keep = memmem(c->buf, head, "Connection: close", 17) == NULL;
    int rc;
    if (!strncmp(c->buf, "GET / ", 6)) {
        rc = respond(c->fd, 200, "OK", "hello\n", 6, keep);
    } else if (!strncmp(c->buf, "POST /echo ", 11)) {
        rc = respond(c->fd, 200, "OK", c->buf + head, body, keep);
    } else if (!strncmp(c->buf, "GET /quit ", 10)) {
        rc = respond(c->fd, 200, "OK", "bye\n", 4, 0);
        quit = 1;
        keep = 0;
    } else if (!strncmp(c->buf, "GET /file/", 10)) {
        char path[512];
        size_t i = 0;
        const char *p = c->buf + 9;
        while (i < sizeof path - 1 && p[i] != ' ' && p + i < end) { path[i] = p[i]; i++; }
        path[i] = 0;
        static char data[BUF];
        int f = open(path, O_RDONLY);
        if (f < 0) {
            const char *e = strerror(errno);
            rc = respond(c->fd, 404, "Not Found", e, strlen(e), keep);
        } else {
            ssize_t n = read(f, data, sizeof data);
            close(f);
            rc = respond(c->fd, 200, "OK", data, n > 0 ? (size_t)n : 0, keep);
        }
    } else {
        rc = respond(c->fd, 404, "Not Found", "", 0, keep);
    }
    memmove(c->buf, c->buf + head + body, c->len - head - body);
    c->len -= head + body;
    if (rc < 0 || !keep) return -1;
    return 1;
}

static int serve(void) {
    static struct conn c;
    while (!quit) {
        int fd = accept(3, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            return 1;
        }
        c.fd = fd;
        c.len = 0;
        for (;;) {
            int r;
            while ((r = handle(&c)) == 1) {}
            if (r < 0) break;
            ssize_t n = recv(fd, c.buf + c.len, BUF - c.len, 0);
            if (n <= 0) break;
            c.len += (size_t)n;
        }
        close(fd);
    }
    return 0;
}

static int loop(void) {
    static struct conn *conns[MAX_CONN];
    struct pollfd pfds[MAX_CONN + 16];
    int listeners = listener_count();
    long ticks = 0;
    for (int i = 0; i < listeners; i++) fcntl(3 + i, F_SETFL, O_NONBLOCK);
    while (!quit) {
        int n = 0;
        for (int i = 0; i < listeners; i++) pfds[n++] = (struct pollfd){3 + i, POLLIN, 0};
        int map[MAX_CONN];
        for (int i = 0; i < MAX_CONN; i++)
            if (conns[i]) { map[n - listeners] = i; pfds[n++] = (struct pollfd){conns[i]->fd, POLLIN, 0}; }
        int ready = poll(pfds, (nfds_t)n, 100);
        if (ready < 0) { if (errno == EINTR) continue; perror("poll"); return 1; }
        if (ready == 0) { ticks++; continue; }
        for (int i = 0; i < listeners; i++) {
            if (!(pfds[i].revents & POLLIN)) continue;
            for (;;) {
                /* With every slot taken, the connection waits in the backlog. */
                int slot = -1;
                for (int k = 0; k < MAX_CONN; k++) if (!conns[k]) { slot = k; break; }
                if (slot < 0) break;
                int fd = accept4(3 + i, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0) break;
                conns[slot] = malloc(sizeof(struct conn));
                if (!conns[slot]) { close(fd); continue; }
                conns[slot]->fd = fd;
                conns[slot]->len = 0;
            }
        }
        for (int j = listeners; j < n; j++) {
            if (!pfds[j].revents) continue;
            struct conn *c = conns[map[j - listeners]];
            ssize_t got = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
            int r = 0;
            if (got > 0) {
                c->len += (size_t)got;
                while ((r = handle(c)) == 1) {}
            } else if (got < 0 && errno == EAGAIN) {
                continue;
            } else {
                r = -1;
            }
            if (r < 0) {
                close(c->fd);
                free(c);
                conns[map[j - listeners]] = NULL;
            }
        }
    }
    return 0;
}

#ifdef __wasi__
static int probe(void) {
    int listeners = listener_count();
    printf("LISTEN_FDS=%s LISTEN_FDNAMES=%s\n", getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "-",
           getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "-");
    for (int fd = 3; fd < 3 + listeners + 3; fd++) {
        __wasi_fdstat_t st;
        __wasi_prestat_t pre;
        int e1 = __wasi_fd_fdstat_get(fd, &st);
        int e2 = __wasi_fd_prestat_get(fd, &pre);
        printf("fd %d: fdstat errno %d type %d flags %d accept-right %d; prestat errno %d tag %d\n", fd, e1,
               e1 ? -1 : st.fs_filetype, e1 ? -1 : st.fs_flags,
               e1 ? -1 : (int)((st.fs_rights_base & __WASI_RIGHTS_SOCK_ACCEPT) != 0), e2, e2 ? -1 : pre.tag);
    }
    int type = 0;
    socklen_t len = sizeof type;
    printf("getsockopt(3, SO_TYPE): %d type %d\n", getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len), type);
    __wasi_fd_t out;
    printf("sock_accept(stdin): errno %d\n", __wasi_sock_accept(0, 0, &out));
    printf("sock_accept(99): errno %d\n", __wasi_sock_accept(99, 0, &out));
    printf("sock_accept(3, bad flags): errno %d\n", __wasi_sock_accept(3, 1, &out));
    /* A listener made non-blocking with fd_fdstat_set_flags answers EAGAIN when idle. */
    printf("set_flags(3, NONBLOCK): errno %d\n", __wasi_fd_fdstat_set_flags(3, __WASI_FDFLAGS_NONBLOCK));
    __wasi_fdstat_t nb;
    (void)!__wasi_fd_fdstat_get(3, &nb);
    printf("fd 3 flags now %d\n", nb.fs_flags);
    printf("sock_accept(3) idle non-blocking: errno %d\n", __wasi_sock_accept(3, 0, &out));
    printf("set_flags(3, APPEND): errno %d\n", __wasi_fd_fdstat_set_flags(3, __WASI_FDFLAGS_APPEND));
    (void)!__wasi_fd_fdstat_set_flags(3, 0);
    printf("sock_shutdown(3, 0): errno %d\n", __wasi_sock_shutdown(3, 0));
    char b[4];
    __wasi_iovec_t iov = {(uint8_t *)b, sizeof b};
    __wasi_size_t got;
    __wasi_roflags_t ro;
    printf("sock_recv(stdin): errno %d\n", __wasi_sock_recv(0, &iov, 1, 0, &got, &ro));
    printf("sock_recv(3, bad flags): errno %d\n", __wasi_sock_recv(3, &iov, 1, 8, &got, &ro));
    __wasi_ciovec_t ciov = {(const uint8_t *)b, 0};
    printf("sock_send(3, flags 1): errno %d\n", __wasi_sock_send(3, &ciov, 1, 1, &got));
    FILE *f = fopen("/etc/hostname-probe", "r");
    if (f) {
        char line[64] = {0};
        fgets(line, sizeof line, f);
        fclose(f);
        printf("file after listeners: %s\n", line);
    } else {
        printf("file after listeners: error %s\n", strerror(errno));
    }
    return 0;
}

/* One connection: recv with MSG_PEEK (5 bytes), then MSG_WAITALL (10 bytes), answer both and the
   connection's fdstat, shut down the write side, then read until the peer closes. */
static int peek(void) {
    int fd = accept(3, NULL, NULL);
    if (fd < 0) { perror("accept"); return 1; }
    char a[6] = {0}, b[11] = {0}, out[128];
    ssize_t n1 = recv(fd, a, 5, MSG_PEEK);
    ssize_t n2 = recv(fd, b, 10, MSG_WAITALL);
    __wasi_fdstat_t st;
    int e = __wasi_fd_fdstat_get((__wasi_fd_t)fd, &st);
    int n = snprintf(out, sizeof out, "peek %zd:%s waitall %zd:%s type %d\n", n1, a, n2, b, e ? -1 : st.fs_filetype);
    if (send(fd, out, (size_t)n, 0) != n) { perror("send"); return 1; }
    if (shutdown(fd, SHUT_WR) != 0) { perror("shutdown"); return 1; }
    while (recv(fd, out, sizeof out, 0) > 0) {}
    printf("peer closed\n");
    return close(fd) == 0 ? 0 : 1;
}
#endif

#ifndef __wasi__
#include <netinet/in.h>
/* Built natively (the benchmark's side for comparison): opens its own listener at fd 3 on
   127.0.0.1:PORT, as runwasm would have. */
static int listen_native(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0) { perror("listen"); return -1; }
    if (fd != 3) { dup2(fd, 3); close(fd); }
    setenv("LISTEN_FDS", "1", 1);
    return 0;
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "serve";
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifndef __wasi__
    if (argc > 2 && listen_native(atoi(argv[2])) != 0) return 1;
#endif
    if (!strcmp(mode, "serve")) return serve();
    if (!strcmp(mode, "loop")) return loop();
#ifdef __wasi__
    if (!strcmp(mode, "probe")) return probe();
    if (!strcmp(mode, "peek")) return peek();
#endif
    fprintf(stderr, "usage: httpd serve|loop|probe\n");
    return 2;
}
