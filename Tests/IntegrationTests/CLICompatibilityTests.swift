// The CLI and `update` against runc itself (issue 10): the same commands, with the same config,
// given to `runc` (a native static program) and to runwasm (the same program in Wasm), and what a
// caller observes compared: exit statuses, which stream the text goes to, cgroup files, the pty.

import CSandbox
import Foundation
import Glibc
import Testing

/// One runtime with its own state root, driven as a caller drives it.
struct Differential {
    static let runc = "/usr/sbin/runc"
    let runtime: String
    let dir: String
    let root: String
    let tag: String

    init(_ runtime: String, tag: String) {
        self.runtime = runtime
        self.tag = tag
        dir = Harness.tempDir("cli-\(tag)")
        root = dir + "/state"
    }

    var isRunc: Bool { runtime == Differential.runc }

    /// A bundle whose program (/bin/checker) prints "running" and waits; `linux` and `process`
    /// entries are merged into a minimal config.
    func bundle(_ name: String, linux: [String: Any] = [:], process: [String: Any] = [:], mounts: [[String: Any]] = []) -> String {
        let bundle = dir + "/" + name
        Harness.mkdirs(bundle + "/rootfs/bin")
        Harness.write(bundle + "/rootfs/bin/checker", isRunc ? DifferentialCheckers.native : DifferentialCheckers.wasm, mode: 0o755)
        Harness.write(bundle + "/rootfs/bin/hello", Guests.hello("hello\n"), mode: 0o755)
        var p: [String: Any] = ["terminal": false, "user": ["uid": 0, "gid": 0], "args": ["/bin/checker"], "env": ["PATH=/bin"], "cwd": "/"]
        for (k, v) in process { p[k] = v }
        var l: [String: Any] = ["namespaces": ["pid", "ipc", "uts", "mount"].map { ["type": $0] }]
        for (k, v) in linux { l[k] = v }
        let config: [String: Any] = [
            "ociVersion": "1.0.2", "process": p, "root": ["path": "rootfs"], "hostname": "cli",
            "mounts": [["destination": "/proc", "type": "proc", "source": "proc"]] + mounts, "linux": l,
        ]
        let data = try! JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted])
        Harness.write(bundle + "/config.json", Array(data))
        return bundle
    }

    @discardableResult
    func run(_ args: [String], stdin: String? = nil, globals: [String] = []) -> ProcessResult {
        var stdinPath = "/dev/null"
        if let stdin {
            stdinPath = dir + "/stdin"
            Harness.write(stdinPath, stdin)
        }
        return Harness.spawn([runtime, "--root", root] + globals + args, stdinPath: stdinPath, timeout: 30)
    }

    /// create (pid file); returns the container's pid.
    func create(_ id: String, bundle: String, extra: [String] = []) throws -> pid_t {
        let r = run(["create", "--bundle", bundle, "--pid-file", dir + "/\(id).pid"] + extra + [id])
        try #require(r.status == 0, "\(tag) create: \(r.stderr)")
        let pid = try #require(pid_t((Harness.read(dir + "/\(id).pid") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)))
        Harness.adopt(pid)
        return pid
    }

    func remove(_ id: String, pid: pid_t?) {
        run(["kill", id, "KILL"])
        if let pid { _ = Harness.waitFor(pid, timeout: 5) }
        run(["delete", "--force", id])
    }

    func cleanUp() { Harness.removeTree(dir) }
}

/// cgroup v1 files of a cgroup path, as `update` changes them.
enum CgroupFiles {
    static let files = [
        ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_period_us"), ("cpu", "cpu.cfs_quota_us"),
        ("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"), ("memory", "memory.soft_limit_in_bytes"),
        ("pids", "pids.max"), ("cpuset", "cpuset.cpus"),
    ]
    static var isV1: Bool { Harness.isDirectory("/sys/fs/cgroup/memory") && Harness.isDirectory("/sys/fs/cgroup/cpu") }

    static func read(_ path: String) -> [String: String] {
        var values: [String: String] = [:]
        for (controller, file) in files {
            values[file] = (Harness.read("/sys/fs/cgroup/\(controller)\(path)/\(file)") ?? "-").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return values
    }

    static func removeTree(_ path: String) {
        for controller in ["cpu", "memory", "pids", "cpuset", "cpuacct", "devices", "freezer", "blkio", "hugetlb", "net_cls", "perf_event", "systemd", "unified"] {
            rmdir("/sys/fs/cgroup/\(controller)\(path)")
        }
    }
}

@Suite("CLI and update against runc", .serialized, .timeLimit(.minutes(3)))
struct CLICompatibilityTests {
    static var runcPresent: Bool { access(Differential.runc, X_OK) == 0 }

