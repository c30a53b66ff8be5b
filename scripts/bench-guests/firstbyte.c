/* firstbyte FIFO CMD [ARGS...]: runs CMD and prints the microseconds from just before it is
   spawned to the first byte readable on FIFO (the container's stdout), then waits for CMD. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int fd = open(argv[1], O_RDONLY | O_NONBLOCK);
    if (fd < 0) { perror(argv[1]); return 2; }
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {}
    pid_t pid;
    double t0 = now_us();
    if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) { perror("spawn"); return 2; }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) { fprintf(stderr, "firstbyte: no output within 10 s\n"); return 1; }
    double t1 = now_us();
    int status;
    waitpid(pid, &status, 0);
    printf("%.0f\n", t1 - t0);
    return 0;
}
