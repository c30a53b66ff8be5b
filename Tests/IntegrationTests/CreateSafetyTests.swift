// Issue 9: what a hostile tenant or an unlucky caller can make of `create` — the start socket's
// mode, a create killed at any instant, entrypoints that are not files, capabilities the host
// cannot grant, NUL bytes, oversized inputs, seccomp profiles that starve the interpreter, and
// the confinement `runwasm spec` writes.

import Foundation
import Glibc
import Testing

@Suite("create: safety", .serialized, .timeLimit(.minutes(3)))
struct CreateSafetyTests {
    /// Expects create to fail with `message` on one line, in well under `seconds`, leaving
    /// nothing under --root and no process of the container.
    func expectCreateFails(
        _ box: Sandbox, _ message: String, within seconds: Double = 20, extraArgs: [String] = [], prefix: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        box.rewriteConfig()
        let started = Harness.now()
        let r = Harness.spawn(
            prefix + [Harness.binary, "--root", box.root, "create", "--bundle", box.bundle, "--pid-file", box.dir + "/pid"] + extraArgs + ["bad"],
            stdoutPath: box.stdout, stderrPath: box.stderr, timeout: seconds)
        #expect(Harness.now() - started < seconds, "create returned at once", sourceLocation: sourceLocation)
        #expect(r.status == 1, "status \(r.status)", sourceLocation: sourceLocation)
        #expect(box.errors.contains(message), "stderr was: \(box.errors)", sourceLocation: sourceLocation)
        #expect(box.errors.split(separator: "\n").count == 1, "one line: \(box.errors)", sourceLocation: sourceLocation)
        #expect(box.leftovers.isEmpty, "nothing left under --root: \(box.leftovers)", sourceLocation: sourceLocation)
        #expect(!Harness.exists(box.dir + "/pid"), "no pid file", sourceLocation: sourceLocation)
        #expect(Harness.eventually(timeout: 5) { Self.processes(of: box).isEmpty }, "no process left", sourceLocation: sourceLocation)
    }

    /// Live processes whose command line names the sandbox's state root: runwasm itself and the
    /// container processes it cloned (which keep its command line), whatever their name.
    static func processes(of box: Sandbox) -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var found: [pid_t] = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard let pid = pid_t(name), pid != getpid(), Harness.isAlive(pid) else { continue }
            let cmdline = (Harness.read("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
            if cmdline.contains(box.root + " ") { found.append(pid) }
        }
        return found
    }

