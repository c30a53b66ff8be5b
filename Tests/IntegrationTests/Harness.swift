// Drives the built `runwasm` binary as a caller would: real bundles in temporary directories,
// real namespaces, stdio in files, exit statuses from waitpid.

import CSandbox
import Glibc
import Testing
import WAT

import Foundation

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Harness {
    /// The binary under test: $RUNWASM_BIN, or the debug build next to this package.
    static let binary: String = {
        if let env = getenv("RUNWASM_BIN") { return String(cString: env) }
        let file = #filePath
        let root = file.components(separatedBy: "/Tests/")[0]
        return root + "/.build/debug/runwasm"
    }()

    /// The names in a directory, less `.` and `..`, in readdir's order.
    static func entries(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func tempDir(_ prefix: String) -> String {
        var template = Array("/tmp/runwasm-test-\(prefix)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(path != nil, "mkdtemp failed")
        return String(cString: path!)
    }

    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "cannot write \(path)")
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            precondition(n > 0)
            off += n
        }
        close(fd)
        chmod(path, mode)
    }

    static func write(_ path: String, _ text: String, mode: mode_t = 0o644) { write(path, Array(text.utf8), mode: mode) }

    static func read(_ path: String) -> String? {
        guard access(path, R_OK) == 0 else { return nil }
        return String(decoding: CGuest.readBytes(path), as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func mkdirs(_ path: String) {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            mkdir(current, 0o755)
        }
    }

    static func removeTree(_ path: String) {
        _ = spawn(["/bin/rm", "-rf", path])
    }

    /// Runs `argv` with stdin from /dev/null (or `stdinPath`) and stdout/stderr captured in files
    /// (or sent to the given paths), and waits for it (60 s at most).
    static func spawn(
        _ argv: [String], environment: [String]? = nil, stdoutPath: String? = nil, stderrPath: String? = nil,
        stdinPath: String = "/dev/null", timeout: Double = 60
    ) -> ProcessResult {
        let scratch = tempDir("io")
        defer { removeTreeQuietly(scratch) }
        let out = stdoutPath ?? scratch + "/stdout"
        let err = stderrPath ?? scratch + "/stderr"
        let env = environment ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        let pid = start(argv, environment: env, stdinPath: stdinPath, stdoutPath: out, stderrPath: err)
        let status = waitFor(pid, timeout: timeout)
        return ProcessResult(status: status, stdout: read(out) ?? "", stderr: read(err) ?? "")
    }

    /// Starts `argv` without waiting, with stdio from and to the given files (appended), the
    /// environment given (or none), and what a shell would leave it: no blocked signals.
    static func start(
        _ argv: [String], environment: [String]? = nil, stdinPath: String = "/dev/null",
        stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null"
    ) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var attr = cleanSpawnAttributes()
        defer { posix_spawnattr_destroy(&attr) }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { args in
            withCStrings(environment ?? []) { envp in posix_spawn(&pid, argv[0], &actions, &attr, args, envp) }
        }
        precondition(rc == 0, "posix_spawn \(argv[0]) failed: \(rc)")
        adopt(pid)
        return pid
    }

    /// Spawn attributes that give the child what a shell would: no blocked signals, default handlers.
    static func cleanSpawnAttributes() -> posix_spawnattr_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return attr
    }

    private static func removeTreeQuietly(_ path: String) {
        // Only files and one level: the scratch directory holds stdout and stderr.
        unlink(path + "/stdout")
        unlink(path + "/stderr")
        rmdir(path)
    }

    /// Exit statuses of children already reaped: waiting twice for the same child must not wait
    /// for whatever process reuses its pid later.
    nonisolated(unsafe) private static var reaped: [pid_t: Int32] = [:]
    private static let reapedLock = NSLock()

    /// Forgets an old status for `pid`: a new child now has that pid.
    static func adopt(_ pid: pid_t) {
        reapedLock.lock()
        reaped[pid] = nil
        reapedLock.unlock()
    }

    /// waitpid with a deadline; returns the exit code, or 128+signal. Kills the process on timeout.
    static func waitFor(_ pid: pid_t, timeout: Double = 60) -> Int32 {
        reapedLock.lock()
        let known = reaped[pid]
        reapedLock.unlock()
        if let known { return known }
        let deadline = now() + timeout
        var status: Int32 = 0
        var result: Int32
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                result = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                break
            }
            if r < 0 && errno != EINTR { return -1 }
            if now() > deadline {
                // Kill it, but never block: a dying PID 1 waits for its namespace's zombies,
                // which may be this process's children too.
                kill(pid, SIGKILL)
                let killDeadline = now() + 5
                while waitpid(pid, &status, WNOHANG) == 0 && now() < killDeadline {
                    reapExecZombies()
                    usleep(1000)
                }
                result = -2
                break
            }
            usleep(1000)
        }
        reapedLock.lock()
        reaped[pid] = result
        reapedLock.unlock()
        return result
    }

    /// Reaps exited `exec` processes that are this process's children: a detached exec that
    /// failed leaves one behind for its caller to reap, as runc does, and until it is reaped the
    /// container's PID 1 cannot finish exiting.
    static func reapExecZombies() {
        guard let dir = opendir("/proc") else { return }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard let pid = pid_t(name), parentPid(of: pid) == getpid(), read("/proc/\(pid)/comm") == "runwasm:exec\n" else { continue }
            _ = waitFor(pid, timeout: 5)
        }
    }

    /// True while `pid` exists and is not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        var start: UInt64 = 0
        var state: CChar = 0
        guard rw_proc_stat(pid, &start, &state) == 0 else { return false }
        return state != CChar(UInt8(ascii: "Z"))
    }

    static func parentPid(of pid: pid_t) -> pid_t? {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// A listening AF_UNIX stream socket at `path`, as containerd and conmon make one.
    static func listenUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8CString)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in for (i, c) in bytes.enumerated() { buf[i] = UInt8(bitPattern: c) } }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(r == 0 && Glibc.listen(fd, 1) == 0)
        return fd
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Polls `condition` every 5 ms for up to `timeout` seconds.
    static func eventually(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = now() + timeout
        while now() < deadline {
            if condition() { return true }
            usleep(5000)
        }
        return condition()
    }

    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }

    static func json(_ text: String) -> [String: Any]? {
        guard let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

/// A container environment for one test: a state root, a bundle and files for stdio.
final class Sandbox {
    let dir: String
    let root: String
    let bundle: String
    var rootfs: String { bundle + "/rootfs" }
    let stdout: String
    let stderr: String
    var config: [String: Any]

    init(module: [UInt8]? = nil, args: [String] = ["/app.wasm"]) {
        dir = Harness.tempDir("case")
        root = dir + "/root"
        bundle = dir + "/bundle"
        stdout = dir + "/stdout"
        stderr = dir + "/stderr"
        Harness.mkdirs(bundle + "/rootfs")
        if let module { Harness.write(bundle + "/rootfs/app.wasm", module, mode: 0o755) }
        config = Sandbox.baseConfig(args: args)
    }

    deinit { Harness.removeTree(dir) }

    static func baseConfig(args: [String]) -> [String: Any] {
        [
            "ociVersion": "1.0.2",
            "process": [
                "terminal": false,
                "user": ["uid": 0, "gid": 0],
                "args": args,
                "env": ["PATH=/usr/bin:/bin"],
                "cwd": "/",
            ] as [String: Any],
            "root": ["path": "rootfs"],
            "hostname": "wasm-box",
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]],
                [
                    "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                    "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
                ],
            ],
            "linux": ["namespaces": ["pid", "network", "ipc", "uts", "mount"].map { ["type": $0] }],
        ]
    }

    var process: [String: Any] {
        get { config["process"] as! [String: Any] }
        set { config["process"] = newValue }
    }

    /// A new user namespace whose root is host uid and gid 100000 (65536 ids), the image given to
    /// it, as podman and containerd prepare one.
    func useUserNamespace() {
        chmod(dir, 0o755)
        chmod(bundle, 0o755)
        _ = Harness.spawn(["/bin/chown", "-R", "100000:100000", rootfs])
        var linux = config["linux"] as! [String: Any]
        linux["namespaces"] = ["pid", "network", "ipc", "uts", "mount", "user"].map { ["type": $0] }
        linux["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        linux["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
        config["linux"] = linux
    }

    func addMount(_ mount: [String: Any]) {
        config["mounts"] = (config["mounts"] as! [[String: Any]]) + [mount]
    }

    func writeConfig() {
        let data = try! JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted])
        Harness.write(bundle + "/config.json", Array(data))
    }

    /// Runs `runwasm --root ROOT <args>`; the container's stdio go to this sandbox's files.
    @discardableResult
    func runwasm(_ args: [String], globals: [String] = [], environment: [String]? = nil, timeout: Double = 60) -> ProcessResult {
        writeConfigIfNeeded()
        return Harness.spawn(
            [Harness.binary, "--root", root] + globals + args, environment: environment, stdoutPath: stdout,
            stderrPath: stderr, timeout: timeout)
    }

    /// Like `runwasm` but with stdout/stderr of runwasm itself captured separately.
    func runwasmCaptured(_ args: [String], globals: [String] = []) -> ProcessResult {
        writeConfigIfNeeded()
        return Harness.spawn([Harness.binary, "--root", root] + globals + args)
    }

    private var configWritten = false
    private func writeConfigIfNeeded() {
        if !configWritten {
            writeConfig()
            configWritten = true
        }
    }

    func rewriteConfig() {
        writeConfig()
        configWritten = true
    }

    var output: String { Harness.read(stdout) ?? "" }
    var errors: String { Harness.read(stderr) ?? "" }

    func state(_ id: String) -> [String: Any]? {
        let r = runwasmCaptured(["state", id])
        return r.status == 0 ? Harness.json(r.stdout) : nil
    }

    /// Entries left under the state root (container directories).
    var leftovers: [String] { Harness.entries(root) }

    /// create with a pid file; returns the container pid.
    func create(_ id: String, extra: [String] = [], environment: [String]? = nil) throws -> pid_t {
        let pidFile = dir + "/\(id).pid"
        let r = runwasm(["create", "--bundle", bundle, "--pid-file", pidFile] + extra + [id], environment: environment)
        try #require(r.status == 0, "create failed: \(errors)")
        let text = try #require(Harness.read(pidFile))
        let pid = try #require(pid_t(text))
        Harness.adopt(pid)
        return pid
    }

    /// Creates and starts a container of the spinning guest; returns once it runs.
    func startSpinning(_ id: String, environment: [String]? = nil) throws -> pid_t {
        let pid = try create(id, environment: environment)
        try #require(runwasm(["start", id], environment: environment).status == 0, "start: \(errors)")
        try #require(Harness.eventually { self.output.contains("running") })
        return pid
    }
}