    // MARK: kill 0

    /// Exit statuses of `kill ID 0` and `kill -a ID 0` while created, running and stopped.
    static func killZero(_ runtime: String, tag: String) throws -> [Int32] {
        let d = Differential(runtime, tag: tag)
        defer { d.cleanUp() }
        let id = "k0-\(tag)-\(getpid())"
        let bundle = d.bundle("b", linux: ["cgroupsPath": "/runwasm-test-\(id)"])
        let pid = try d.create(id, bundle: bundle)
        defer { d.remove(id, pid: pid) }
        var statuses: [Int32] = []
        statuses += [d.run(["kill", id, "0"]).status, d.run(["kill", "-a", id, "0"]).status]
        try #require(d.run(["start", id]).status == 0)
        statuses += [d.run(["kill", id, "0"]).status, d.run(["kill", "-a", id, "0"]).status]
        d.run(["kill", id, "KILL"])
        // runc's process is not this process's child (runwasm's is): wait until it is gone.
        _ = Harness.waitFor(pid, timeout: 5)
        _ = Harness.eventually(timeout: 5) { !Harness.isAlive(pid) }
        statuses += [d.run(["kill", id, "0"]).status, d.run(["kill", "-a", id, "0"]).status, d.run(["kill", "nothere", "0"]).status]
        return statuses
    }

    @Test("kill ID 0 and kill -a ID 0 exit as runc's do: created, running, stopped, missing")
    func killSignalZero() throws {
        try #require(Self.runcPresent, "scripts/setup installs runc, the oracle")
        let expected = try Self.killZero(Differential.runc, tag: "runc")
        #expect(expected == [0, 0, 0, 0, 1, 0, 1], "runc 1.1.5 as measured")
        let actual = try Self.killZero(Harness.binary, tag: "rw")
        #expect(actual == expected)
    }

    // MARK: update and the cgroup files

    /// Creates a container with `resources`, applies each update (arguments, and stdin for
    /// `--resources -`) and returns the cgroup files after create and after every update, with
    /// each update's exit status.
    static func updates(
        _ runtime: String, tag: String, resources: [String: Any], parent: (quota: Int, period: Int)? = nil,
        _ steps: [(args: [String], stdin: String?)]
    ) throws -> [String] {
        let d = Differential(runtime, tag: tag)
        defer { d.cleanUp() }
        let id = "up-\(tag)-\(getpid())"
        let parentPath = "/runwasm-test-parent-\(id)"
        let path = parent == nil ? "/runwasm-test-\(id)" : parentPath + "/c"
        if let parent {
            for c in ["cpu", "memory", "pids", "cpuset"] { mkdir("/sys/fs/cgroup/\(c)\(parentPath)", 0o755) }
            for f in ["cpuset.cpus", "cpuset.mems"] {
                Harness.write("/sys/fs/cgroup/cpuset\(parentPath)/\(f)", Harness.read("/sys/fs/cgroup/cpuset/\(f)") ?? "0")
            }
            Harness.write("/sys/fs/cgroup/cpu\(parentPath)/cpu.cfs_period_us", String(parent.period))
            Harness.write("/sys/fs/cgroup/cpu\(parentPath)/cpu.cfs_quota_us", String(parent.quota))
        }
        defer { if parent != nil { CgroupFiles.removeTree(parentPath) } }
        let bundle = d.bundle("b", linux: ["cgroupsPath": path, "resources": resources])
        let pid = try d.create(id, bundle: bundle)
        defer { d.remove(id, pid: pid) }
        func show(_ values: [String: String]) -> String { values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: " ") }
        var seen = ["create: " + show(CgroupFiles.read(path))]
        for step in steps {
            let r = d.run(["update"] + step.args + [id], stdin: step.stdin)
            seen.append("update \(step.args.joined(separator: " ")) → \(r.status == 0 ? "ok" : "failed"): " + show(CgroupFiles.read(path)))
        }
        return seen
    }

    static func compare(_ resources: [String: Any], parent: (quota: Int, period: Int)? = nil, _ steps: [(args: [String], stdin: String?)]) throws {
        try #require(Self.runcPresent, "scripts/setup installs runc, the oracle")
        try #require(CgroupFiles.isV1, "these compare cgroup v1 files (the build host's hierarchy)")
        let expected = try updates(Differential.runc, tag: "runc", resources: resources, parent: parent, steps)
        let actual = try updates(Harness.binary, tag: "rw", resources: resources, parent: parent, steps)
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) { #expect(a == e, "runwasm:\n\(a)\nrunc:\n\(e)") }
    }

