import Foundation
import Glibc
import Testing

/// runwasm under its real callers: a private containerd with its runc v2 shim, and podman with
/// conmon. Images are built offline with umoci. When a daemon or tool is missing or cannot start,
/// the test fails and says why.
@Suite("containerd and podman", .serialized)
struct EngineTests {
    /// An OCI image layout holding one image, `ref`, whose rootfs has the given files and whose
    /// entrypoint is `entrypoint`; returned as a tar path.
    static func image(_ dir: String, ref: String, files: [String: [UInt8]], entrypoint: [String], cmd: [String] = []) throws -> String {
        let layout = dir + "/layout-\(ref)"
        let bundle = dir + "/unpacked-\(ref)"
        try run(["/usr/bin/umoci", "init", "--layout", layout])
        try run(["/usr/bin/umoci", "new", "--image", "\(layout):\(ref)"])
        try run(["/usr/bin/umoci", "unpack", "--image", "\(layout):\(ref)", bundle])
        for (path, bytes) in files {
            Harness.mkdirs(bundle + "/rootfs" + Path_parent(path))
            Harness.write(bundle + "/rootfs" + path, bytes, mode: 0o755)
        }
        try run(["/usr/bin/umoci", "repack", "--image", "\(layout):\(ref)", bundle])
        var config = ["/usr/bin/umoci", "config", "--image", "\(layout):\(ref)"]
        for e in entrypoint { config += ["--config.entrypoint", e] }
        for c in cmd { config += ["--config.cmd", c] }
        try run(config)
        let tar = dir + "/\(ref).tar"
        try run(["/bin/tar", "-C", layout, "-cf", tar, "index.json", "oci-layout", "blobs"])
        return tar
    }

