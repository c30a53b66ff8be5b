// The virtual execve, checked against runc itself: the same config run by `runc` (a native static
// program) and by runwasm (a Wasm guest), and the container process of each read from outside
// through /proc/PID while it waits. Capabilities, ids, no_new_privs, the command line, the
// environment, the name, signal dispositions and open fds must be what runc's execve leaves.

import Foundation
import Glibc
import Testing

/// One config of the matrix: a user, capability lists (most copied from real callers' configs in
/// the project's caller-configs corpus), no_new_privs and an optional user namespace.
struct CredentialCase: Sendable, CustomTestStringConvertible {
    var name: String
    var uid: Int
    var gid: Int
    var additionalGids: [Int] = []
    var capabilities: [String: [String]]?
    var noNewPrivileges = false
    var userNamespace = false

    var testDescription: String { name }

    /// Docker 20.10's and containerd's default list (docker/plain.json, cri/runas-container.json).
    static let dockerDefault = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]
    /// `runc spec` (plain/runc-spec.json): B=E=P=A, no inheritable, noNewPrivileges.
    static let runcSpec = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    static let mixed: [String: [String]] = [
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    ]

    static let all: [CredentialCase] = [
        CredentialCase(
            name: "runc spec: root, B=E=P=A, no_new_privs", uid: 0, gid: 0,
            capabilities: ["bounding": runcSpec, "effective": runcSpec, "permitted": runcSpec, "ambient": runcSpec],
            noNewPrivileges: true),
        CredentialCase(
            name: "Docker default: root", uid: 0, gid: 0, additionalGids: [0],
            capabilities: ["bounding": dockerDefault, "effective": dockerDefault, "permitted": dockerDefault]),
        CredentialCase(
            name: "CRI runAsUser 1000 (issue 9)", uid: 1000, gid: 1000, additionalGids: [1000],
            capabilities: ["bounding": dockerDefault, "effective": dockerDefault, "permitted": dockerDefault]),
        CredentialCase(
            name: "Docker -u 1000: bounding only", uid: 1000, gid: 1000, additionalGids: [1000],
            capabilities: ["bounding": dockerDefault]),
        CredentialCase(
            name: "docker exec -u 1000 (gid 0), no_new_privs", uid: 1000, gid: 0, additionalGids: [0],
            capabilities: ["bounding": dockerDefault, "effective": dockerDefault, "permitted": dockerDefault],
            noNewPrivileges: true),
        CredentialCase(name: "1000 with ambient", uid: 1000, gid: 1000, additionalGids: [2000, 3000], capabilities: mixed),
        CredentialCase(name: "root, mixed sets, no_new_privs", uid: 0, gid: 0, capabilities: mixed, noNewPrivileges: true),
        CredentialCase(name: "root, mixed sets", uid: 0, gid: 0, capabilities: mixed),
        CredentialCase(name: "root, no capabilities", uid: 0, gid: 0, capabilities: nil),
        CredentialCase(name: "1000, no capabilities, no_new_privs", uid: 1000, gid: 1000, capabilities: nil, noNewPrivileges: true),
        CredentialCase(
            name: "user namespace: root, Docker default", uid: 0, gid: 0,
            capabilities: ["bounding": dockerDefault, "effective": dockerDefault, "permitted": dockerDefault],
            userNamespace: true),
        CredentialCase(
            name: "user namespace: 1000, Docker default", uid: 1000, gid: 1000, additionalGids: [1000],
            capabilities: ["bounding": dockerDefault, "effective": dockerDefault, "permitted": dockerDefault],
            userNamespace: true),
        CredentialCase(name: "user namespace: 1000 with ambient", uid: 1000, gid: 1000, capabilities: mixed, userNamespace: true),
    ]
}

/// The two programs: the same behaviour, native for runc and Wasm for runwasm. Each prints
/// "running" and then waits until it is killed.
enum DifferentialCheckers {
    static func compile(_ compiler: [String], _ source: String, _ name: String) -> [UInt8] {
        let dir = Harness.tempDir("diffchk")
        defer { Harness.removeTree(dir) }
        Harness.write(dir + "/\(name).c", source)
        let r = Harness.spawn(compiler + ["-o", dir + "/\(name)", dir + "/\(name).c"])
        guard r.status == 0 else { fatalError("\(compiler[0]) failed (scripts/setup installs it): \(r.stderr)") }
        return CGuest.readBytes(dir + "/\(name)")
    }

