/* seccomp-calls PID NR…: attaches to PID with ptrace, reads the seccomp filter it installed last
   (PTRACE_SECCOMP_GET_FILTER, index 0) and prints, for each system call number NR, "NR yes" when
   the filter compares the call number with it (libseccomp's rules are JEQ tests on the number)
   and "NR no" when it does not. Then detaches. Native, run as root by the tests. */
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = (pid_t)atoi(argv[1]);
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) { perror("PTRACE_SEIZE"); return 1; }
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0) { perror("PTRACE_INTERRUPT"); return 1; }
    int status;
    if (waitpid(pid, &status, __WALL) != pid) { perror("waitpid"); return 1; }
    long count = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
    if (count <= 0) { perror("PTRACE_SECCOMP_GET_FILTER"); ptrace(PTRACE_DETACH, pid, 0, 0); return 1; }
    struct sock_filter *prog = calloc((size_t)count, sizeof *prog);
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, prog) != count) { perror("PTRACE_SECCOMP_GET_FILTER"); return 1; }
    ptrace(PTRACE_DETACH, pid, 0, 0);
    for (int a = 2; a < argc; a++) {
        unsigned nr = (unsigned)atoi(argv[a]);
        int found = 0;
        for (long i = 0; i < count; i++)
            if (prog[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && prog[i].k == nr) found = 1;
        printf("%u %s\n", nr, found ? "yes" : "no");
    }
    return 0;
}