    /// Docker 20.10's `resources` on every `run` (docker/plain.json, devices aside), and its
    /// `update` bodies (captured byte for byte in ../shared/caller-configs/docker), which send
    /// 0 for every field they leave alone.
    static let dockerRun: [String: Any] = ["memory": ["disableOOMKiller": false], "cpu": ["shares": 0], "blockIO": ["weight": 0]]
    static let dockerUpdates: [(args: [String], stdin: String?)] = [
        #"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":100000,"period":100000},"blockIO":{"weight":0}}"#,
        #"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0,"cpus":"0"},"blockIO":{"weight":0}}"#,
        #"{"memory":{"limit":125829120,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#,
        #"{"memory":{"limit":104857600,"reservation":0,"swap":104857600,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}"#,
        #"{"memory":{"limit":0,"reservation":0,"kernel":0},"cpu":{"shares":0,"quota":0,"period":0},"pids":{"limit":20},"blockIO":{"weight":0}}"#,
    ].map { (["--resources", "-"], $0) }

    @Test("Docker's zeros: run's cpu.shares 0 and every update body leave what runc leaves")
    func dockerZeros() throws {
        try Self.compare(Self.dockerRun, Self.dockerUpdates)
    }

    @Test("update's negative flags parse and apply as runc's: --memory-swap -1, --cpu-quota -1, --pids-limit -1, zeros")
    func negativeFlags() throws {
        try Self.compare(["memory": ["limit": 67_108_864, "swap": 67_108_864], "cpu": ["quota": 50000, "period": 100_000], "pids": ["limit": 10]], [
            (["--memory-swap", "-1"], nil),
            (["--cpu-quota", "-1"], nil),
            (["--pids-limit", "-1"], nil),
            (["--memory", "-1"], nil),
            (["--memory", "32m", "--memory-swap", "64m", "--cpu-share", "0", "--cpu-period", "0"], nil),
            (["--memory-reservation", "16m", "--cpu-quota", "20000", "--cpu-period", "50000"], nil),
        ])
    }

    @Test("under a parent with a quota, a smaller period is written after the quota, as runc does")
    func periodUnderParentQuota() throws {
        try Self.compare(["cpu": ["quota": 50000, "period": 100_000]], parent: (quota: 50000, period: 100_000), [
            (["--cpu-period", "50000", "--cpu-quota", "25000"], nil),
            (["--cpu-period", "100000", "--cpu-quota", "50000"], nil),
        ])
    }

