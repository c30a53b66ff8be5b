import Foundation
import Glibc
import Testing

@Suite("cgroups", .serialized, .timeLimit(.minutes(2)))
struct CgroupTests {
    var hostIsV1: Bool { Harness.exists("/sys/fs/cgroup/memory/cgroup.procs") }

    /// A bundle of the spinning guest whose `linux` section `edit` changes.
    func spinBox(_ edit: (inout [String: Any]) -> Void) -> Sandbox {
        let box = Sandbox(module: Guests.spin)
        var linux = box.config["linux"] as! [String: Any]
        edit(&linux)
        box.config["linux"] = linux
        return box
    }

    @Test("v1: the container sits in its cgroup with the configured limits before create returns; delete removes it")
    func v1Limits() throws {
        try #require(hostIsV1, "this test needs a cgroup v1 host; the v2 test below covers unified hosts")
        let id = "cg1"
        let box = spinBox {
            $0["cgroupsPath"] = "/runwasm-tests/\(id)"
            $0["resources"] = [
                "memory": ["limit": 268_435_456, "reservation": 134_217_728],
                "pids": ["limit": 42],
                "cpu": ["shares": 512, "quota": 50000, "period": 100_000, "cpus": "0", "mems": "0"],
                "devices": [["allow": false, "access": "rwm"], ["allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"]],
            ] as [String: Any]
        }
        let pid = try box.create(id)
        let cgroup = Harness.read("/proc/\(pid)/cgroup") ?? ""
        #expect(cgroup.contains(":memory:/runwasm-tests/\(id)\n"), "in its memory cgroup at create: \(cgroup)")
        #expect(cgroup.contains(":pids:/runwasm-tests/\(id)\n"))
        // The process moved itself into every v1 hierarchy (the unified one, 0::, see ConfigFieldTests).
        for line in cgroup.split(separator: "\n") where !line.hasPrefix("0::") {
            #expect(line.hasSuffix(":/runwasm-tests/\(id)"), "every hierarchy: \(line)")
        }
        let base = "/sys/fs/cgroup"
        #expect(Harness.read("\(base)/memory/runwasm-tests/\(id)/memory.limit_in_bytes") == "268435456\n")
        #expect(Harness.read("\(base)/memory/runwasm-tests/\(id)/memory.soft_limit_in_bytes") == "134217728\n")
        #expect(Harness.read("\(base)/pids/runwasm-tests/\(id)/pids.max") == "42\n")
        #expect(Harness.read("\(base)/cpu/runwasm-tests/\(id)/cpu.shares") == "512\n")
        #expect(Harness.read("\(base)/cpu/runwasm-tests/\(id)/cpu.cfs_quota_us") == "50000\n")
        #expect(Harness.read("\(base)/cpuset/runwasm-tests/\(id)/cpuset.cpus") == "0\n")
        // The config's deny-all and /dev/null, then runc's default allow-list (DeviceRuleTests).
        let devices = Harness.read("\(base)/devices/runwasm-tests/\(id)/devices.list") ?? ""
        #expect(devices.hasPrefix("c 1:3 rwm\n") && devices.contains("c 136:* rwm\n") && !devices.contains("a *:*"), "\(devices)")
        // As containerd does: stop the guest and reap it, then delete.
        #expect(box.runwasm(["kill", id, "KILL"]).status == 0)
        _ = Harness.waitFor(pid)
        #expect(box.runwasm(["delete", id]).status == 0)
        #expect(!Harness.exists("\(base)/memory/runwasm-tests/\(id)"), "delete removes the cgroup")
        #expect(!Harness.exists("\(base)/pids/runwasm-tests/\(id)"))
    }