    static let native: [UInt8] = compile(["/usr/bin/gcc", "-static", "-O1"], """
        #include <unistd.h>
        int main(void) {
            if (write(1, "running\\n", 8) != 8) return 1;
            for (;;) pause();
        }
        """, "native")

    static let wasm: [UInt8] = compile(
        ["/usr/bin/clang-14", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-fuse-ld=lld"], """
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            printf("running\\n");
            fflush(stdout);
            for (;;) sleep(3600);
        }
        """, "guest")
}

/// What /proc shows of a container process.
struct ProcessView: Equatable, CustomStringConvertible {
    var status: [String: String]
    var cmdline: [UInt8]
    var environ: [UInt8]
    var comm: String
    var fds: [String: String]
    /// The owner of /proc/PID: the process's user when it is dumpable, as after execve; root when not.
    var procOwner: uid_t

    static let compared = ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "SigBlk", "SigIgn", "SigCgt"]

    init(_ pid: pid_t) {
        var fields: [String: String] = [:]
        for line in (Harness.read("/proc/\(pid)/status") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        status = fields
        cmdline = CGuest.readBytes("/proc/\(pid)/cmdline")
        environ = CGuest.readBytes("/proc/\(pid)/environ")
        comm = Harness.read("/proc/\(pid)/comm") ?? ""
        var st = stat()
        procOwner = stat("/proc/\(pid)", &st) == 0 ? st.st_uid : uid_t.max
        fds = [:]
        if let dir = opendir("/proc/\(pid)/fd") {
            defer { closedir(dir) }
            while let e = readdir(dir) {
                let name = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name == "." || name == ".." { continue }
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink("/proc/\(pid)/fd/\(name)", &buf, buf.count - 1)
                fds[name] = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            }
        }
    }

    var description: String {
        let shown = ProcessView.compared.map { "\($0)=\(status[$0] ?? "-")" }.joined(separator: " ")
        func text(_ b: [UInt8]) -> String { String(decoding: b.map { $0 == 0 ? UInt8(ascii: "|") : $0 }, as: UTF8.self) }
        return "\(shown) comm=\(comm.trimmingCharacters(in: .newlines)) cmdline=\(text(cmdline)) environ=\(text(environ)) fds=\(fds.keys.sorted())"
    }
}

@Suite("credentials against runc", .serialized, .timeLimit(.minutes(3)))
struct CredentialDifferentialTests {
    static let runc = "/usr/sbin/runc"
    static let args = ["/bin/checker", "first arg", "--second=2", ""]
    static let env = ["PATH=/usr/bin:/bin", "HOME=/home/guest", "GREETING=hello world", "EMPTY="]

    static func nulTerminated(_ strings: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for string in strings { bytes += Array(string.utf8) + [0] }
        return bytes
    }

    /// Runs `argv` as a caller with every signal at its default disposition would (both runtimes
    /// pass on what their caller ignores, and the test process ignores some), stdin /dev/null.
    static func spawn(_ argv: [String], environment: [String], stdoutPath: String, stderrPath: String) -> ProcessResult {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        // sigfillset leaves out the C library's internal signals 32 and 33, which posix_spawn
        // then passes on as ignored: set their bits too.
        all.__val.0 |= 0x1_8000_0000
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = Harness.withCStrings(argv) { args in
            Harness.withCStrings(environment) { envp in posix_spawn(&pid, argv[0], &actions, &attr, args, envp) }
        }
        guard rc == 0 else { return ProcessResult(status: -1, stdout: "", stderr: "posix_spawn: \(rc)") }
        Harness.adopt(pid)
        return ProcessResult(status: Harness.waitFor(pid, timeout: 30), stdout: "", stderr: "")
    }

    /// A bundle for one runtime: the program at /bin/checker, and the case's process settings.
    static func bundle(_ dir: String, _ c: CredentialCase, program: [UInt8], cgroup: String) -> String {
        let bundle = dir + "/bundle"
        Harness.mkdirs(bundle + "/rootfs/bin")
        Harness.write(bundle + "/rootfs/bin/checker", program, mode: 0o755)
        var process: [String: Any] = [
            "terminal": false,
            "user": ["uid": c.uid, "gid": c.gid, "additionalGids": c.additionalGids],
            "args": args, "env": env, "cwd": "/", "noNewPrivileges": c.noNewPrivileges,
        ]
        if let caps = c.capabilities { process["capabilities"] = caps }
        var namespaces = ["pid", "ipc", "uts", "mount", "network"].map { ["type": $0] }
        var linux: [String: Any] = ["cgroupsPath": cgroup]
        if c.userNamespace {
            namespaces.append(["type": "user"])
            linux["uidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
            linux["gidMappings"] = [["containerID": 0, "hostID": 100000, "size": 65536]]
            // The namespace's root (host uid 100000) must reach the rootfs and own it, as a
            // rootless user's rootfs is.
            var path = ""
            for part in bundle.split(separator: "/") {
                path += "/" + part
                if path.hasPrefix("/tmp/") { chmod(path, 0o755) }
            }
            for p in [bundle + "/rootfs", bundle + "/rootfs/bin", bundle + "/rootfs/bin/checker"] { chown(p, 100000, 100000) }
        }
        linux["namespaces"] = namespaces
        let config: [String: Any] = [
            "ociVersion": "1.0.2", "process": process, "root": ["path": "rootfs"], "hostname": "diff",
            "mounts": [["destination": "/proc", "type": "proc", "source": "proc"]], "linux": linux,
        ]
        let data = try! JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted])
        Harness.write(bundle + "/config.json", Array(data))
        return bundle
    }

    /// Runs `runtime --root root ARGS` as a caller whose environment holds a secret that must not
    /// reach the container, with the container's stdio in `out` and `err`.
    static func caller(_ runtime: String, root: String, out: String, err: String) -> ([String]) -> ProcessResult {
        let callerEnv = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CALLER_SECRET=do-not-leak"]
        return { argv in Self.spawn([runtime, "--root", root] + argv, environment: callerEnv, stdoutPath: out, stderrPath: err) }
    }

    static func remove(_ id: String, with run: ([String]) -> ProcessResult) {
        _ = run(["kill", id, "KILL"])
        _ = run(["delete", "--force", id])
    }

    /// create (with a pid file), start, wait for "running", read /proc, then kill and delete.
    static func observe(runtime: String, _ c: CredentialCase, program: [UInt8], tag: String) throws -> ProcessView {
        let dir = Harness.tempDir("diff-\(tag)")
        defer { Harness.removeTree(dir) }
        let id = "diff-\(tag)-\(getpid())"
        let bundle = Self.bundle(dir, c, program: program, cgroup: "/runwasm-test-\(id)")
        let root = dir + "/state"
        let out = dir + "/stdout"
        let err = dir + "/stderr"
        let run = Self.caller(runtime, root: root, out: out, err: err)
        defer { Self.remove(id, with: run) }
        let created = run(["create", "--bundle", bundle, "--pid-file", dir + "/pid", id])
        try #require(created.status == 0, "\(runtime) create: \(Harness.read(err) ?? "")")
        let pid = try #require(pid_t((Harness.read(dir + "/pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        Harness.adopt(pid)
        // Created, not started: the caller's environment is not in the waiting process either.
        let waiting = String(decoding: CGuest.readBytes("/proc/\(pid)/environ"), as: UTF8.self)
        #expect(!waiting.contains("CALLER_SECRET"), "\(runtime): the created process shows the caller's environment")
        try #require(run(["start", id]).status == 0, "\(runtime) start: \(Harness.read(err) ?? "")")
        try #require(Harness.eventually { (Harness.read(out) ?? "").contains("running") }, "\(runtime): the program never ran: \(Harness.read(err) ?? "")")
        let view = ProcessView(pid)
        _ = run(["kill", id, "KILL"])
        _ = Harness.waitFor(pid, timeout: 5)
        return view
    }

    @Test("the container process holds what runc's holds after its execve", arguments: CredentialCase.all)
    func sameAsRunc(_ c: CredentialCase) throws {
        try #require(access(Self.runc, X_OK) == 0, "scripts/setup installs runc, the oracle")
        let expected = try Self.observe(runtime: Self.runc, c, program: DifferentialCheckers.native, tag: "runc")
        let actual = try Self.observe(runtime: Harness.binary, c, program: DifferentialCheckers.wasm, tag: "runwasm")

        for field in ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigBlk", "SigIgn"] {
            #expect(actual.status[field] == expected.status[field], "\(field): runwasm \(actual.status[field] ?? "-"), runc \(expected.status[field] ?? "-")")
        }
        // runwasm always sets no_new_privs (Docs/security.md, The virtual execve); runc only when asked.
        #expect(expected.status["NoNewPrivs"] == (c.noNewPrivileges ? "1" : "0"))
        #expect(actual.status["NoNewPrivs"] == "1")
        // runwasm's handlers: SIGHUP, SIGINT, SIGTERM (end the process, even as PID 1), SIGSYS
        // (reports a denied system call), and WasmKit's SIGSEGV and SIGBUS (its guard-page bounds
        // checks, installed as _start begins); runc's program has none.
        #expect(expected.status["SigCgt"] == "0000000000000000")
        #expect(actual.status["SigCgt"] == "0000000040004443", "SigCgt: \(actual.status["SigCgt"] ?? "-")")

        #expect(actual.cmdline == expected.cmdline, "cmdline: runwasm \(actual), runc \(expected)")
        #expect(actual.environ == expected.environ, "environ: runwasm \(actual), runc \(expected)")
        #expect(actual.comm == expected.comm)
        #expect(actual.procOwner == expected.procOwner, "owner of /proc/PID (dumpable)")
        #expect(actual.cmdline == Self.nulTerminated(Self.args))
        #expect(actual.environ == Self.nulTerminated(Self.env))
        #expect(actual.comm == "checker\n")

        // Descriptors: stdio as runc leaves them, and only WASI's preopen of `/` beyond them.
        #expect(expected.fds.keys.sorted() == ["0", "1", "2"], "runc: \(expected.fds)")
        // Each runtime has its own scratch directory: compare the files' names.
        func name(_ path: String?) -> String? { path.map { $0.split(separator: "/").last.map(String.init) ?? $0 } }
        for fd in ["0", "1", "2"] { #expect(name(actual.fds[fd]) == name(expected.fds[fd]), "fd \(fd): runwasm \(actual.fds[fd] ?? "-"), runc \(expected.fds[fd] ?? "-")") }
        #expect(actual.fds.filter { !["0", "1", "2"].contains($0.key) }.values.sorted() == ["/"], "runwasm's fds: \(actual.fds)")
    }
}

extension CredentialDifferentialTests {
    /// A detached `exec` into a running container of `c` (its process: the case's settings with
    /// args `execArgs` and `execEnv`), read from outside while it waits.
    static func observeExec(runtime: String, _ c: CredentialCase, program: [UInt8], tag: String) throws -> ProcessView {
        let dir = Harness.tempDir("diffx-\(tag)")
        defer { Harness.removeTree(dir) }
        let id = "diffx-\(tag)-\(getpid())"
        let root = dir + "/state"
        let out = dir + "/stdout"
        let err = dir + "/stderr"
        // The target runs as root with no capabilities; the exec'd process brings the case's own.
        var target = c
        target.uid = 0
        target.gid = 0
        target.additionalGids = []
        target.capabilities = nil
        let bundle = Self.bundle(dir, target, program: program, cgroup: "/runwasm-test-\(id)")
        let run = Self.caller(runtime, root: root, out: out, err: err)
        defer { Self.remove(id, with: run) }
        try #require(run(["create", "--bundle", bundle, "--pid-file", dir + "/pid", id]).status == 0, "\(runtime) create: \(Harness.read(err) ?? "")")
        let pid = try #require(pid_t((Harness.read(dir + "/pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        Harness.adopt(pid)
        try #require(run(["start", id]).status == 0, "\(runtime) start: \(Harness.read(err) ?? "")")
        try #require(Harness.eventually { (Harness.read(out) ?? "").contains("running") })

        var process: [String: Any] = [
            "terminal": false, "user": ["uid": c.uid, "gid": c.gid, "additionalGids": c.additionalGids],
            "args": execArgs, "env": execEnv, "cwd": "/", "noNewPrivileges": c.noNewPrivileges,
        ]
        if let caps = c.capabilities { process["capabilities"] = caps }
        let data = try JSONSerialization.data(withJSONObject: process)
        Harness.write(dir + "/process.json", Array(data))
        let exec = run(["exec", "--process", dir + "/process.json", "--detach", "--pid-file", dir + "/exec.pid", id])
        try #require(exec.status == 0, "\(runtime) exec: \(Harness.read(err) ?? "")")
        let execPid = try #require(pid_t((Harness.read(dir + "/exec.pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        Harness.adopt(execPid)
        try #require(Harness.eventually { (Harness.read(out) ?? "").components(separatedBy: "running").count >= 3 }, "\(runtime): the exec'd program never ran")
        let view = ProcessView(execPid)
        _ = run(["kill", id, "KILL"])
        _ = Harness.waitFor(execPid, timeout: 5)
        _ = Harness.waitFor(pid, timeout: 5)
        return view
    }

    static let execArgs = ["/bin/checker", "exec'd"]
    static let execEnv = ["PATH=/bin", "HOME=/", "TERM=xterm"]

    @Test("an exec'd process holds what runc exec's holds", arguments: [CredentialCase.all[2], CredentialCase.all[1], CredentialCase.all[11]])
    func execSameAsRunc(_ c: CredentialCase) throws {
        try #require(access(Self.runc, X_OK) == 0, "scripts/setup installs runc, the oracle")
        let expected = try Self.observeExec(runtime: Self.runc, c, program: DifferentialCheckers.native, tag: "runc")
        let actual = try Self.observeExec(runtime: Harness.binary, c, program: DifferentialCheckers.wasm, tag: "runwasm")
        for field in ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigBlk", "SigIgn"] {
            #expect(actual.status[field] == expected.status[field], "\(field): runwasm \(actual.status[field] ?? "-"), runc \(expected.status[field] ?? "-")")
        }
        #expect(actual.cmdline == expected.cmdline, "cmdline: runwasm \(actual), runc \(expected)")
        #expect(actual.environ == expected.environ, "environ: runwasm \(actual), runc \(expected)")
        #expect(actual.cmdline == Self.nulTerminated(Self.execArgs))
        #expect(actual.environ == Self.nulTerminated(Self.execEnv))
        #expect(actual.comm == expected.comm)
        #expect(actual.procOwner == expected.procOwner, "owner of /proc/PID (dumpable)")
        #expect(actual.fds.filter { !["0", "1", "2"].contains($0.key) }.values.sorted() == ["/"], "runwasm's fds: \(actual.fds)")
    }
}

/// Issue 9, from inside: a guest run as uid 1000 with a caller's usual capability list can
/// neither read a root-only file nor write into a root-owned directory (under runc its process
/// has no effective capabilities; before the virtual execve the interpreter kept DAC_OVERRIDE).
@Suite("a non-root guest's file access", .serialized, .timeLimit(.minutes(1)))
struct NonRootGuestAccessTests {
    @Test("uid 1000 with the CRI capability list is refused root's files")
    func refused() throws {
        let caps = CredentialCase.dockerDefault
        for (id, args) in [("rd", ["/app.wasm", "read", "/secret"]), ("wr", ["/app.wasm", "write", "/rootdir/new", "x"])] {
            let box = Sandbox(module: CGuest.module, args: args)
            Harness.write(box.rootfs + "/secret", "root only", mode: 0o600)
            Harness.mkdirs(box.rootfs + "/rootdir")
            box.process["user"] = ["uid": 1000, "gid": 1000, "additionalGids": [1000]]
            box.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
            let r = box.runwasm(["run", "-b", box.bundle, id])
            #expect(r.status == 1, "\(id): \(box.output) \(box.errors)")
            // WasmKit reports the refused create as ENOENT, the refused read as EACCES.
            #expect(box.output.contains(id == "rd" ? "error Permission denied" : ": error "), "\(id): \(box.output)")
            #expect(!box.output.contains("root only"))
            #expect(!Harness.exists(box.rootfs + "/rootdir/new"))
        }
    }
}
