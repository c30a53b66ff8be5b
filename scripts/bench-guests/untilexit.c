/* untilexit PIDFILE CMD [ARGS...]: runs CMD (a `start`) and prints the microseconds from just
   before it is spawned to the end of the process named in PIDFILE (the container's, which need
   not be a child: it is watched through a pidfd), then waits for CMD. */
#define _GNU_SOURCE
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
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
    FILE *f = fopen(argv[1], "r");
    int target = 0;
    if (!f || fscanf(f, "%d", &target) != 1) { perror(argv[1]); return 2; }
    fclose(f);
    int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
    if (pidfd < 0) { perror("pidfd_open"); return 2; }
    pid_t pid;
    double t0 = now_us();
    if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) { perror("spawn"); return 2; }
    struct pollfd p = {pidfd, POLLIN, 0};
    if (poll(&p, 1, 60000) != 1) { fprintf(stderr, "untilexit: still running after 60 s\n"); return 1; }
    double t1 = now_us();
    int status;
    waitpid(pid, &status, 0);
    printf("%.0f\n", t1 - t0);
    return 0;
}
