#define _GNU_SOURCE
#include "CSandbox.h"

#include <dirent.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

int rw_thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL) return -errno;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(dir);
    return count;
}

static int require_single_thread(void) {
    int threads = rw_thread_count();
    if (threads < 0) return threads;
    return threads == 1 ? 0 : -EDEADLK;
}

pid_t rw_clone(unsigned long flags) {
    int rc = require_single_thread();
    if (rc < 0) return rc;
    long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    return pid < 0 ? -errno : (pid_t)pid;
}

/* The kernel's struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes). */
struct rw_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

pid_t rw_clone_into_cgroup(unsigned long flags, int cgroup_fd) {
    int rc = require_single_thread();
    if (rc < 0) return rc;
    struct rw_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = (uint64_t)flags | 0x200000000ULL; /* CLONE_INTO_CGROUP */
    /* With CLONE_PARENT clone3 takes no exit signal: the child gets the caller's own. */
    args.exit_signal = (flags & RW_CLONE_PARENT) ? 0 : SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    return pid < 0 ? -errno : (pid_t)pid;
}

int rw_unshare(int flags) {
    int rc = require_single_thread();
    if (rc < 0) return rc;
    return unshare(flags) < 0 ? -errno : 0;
}

int rw_setns(int fd, int nstype) {
    int rc = require_single_thread();
    if (rc < 0) return rc;
    return setns(fd, nstype) < 0 ? -errno : 0;
}

int rw_pivot_root(const char *new_root, const char *put_old) {
    return syscall(SYS_pivot_root, new_root, put_old) < 0 ? -errno : 0;
}

int rw_mount_setattr_recursive(int fd, unsigned long long set, unsigned long long clear) {
    struct {
        unsigned long long attr_set, attr_clr, propagation, userns_fd;
    } attr = {set, clear, 0, 0};
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
    /* AT_EMPTY_PATH 0x1000, AT_RECURSIVE 0x8000 */
    return syscall(SYS_mount_setattr, fd, "", 0x1000 | 0x8000, &attr, sizeof attr) < 0 ? -errno : 0;
}

int rw_open_tree_clone(const char *path, int recursive) {
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
    /* OPEN_TREE_CLONE 1, OPEN_TREE_CLOEXEC = O_CLOEXEC, AT_RECURSIVE 0x8000 */
    long fd = syscall(SYS_open_tree, AT_FDCWD, path, 1 | O_CLOEXEC | (recursive ? 0x8000 : 0));
    return fd < 0 ? -errno : (int)fd;
}

int rw_move_mount(int from_fd, int to_fd) {
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
    /* MOVE_MOUNT_F_EMPTY_PATH 0x4, MOVE_MOUNT_T_EMPTY_PATH 0x40 */
    return syscall(SYS_move_mount, from_fd, "", to_fd, "", 0x4 | 0x40) < 0 ? -errno : 0;
}

int rw_open_in_root(int dirfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd < 0 ? -errno : (int)fd;
}

int rw_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) how.mode = mode;
    how.resolve = resolve;
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

int rw_set_child_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_set_process_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_send_fd(int sock, int fd, const void *data, size_t len) {
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

ssize_t rw_recv_with_fd(int sock, void *data, size_t cap, int *fd_out) {
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = data, .iov_len = cap};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    *fd_out = -1;
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(fd_out, CMSG_DATA(c), sizeof(int));
        }
    }
    return n;
}

pid_t rw_spawn(const char *path, char *const argv[], char *const envp[],
               int stdin_fd, int stdout_fd, int stderr_fd) {
    int rc = require_single_thread();
    if (rc < 0) return rc;
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;
    // Child: async-signal-safe calls only, until execve or _exit.
    if (stdin_fd >= 0 && dup2(stdin_fd, 0) < 0) _exit(127);
    if (stdout_fd >= 0 && dup2(stdout_fd, 1) < 0) _exit(127);
    if (stderr_fd >= 0 && dup2(stderr_fd, 2) < 0) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    setpgid(0, 0);
    execve(path, argv, envp);
    _exit(127);
}