    @Test("v1: a new cgroup namespace is rooted at the container's own cgroup")
    func cgroupNamespace() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let box = spinBox {
            $0["cgroupsPath"] = "/runwasm-tests/cgns"
            $0["namespaces"] = ($0["namespaces"] as! [[String: Any]]) + [["type": "cgroup"]]
        }
        let pid = try box.create("cgns")
        #expect(GuestTests().readlinkString("/proc/\(pid)/ns/cgroup") != GuestTests().readlinkString("/proc/self/ns/cgroup"))
        // Seen from inside its cgroup namespace, the container sits at the root of every hierarchy.
        let inside = Harness.spawn(["/usr/bin/nsenter", "--cgroup", "-t", String(pid), "/bin/cat", "/proc/\(pid)/cgroup"]).stdout
        let lines = inside.split(separator: "\n").filter { !$0.hasPrefix("0::") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasSuffix(":/") }, "\(inside)")
        #expect(Harness.read("/proc/\(pid)/cgroup")?.contains(":memory:/runwasm-tests/cgns\n") == true)
        #expect(box.runwasm(["kill", "cgns", "KILL"]).status == 0)
        _ = Harness.waitFor(pid)
        #expect(box.runwasm(["delete", "cgns"]).status == 0)
    }

    @Test("--systemd-cgroup places slice:prefix:name under the slice on cgroupfs")
    func systemdPath() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let box = spinBox { $0["cgroupsPath"] = "wasmtest-a.slice:wasm:sd1" }
        let pidFile = box.dir + "/sd.pid"
        let r = box.runwasm(["create", "-b", box.bundle, "--pid-file", pidFile, "sd1"], globals: ["--systemd-cgroup"])
        try #require(r.status == 0, "\(box.errors)")
        let pid = try #require(pid_t(Harness.read(pidFile) ?? ""))
        #expect(Harness.read("/proc/\(pid)/cgroup")?.contains(":pids:/wasmtest.slice/wasmtest-a.slice/wasm-sd1.scope\n") == true)
        box.runwasm(["kill", "sd1", "KILL"])
        _ = Harness.waitFor(pid)
        box.runwasm(["delete", "sd1"])
        for ctl in ["pids", "memory", "cpu", "freezer"] {
            rmdir("/sys/fs/cgroup/\(ctl)/wasmtest.slice/wasmtest-a.slice")
            rmdir("/sys/fs/cgroup/\(ctl)/wasmtest.slice")
        }
    }

    @Test("pause, resume, ps, update and events against a running guest")
    func verbs() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.startSpinning("cv")
        #expect(box.runwasm(["pause", "cv"]).status == 0)
        #expect(box.state("cv")?["status"] as? String == "paused")
        let stat = Harness.read("/proc/\(pid)/stat") ?? ""
        let ticks = { Int((Harness.read("/proc/\(pid)/stat") ?? "").split(separator: " ")[13]) ?? 0 }
        let before = ticks()
        usleep(300_000)
        #expect(ticks() == before, "a paused guest uses no CPU (\(stat))")
        #expect(box.runwasm(["pause", "cv"]).status == 1)
        #expect(box.runwasm(["resume", "cv"]).status == 0)
        #expect(box.state("cv")?["status"] as? String == "running")
        #expect(box.runwasm(["resume", "cv"]).status == 1)
        #expect(box.errors.contains("container not paused"))

        #expect(box.runwasmCaptured(["ps", "--format", "json", "cv"]).stdout == "[\(pid)]\n")
        let table = box.runwasmCaptured(["ps", "cv"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.contains("PID") == true)
        #expect(lines.count == 2 && lines[1].split(separator: " ").contains(Substring(String(pid))))

        #expect(box.runwasm(["update", "--memory", "64m", "--pids-limit", "7", "cv"]).status == 0)
        let stats = box.runwasmCaptured(["events", "--stats", "cv"])
        #expect(stats.status == 0)
        let event = try #require(Harness.json(stats.stdout))
        #expect(event["type"] as? String == "stats")
        #expect(event["id"] as? String == "cv")
        let data = try #require(event["data"] as? [String: Any])
        let memory = try #require((data["memory"] as? [String: Any])?["usage"] as? [String: Any])
        #expect(memory["limit"] as? Int == 64 << 20)
        #expect((data["pids"] as? [String: Any])?["limit"] as? Int == 7)
        #expect((data["pids"] as? [String: Any])?["current"] as? Int == 1)
        #expect(((data["cpu"] as? [String: Any])?["usage"] as? [String: Any])?["total"] as? Int ?? 0 > 0)

        let resources = box.dir + "/resources.json"
        Harness.write(resources, #"{"pids":{"limit":9},"memory":{"limit":100663296}}"#)
        #expect(box.runwasm(["update", "--resources", resources, "cv"]).status == 0)
        let again = try #require(Harness.json(box.runwasmCaptured(["events", "--stats", "cv"]).stdout))
        #expect(((again["data"] as? [String: Any])?["pids"] as? [String: Any])?["limit"] as? Int == 9)
        Harness.write(resources, #"{"pids":{"limit":"many"}}"#)
        #expect(box.runwasm(["update", "-r", resources, "cv"]).status == 1)
        #expect(box.errors.contains("resources.pids.limit: expected an integer"))

        box.runwasm(["delete", "--force", "cv"])
        _ = Harness.waitFor(pid)
    }

    @Test("events without --stats streams stats every interval until the container stops")
    func eventStream() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.startSpinning("ev")
        let out = box.dir + "/events.out"
        let events = Harness.start([Harness.binary, "--root", box.root, "events", "--interval", "100ms", "ev"], stdoutPath: out)
        #expect(Harness.eventually(timeout: 5) { (Harness.read(out) ?? "").split(separator: "\n").count >= 3 })
        #expect(box.runwasm(["kill", "ev", "KILL"]).status == 0)
        _ = Harness.waitFor(pid)
        #expect(Harness.waitFor(events, timeout: 5) == 0, "events ends when the container stops")
        let lines = (Harness.read(out) ?? "").split(separator: "\n")
        #expect(lines.allSatisfy { (Harness.json(String($0))?["type"] as? String) == "stats" })
        #expect(lines.allSatisfy { (Harness.json(String($0))?["id"] as? String) == "ev" })
        box.runwasm(["delete", "ev"])
    }

    @Test("a guest that allocates past its memory limit sees malloc fail and exits with its own code")
    func memoryLimit() {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "alloc"])
        var linux = box.config["linux"] as! [String: Any]
        linux["resources"] = ["memory": ["limit": 64 << 20]]
        box.config["linux"] = linux
        let r = box.runwasm(["run", "-b", box.bundle, "oom"])
        #expect(r.status == 3, "the guest's own exit code, not an OOM kill: \(box.errors)")
        let line = box.output.split(separator: "\n").first { $0.hasPrefix("allocation failed after") } ?? ""
        let words = line.split(separator: " ")
        let mib = words.count > 3 ? Int(words[3]) ?? -1 : -1
        #expect((30...48).contains(mib), "linear memory capped at 48 MiB (64 MiB less 16 MiB): \(line)")
    }

    @Test("v2: a private cgroup2 hierarchy holds the container and its exec'd process, freezes it, and is cleaned up")
    func v2() throws {
        let mountPoint = Harness.tempDir("cgroup2")
        defer { rmdir(mountPoint) }
        guard mount("none", mountPoint, "cgroup2", 0, nil) == 0 else {
            print("skipping the cgroup v2 test: this kernel cannot mount cgroup2 here (\(String(cString: strerror(errno))))")
            return
        }
        defer { umount2(mountPoint, 0) }
        let controllers = Harness.read(mountPoint + "/cgroup.controllers") ?? ""
        let environment = ["PATH=/usr/bin:/bin", "RUNWASM_CGROUP_ROOT=\(mountPoint)"]
        let box = Sandbox(module: Guests.spin)
        var linux = box.config["linux"] as! [String: Any]
        linux["cgroupsPath"] = "/tests/v2"
        let haveLimits = controllers.contains("memory") && controllers.contains("pids")
        if haveLimits {
            linux["resources"] = ["memory": ["limit": 134_217_728], "pids": ["limit": 17]]
        } else {
            print("cgroup v2: memory and pids controllers are bound to the v1 hierarchy on this host (available: \"\(controllers)\"); limits are checked by the v1 test")
        }
        box.config["linux"] = linux
        box.addMount(["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]])
        let pid = try box.startSpinning("v2", environment: environment)
        #expect(Harness.read(mountPoint + "/tests/v2/cgroup.procs") == "\(pid)\n")
        #expect(Harness.read("/proc/\(pid)/cgroup")?.contains("0::/tests/v2\n") == true)
        // Without a cgroup namespace, the config's cgroup mount is the container's own cgroup, read-only.
        #expect(Harness.read("/proc/\(pid)/root/sys/fs/cgroup/cgroup.procs") == "\(pid)\n")
        let cgroupMount = (Harness.read("/proc/\(pid)/mounts") ?? "").split(separator: "\n").first { $0.contains(" /sys/fs/cgroup ") }
        #expect(cgroupMount?.split(separator: " ")[3].hasPrefix("ro,") == true, "\(cgroupMount ?? "no cgroup mount")")
        // An exec'd process is cloned into the same cgroup.
        Harness.write(box.rootfs + "/spin2.wasm", Guests.spin)
        let pidFile = box.dir + "/exec.pid"
        let exec = box.runwasm(["exec", "--detach", "--pid-file", pidFile, "v2", "/spin2.wasm"], environment: environment)
        #expect(exec.status == 0, "exec: \(box.errors)")
        let execPid = pid_t(Harness.read(pidFile) ?? "")
        if let execPid {
            #expect(Harness.read("/proc/\(execPid)/cgroup")?.contains("0::/tests/v2\n") == true)
            #expect(Harness.read(mountPoint + "/tests/v2/cgroup.procs") == "\(min(pid, execPid))\n\(max(pid, execPid))\n")
        }
        if haveLimits {
            #expect(Harness.read(mountPoint + "/tests/v2/memory.max") == "134217728\n")
            #expect(Harness.read(mountPoint + "/tests/v2/pids.max") == "17\n")
        }
        #expect(box.runwasm(["pause", "v2"], environment: environment).status == 0)
        #expect(Harness.read(mountPoint + "/tests/v2/cgroup.freeze") == "1\n")
        #expect(box.state("v2")?["status"] as? String == "paused")
        #expect(box.runwasm(["resume", "v2"], environment: environment).status == 0)
        #expect(box.state("v2")?["status"] as? String == "running")
        // As a shim does: kill, reap (the exec'd process first: a dying PID 1 waits until its
        // namespace's zombies are reaped), then delete.
        #expect(box.runwasm(["kill", "v2", "KILL"], environment: environment).status == 0)
        if let execPid { _ = Harness.waitFor(execPid) }
        _ = Harness.waitFor(pid)
        #expect(box.runwasm(["delete", "v2"], environment: environment).status == 0)
        #expect(!Harness.exists(mountPoint + "/tests/v2"))
        rmdir(mountPoint + "/tests")
    }
}