    /// The cgroup directories `cgroupPath` would have, in every hierarchy mounted under /sys/fs/cgroup.
    static func cgroupDirectories(_ cgroupPath: String) -> [String] {
        var dirs = ["/sys/fs/cgroup" + cgroupPath]
        if let d = opendir("/sys/fs/cgroup") {
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if !name.hasPrefix(".") { dirs.append("/sys/fs/cgroup/" + name + cgroupPath) }
            }
        }
        return dirs
    }

    // MARK: - the start socket

    @Test("the start socket is the root owner's alone (0600), whatever the caller's umask")
    func startSocketMode() throws {
        let box = Sandbox(module: Guests.hello("started\n"))
        box.rewriteConfig()
        let pidFile = box.dir + "/pid"
        let r = Harness.spawn(
            ["/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\"", Harness.binary, "--root", box.root, "create", "--bundle", box.bundle,
             "--pid-file", pidFile, "sock"],
            stdoutPath: box.stdout, stderrPath: box.stderr)
        try #require(r.status == 0, "create: \(box.errors)")
        let pid = try #require(Harness.read(pidFile).flatMap { pid_t($0) })
        Harness.adopt(pid)
        let socket = box.root + "/sock/start.sock"
        var st = stat()
        try #require(lstat(socket, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o600, "mode \(String(st.st_mode & 0o7777, radix: 8))")
        // An unprivileged host user cannot connect (and so can neither start it nor hold the socket).
        let connect = Harness.spawn([
            "/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/perl", "-MSocket", "-e",
            "socket(S, PF_UNIX, SOCK_SEQPACKET, 0) or die; connect(S, pack_sockaddr_un($ARGV[0])) or do { print \"$!\"; exit 3 }; exit 0",
            socket,
        ])
        #expect(connect.status == 3, "connect as uid 65534: status \(connect.status), \(connect.stdout) \(connect.stderr)")
        #expect(connect.stdout == "Permission denied")
        #expect(box.runwasm(["start", "sock"]).status == 0, "the owner still starts it: \(box.errors)")
        #expect(Harness.waitFor(pid, timeout: 20) == 0)
        #expect(box.output == "started\n")
        #expect(box.runwasm(["delete", "sock"]).status == 0)
    }

    // MARK: - a create killed at any instant

    @Test("a create SIGKILLed at any instant leaves a container that list sees and delete --force removes, or nothing")
    func killedCreate() throws {
        let box = Sandbox(module: Guests.hello())
        let cgroupParent = "/runwasm-killtest-\(getpid())"
        defer { for dir in Self.cgroupDirectories(cgroupParent) { rmdir(dir) } }
        func create(_ id: String, killAfter delay: Double?) {
            var linux = box.config["linux"] as! [String: Any]
            linux["cgroupsPath"] = cgroupParent + "/" + id
            box.config["linux"] = linux
            box.rewriteConfig()
            let argv = [Harness.binary, "--root", box.root, "create", "--bundle", box.bundle, "--pid-file", box.dir + "/\(id).pid", id]
            // timeout(1) is the caller: it kills create (only create: --foreground) after `delay`
            // and is the parent of the container process (CLONE_PARENT), so an orphan goes to
            // init, not to this process.
            let prefix = delay.map { ["/usr/bin/timeout", "--foreground", "-s", "KILL", String(format: "%.4f", $0)] }
                ?? ["/usr/bin/timeout", "--foreground", "60"]
            _ = Harness.spawn(prefix + argv, stdoutPath: box.stdout, stderrPath: box.stderr)
        }
        func expectClean(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let listed = box.runwasmCaptured(["list", "-q"]).stdout.split(separator: "\n").contains { $0 == id }
            if listed {
                #expect(box.state(id) != nil, "state sees what list sees", sourceLocation: sourceLocation)
                let d = box.runwasmCaptured(["delete", "--force", id])
                #expect(d.status == 0, "delete --force: \(d.stderr)", sourceLocation: sourceLocation)
            } else {
                let s = box.runwasmCaptured(["state", id])
                #expect(s.status != 0 && s.stderr.contains("does not exist"), "not listed, so absent: \(s.stdout) \(s.stderr)", sourceLocation: sourceLocation)
            }
            #expect(Harness.eventually(timeout: 5) { Self.processes(of: box).isEmpty }, "no process of \(id) left", sourceLocation: sourceLocation)
            let cgroups = Self.cgroupDirectories(cgroupParent + "/" + id).filter(Harness.exists)
            #expect(cgroups.isEmpty, "no cgroup of \(id) left: \(cgroups)", sourceLocation: sourceLocation)
            #expect(!Harness.exists(box.root + "/" + id), "no state directory of \(id) left", sourceLocation: sourceLocation)
        }

        // How long a whole create takes here (the median of three, through timeout(1)).
        var durations: [Double] = []
        for i in 0..<3 {
            let started = Harness.now()
            create("m\(i)", killAfter: nil)
            durations.append(Harness.now() - started)
            expectClean("m\(i)")
        }
        let full = durations.sorted()[1]

        let kills = 48
        var listedCount = 0
        for i in 0..<kills {
            // Spread over the whole create, and a little past its end.
            create("k\(i)", killAfter: full * 1.2 * (Double(i) + 0.5) / Double(kills))
            if box.runwasmCaptured(["list", "-q"]).stdout.split(separator: "\n").contains(where: { $0 == "k\(i)" }) { listedCount += 1 }
            expectClean("k\(i)")
        }
        // A killed create's temporary directory (before its container had a name) goes with the next create.
        create("last", killAfter: nil)
        expectClean("last")
        #expect(box.leftovers.isEmpty, "nothing at all under --root: \(box.leftovers)")
        print("killedCreate: full create \(Int(full * 1000)) ms; \(listedCount) of \(kills) killed creates left a listed container")
    }

    @Test("while create runs, state and list show the container as creating, with its pid once cloned")
    func creatingStatus() throws {
        let box = Sandbox(module: Guests.hello())
        // The prestart hook runs after the clone, while create holds the container's lock.
        let script = "\"$0\" --root \"$1\" state c > \"$2\"/state.json; \"$0\" --root \"$1\" list > \"$2\"/list.txt"
        box.config["hooks"] = ["prestart": [["path": "/bin/sh", "args": ["sh", "-c", script, Harness.binary, box.root, box.dir]]]]
        let pid = try box.create("c")
        let seen = try #require(Harness.read(box.dir + "/state.json").flatMap(Harness.json))
        #expect(seen["status"] as? String == "creating")
        #expect(seen["pid"] as? Int == Int(pid))
        #expect(Harness.read(box.dir + "/list.txt")?.contains(" creating ") == true, "list: \(Harness.read(box.dir + "/list.txt") ?? "")")
        #expect(box.state("c")?["status"] as? String == "created")
        #expect(box.runwasm(["delete", "c"]).status == 0)
        #expect(box.leftovers.isEmpty)
    }

    // MARK: - entrypoints that are not regular files

    @Test("a FIFO as process.args[0] is refused at once, naming it")
    func fifoEntrypoint() {
        let box = Sandbox(args: ["/fifo.wasm"])
        #expect(mkfifo(box.rootfs + "/fifo.wasm", 0o644) == 0)
        expectCreateFails(box, "process.args[0]: /fifo.wasm is a FIFO, not a regular file", within: 15)
    }

    @Test("a character device as process.args[0] is refused, naming it")
    func deviceEntrypoint() {
        let box = Sandbox(args: ["/null.wasm"])
        #expect(mknod(box.rootfs + "/null.wasm", S_IFCHR | 0o666, dev_t(0x103)) == 0)
        expectCreateFails(box, "process.args[0]: /null.wasm is a character device, not a regular file", within: 15)
    }

    // MARK: - capabilities the host cannot grant

    @Test("a capability outside runwasm's bounding set fails create, naming field and capability")
    func capabilityOutsideBoundingSet() {
        let box = Sandbox(module: Guests.hello())
        var process = box.process
        process["capabilities"] = ["bounding": ["CAP_KILL", "CAP_SYS_PTRACE"], "effective": ["CAP_KILL", "CAP_SYS_PTRACE"], "permitted": ["CAP_KILL", "CAP_SYS_PTRACE"]]
        box.process = process
        expectCreateFails(
            box, "config.json: process.capabilities.effective[1]: CAP_SYS_PTRACE is not in runwasm's bounding set on this host",
            prefix: ["/usr/bin/setpriv", "--bounding-set", "-sys_ptrace", "--"])
    }

    // MARK: - NUL bytes

    @Test("a NUL byte in process.args fails create, naming the field")
    func nulInArgs() {
        let box = Sandbox(module: Guests.hello(), args: ["/app.wasm", "a\u{0}b"])
        expectCreateFails(box, "config.json: process.args[1]: contains a NUL byte")
    }

    // MARK: - sizes

    @Test("a config over 64 MiB fails create, naming the limit")
    func hugeConfig() {
        let box = Sandbox(module: Guests.hello())
        box.rewriteConfig()
        // Valid JSON even when cut at 64 MiB: the padding is trailing white space.
        let path = box.bundle + "/config.json"
        let fd = open(path, O_WRONLY | O_APPEND)
        let padding = [UInt8](repeating: 0x20, count: 1 << 20)
        for _ in 0..<65 { _ = padding.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
        close(fd)
        let r = box.runwasmCaptured(["create", "--bundle", box.bundle, "huge"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("is larger than 64 MiB, the largest config runwasm reads"), "stderr: \(r.stderr)")
        #expect(box.leftovers.isEmpty)
    }

    @Test("a module over 1 GiB fails create, naming the limit")
    func hugeModule() {
        let box = Sandbox(module: Guests.hello())
        // Sparse: the wasm header, then a hole up to 1 GiB + 1 byte.
        #expect(truncate(box.rootfs + "/app.wasm", off_t(1 << 30) + 1) == 0)
        expectCreateFails(box, "process.args[0]: /app.wasm is larger than 1 GiB, the largest module runwasm reads")
    }

    // MARK: - seccomp profiles

    @Test("a seccomp profile that denies what the interpreter needs fails create, naming the call")
    func seccompStarvesInterpreter() {
        let box = Sandbox(module: Guests.hello())
        var linux = box.config["linux"] as! [String: Any]
        // Default errno; allows everything the interpreter calls but mmap and futex.
        let allowed = [
            "brk", "munmap", "mprotect", "madvise", "mremap", "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek",
            "close", "openat", "newfstatat", "fstat", "statx", "fcntl", "clock_gettime", "getrandom", "gettid", "getpid",
            "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "exit", "exit_group", "seccomp",
        ]
        linux["seccomp"] = [
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "syscalls": [["names": allowed, "action": "SCMP_ACT_ALLOW"]],
        ]
        box.config["linux"] = linux
        expectCreateFails(box, "config.json: linux.seccomp: the profile denies mmap, which the WebAssembly interpreter needs")

        let explicit = Sandbox(module: Guests.hello())
        var linux2 = explicit.config["linux"] as! [String: Any]
        linux2["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["futex"], "action": "SCMP_ACT_KILL"]]]
        explicit.config["linux"] = linux2
        expectCreateFails(explicit, "config.json: linux.seccomp: the profile denies futex, which the WebAssembly interpreter needs")
    }

    /// The callers' configs in ../shared/caller-configs (captured from Docker, containerd's CRI,
    /// podman and runtime-tools), when this checkout has them.
    static let callerConfigs: String = {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        return root + "/../shared/caller-configs"
    }()

    @Test(
        "the callers' default seccomp profiles still pass",
        .enabled(if: Harness.exists(CreateSafetyTests.callerConfigs + "/INDEX.md")),
        arguments: ["docker/plain.json", "cri/seccomp-default-container.json", "podman/exec-target.json", "plain/runtime-tools-generate.json"])
    func callerProfilesPass(file: String) throws {
        let data = try #require(FileManager.default.contents(atPath: Self.callerConfigs + "/" + file))
        let config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let profile = try #require((config["linux"] as? [String: Any])?["seccomp"] as? [String: Any], "\(file) has a profile")
        let box = Sandbox(module: Guests.hello("profile ok\n"))
        var linux = box.config["linux"] as! [String: Any]
        linux["seccomp"] = profile
        box.config["linux"] = linux
        let r = box.runwasm(["run", "--bundle", box.bundle, "profile"])
        #expect(r.status == 0, "\(file): \(box.errors)")
        #expect(box.output == "profile ok\n")
    }

    // MARK: - runwasm spec

    @Test(
        "spec writes runc spec's confinement: capabilities, rlimits, noNewPrivileges, mounts, namespaces, masked and read-only paths",
        .enabled(if: Harness.exists(CreateSafetyTests.callerConfigs + "/plain/runc-spec.json")))
    func specMatchesRunc() throws {
        let dir = Harness.tempDir("spec")
        defer { Harness.removeTree(dir) }
        #expect(Harness.spawn([Harness.binary, "spec", "--bundle", dir]).status == 0)
        let ourData = try #require(FileManager.default.contents(atPath: dir + "/config.json"))
        let ours = try #require(try JSONSerialization.jsonObject(with: ourData) as? NSDictionary)
        let runcData = try #require(FileManager.default.contents(atPath: Self.callerConfigs + "/plain/runc-spec.json"))
        let runc = try #require(try JSONSerialization.jsonObject(with: runcData) as? [String: Any])
        // The documented differences (Sources/Runtime/Info.swift starterConfig): the module instead
        // of sh, no terminal and so no TERM, runwasm's ociVersion and hostname, no device rule.
        var expected = runc
        var process = runc["process"] as! [String: Any]
        process["args"] = ["/app.wasm"]
        process["terminal"] = false
        process["env"] = (process["env"] as! [String]).filter { !$0.hasPrefix("TERM=") }
        expected["process"] = process
        expected["ociVersion"] = ours["ociVersion"]
        expected["hostname"] = "runwasm"
        var linux = runc["linux"] as! [String: Any]
        linux["resources"] = nil
        expected["linux"] = linux
        for key in Set(expected.keys).union(ours.allKeys.compactMap { $0 as? String }) {
            let a = (expected[key]).map { NSDictionary(dictionary: ["v": $0]) }
            let b = ours[key].map { NSDictionary(dictionary: ["v": $0]) }
            #expect(a == b, "\(key): runwasm \(String(describing: ours[key])) vs runc \(String(describing: expected[key]))")
        }
    }
}