int rw_close_fds_from(int lowest, const int *keep, size_t nkeep) {
    // Close [lowest, ∞) except the kept fds, as a few close_range calls over the gaps.
    unsigned int start = (unsigned int)lowest;
    for (;;) {
        // Find the smallest kept fd >= start.
        long next = -1;
        for (size_t i = 0; i < nkeep; i++) {
            if (keep[i] >= 0 && (unsigned int)keep[i] >= start && (next < 0 || keep[i] < next)) next = keep[i];
        }
        unsigned int end = next < 0 ? ~0U : (unsigned int)next;
        if (end > start) {
            if (syscall(SYS_close_range, start, end - 1, 0) < 0) return -errno;
        }
        if (next < 0) return 0;
        start = (unsigned int)next + 1;
    }
}

static void exit_on_signal(int sig) {
    _exit(128 + sig);
}

int rw_exit_on_termination_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exit_on_signal;
    sigemptyset(&sa.sa_mask);
    int signals[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        if (sigaction(signals[i], &sa, NULL) < 0) return -errno;
    }
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaddset(&set, signals[i]);
    return sigprocmask(SIG_UNBLOCK, &set, NULL) < 0 ? -errno : 0;
}

int rw_reset_signals(void) {
    int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) signal(signals[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL) < 0 ? -errno : 0;
}

/* Reads a /proc/PID/stat file into `buf` and points `*fields` at field 3 (the state letter):
   the command name (field 2) may hold spaces and parentheses, so fields resume after the last
   ')'. 0 or -errno. */
static int read_proc_stat(const char *path, char *buf, size_t cap, char **fields) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n;
    do {
        n = read(fd, buf, cap - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n <= 0) return n < 0 ? -saved : -EIO;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ') return -EIO;
    *fields = p + 2;
    return 0;
}

int rw_proc_stat(pid_t pid, unsigned long long *start_time, char *state) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char buf[1024];
    char *p;
    int r = read_proc_stat(path, buf, sizeof buf, &p);
    if (r < 0) return r;
    *state = *p;
    // Field 3 is the state; skip to field 22.
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL) return -EIO;
        p++;
    }
    *start_time = strtoull(p, NULL, 10);
    return 0;
}

int rw_set_window_size(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

int rw_get_window_size(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -errno;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int rw_make_controlling_terminal(int fd) {
    if (setsid() < 0 && errno != EPERM) return -errno;
    return ioctl(fd, TIOCSCTTY, 0) < 0 ? -errno : 0;
}

int rw_open_pty(char *name, size_t len) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -errno;
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, len) != 0) {
        int saved = errno;
        close(master);
        return -saved;
    }
    return master;
}

int rw_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

long rw_fs_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) < 0) return -errno;
    return (long)fs.f_type;
}

int rw_bpf_load_device_program(const void *insns, size_t count, char *log, size_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)count;
    attr.license = (uint64_t)(uintptr_t)"Apache";
    if (log && log_size > 0) {
        log[0] = 0;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = (uint32_t)log_size;
        attr.log_level = 1;
    }
    long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd < 0 && errno == ENOSPC && log) {
        /* the log did not fit: load again without it, for the program's own verdict */
        attr.log_buf = 0;
        attr.log_size = 0;
        attr.log_level = 0;
        fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    }
    if (fd >= 0) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int rw_bpf_attach_device_program(int cgroup_fd, int prog_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) < 0 ? -errno : 0;
}

long rw_fd_fs_type(int fd) {
    struct statfs fs;
    int r;
    do {
        r = fstatfs(fd, &fs);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (long)fs.f_type;
}

uint32_t rw_scmp_act_errno(uint32_t code) { return SCMP_ACT_ERRNO(code); }
uint32_t rw_scmp_act_trace(uint32_t code) { return SCMP_ACT_TRACE(code); }

ssize_t rw_seccomp_export(scmp_filter_ctx ctx, void *buf, size_t cap) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    // A filter is at most BPF_MAXINSNS (4096) instructions of 8 bytes: it fits a pipe's buffer.
    int rc = seccomp_export_bpf(ctx, fds[1]);
    close(fds[1]);
    if (rc < 0) {
        close(fds[0]);
        return rc;
    }
    size_t total = 0;
    for (;;) {
        if (total == cap) {
            close(fds[0]);
            return -E2BIG;
        }
        ssize_t n = read(fds[0], (char *)buf + total, cap - total);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int saved = errno;
            close(fds[0]);
            return -saved;
        }
        if (n == 0) break;
        total += (size_t)n;
    }
    close(fds[0]);
    return (ssize_t)total;
}