/// Guest modules in WebAssembly text, compiled with WasmKit's WAT.
enum Guests {
    static func wasm(_ wat: String) -> [UInt8] {
        do { return try wat2wasm(wat) } catch { fatalError("bad fixture: \(error)") }
    }

    static let wasiImports = """
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
        """

    /// Writes `text` to stdout, then exits with `code` (or returns from _start when nil).
    static func hello(_ text: String = "hello from wasm\n", exit code: Int? = nil) -> [UInt8] {
        let escaped = text.utf8.map { "\\" + ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let exit = code.map { "(call $proc_exit (i32.const \($0)))" } ?? ""
        return wasm("""
            (module
              \(wasiImports)
              (data (i32.const 16) "\(escaped)")
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const \(text.utf8.count)))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                \(exit)))
            """)
    }

    static func exit(_ code: Int) -> [UInt8] {
        wasm("""
            (module
              \(wasiImports)
              (func (export "_start") (call $proc_exit (i32.const \(code)))))
            """)
    }

    static let trap = wasm("""
        (module
          \(wasiImports)
          (func (export "_start") unreachable))
        """)

    /// Prints "running\n", then spins forever.
    static let spin = wasm("""
        (module
          \(wasiImports)
          (data (i32.const 16) "running\\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (loop $forever (br $forever))))
        """)

    /// A module whose start section writes to stdout at instantiation (it must not run before `start`).
    static let startSection = wasm("""
        (module
          \(wasiImports)
          (data (i32.const 16) "start section ran\\n")
          (func $init
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 18))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (start $init)
          (func (export "_start")))
        """)
}

/// The C checker guest, compiled to wasm32-wasi with Debian's clang-14 and wasi-libc.
enum CGuest {
    static let source = """
        #include <errno.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        #include <sys/stat.h>

        extern char **environ;
        char *volatile sink;

        static int show(const char *path) {
            FILE *f = fopen(path, "r");
            if (!f) { printf("%s: error %s\\n", path, strerror(errno)); return 1; }
            char buf[256] = {0};
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            fclose(f);
            printf("%s: ok %s\\n", path, buf);
            return 0;
        }

        int main(int argc, char **argv) {
            if (argc < 2) return 2;
            const char *cmd = argv[1];
            if (!strcmp(cmd, "args")) {
                for (int i = 0; i < argc; i++) printf("arg[%d]=%s\\n", i, argv[i]);
                for (char **e = environ; *e; e++) printf("env %s\\n", *e);
                return 0;
            }
            if (!strcmp(cmd, "cd")) {  /* follow PWD, as WASI p1 guests learn their cwd */
                const char *pwd = getenv("PWD");
                if (pwd && chdir(pwd) != 0) { printf("chdir %s: %s\\n", pwd, strerror(errno)); return 3; }
                argv++; argc--; cmd = argv[1];
            }
            if (!strcmp(cmd, "read")) {
                int rc = 0;
                for (int i = 2; i < argc; i++) rc |= show(argv[i]);
                return rc;
            }
            if (!strcmp(cmd, "write")) {
                FILE *f = fopen(argv[2], "w");
                if (!f) { printf("%s: error %s\\n", argv[2], strerror(errno)); return 1; }
                fputs(argv[3], f);
                fclose(f);
                printf("%s: written\\n", argv[2]);
                return 0;
            }
            if (!strcmp(cmd, "exit")) return atoi(argv[2]);
            if (!strcmp(cmd, "alloc")) {  /* allocate 1 MiB blocks until malloc fails */
                long mib = 0;
                for (;;) {
                    char *p = malloc(1 << 20);
                    if (!p) break;
                    for (int i = 0; i < (1 << 20); i += 4096) p[i] = 1;
                    sink = p;  /* keeps the compiler from eliding the allocation */
                    mib++;
                }
                printf("allocation failed after %ld MiB\\n", mib);
                return 3;
            }
            if (!strcmp(cmd, "mkdir")) {
                if (mkdir(argv[2], 0755) != 0) { printf("mkdir %s: error %s\\n", argv[2], strerror(errno)); return 1; }
                printf("mkdir %s: ok\\n", argv[2]);
                return 0;
            }
            return 2;
        }
        """

    /// The compiled module, built once per test run.
    static let module: [UInt8] = {
        let dir = Harness.tempDir("cguest")
        Harness.write(dir + "/checker.c", source)
        let r = Harness.spawn([
            "/usr/bin/clang-14", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-fuse-ld=lld",
            "-o", dir + "/checker.wasm", dir + "/checker.c",
        ])
        guard r.status == 0, let bytes = Harness.read(dir + "/checker.wasm").map({ _ in readBytes(dir + "/checker.wasm") })
        else {
            fatalError("clang-14 could not build the C guest (scripts/test installs clang-14, lld-14, wasi-libc): \(r.stderr)")
        }
        Harness.removeTree(dir)
        return bytes
    }()

    static func readBytes(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}