    @Test("an update the kernel refuses half-way changes nothing (runwasm is stricter than runc here)")
    func atomicUpdate() throws {
        try #require(CgroupFiles.isV1)
        let d = Differential(Harness.binary, tag: "atomic")
        defer { d.cleanUp() }
        let id = "atomic-\(getpid())"
        let path = "/runwasm-test-\(id)"
        let pid = try d.create(id, bundle: d.bundle("b", linux: ["cgroupsPath": path]))
        defer { d.remove(id, pid: pid) }
        let before = CgroupFiles.read(path)
        // Memory, soft limit and shares are written before cpuset.cpus, which no CPU 999 satisfies.
        let r = d.run(["update", "--memory", "50m", "--memory-reservation", "10m", "--cpu-share", "512", "--cpuset-cpus", "999", id])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cpuset.cpus"), "\(r.stderr)")
        #expect(CgroupFiles.read(path) == before)
        // A value that fails validation writes nothing either.
        let bad = d.run(["update", "--resources", "-", id], stdin: #"{"memory":{"limit":104857600},"cpu":{"period":10}}"#)
        #expect(bad.status == 1)
        #expect(CgroupFiles.read(path) == before)
    }

    // MARK: exec

    @Test("--debug exec records exec's steps in --log, as JSON with --log-format json")
    func execDebugLog() throws {
        let d = Differential(Harness.binary, tag: "xdbg")
        defer { d.cleanUp() }
        let id = "xdbg-\(getpid())"
        let pid = try d.create(id, bundle: d.bundle("b"))
        defer { d.remove(id, pid: pid) }
        let log = d.dir + "/log.json"
        let r = d.run(["exec", id, "/bin/hello"], globals: ["--debug", "--log", log, "--log-format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello\n")
        let records = (Harness.read(log) ?? "").split(separator: "\n").map { Harness.json(String($0)) }
        #expect(records.count >= 3, "\(Harness.read(log) ?? "")")
        #expect(records.allSatisfy { $0?["level"] as? String == "debug" })
        let messages = records.compactMap { $0?["msg"] as? String }
        #expect(messages.contains { $0.hasPrefix("exec in \(id)") })
        #expect(messages.contains { $0.contains("exited with status 0") })
    }

    @Test("exec --cgroup PATH and CONTROLLER:PATH put the process in the container's sub-cgroup")
    func execSubCgroup() throws {
        try #require(CgroupFiles.isV1)
        let d = Differential(Harness.binary, tag: "xcg")
        defer { d.cleanUp() }
        let id = "xcg-\(getpid())"
        let path = "/runwasm-test-\(id)"
        let pid = try d.create(id, bundle: d.bundle("b", linux: ["cgroupsPath": path]))
        defer {
            d.remove(id, pid: pid)
            CgroupFiles.removeTree(path)
        }
        let hierarchies = ["memory", "pids"]
        for h in hierarchies { mkdir("/sys/fs/cgroup/\(h)\(path)/sub", 0o755) }
        defer { for h in hierarchies { rmdir("/sys/fs/cgroup/\(h)\(path)/sub") } }

        func cgroupsOf(_ args: [String]) throws -> [String: String] {
            let pidFile = d.dir + "/exec.pid"
            unlink(pidFile)
            let r = d.run(["exec", "-d", "--pid-file", pidFile] + args + [id, "/bin/checker"])
            try #require(r.status == 0, "\(r.stderr)")
            let execPid = try #require(pid_t(Harness.read(pidFile) ?? ""))
            Harness.adopt(execPid)
            defer {
                kill(execPid, SIGKILL)
                _ = Harness.waitFor(execPid, timeout: 5)
            }
            var map: [String: String] = [:]
            for line in (Harness.read("/proc/\(execPid)/cgroup") ?? "").split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 2).map(String.init)
                if parts.count == 3 { for c in parts[1].split(separator: ",") { map[String(c)] = parts[2] } }
            }
            return map
        }
        let perController = try cgroupsOf(["--cgroup", "memory:sub", "--cgroup", "pids:sub"])
        #expect(perController["memory"] == path + "/sub")
        #expect(perController["pids"] == path + "/sub")
        #expect(perController["cpu"] == path, "a controller not named keeps the container's cgroup")
        // One PATH names a sub-cgroup in every hierarchy: cpu has no "sub", so exec fails.
        let missing = d.run(["exec", "--cgroup", "sub", id, "/bin/hello"])
        #expect(missing.status == 255)
        #expect(missing.stderr.contains("sub"), "\(missing.stderr)")
        let outside = d.run(["exec", "--cgroup", "memory:../x", id, "/bin/hello"])
        #expect(outside.status == 255)
        #expect(outside.stderr.contains("--cgroup"), "\(outside.stderr)")
    }

    // MARK: usage, help, unknown verbs

    @Test("unknown verbs, -h and --help, missing and extra arguments: runc's exit statuses and streams")
    func usage() throws {
        try #require(Self.runcPresent)
        let cases: [[String]] = [
            ["foo"], ["foo", "-h"], ["state"], ["state", "a", "b"], ["state", "-h"], ["state", "--help"], ["kill"],
            ["kill", "a", "b", "c"], ["kill", "-h"], ["list", "-h"], ["exec"], ["exec", "--help"], ["update"], ["create"],
            ["start"], ["delete", "--help"], ["-h"], ["help"], ["help", "state"], ["help", "foo"], ["state", "--bogus", "x"],
        ]
        let d = Differential(Harness.binary, tag: "usage")
        defer { d.cleanUp() }
        let r = Differential(Differential.runc, tag: "usage-runc")
        defer { r.cleanUp() }
        func shape(_ p: ProcessResult) -> String { "exit \(p.status), stdout \(p.stdout.isEmpty ? "empty" : "text"), stderr \(p.stderr.isEmpty ? "empty" : "text")" }
        for args in cases {
            #expect(shape(d.run(args)) == shape(r.run(args)), "\(args)")
        }
        // podman probes `checkpoint --help`: runwasm, which cannot checkpoint, keeps failing it.
        let probe = d.run(["checkpoint", "--help"])
        #expect(probe.status == 1 && probe.stdout.isEmpty)
    }

    // MARK: the pty's owner