int rw_seccomp_load(const void *program, size_t len, unsigned int flags) {
    struct sock_fprog prog;
    prog.len = (unsigned short)(len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)program;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0 ? -errno : 0;
}

static void report_denied_syscall(int sig, siginfo_t *info, void *context) {
    (void)context;
    char line[128] = "runwasm: seccomp: the interpreter made system call ";
    size_t len = strlen(line);
    // Format the syscall number without stdio (async-signal-safe).
    char digits[16];
    int n = 0;
    unsigned int nr = (unsigned int)info->si_syscall;
    do {
        digits[n++] = (char)('0' + nr % 10);
        nr /= 10;
    } while (nr != 0 && n < (int)sizeof digits);
    while (n > 0 && len < sizeof line - 1) line[len++] = digits[--n];
    const char *tail = ", which runwasm denies; the container is stopped\n";
    for (const char *p = tail; *p && len < sizeof line - 1; p++) line[len++] = *p;
    ssize_t ignored = write(2, line, len);
    (void)ignored;
    _exit(128 + sig);
}

int rw_report_denied_syscalls(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = report_denied_syscall;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) return -errno;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    return sigprocmask(SIG_UNBLOCK, &set, NULL) < 0 ? -errno : 0;
}

int rw_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_set_keep_caps(int on) {
    return prctl(PR_SET_KEEPCAPS, (unsigned long)on, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_set_dumpable(int on) {
    return prctl(PR_SET_DUMPABLE, (unsigned long)on, 0, 0, 0) < 0 ? -errno : 0;
}

int rw_get_securebits(void) {
    int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    return bits < 0 ? -errno : bits;
}

/* The kernel's struct prctl_mm_map (linux/prctl.h), spelled out so no kernel header is needed. */
struct rw_mm_map {
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv;
    uint32_t auxv_size;
    uint32_t exe_fd;
};

static struct rw_mm_map saved_layout;
static int layout_saved;

int rw_save_memory_layout(void) {
    char buf[4096];
    char *p;
    int r = read_proc_stat("/proc/self/stat", buf, sizeof buf, &p);
    if (r < 0) return r;
    unsigned long long field[52] = {0};
    for (int i = 3; i <= 51; i++) {
        char *end = p;
        if (i > 3) field[i] = strtoull(p, &end, 10);
        else while (*end && *end != ' ') end++;
        if (end == p || (*end != ' ' && *end != '\n' && *end != '\0')) return -EIO;
        p = *end ? end + 1 : end;
    }
    struct rw_mm_map m;
    memset(&m, 0, sizeof m);
    m.start_code = field[26];
    m.end_code = field[27];
    m.start_stack = field[28];
    m.start_data = field[45];
    m.end_data = field[46];
    m.start_brk = field[47];
    m.arg_start = field[48];
    m.arg_end = field[49];
    m.env_start = field[50];
    m.env_end = field[51];
    /* /proc hides these (zeros) from a reader without ptrace access to the process. */
    if (m.start_code == 0 || m.arg_start == 0 || m.start_stack == 0) return -EACCES;
    saved_layout = m;
    layout_saved = 1;
    return 0;
}

int rw_set_command_line(const char *args, size_t args_len, const char *env, size_t env_len) {
    if (!layout_saved) return -ENODATA;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (args_len + env_len + page) & ~(page - 1);
    char *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return -errno;
    if (args_len) memcpy(area, args, args_len);
    if (env_len) memcpy(area + args_len, env, env_len);
    if (mprotect(area, size, PROT_READ) < 0) {
        int saved = errno;
        munmap(area, size);
        return -saved;
    }
    struct rw_mm_map m = saved_layout;
    m.brk = (uint64_t)syscall(SYS_brk, 0);
    m.arg_start = (uint64_t)(uintptr_t)area;
    m.arg_end = m.arg_start + args_len;
    m.env_start = m.arg_end;
    m.env_end = m.env_start + env_len;
    m.auxv = 0;
    m.auxv_size = 0;
    m.exe_fd = (uint32_t)-1;
    if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0) < 0) {
        int saved = errno;
        munmap(area, size);
        return -saved;
    }
    return 0;
}

