// A probe of the file system as a process sees it, in C: compiled to wasm32-wasi (clang-14 and
// wasi-libc) for runwasm and natively (gcc -static) for runc, so that both runtimes can be asked
// the same questions in the same container config and their answers compared line for line.

import Glibc
import Testing

enum Probe {
    static let source = #"""
        #include <dirent.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/stat.h>
        #include <unistd.h>

        static const char *name(int e) {
            switch (e) {
            case EACCES: return "EACCES"; case EPERM: return "EPERM"; case EROFS: return "EROFS";
            case ENOENT: return "ENOENT"; case EEXIST: return "EEXIST"; case ELOOP: return "ELOOP";
            case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR"; case EINVAL: return "EINVAL";
            case EBADF: return "EBADF"; case ENXIO: return "ENXIO"; case EIO: return "EIO";
        #ifdef ENOTCAPABLE
            case ENOTCAPABLE: return "ENOTCAPABLE";
        #endif
            default: return "other";
            }
        }

        static int flags_of(const char *mode) {
            if (!strcmp(mode, "r")) return O_RDONLY;
            if (!strcmp(mode, "w")) return O_WRONLY;
            if (!strcmp(mode, "rw")) return O_RDWR;
            if (!strcmp(mode, "d")) return O_RDONLY | O_DIRECTORY;
            return O_RDONLY;
        }

        /* open PATH MODE: "open PATH MODE: ok" or the errno's name. */
        static int try_open(const char *path, const char *mode) {
            int fd = open(path, flags_of(mode));
            if (fd < 0) { printf("open %s %s: %s\n", path, mode, name(errno)); return 0; }
            printf("open %s %s: ok\n", path, mode);
            close(fd);
            return 1;
        }