    static func Path_parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "" }
        return String(path[..<slash])
    }

    @discardableResult
    static func run(_ argv: [String], stdoutPath: String? = nil, timeout: Double = 60) throws -> ProcessResult {
        let r = Harness.spawn(argv, environment: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"], stdoutPath: stdoutPath, timeout: timeout)
        guard r.status == 0 else {
            throw EngineError("\(argv.joined(separator: " ")) exited \(r.status): \(r.stderr) \(r.stdout)")
        }
        return r
    }

    struct EngineError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func require(_ tools: [String]) throws {
        for tool in tools where !Harness.exists(tool) {
            throw EngineError("\(tool) is missing (scripts/test installs containerd, podman, conmon and umoci from Debian)")
        }
    }

    /// Cgroup directories named `name` anywhere below the v1 hierarchies or the v2 root.
    static func cgroupsNamed(_ name: String) -> [String] {
        let r = Harness.spawn(["/usr/bin/find", "/sys/fs/cgroup", "-maxdepth", "4", "-type", "d", "-name", name])
        return r.stdout.split(separator: "\n").map(String.init)
    }

    /// A private containerd (no CRI plugin) with its sockets and state under `dir`; fails the
    /// test, saying why, when it does not start.
    static func startContainerd(_ dir: String) throws -> pid_t {
        Harness.write(dir + "/config.toml", """
            version = 2
            root = "\(dir)/root"
            state = "\(dir)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(dir)/containerd.sock"
            [ttrpc]
              address = "\(dir)/containerd.sock.ttrpc"
            [debug]
              address = "\(dir)/debug.sock"
            [metrics]
              address = ""
            """)
        let daemon = Harness.start(
            ["/usr/bin/containerd", "--config", dir + "/config.toml"],
            environment: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            stdoutPath: dir + "/containerd.log", stderrPath: dir + "/containerd.log")
        guard Harness.eventually(timeout: 20, { Harness.exists(dir + "/containerd.sock") }) else {
            stop(daemon)
            throw EngineError("containerd did not start: \(Harness.read(dir + "/containerd.log") ?? "")")
        }
        return daemon
    }

    /// podman with runwasm as its runtime and its storage, run and temporary state under `dir`.
    static func podman(_ dir: String) -> [String] {
        [
            "/usr/bin/podman", "--runtime", Harness.binary, "--root", dir + "/storage", "--runroot", dir + "/runroot",
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", dir + "/tmp",
        ]
    }

    /// Removes the v1 hierarchies' directories containerd made for namespace `ns`.
    static func removeNamespaceCgroups(_ ns: String) {
        for ctl in ["pids", "memory", "cpu", "freezer", "devices", "blkio", "cpuset", "cpuacct", "systemd", "unified"] {
            rmdir("/sys/fs/cgroup/\(ctl)/\(ns)")
        }
    }

    static func stop(_ daemon: pid_t) {
        kill(daemon, SIGTERM)
        if Harness.waitFor(daemon, timeout: 10) < 0 { kill(daemon, SIGKILL) }
    }

    @Test("containerd: ctr run through the runc v2 shim with runwasm as the runtime binary")
    func containerd() throws {
        try Self.require(["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/umoci", "/usr/bin/script"])
        let dir = Harness.tempDir("containerd")
        defer { Harness.removeTree(dir) }
        let daemon = try Self.startContainerd(dir)
        defer { Self.stop(daemon) }

        let ns = "rwtest\(getpid())"
        let ctr = ["/usr/bin/ctr", "--address", dir + "/containerd.sock", "--namespace", ns]
        let runc = ["--runc-binary", Harness.binary]
        let files: [String: [UInt8]] = [
            "/checker.wasm": CGuest.module, "/spin.wasm": Guests.spin, "/hello.wasm": Guests.hello("exec says hi\n"),
        ]
        let wasmTar = try Self.image(dir, ref: "wasm", files: files, entrypoint: ["/checker.wasm"], cmd: ["exit", "0"])
        let nativeTar = try Self.image(dir, ref: "native", files: ["/app": CGuest.readBytes("/bin/true")], entrypoint: ["/app"])
        try Self.run(ctr + ["images", "import", "--base-name", "example.com/rw/wasm", wasmTar])
        try Self.run(ctr + ["images", "import", "--base-name", "example.com/rw/native", nativeTar])
        let image = "example.com/rw/wasm:wasm"

        // Output reaches ctr and exit codes propagate.
        for code in [0, 3, 255] {
            let r = Harness.spawn(ctr + ["run", "--rm"] + runc + [image, "exit\(code)", "/checker.wasm", "exit", String(code)])
            #expect(r.status == Int32(code), "ctr run exit \(code): \(r.stderr)")
        }
        let args = Harness.spawn(ctr + ["run", "--rm"] + runc + [image, "args", "/checker.wasm", "args", "via-ctr"])
        #expect(args.status == 0)
        #expect(args.stdout.contains("arg[2]=via-ctr"), "ctr shows the guest's output: \(args.stdout) \(args.stderr)")

        // containerd's own default seccomp profile (ctr --seccomp) loads, under runwasm's filter.
        let seccomp = Harness.spawn(ctr + ["run", "--rm", "--seccomp"] + runc + [image, "seccomp", "/checker.wasm", "args", "filtered"])
        #expect(seccomp.status == 0, "ctr run --seccomp: \(seccomp.stderr)")
        #expect(seccomp.stdout.contains("arg[2]=filtered"))

        // A terminal (-t), through script(1) so that ctr itself has one.
        let tty = Harness.spawn(["/usr/bin/script", "-qec", (ctr + ["run", "-t", "--rm"] + runc + [image, "tty", "/checker.wasm", "args", "on-a-tty"]).joined(separator: " "), "/dev/null"])
        #expect(tty.status == 0, "ctr run -t: \(tty.stdout) \(tty.stderr)")
        #expect(tty.stdout.contains("arg[2]=on-a-tty"))

        // A long-running task: ps, exec, pause/resume, and SIGTERM ends it at once.
        try Self.run(ctr + ["run", "-d"] + runc + [image, "spin", "/spin.wasm"])
        let ps = Harness.spawn(ctr + ["task", "ps", "spin"])
        #expect(ps.status == 0 && ps.stdout.split(separator: "\n").count == 2, "ctr task ps: \(ps.stdout) \(ps.stderr)")
        let exec = Harness.spawn(ctr + ["task", "exec", "--exec-id", "e1", "spin", "/hello.wasm"])
        #expect(exec.status == 0, "ctr task exec: \(exec.stderr)")
        #expect(exec.stdout == "exec says hi\n")
        let execCode = Harness.spawn(ctr + ["task", "exec", "--exec-id", "e2", "spin", "/checker.wasm", "exit", "9"])
        #expect(execCode.status == 9)
        try Self.run(ctr + ["task", "pause", "spin"])
        #expect(Harness.spawn(ctr + ["task", "ls"]).stdout.contains("PAUSED"))
        try Self.run(ctr + ["task", "resume", "spin"])
        #expect(Harness.spawn(ctr + ["task", "ls"]).stdout.contains("RUNNING"))
        let started = Harness.now()
        try Self.run(ctr + ["task", "kill", "--signal", "SIGTERM", "spin"])
        #expect(Harness.eventually(timeout: 5) { Harness.spawn(ctr + ["task", "ls"]).stdout.contains("STOPPED") })
        #expect(Harness.now() - started < 3, "SIGTERM ends the guest at once")
        try Self.run(ctr + ["task", "rm", "spin"])
        try Self.run(ctr + ["containers", "rm", "spin"])

        // The annotations containerd's CRI plugin sets: a pod sandbox runs runwasm's pause (no
        // module needed: the native image serves), and a container of the pod runs its module.
        let cri = "io.kubernetes.cri.container-type"
        try Self.run(ctr + ["run", "-d", "--annotation", "\(cri)=sandbox", "--annotation", "io.kubernetes.cri.sandbox-id=pod"]
            + runc + ["example.com/rw/native:native", "pod"])
        #expect(Harness.spawn(ctr + ["task", "ls"]).stdout.contains("RUNNING"), "the pod sandbox runs the built-in pause")
        let inPod = Harness.spawn(ctr + ["run", "--rm", "--annotation", "\(cri)=container", "--annotation", "io.kubernetes.cri.sandbox-id=pod"]
            + runc + [image, "podc", "/checker.wasm", "args", "in-a-pod"])
        #expect(inPod.status == 0 && inPod.stdout.contains("arg[2]=in-a-pod"), "\(inPod.stdout) \(inPod.stderr)")
        try Self.run(ctr + ["task", "kill", "--signal", "SIGTERM", "pod"])
        #expect(Harness.eventually(timeout: 5) { Harness.spawn(ctr + ["task", "ls"]).stdout.contains("STOPPED") })
        try Self.run(ctr + ["task", "rm", "pod"])
        try Self.run(ctr + ["containers", "rm", "pod"])

        // A non-Wasm image fails with runwasm's message in ctr's error.
        let native = Harness.spawn(ctr + ["run", "--rm"] + runc + ["example.com/rw/native:native", "native"])
        #expect(native.status != 0)
        #expect(native.stderr.contains("/app is an ELF executable, not a WebAssembly module; runwasm runs only WebAssembly"), "ctr said: \(native.stderr)")

        // Nothing is left: not under runwasm's --root, not in cgroups, not in containerd.
        let runtimeRoot = "/run/containerd/runc/\(ns)"
        #expect(Harness.spawn(["/bin/ls", "-A", runtimeRoot]).stdout == "", "left under \(runtimeRoot)")
        #expect(Harness.spawn(ctr + ["containers", "ls", "-q"]).stdout == "")
        #expect(Harness.spawn(ctr + ["tasks", "ls", "-q"]).stdout == "")
        for id in ["exit0", "exit3", "exit255", "args", "seccomp", "tty", "spin", "native", "pod", "podc"] {
            #expect(Self.cgroupsNamed(id).isEmpty, "cgroup of \(id) left: \(Self.cgroupsNamed(id))")
        }
        Self.removeNamespaceCgroups(ns)
    }

    @Test("podman: run --rm with --rootfs and with a loaded image, exit codes, -t, --user, stop, exec, errors")
    func podman() throws {
        try Self.require(["/usr/bin/podman", "/usr/bin/conmon", "/usr/bin/umoci"])
        let dir = Harness.tempDir("podman")
        defer {
            _ = Harness.spawn(["/bin/umount", "-R", dir + "/storage"])
            Harness.removeTree(dir)
        }
        // The sandbox this runs in lacks CAP_SYS_RESOURCE, hence the explicit ulimits.
        let podman = Self.podman(dir)
        let options = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
        let rootfs = dir + "/rootfs"
        Harness.mkdirs(rootfs)
        Harness.write(rootfs + "/checker.wasm", CGuest.module)
        Harness.write(rootfs + "/spin.wasm", Guests.spin)
        Harness.write(rootfs + "/native", CGuest.readBytes("/bin/true"), mode: 0o755)

        for code in [0, 4, 255] {
            let r = Harness.spawn(podman + ["run", "--rm"] + options + ["--rootfs", rootfs, "/checker.wasm", "exit", String(code)])
            #expect(r.status == Int32(code), "podman run --rootfs exit \(code): \(r.stderr)")
        }
        let args = Harness.spawn(podman + ["run", "--rm"] + options + ["--rootfs", rootfs, "/checker.wasm", "args", "via-podman"])
        #expect(args.stdout.contains("arg[2]=via-podman"), "\(args.stdout) \(args.stderr)")

        // -t: conmon's pty over --console-socket, under podman's deny-all device rule; --user.
        Harness.write(rootfs + "/probe.wasm", Probe.wasm)
        let tty = Harness.spawn(podman + ["run", "--rm", "-t"] + options + ["--rootfs", rootfs, "/probe.wasm", "isatty", "0", "isatty", "1"])
        #expect(tty.status == 0 && tty.stdout.contains("isatty 1: 1"), "podman run -t: \(tty.stdout) \(tty.stderr)")
        let user = Harness.spawn(podman + ["run", "--rm", "--user", "1000:1000"] + options + ["--rootfs", rootfs, "/probe.wasm", "status", "creat", "/x"])
        #expect(user.stdout.contains("status Uid:\t1000\t1000\t1000\t1000"), "podman run --user: \(user.stdout) \(user.stderr)")
        #expect(user.stdout.contains("status CapEff:\t0000000000000000"), "a non-root user keeps no capability, as under runc")
        #expect(user.stdout.contains("creat /x: EACCES"))

        let tar = try Self.image(dir, ref: "latest", files: ["/checker.wasm": CGuest.module], entrypoint: ["/checker.wasm"], cmd: ["exit", "6"])
        let load = Harness.spawn(podman + ["load", "-i", tar])
        #expect(load.status == 0, "podman load: \(load.stderr)")
        let loaded = load.stdout.split(separator: "\n").first { $0.hasPrefix("Loaded image") }.map { String($0.split(separator: " ").last ?? "") } ?? "localhost/latest:latest"
        let fromImage = Harness.spawn(podman + ["run", "--rm"] + options + [loaded])
        #expect(fromImage.status == 6, "podman run of a loaded OCI image: \(fromImage.stderr)")

        // A running container: exec, then stop, which must return promptly (SIGTERM works).
        let name = "rw\(getpid())"
        let started = Harness.spawn(podman + ["run", "-d", "--name", name] + options + ["--rootfs", rootfs, "/spin.wasm"])
        #expect(started.status == 0, "podman run -d: \(started.stderr)")
        let exec = Harness.spawn(podman + ["exec", name, "/checker.wasm", "exit", "5"])
        #expect(exec.status == 5, "podman exec: \(exec.stderr)")
        let t0 = Harness.now()
        let stop = Harness.spawn(podman + ["stop", "-t", "10", name])
        #expect(stop.status == 0, "podman stop: \(stop.stderr)")
        #expect(Harness.now() - t0 < 5, "podman stop returns promptly")
        let inspect = Harness.spawn(podman + ["inspect", "--format", "{{.State.ExitCode}}", name])
        #expect(inspect.stdout == "143\n")
        try Self.run(podman + ["rm", name])

        // Errors reach podman's output.
        let native = Harness.spawn(podman + ["run", "--rm"] + options + ["--rootfs", rootfs, "/native"])
        #expect(native.status != 0)
        #expect(native.stderr.contains("/native is an ELF executable, not a WebAssembly module"), "podman said: \(native.stderr)")

        #expect(Harness.spawn(podman + ["ps", "-aq"]).stdout == "", "no container left in podman")
        // podman passes no --root: runwasm keeps its state in /run/runwasm, which --rm emptied.
        #expect(Harness.spawn(["/bin/ls", "-A", "/run/runwasm"]).stdout == "", "state left in /run/runwasm")
    }
}