    /// uid, gid and mode of the pty slave of a terminal container running as uid 1000.
    static func ptySlave(_ runtime: String, tag: String) throws -> String {
        let d = Differential(runtime, tag: tag)
        defer { d.cleanUp() }
        let id = "pty-\(tag)-\(getpid())"
        let devpts: [String: Any] = [
            "destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ]
        let dev: [String: Any] = ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]]
        let bundle = d.bundle(
            "b", linux: ["cgroupsPath": "/runwasm-test-\(id)"],
            process: ["terminal": true, "user": ["uid": 1000, "gid": 1000]], mounts: [dev, devpts])
        let socketPath = d.dir + "/console.sock"
        let listener = try Harness.listenUnix(socketPath)
        defer { close(listener) }
        let pid = try d.create(id, bundle: bundle, extra: ["--console-socket", socketPath])
        defer { d.remove(id, pid: pid) }
        let conn = accept(listener, nil, nil)
        try #require(conn >= 0)
        defer { close(conn) }
        var data = [UInt8](repeating: 0, count: 4096)
        var master: Int32 = -1
        _ = data.withUnsafeMutableBytes { rw_recv_with_fd(conn, $0.baseAddress, $0.count, &master) }
        try #require(master >= 0)
        defer { close(master) }
        try #require(d.run(["start", id]).status == 0)
        // The program runs (it printed to the pty): its credentials and the pty's are final.
        var seen = ""
        _ = Harness.eventually(timeout: 10) {
            var buf = [UInt8](repeating: 0, count: 256)
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 10) == 1 {
                let n = buf.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if n > 0 { seen += String(decoding: buf[0..<n], as: UTF8.self) }
            }
            return seen.contains("running")
        }
        var st = stat()
        try #require(stat("/proc/\(pid)/root/dev/pts/0", &st) == 0, "\(tag): no /dev/pts/0 in the container")
        return "\(st.st_uid):\(st.st_gid) \(String(st.st_mode & 0o7777, radix: 8))"
    }

    @Test("the pty slave belongs to process.user's uid and the tty group, mode 0620, as under runc")
    func ptyOwner() throws {
        try #require(Self.runcPresent)
        let expected = try Self.ptySlave(Differential.runc, tag: "runc")
        #expect(expected == "1000:5 620", "runc 1.1.5 as measured")
        #expect(try Self.ptySlave(Harness.binary, tag: "rw") == expected)
    }

    // MARK: a shared --root

    @Test("a runc container in the same --root: state and kill refuse it, list skips it, delete leaves it alone")
    func sharedRoot() throws {
        try #require(Self.runcPresent)
        let runc = Differential(Differential.runc, tag: "shared")
        defer { runc.cleanUp() }
        let id = "shared-runc-\(getpid())"
        let pid = try runc.create(id, bundle: runc.bundle("b", linux: ["cgroupsPath": "/runwasm-test-\(id)"]))
        defer {
            runc.remove(id, pid: pid)
            // Should a runtime under test have removed runc's state, runc cannot clean up: do it here.
            kill(pid, SIGKILL)
            _ = Harness.eventually(timeout: 5) {
                CgroupFiles.removeTree("/runwasm-test-\(id)")
                return !Harness.isDirectory("/sys/fs/cgroup/pids/runwasm-test-\(id)")
            }
        }
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: runc.root + "/" + id))

        func runwasm(_ args: [String]) -> ProcessResult { Harness.spawn([Harness.binary, "--root", runc.root] + args) }
        let state = runwasm(["state", id])
        #expect(state.status == 1 && state.stdout.isEmpty)
        #expect(state.stderr.contains("not a runwasm container"), "\(state.stderr)")
        let killed = runwasm(["kill", id, "0"])
        #expect(killed.status == 1 && killed.stderr.contains("not a runwasm container"), "\(killed.stderr)")
        let list = runwasm(["list", "-q"])
        #expect(list.status == 0 && !list.stdout.contains(id))
        let json = runwasm(["list", "--format", "json"])
        #expect(json.status == 0 && json.stdout == "[]\n", "\(json.stdout)")
        for force in [[], ["--force"]] {
            let deleted = runwasm(["delete"] + force + [id])
            #expect(deleted.status == 1 && deleted.stderr.contains("not a runwasm container"), "\(deleted.stderr)")
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: runc.root + "/" + id)) == before, "runwasm changed runc's directory")
        #expect(runc.run(["state", id]).status == 0, "runc still knows its container")
    }

    @Test("a runwasm directory without its lock file (as while another verb removes it) is still runwasm's")
    func ownDirectoryWithoutLock() throws {
        let d = Differential(Harness.binary, tag: "nolock")
        defer { d.cleanUp() }
        let id = "nolock-\(getpid())"
        let pid = try d.create(id, bundle: d.bundle("b"))
        defer { d.remove(id, pid: pid) }
        try #require(unlink(d.root + "/" + id + "/lock") == 0)
        #expect(d.run(["state", id]).status == 0)
        #expect(d.run(["kill", id, "0"]).status == 0)
        let deleted = d.run(["delete", "--force", id])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(!Harness.exists(d.root + "/" + id))
    }
}