        static void show(const char *path) {
            int fd = open(path, O_RDONLY);
            if (fd < 0) { printf("read %s: %s\n", path, name(errno)); return; }
            char buf[160];
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n < 0) { printf("read %s: %s\n", path, name(errno)); return; }
            buf[n] = 0;
            for (ssize_t i = 0; i < n; i++) if (buf[i] == '\n' || buf[i] == '\0') buf[i] = ' ';
            printf("read %s: ok %s\n", path, buf);
        }

        /* Every route to a process's memory, descriptors and credentials the probe knows of,
           for the process directory DIR (/proc/self, /proc/1234, ...). Prints each that opens. */
        static int routes(const char *dir) {
            static const char *rw[] = {"mem", "pagemap", "clear_refs", "oom_score_adj", "attr/current", "setgroups",
                                       "uid_map", "comm", "timerslack_ns", "sched", 0};
            static const char *ro[] = {"mem", "maps", "smaps", "map_files", "fd", "fdinfo", "fd/3", "fd/4",
                                       "environ", "auxv", "syscall", "stack", "exe", "cwd", "root", "root/proc/self/mem",
                                       "cwd/proc/self/mem", "fd/3/proc/self/mem", "task", "ns/mnt", "personality",
                                       "wchan", "io", "pagemap", "numa_maps", "net/../mem", "task/../mem", 0};
            int opened = 0;
            char path[512];
            for (int i = 0; rw[i]; i++) {
                snprintf(path, sizeof path, "%s/%s", dir, rw[i]);
                int fd = open(path, O_WRONLY);
                if (fd >= 0) { printf("ROUTE write %s\n", path); opened++; close(fd); }
            }
            for (int i = 0; ro[i]; i++) {
                snprintf(path, sizeof path, "%s/%s", dir, ro[i]);
                int fd = open(path, O_RDONLY);
                /* environ is the guest's own (or another guest's) process.env, no route */
                if (fd >= 0 && strcmp(ro[i], "environ") != 0) {
                    printf("ROUTE read %s\n", path); opened++;
                }
                if (fd >= 0) close(fd);
            }
            return opened;
        }

        int main(int argc, char **argv) {
            setvbuf(stdout, 0, _IONBF, 0);
            for (int i = 1; i < argc; i++) {
                const char *cmd = argv[i];
                if (!strcmp(cmd, "open") && i + 2 < argc) { try_open(argv[i + 1], argv[i + 2]); i += 2; }
                else if (!strcmp(cmd, "read") && i + 1 < argc) { show(argv[++i]); }
                else if (!strcmp(cmd, "write") && i + 2 < argc) {
                    const char *path = argv[i + 1], *text = argv[i + 2];
                    i += 2;
                    int fd = open(path, O_WRONLY);
                    if (fd < 0) { printf("write %s: %s\n", path, name(errno)); continue; }
                    ssize_t n = write(fd, text, strlen(text));
                    printf("write %s: %s\n", path, n < 0 ? name(errno) : "ok");
                    close(fd);
                }
                else if (!strcmp(cmd, "creat") && i + 1 < argc) {
                    const char *path = argv[++i];
                    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
                    if (fd < 0) { printf("creat %s: %s\n", path, name(errno)); continue; }
                    struct stat st;
                    fstat(fd, &st);
                    close(fd);
                    printf("creat %s: ok mode %o\n", path, (unsigned)(st.st_mode & 07777));
                }
                else if (!strcmp(cmd, "mkdir") && i + 1 < argc) {
                    const char *path = argv[++i];
                    if (mkdir(path, 0777) != 0) { printf("mkdir %s: %s\n", path, name(errno)); continue; }
                    struct stat st;
                    stat(path, &st);
                    printf("mkdir %s: ok mode %o\n", path, (unsigned)(st.st_mode & 07777));
                }
                else if (!strcmp(cmd, "stat") && i + 1 < argc) {
                    const char *path = argv[++i];
                    struct stat st;
                    if (stat(path, &st) != 0) printf("stat %s: %s\n", path, name(errno));
                    else printf("stat %s: ok %s\n", path, S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other");
                }
                else if (!strcmp(cmd, "symlink") && i + 2 < argc) {
                    int r = symlink(argv[i + 1], argv[i + 2]);
                    printf("symlink %s: %s\n", argv[i + 2], r ? name(errno) : "ok");
                    i += 2;
                }
                else if (!strcmp(cmd, "isatty") && i + 1 < argc) {
                    int fd = atoi(argv[++i]);
                    printf("isatty %d: %d\n", fd, isatty(fd));
                }
                else if (!strcmp(cmd, "openat") && i + 2 < argc) {
                    /* openat DIR REL: a directory descriptor, then a path relative to it */
                    const char *dir = argv[i + 1], *rel = argv[i + 2];
                    i += 2;
                    int d = open(dir, O_RDONLY | O_DIRECTORY);
                    if (d < 0) { printf("openat %s %s: dir %s\n", dir, rel, name(errno)); continue; }
                    int fd = openat(d, rel, O_RDONLY);
                    printf("openat %s %s: %s\n", dir, rel, fd < 0 ? name(errno) : "ok");
                    if (fd >= 0) close(fd);
                    close(d);
                }
                else if (!strcmp(cmd, "routes") && i + 1 < argc) {
                    printf("routes %s: %d\n", argv[i + 1], routes(argv[i + 1]));
                    i++;
                }
                else if (!strcmp(cmd, "all-processes")) {
                    /* every process directory this procfs lists, and self and thread-self */
                    int total = routes("/proc/self") + routes("/proc/thread-self"), dirs = 2;
                    DIR *d = opendir("/proc");
                    struct dirent *e;
                    while (d && (e = readdir(d))) {
                        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
                        char path[300];
                        snprintf(path, sizeof path, "/proc/%s", e->d_name);
                        total += routes(path);
                        snprintf(path, sizeof path, "/proc/%s/task/%s", e->d_name, e->d_name);
                        total += routes(path);
                        dirs += 2;
                    }
                    if (d) closedir(d);
                    printf("all-processes: %d routes in %d directories\n", total, dirs);
                }
                else if (!strcmp(cmd, "sleep") && i + 1 < argc) {
                    printf("sleeping\n");
                    sleep((unsigned)atoi(argv[++i]));
                }
                else if (!strcmp(cmd, "exit") && i + 1 < argc) { return atoi(argv[i + 1]); }
                else if (!strcmp(cmd, "status")) {
                    /* the credential lines of /proc/self/status */
                    FILE *f = fopen("/proc/self/status", "r");
                    char line[512];
                    while (f && fgets(line, sizeof line, f)) {
                        static const char *keys[] = {"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
                                                     "CapAmb:", "NoNewPrivs:", "Seccomp:", 0};
                        for (int k = 0; keys[k]; k++)
                            if (!strncmp(line, keys[k], strlen(keys[k]))) printf("status %s", line);
                    }
                    if (f) fclose(f);
                    if (!f) printf("status: %s\n", name(errno));
                }
                else if (!strcmp(cmd, "mounts")) {
                    /* mount point, file system type and the per-mount flags of each mount */
                    FILE *f = fopen("/proc/self/mountinfo", "r");
                    char line[4096];
                    while (f && fgets(line, sizeof line, f)) {
                        char *field[12] = {0};
                        int n = 0;
                        for (char *t = strtok(line, " \n"); t && n < 12; t = strtok(0, " \n")) field[n++] = t;
                        int dash = 6;
                        while (dash < n && strcmp(field[dash], "-")) dash++;
                        if (dash + 1 < n) printf("mount %s %s %s\n", field[4], field[dash + 1], field[5]);
                    }
                    if (f) fclose(f);
                    if (!f) printf("mounts: %s\n", name(errno));
                }
                else if (!strcmp(cmd, "sysctl") && i + 1 < argc) {
                    char path[256], *p;
                    snprintf(path, sizeof path, "/proc/sys/%s", argv[++i]);
                    for (p = path + 10; *p; p++) if (*p == '.') *p = '/';
                    show(path);
                }
                else if (!strcmp(cmd, "lines") && i + 1 < argc) {
                    /* every line of a file, each prefixed with its path */
                    const char *path = argv[++i];
                    FILE *f = fopen(path, "r");
                    char line[512];
                    if (!f) printf("%s: %s\n", path, name(errno));
                    while (f && fgets(line, sizeof line, f)) printf("%s: %s%s", path, line, strchr(line, '\n') ? "" : "\n");
                    if (f) fclose(f);
                }
                else if (!strcmp(cmd, "env")) {
                    extern char **environ;
                    for (char **e = environ; *e; e++) printf("env %s\n", *e);
                }
                else if (!strcmp(cmd, "wait")) {
                    /* blocks until stdin closes, so that another process can be exec'd beside it */
                    char c;
                    printf("waiting\n");
                    while (read(0, &c, 1) > 0) {}
                }
                else { printf("unknown %s\n", cmd); return 2; }
            }
            return 0;
        }
        """#

    private static func build(_ arguments: [String], output: String) -> [UInt8] {
        let dir = Harness.tempDir("probe")
        defer { Harness.removeTree(dir) }
        Harness.write(dir + "/probe.c", source)
        let r = Harness.spawn(arguments + ["-o", dir + "/" + output, dir + "/probe.c"])
        guard r.status == 0 else { fatalError("cannot build the probe (\(arguments[0])): \(r.stderr)") }
        return CGuest.readBytes(dir + "/" + output)
    }

    /// The probe as a WASI module.
    static let wasm: [UInt8] = build(
        ["/usr/bin/clang-14", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-fuse-ld=lld"], output: "probe.wasm")

    /// The probe as a static native executable, for runc.
    static let native: [UInt8] = build(["/usr/bin/gcc", "-static", "-O2"], output: "probe")
}
