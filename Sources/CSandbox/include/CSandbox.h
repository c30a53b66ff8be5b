// CSandbox: the few Linux calls that Swift must not or cannot make itself.
//
// Every function returns 0 (or a non-negative value) on success and -errno on failure.
// No policy lives here: no printing, no exit codes chosen, no allocation in a child.
#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <seccomp.h>
#include <sys/capability.h>

/// Kernel ABI values of the clone(2) flags runwasm uses (the libc macros need _GNU_SOURCE).
enum {
    RW_CLONE_PARENT = 0x00008000,
    RW_CLONE_NEWNS = 0x00020000,
    RW_CLONE_NEWCGROUP = 0x02000000,
    RW_CLONE_NEWUTS = 0x04000000,
    RW_CLONE_NEWIPC = 0x08000000,
    RW_CLONE_NEWUSER = 0x10000000,
    RW_CLONE_NEWPID = 0x20000000,
    RW_CLONE_NEWNET = 0x40000000,
    RW_CLONE_NEWTIME = 0x00000080,
};

/// Linux values hidden behind _GNU_SOURCE: open(2)'s O_PATH, AT_EMPTY_PATH, utimensat(2)'s UTIME_NOW and
/// UTIME_OMIT, and statvfs(3)'s f_flag bits.
enum {
    RW_O_PATH = 010000000,
    RW_AT_EMPTY_PATH = 0x1000,
    RW_UTIME_NOW = (1 << 30) - 1,
    RW_UTIME_OMIT = (1 << 30) - 2,
    RW_ST_RDONLY = 1,
    RW_ST_NOSUID = 2,
    RW_ST_NODEV = 4,
    RW_ST_NOEXEC = 8,
};

/// pipe2(fds, O_CLOEXEC).
int rw_pipe(int fds[2]);

/// statfs(2)'s f_type for `path` (the file system's magic number), or -errno.
long rw_fs_type(const char *path);

/// Number of threads of the calling process (entries of /proc/self/task), or -errno.
int rw_thread_count(void);

/// clone(2) without a new stack: behaves like fork(2), with `flags` (CLONE_NEW*, CLONE_PARENT)
/// added. Refuses with -EDEADLK unless the process has exactly one thread.
/// Returns the child's pid in the parent, 0 in the child, or -errno.
pid_t rw_clone(unsigned long flags);

/// clone3(2) with CLONE_INTO_CGROUP: as rw_clone, and the child starts in the cgroup v2
/// directory open at `cgroup_fd`, with no migration. -ENOSYS or -E2BIG before Linux 5.7.
pid_t rw_clone_into_cgroup(unsigned long flags, int cgroup_fd);

/// Drops this process's resident pages of the program's read-only segments (code, read-only
/// data); they fault back in from the page cache when next used. Writable segments are left
/// alone. Returns 0 or -errno.
int rw_release_program_pages(void);

/// unshare(2), only in a single-threaded process (-EDEADLK otherwise).
int rw_unshare(int flags);

/// setns(2), only in a single-threaded process (-EDEADLK otherwise).
int rw_setns(int fd, int nstype);

/// pivot_root(2), which libc does not wrap.
int rw_pivot_root(const char *new_root, const char *put_old);
/* mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE) setting and clearing MOUNT_ATTR_* bits on
   the mount at fd and every mount below it (Linux 5.12). */
int rw_mount_setattr_recursive(int fd, unsigned long long set, unsigned long long clear);
/* open_tree(AT_FDCWD, path, OPEN_TREE_CLONE [| AT_RECURSIVE]): a detached copy of the mount at
   path (a bind source opened before the container enters its user namespace); a fd or -errno. */