int rw_clear_original_environment(void) {
    if (!layout_saved) return -ENODATA;
    struct rw_mm_map m = saved_layout;
    m.brk = (uint64_t)syscall(SYS_brk, 0);
    m.env_start = m.arg_end;
    m.env_end = m.arg_end;
    m.auxv = 0;
    m.auxv_size = 0;
    m.exe_fd = (uint32_t)-1;
    int rc = prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof m, 0) < 0 ? -errno : 0;
    if (saved_layout.env_end > saved_layout.env_start) {
        memset((void *)(uintptr_t)saved_layout.env_start, 0, (size_t)(saved_layout.env_end - saved_layout.env_start));
    }
    return rc;
}

static void overwrite_area(uint64_t start, uint64_t end, const char *text, size_t len) {
    if (start == 0 || end <= start) return;
    size_t room = (size_t)(end - start);
    char *area = (char *)(uintptr_t)start;
    memset(area, 0, room);
    if (text != NULL) memcpy(area, text, len < room ? len : room);
}

int rw_overwrite_original_command_line(const char *args, size_t args_len, const char *env, size_t env_len) {
    if (!layout_saved) return -ENODATA;
    overwrite_area(saved_layout.arg_start, saved_layout.arg_end, args, args_len);
    overwrite_area(saved_layout.env_start, saved_layout.env_end, env, env_len);
    return 0;
}

/* The kernel's struct sigaction for rt_sigaction(2), for the C library's internal signals (32,
   33) that its sigaction refuses. Only SIG_DFL and SIG_IGN are set through it: no restorer. */
struct rw_kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static int raw_disposition(int sig, int set, void (*handler)(int), void (**old)(int)) {
    struct rw_kernel_sigaction act, prev;
    memset(&act, 0, sizeof act);
    memset(&prev, 0, sizeof prev);
    act.handler = handler;
    if (syscall(SYS_rt_sigaction, sig, set ? &act : NULL, &prev, sizeof(uint64_t)) < 0) return -errno;
    if (old) *old = prev.handler;
    return 0;
}

static uint64_t ignored_signals;  /* bit sig-1: ignored when rw_save_ignored_signals ran */

int rw_save_ignored_signals(void) {
    uint64_t ignored = 0;
    for (int sig = 1; sig <= 64; sig++) {
        void (*handler)(int) = SIG_DFL;
        if (raw_disposition(sig, 0, NULL, &handler) < 0) continue;
        if (handler == SIG_IGN) ignored |= 1ULL << (sig - 1);
    }
    ignored_signals = ignored;
    return 0;
}

int rw_default_signals_except(const int *keep, size_t nkeep) {
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        int kept = 0;
        for (size_t i = 0; i < nkeep; i++) kept |= keep[i] == sig;
        if (kept) continue;
        void (*handler)(int) = (ignored_signals >> (sig - 1)) & 1 ? SIG_IGN : SIG_DFL;
        int rc = raw_disposition(sig, 1, handler, NULL);
        if (rc < 0) return rc;
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL) < 0 ? -errno : 0;
}

int rw_signal_was_ignored(int sig) {
    return sig >= 1 && sig <= 64 && ((ignored_signals >> (sig - 1)) & 1);
}

/* dl_iterate_phdr callback: drops the resident pages of the main program's read-only PT_LOAD
   segments (only whole pages inside them). The first object reported is the program itself. */
static int release_readonly_segments(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    int *result = data;
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W)) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t end = start + ph->p_memsz;
        start = (start + page - 1) & ~(uintptr_t)(page - 1);
        end &= ~(uintptr_t)(page - 1);
        if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) < 0) *result = -errno;
    }
    return 1; /* the program only, not the vDSO */
}

int rw_release_program_pages(void) {
    int result = 0;
    dl_iterate_phdr(release_readonly_segments, &result);
    return result;
}

int rw_rename_noreplace(const char *from, const char *to) {
    return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) < 0 ? -errno : 0;
}

int rw_accept4(int fd, int nonblocking) {
    int conn;
    do {
        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
    } while (conn < 0 && errno == EINTR);
    return conn < 0 ? -errno : conn;
}

int rw_bind_unix_as(int fd, const char *path, unsigned uid, unsigned gid) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length >= sizeof address.sun_path) return -ENAMETOOLONG;
    memcpy(address.sun_path, path, length);
    int oldgid = setfsgid(gid);
    int olduid = setfsuid(uid);
    int rc = bind(fd, (struct sockaddr *)&address, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1));
    int saved = errno;
    setfsuid(olduid);
    setfsgid(oldgid);
    return rc == 0 ? 0 : -saved;
}