int rw_open_tree_clone(const char *path, int recursive);
/* move_mount of the detached tree at from_fd onto the directory or file open at to_fd. */
int rw_move_mount(int from_fd, int to_fd);

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` is resolved as if `dirfd` were
/// the root directory, so neither `..` nor a symlink can leave it. Returns the fd or -errno.
int rw_open_in_root(int dirfd, const char *path, int flags);

/// openat2(2) with the given RESOLVE_* bits (O_CLOEXEC added); the new fd, or -errno
/// (-ENOSYS on a kernel without openat2).
int rw_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);

/// RESOLVE_NO_MAGICLINKS, for rw_openat2.
#define RW_RESOLVE_NO_MAGICLINKS 0x02ULL

/// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program of `count` instructions (struct
/// bpf_insn, 8 bytes each); the program's fd, or -errno (the verifier's log in `log`).
int rw_bpf_load_device_program(const void *insns, size_t count, char *log, size_t log_size);

/// bpf(BPF_PROG_ATTACH) of a device program to the cgroup v2 directory open at `cgroup_fd`, as
/// one of several (BPF_F_ALLOW_MULTI); 0 or -errno.
int rw_bpf_attach_device_program(int cgroup_fd, int prog_fd);

/// fstatfs(2)'s f_type for `fd`, or -errno.
long rw_fd_fs_type(int fd);

/// prctl(PR_SET_CHILD_SUBREAPER, on).
int rw_set_child_subreaper(int on);

/// prctl(PR_SET_PDEATHSIG, sig).
int rw_set_parent_death_signal(int sig);

/// prctl(PR_SET_NAME, name).
int rw_set_process_name(const char *name);

/// Sends one message with `len` bytes of `data` and exactly one SCM_RIGHTS fd over `sock`.
int rw_send_fd(int sock, int fd, const void *data, size_t len);

/// Receives one message of up to `cap` bytes into `data`; if it carried an SCM_RIGHTS fd, stores
/// it in `*fd_out` (else -1). Returns the byte count or -errno.
ssize_t rw_recv_with_fd(int sock, void *data, size_t cap, int *fd_out);

/// Forks (single-threaded processes only) and in the child: makes `stdin_fd`, `stdout_fd` and
/// `stderr_fd` its fds 0, 1, 2 (a negative value leaves that fd as it is), resets the signal
/// mask and dispositions, puts itself in a new process group, and execve(path, argv, envp).
/// The child only makes async-signal-safe calls and _exit(127)s if execve fails.
/// Returns the child's pid or -errno.
pid_t rw_spawn(const char *path, char *const argv[], char *const envp[],
               int stdin_fd, int stdout_fd, int stderr_fd);

/// Closes every fd >= `lowest` except those listed in `keep` (close_range(2) in gaps).
int rw_close_fds_from(int lowest, const int *keep, size_t nkeep);

/// Installs handlers so that SIGTERM, SIGINT and SIGHUP end the process at once with
/// _exit(128 + signal). A PID 1 of a pid namespace would otherwise ignore them.
int rw_exit_on_termination_signals(void);

/// Restores the default disposition of the termination signals and unblocks all signals.
int rw_reset_signals(void);

/// Reads field 22 (starttime, in clock ticks) and field 3 (state) of /proc/<pid>/stat.
/// Returns 0, -ENOENT when the process does not exist, or -errno.
int rw_proc_stat(pid_t pid, unsigned long long *start_time, char *state);

/// Opens a new pty master (posix_openpt, grantpt, unlockpt) and writes the slave's path to
/// `name`. Returns the master fd (close-on-exec) or -errno.
int rw_open_pty(char *name, size_t len);

/// ioctl(fd, TIOCSWINSZ) with the given size.
int rw_set_window_size(int fd, unsigned short rows, unsigned short cols);

/// ioctl(fd, TIOCGWINSZ): reads the size of a terminal.
int rw_get_window_size(int fd, unsigned short *rows, unsigned short *cols);

/// Makes `fd` (a terminal) the controlling terminal of this process (ioctl TIOCSCTTY) after setsid().
int rw_make_controlling_terminal(int fd);

/// SCMP_ACT_ERRNO(code) and SCMP_ACT_TRACE(code), which are macros.
uint32_t rw_scmp_act_errno(uint32_t code);
uint32_t rw_scmp_act_trace(uint32_t code);

/// Writes the BPF program of `ctx` (seccomp_export_bpf) into `buf`; returns its length or -errno.
ssize_t rw_seccomp_export(scmp_filter_ctx ctx, void *buf, size_t cap);

/// Loads a BPF program (an array of struct sock_filter, `len` bytes) with seccomp(2)
/// SECCOMP_SET_MODE_FILTER and the given SECCOMP_FILTER_FLAG_* flags.
int rw_seccomp_load(const void *program, size_t len, unsigned int flags);

/// Installs a SIGSYS handler that reports the denied system call on stderr in one line and
/// ends the process with _exit(128 + SIGSYS); for filters whose action is SCMP_ACT_TRAP.
int rw_report_denied_syscalls(void);

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
int rw_set_no_new_privs(void);

/// prctl(PR_SET_KEEPCAPS, on).
int rw_set_keep_caps(int on);

/// prctl(PR_SET_DUMPABLE, on).
int rw_set_dumpable(int on);

/// prctl(PR_GET_SECUREBITS): the securebits of this thread, or -errno.
int rw_get_securebits(void);

/// Reads this process's memory layout (fields 26-28 and 45-51 of /proc/self/stat: code, stack,
/// data, brk start, argument and environment areas) and keeps it for the two calls below. The
/// layout is inherited across fork and clone; call it while /proc is the host's.
int rw_save_memory_layout(void);

/// Zeroes the original environment strings (the saved layout's) in this process's memory and,
/// with prctl(PR_SET_MM, PR_SET_MM_MAP), makes /proc/self/environ empty. The strings are zeroed
/// even when the kernel refuses the map; returns its -errno then.
int rw_clear_original_environment(void);

/// What execve would leave in /proc/self/cmdline and /proc/self/environ: copies `args` (`args_len`
/// bytes: each argument NUL-terminated) and `env` (each entry NUL-terminated) into a fresh
/// read-only mapping that stays for the life of the process, and points the kernel's argument and
/// environment areas at it with prctl(PR_SET_MM, PR_SET_MM_MAP), which needs no capability. The
/// rest of the map is the saved layout and the current brk. -ENODATA without a saved layout.
int rw_set_command_line(const char *args, size_t args_len, const char *env, size_t env_len);

/// Zeroes the original argument and environment areas (the saved layout) in this process's memory
/// and, when `args` or `env` is given, writes as much of it as fits there (whole bytes, the rest
/// left zero). The fallback when PR_SET_MM_MAP is refused, and the scrub after it succeeded.
int rw_overwrite_original_command_line(const char *args, size_t args_len, const char *env, size_t env_len);

/// Notes which signals are ignored now (what the process's caller left ignored, before this
/// process changes any), for rw_default_signals_except.
int rw_save_ignored_signals(void);

/// As execve does: every signal's disposition becomes the default, except that a signal noted
/// ignored by rw_save_ignored_signals is ignored, and the `nkeep` signals in `keep` are left as
/// they are; SIGKILL and SIGSTOP aside. Then unblocks all signals.
int rw_default_signals_except(const int *keep, size_t nkeep);

/// 1 if `sig` was noted ignored by rw_save_ignored_signals, else 0.
int rw_signal_was_ignored(int sig);

/// renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE): fails with -EEXIST when `to`
/// exists (a directory too, even empty), -EINVAL where the file system cannot do it.
int rw_rename_noreplace(const char *from, const char *to);

/// accept4(2), hidden behind _GNU_SOURCE: a connection from `fd`, close-on-exec and, when
/// `nonblocking`, O_NONBLOCK. Retries EINTR. Returns the new fd or -errno.
int rw_accept4(int fd, int nonblocking);

/// bind(2) of `fd` to the unix socket address `path`, with the file system identity (fsuid,
/// fsgid) of `uid` and `gid` during the call, so that the permission checks and the new
/// socket file's owner are theirs. Returns 0 or -errno.
int rw_bind_unix_as(int fd, const char *path, unsigned uid, unsigned gid);

#endif
