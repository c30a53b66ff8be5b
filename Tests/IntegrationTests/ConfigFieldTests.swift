// Config fields that runwasm once accepted and silently dropped (issue 10): each is now applied
// as runc 1.1.5 applies it on this cgroup v1 hybrid host, or fails `create` naming the field, as
// runc fails. Expected values and outcomes were measured under runc 1.1.5 with the same fields
// (a static native program reading the files), recorded beside each test.

import Foundation
import Glibc
import Testing

@Suite("config fields", .serialized, .timeLimit(.minutes(2)))
struct ConfigFieldTests {
    var hostIsV1: Bool { Harness.exists("/sys/fs/cgroup/memory/cgroup.procs") }

    /// Removes the (empty) cgroup `path` from every v1 hierarchy and the unified one.
    static func removeCgroup(_ path: String) {
        for h in ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"] {
            rmdir("/sys/fs/cgroup/\(h)/\(path)")
        }
    }

    func box(_ edit: (inout [String: Any]) -> Void) -> Sandbox {
        let box = Sandbox(module: Guests.spin)
        var linux = box.config["linux"] as! [String: Any]
        edit(&linux)
        box.config["linux"] = linux
        return box
    }

    func finish(_ box: Sandbox, _ id: String, _ pid: pid_t) {
        _ = box.runwasm(["kill", id, "KILL"])
        _ = Harness.waitFor(pid)
        _ = box.runwasm(["delete", "--force", id])
    }

    /// `create` fails, and its error names `field`; nothing is left behind.
    func expectRefused(_ box: Sandbox, _ id: String, naming field: String, _ comment: Comment? = nil) {
        let r = box.runwasm(["create", "--bundle", box.bundle, id])
        #expect(r.status != 0, "create must fail: \(field)")
        #expect(box.errors.contains(field), "the error names \(field): \(box.errors)")
        if r.status == 0 { _ = box.runwasm(["delete", "--force", id]) }
        #expect(box.leftovers.isEmpty)
    }

    @Test("v1: swappiness, disableOOMKiller, realtime cpu and blkio weight are written as runc writes them; Docker's zero values stay unset")
    func v1ExtraResources() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let id = "fx1"
        // runc 1.1.5, same fields: memory.swappiness 30, oom_kill_disable 1, cpu.rt_runtime_us
        // 1000 and rt_period_us 100000, blkio.bfq.weight 500 (this kernel has BFQ's files, not CFQ's).
        let b = box {
            $0["cgroupsPath"] = "/runwasm-tests/\(id)"
            $0["resources"] = [
                "memory": ["swappiness": 30, "disableOOMKiller": true],
                "cpu": ["realtimeRuntime": 1000, "realtimePeriod": 100_000],
                "blockIO": ["weight": 500],
            ] as [String: Any]
        }
        // A parent whose realtime budget covers the child's, as the host's root cgroup does for runc.
        Harness.mkdirs("/sys/fs/cgroup/cpu/runwasm-tests")
        Harness.write("/sys/fs/cgroup/cpu/runwasm-tests/cpu.rt_runtime_us", "10000")
        let pid = try b.create(id)
        defer { finish(b, id, pid) }
        let base = "/sys/fs/cgroup"
        #expect(Harness.read("\(base)/memory/runwasm-tests/\(id)/memory.swappiness") == "30\n")
        #expect(Harness.read("\(base)/memory/runwasm-tests/\(id)/memory.oom_control")?.hasPrefix("oom_kill_disable 1\n") == true)
        #expect(Harness.read("\(base)/cpu/runwasm-tests/\(id)/cpu.rt_runtime_us") == "1000\n")
        #expect(Harness.read("\(base)/cpu/runwasm-tests/\(id)/cpu.rt_period_us") == "100000\n")
        let weight = Harness.read("\(base)/blkio/runwasm-tests/\(id)/blkio.weight") ?? Harness.read("\(base)/blkio/runwasm-tests/\(id)/blkio.bfq.weight")
        #expect(weight?.hasSuffix("500\n") == true, "\(weight ?? "no weight file")")
    }

    @Test("Docker's blockIO weight 0, disableOOMKiller false and swappiness -1 leave the files at their defaults")
    func dockerZeroValues() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let id = "fx0"
        let b = box {
            $0["cgroupsPath"] = "/runwasm-tests/\(id)"
            $0["resources"] = [
                "memory": ["disableOOMKiller": false, "swappiness": UInt64.max],
                "blockIO": ["weight": 0],
                "network": ["classID": 0],
            ] as [String: Any]
        }
        let pid = try b.create(id)
        defer { finish(b, id, pid) }
        #expect(Harness.read("/sys/fs/cgroup/memory/runwasm-tests/\(id)/memory.oom_control")?.hasPrefix("oom_kill_disable 0\n") == true)
    }

    @Test("fields this host's cgroups cannot take fail create, naming them, as under runc")
    func refusedResources() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        // runc 1.1.5 here: "cannot set hugetlb limit", "cannot set net_cls limit", "cannot set
        // net_prio limit" (controllers not mounted), "invalid memory swappiness value: 200",
        // "cannot use unified on cgroup v1".
        let cases: [(String, [String: Any], String)] = [
            ("fh", ["hugepageLimits": [["pageSize": "2MB", "limit": 1_048_576]]], "linux.resources.hugepageLimits[0]"),
            ("fn", ["network": ["classID": 1_048_577]], "linux.resources.network.classID"),
            ("fp", ["network": ["priorities": [["name": "eth0", "priority": 5]]]], "linux.resources.network.priorities[0]"),
            ("fs", ["memory": ["swappiness": 200]], "linux.resources.memory.swappiness"),
            ("fu", ["unified": ["memory.high": "100000000"]], "linux.resources.unified"),
        ]
        for (id, resources, field) in cases {
            let b = box {
                $0["cgroupsPath"] = "/runwasm-tests/\(id)"
                $0["resources"] = resources
            }
            expectRefused(b, id, naming: field)
            #expect(!Harness.exists("/sys/fs/cgroup/memory/runwasm-tests/\(id)"), "no cgroup left: \(id)")
        }
    }

    @Test("apparmorProfile, selinuxLabel and mountLabel fail create on a host without AppArmor or SELinux, as under runc")
    func labels() throws {
        // runc 1.1.5 here: "unable to apply apparmor profile … write /proc/self/attr/exec: invalid
        // argument"; "selinux label is specified in config, but selinux is disabled or not
        // supported"; mountLabel: the /dev tmpfs mount fails with context=… (invalid argument).
        let aa = Sandbox(module: Guests.spin)
        aa.process["apparmorProfile"] = "docker-default"
        expectRefused(aa, "fa", naming: "process.apparmorProfile")
        let se = Sandbox(module: Guests.spin)
        se.process["selinuxLabel"] = "system_u:system_r:container_t:s0:c1,c2"
        expectRefused(se, "fl", naming: "process.selinuxLabel")
        let ml = box { $0["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2" }
        expectRefused(ml, "fm", naming: "linux.mountLabel")
        // Empty values are unset (Docker and podman send none on such a host).
        let empty = Sandbox(module: Guests.spin)
        empty.process["apparmorProfile"] = ""
        var linux = empty.config["linux"] as! [String: Any]
        linux["mountLabel"] = ""
        empty.config["linux"] = linux
        let pid = try empty.create("fe")
        finish(empty, "fe", pid)
    }

    @Test("linux.devices are created with their type, numbers, mode, uid and gid, as runc creates them")
    func devices() throws {
        let b = box {
            $0["devices"] = [
                ["path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 5, "gid": 6],
                ["path": "/dev/sub/loopx", "type": "b", "major": 7, "minor": 200],
            ]
        }
        let pid = try b.create("fd")
        defer { finish(b, "fd", pid) }
        var st = stat()
        try #require(stat("/proc/\(pid)/root/dev/fuse", &st) == 0, "the node exists")
        #expect(st.st_mode & S_IFMT == S_IFCHR)
        #expect(st.st_mode & 0o7777 == 0o640)
        #expect(st.st_uid == 5 && st.st_gid == 6)
        #expect(st.st_rdev == makedev(10, 229))
        try #require(stat("/proc/\(pid)/root/dev/sub/loopx", &st) == 0, "parents are made")
        #expect(st.st_mode & S_IFMT == S_IFBLK)
        #expect(st.st_mode & 0o7777 == 0o666, "runc's default mode")
        #expect(st.st_rdev == makedev(7, 200))
    }

    @Test("a linux.devices entry outside /dev or of an unknown type fails create, naming it")
    func badDevices() {
        let outside = box { $0["devices"] = [["path": "/etc/x", "type": "c", "major": 1, "minor": 3]] }
        expectRefused(outside, "fo", naming: "linux.devices[0].path")
        let type = box { $0["devices"] = [["path": "/dev/x", "type": "q", "major": 1, "minor": 3]] }
        expectRefused(type, "ft", naming: "linux.devices[0].type")
    }

    @Test("an rro bind mount is read-only in every submount (mount_setattr AT_RECURSIVE)")
    func recursiveReadOnly() throws {
        let b = Sandbox(module: Guests.spin)
        let source = b.dir + "/src"
        Harness.mkdirs(source + "/sub")
        try #require(Harness.spawn(["/bin/mount", "-t", "tmpfs", "tmpfs", source + "/sub"]).status == 0)
        defer { _ = Harness.spawn(["/bin/umount", "-l", source + "/sub"]) }
        b.addMount(["destination": "/data", "type": "bind", "source": source, "options": ["rbind", "rro"]])
        let pid = try b.create("fr")
        defer { finish(b, "fr", pid) }
        let info = Harness.read("/proc/\(pid)/mountinfo") ?? ""
        let lines = info.split(separator: "\n").filter { $0.contains(" /data ") || $0.contains(" /data/sub ") }
        #expect(lines.count == 2, "\(info)")
        for line in lines {
            let options = line.split(separator: " ")[5]
            #expect(options.split(separator: ",").contains("ro"), "read-only: \(line)")
        }
    }

    @Test("namespaced sysctls apply in a network namespace joined by path, as CRI joins its pod's")
    func sysctlInJoinedNetns() throws {
        let holder = Harness.start(["/usr/bin/unshare", "--net", "/bin/sleep", "30"])
        defer {
            kill(holder, SIGKILL)
            _ = Harness.waitFor(holder)
        }
        // unshare execs sleep once the namespace exists.
        try #require(Harness.eventually { GuestTests().readlinkString("/proc/\(holder)/exe").hasSuffix("sleep") })
        let b = box {
            $0["namespaces"] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"], ["type": "network", "path": "/proc/\(holder)/ns/net"]]
            $0["sysctl"] = ["net.ipv4.ip_unprivileged_port_start": "0"]
        }
        let pid = try b.create("fy")
        defer { finish(b, "fy", pid) }
        let value = Harness.spawn(["/usr/bin/nsenter", "--net=/proc/\(holder)/ns/net", "/bin/cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]).stdout
        #expect(value == "0\n")
        // The host's own network namespace is refused, as runc refuses it.
        let host = box {
            $0["namespaces"] = [["type": "pid"], ["type": "mount"], ["type": "network", "path": "/proc/self/ns/net"]]
            $0["sysctl"] = ["net.ipv4.ip_unprivileged_port_start": "0"]
        }
        host.config.removeValue(forKey: "hostname")
        expectRefused(host, "fz", naming: "linux.sysctl.net.ipv4.ip_unprivileged_port_start")
    }

    @Test("rootfsPropagation rshared (CRI's Bidirectional mounts) creates and runs, as under runc")
    func sharedRootPropagation() throws {
        for value in ["shared", "rshared"] {
            let b = box { $0["rootfsPropagation"] = value }
            let id = "fp" + value
            let pid = try b.create(id)
            finish(b, id, pid)
        }
    }

    // MARK: - Hooks and mounts

    @Test("createContainer hooks run from the rootfs, as under runc")
    func createContainerHookCwd() throws {
        let b = Sandbox(module: Guests.spin)
        let out = b.dir + "/cc.out"
        b.config["hooks"] = ["createContainer": [["path": "/bin/sh", "args": ["sh", "-c", "pwd > \(out)"]]]]
        let pid = try b.create("fc")
        defer { finish(b, "fc", pid) }
        // runc 1.1.5: cwd=<bundle>/rootfs (measured with the same hook).
        #expect(Harness.read(out) == b.rootfs + "\n")
    }

    @Test("startContainer hooks run as runc runs them: the process's user, capabilities, seccomp profile and cwd")
    func startContainerHookConfined() throws {
        let b = Sandbox(module: Guests.spin)
        Harness.write(b.rootfs + "/hookst", HookStatus.native, mode: 0o755)
        Harness.mkdirs(b.rootfs + "/tmp")
        chmod(b.rootfs + "/tmp", 0o1777)
        let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        var process = b.process
        process["user"] = ["uid": 1000, "gid": 1000]
        process["cwd"] = "/tmp"
        process["noNewPrivileges"] = true
        process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps, "ambient": caps]
        b.process = process
        var linux = b.config["linux"] as! [String: Any]
        linux["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["mknod"], "action": "SCMP_ACT_ERRNO"]]]
        b.config["linux"] = linux
        b.config["hooks"] = ["startContainer": [["path": "/hookst", "args": ["hookst", "/tmp/sc.out"]]]]
        let pid = try b.create("fk")
        defer { finish(b, "fk", pid) }
        try #require(b.runwasm(["start", "fk"]).status == 0, "start: \(b.errors)")
        let mine = Harness.read(b.rootfs + "/tmp/sc.out") ?? ""
        // The same config under runc 1.1.5, with the hook program as the process.
        _ = unlink(b.rootfs + "/tmp/sc.out")
        process["args"] = ["/hookst", "/tmp/ignored.out"]
        b.process = process
        b.rewriteConfig()
        let runc = Harness.spawn(["/usr/sbin/runc", "--root", b.dir + "/runc", "run", "--bundle", b.bundle, "fk-runc"])
        try #require(runc.status == 0, "runc: \(runc.stderr)")
        let theirs = Harness.read(b.rootfs + "/tmp/sc.out") ?? ""
        // Measured under runc: cwd=/tmp, Uid 1000, CapPrm/CapEff 0, CapBnd 0x20000420, NoNewPrivs 1,
        // Seccomp 2 with one filter (runwasm's own loads after the hooks).
        #expect(!theirs.isEmpty && mine == theirs, "runwasm:\n\(mine)\nrunc:\n\(theirs)")
    }

    @Test("/proc or /sys as a symlink in the image fails create, as under runc")
    func procSymlink() throws {
        for (name, type) in [("proc", "proc"), ("sys", "sysfs")] {
            let b = Sandbox(module: Guests.spin)
            Harness.mkdirs(b.rootfs + "/elsewhere")
            symlink("/elsewhere", b.rootfs + "/" + name)
            if name == "sys" { b.addMount(["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]]) }
            expectRefused(b, "fq" + name, naming: "must be mounted on ordinary directory")
            #expect(b.errors.contains("\"\(type)\""), "\(b.errors)")
        }
    }

    @Test("a read-only /dev tmpfs still gets its devices and submounts, and is read-only after")
    func readOnlyDev() throws {
        let b = Sandbox(module: Guests.spin)
        var mounts = b.config["mounts"] as! [[String: Any]]
        mounts[1]["options"] = ["nosuid", "mode=755", "ro"]
        b.config["mounts"] = mounts
        let pid = try b.create("fv")
        defer { finish(b, "fv", pid) }
        let info = Harness.read("/proc/\(pid)/mountinfo") ?? ""
        let dev = info.split(separator: "\n").first { $0.split(separator: " ")[4] == "/dev" }
        #expect(dev.map { $0.split(separator: " ")[5].split(separator: ",").contains("ro") } == true, "\(info)")
        #expect(info.contains(" /dev/pts "), "\(info)")
        #expect(Harness.exists("/proc/\(pid)/root/dev/null"))
    }

    @Test("create into a frozen cgroup fails at once, as under runc")
    func frozenCgroup() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let parent = "/sys/fs/cgroup/freezer/runwasm-tests/frozen"
        Harness.mkdirs(parent)
        Harness.write(parent + "/freezer.state", "FROZEN")
        defer {
            Harness.write(parent + "/freezer.state", "THAWED")
            // create made the parent in every hierarchy.
            Self.removeCgroup("runwasm-tests/frozen/fi")
            Self.removeCgroup("runwasm-tests/frozen")
        }
        let b = box { $0["cgroupsPath"] = "/runwasm-tests/frozen/fi" }
        let r = b.runwasm(["create", "--bundle", b.bundle, "fi"], timeout: 15)
        #expect(r.status != 0)
        #expect(b.errors.contains("unexpectedly frozen"), "\(b.errors)")
        if r.status == 0 { _ = b.runwasm(["delete", "--force", "fi"]) }
    }

    @Test("a cgroup frozen before create is refused by run and by create alike, and left as it was; a non-empty one warns")
    func preExistingCgroups() throws {
        try #require(hostIsV1, "needs a cgroup v1 host")
        let frozen = "/sys/fs/cgroup/freezer/runwasm-tests/frozen-own"
        Harness.mkdirs(frozen)
        Harness.write(frozen + "/freezer.state", "FROZEN")
        defer {
            Harness.write(frozen + "/freezer.state", "THAWED")
            Self.removeCgroup("runwasm-tests/frozen-own")
        }
        let b = box { $0["cgroupsPath"] = "/runwasm-tests/frozen-own" }
        #expect(b.runwasm(["run", "--bundle", b.bundle, "fo1"], timeout: 15).status != 0)
        #expect(b.runwasm(["create", "--bundle", b.bundle, "fo2"], timeout: 15).status != 0, "still frozen: create is refused too")
        #expect(b.errors.contains("unexpectedly frozen"), "\(b.errors)")
        #expect(Harness.read(frozen + "/freezer.state") == "FROZEN\n", "the cgroup is left as it was")

        // A cgroup that already holds a process: used, with runc's warning.
        let busy = "/sys/fs/cgroup/pids/runwasm-tests/busy"
        Harness.mkdirs(busy)
        let sleeper = Harness.start(["/bin/sleep", "30"])
        defer {
            kill(sleeper, SIGKILL)
            _ = Harness.waitFor(sleeper)
            Self.removeCgroup("runwasm-tests/busy")
        }
        Harness.write(busy + "/cgroup.procs", String(sleeper))
        let c = box { $0["cgroupsPath"] = "/runwasm-tests/busy" }
        let r = c.runwasmCaptured(["create", "--bundle", c.bundle, "busy"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("container's cgroup is not empty: 1 process(es) found"), "\(r.stderr)")
        if r.status == 0 { _ = c.runwasm(["delete", "--force", "busy"]) }
    }

    @Test(
        "CRI's Bidirectional mount (cri/mount-bidirectional-container.json replayed) propagates both ways",
        .enabled(if: Harness.exists(CreateSafetyTests.callerConfigs + "/INDEX.md")))
    func bidirectionalFixture() throws {
        let b = Sandbox(module: Guests.spin)
        let data = try #require(FileManager.default.contents(atPath: CreateSafetyTests.callerConfigs + "/cri/mount-bidirectional-container.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // The pod's namespaces: a holder process's, as the pause container's are joined.
        let holder = Harness.start(["/usr/bin/unshare", "--ipc", "--uts", "--net", "/bin/sleep", "60"])
        defer {
            kill(holder, SIGKILL)
            _ = Harness.waitFor(holder)
        }
        try #require(Harness.eventually { GuestTests().readlinkString("/proc/\(holder)/exe").hasSuffix("sleep") })
        // The hostPath, a shared mount as on a kubelet host; the other sources, files of the test's.
        let shared = b.dir + "/shared"
        Harness.mkdirs(shared)
        try #require(Harness.spawn(["/bin/mount", "--bind", shared, shared]).status == 0)
        try #require(Harness.spawn(["/bin/mount", "--make-shared", shared]).status == 0)
        defer { _ = Harness.spawn(["/bin/umount", "-R", "-l", shared]) }
        var process = config["process"] as! [String: Any]
        process["args"] = ["/app.wasm"]
        config["process"] = process
        var linux = config["linux"] as! [String: Any]
        linux["namespaces"] = (linux["namespaces"] as! [[String: Any]]).map { ns in
            var ns = ns
            if ns["path"] != nil { ns["path"] = "/proc/\(holder)/ns/" + ((ns["type"] as! String) == "network" ? "net" : ns["type"] as! String) }
            return ns
        }
        linux["cgroupsPath"] = "/runwasm-tests/bidi"
        config["linux"] = linux
        config["mounts"] = (config["mounts"] as! [[String: Any]]).map { m in
            var m = m
            guard m["type"] as? String == "bind" else { return m }
            if m["destination"] as? String == "/mnt/shared" {
                m["source"] = shared
            } else if m["destination"] as? String == "/dev/shm" {
                Harness.mkdirs(b.dir + "/shm")
                m["source"] = b.dir + "/shm"
            } else {
                let file = b.dir + "/src-" + (m["destination"] as! String).replacingOccurrences(of: "/", with: "_")
                Harness.write(file, "")
                m["source"] = file
            }
            return m
        }
        b.config = config
        let pid = try b.create("fb")
        defer { finish(b, "fb", pid) }
        // Host → container: a mount made on the host after create appears inside.
        Harness.mkdirs(shared + "/fromhost")
        try #require(Harness.spawn(["/bin/mount", "-t", "tmpfs", "tmpfs", shared + "/fromhost"]).status == 0)
        #expect(Harness.eventually { (Harness.read("/proc/\(pid)/mountinfo") ?? "").contains(" /mnt/shared/fromhost ") })
        // Container → host: a mount made in the container's mount namespace appears on the host.
        Harness.mkdirs(shared + "/fromctr")
        let tool = b.dir + "/mountin"
        Harness.write(tool, HookStatus.mountIn, mode: 0o755)
        let inside = Harness.spawn([tool, "/proc/\(pid)/ns/mnt", "/mnt/shared/fromctr"])
        #expect(inside.status == 0, "\(inside.stderr)")
        #expect(Harness.eventually { (Harness.read("/proc/self/mountinfo") ?? "").contains(shared + "/fromctr ") })
    }

    @Test("on a hybrid host the container is also in the unified hierarchy (0::), as runc places it; delete removes it")
    func hybridUnified() throws {
        try #require(hostIsV1 && Harness.exists("/sys/fs/cgroup/unified/cgroup.procs"), "needs a hybrid cgroup host")
        let b = box { $0["cgroupsPath"] = "/runwasm-tests/fh2" }
        let pid = try b.create("fh2")
        // runc 1.1.5 here: 0::/<cgroupsPath> beside every v1 hierarchy.
        let cgroup = Harness.read("/proc/\(pid)/cgroup") ?? ""
        #expect(cgroup.contains("\n0::/runwasm-tests/fh2\n") || cgroup.hasPrefix("0::/runwasm-tests/fh2\n"), "\(cgroup)")
        #expect(cgroup.contains(":memory:/runwasm-tests/fh2\n"))
        finish(b, "fh2", pid)
        #expect(!Harness.exists("/sys/fs/cgroup/unified/runwasm-tests/fh2"), "delete removes it")
    }

    @Test("features lists the recursive mount options now applied")
    func featuresListRecursiveOptions() throws {
        let r = Harness.spawn([Harness.binary, "features"])
        let doc = try #require(Harness.json(r.stdout))
        let options = doc["mountOptions"] as? [String] ?? []
        for name in ["rro", "rrw", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"] {
            #expect(options.contains(name), "\(name)")
        }
    }

    @Test("with a new user namespace a bind source only the host's root can reach still mounts (opened before, as runc opens it)")
    func userNamespaceBindSource() throws {
        let b = Sandbox(module: Guests.spin)
        let secret = b.dir + "/secret"
        Harness.mkdirs(secret + "/inner")
        Harness.write(secret + "/inner/file", "x")
        chmod(secret, 0o700)
        // The bundle reachable by the mapped root, the source not (its parent is root's, 0700).
        chmod(b.dir, 0o755)
        chmod(b.bundle, 0o755)
        _ = Harness.spawn(["/bin/chown", "-R", "100000:100000", b.rootfs])
        b.addMount(["destination": "/data", "type": "bind", "source": secret + "/inner", "options": ["rbind", "ro"]])
        var linux = b.config["linux"] as! [String: Any]
        linux["namespaces"] = (linux["namespaces"] as! [[String: Any]]) + [["type": "user"]]
        linux["uidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65536]]
        linux["gidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65536]]
        b.config["linux"] = linux
        let pid = try b.create("fw")
        defer { finish(b, "fw", pid) }
        let info = Harness.read("/proc/\(pid)/mountinfo") ?? ""
        let line = info.split(separator: "\n").first { $0.split(separator: " ")[4] == "/data" }
        #expect(line != nil, "\(info)")
        #expect(line.map { $0.split(separator: " ")[5].split(separator: ",").contains("ro") } == true)
        // It took the rootfs propagation (rslave by default), never a peer of the host's mount.
        #expect(line.map { !$0.contains(" shared:") } == true, "\(line ?? "")")
    }
}

private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
    let ma = UInt64(major), mi = UInt64(minor)
    return dev_t(((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff))
}

/// A static native program that writes its cwd and the credential lines of /proc/self/status
/// to the file it is given: the hook both runtimes run.
enum HookStatus {
    static let source = #"""
        #include <stdio.h>
        #include <string.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            FILE *o = fopen(argv[1], "w");
            if (!o) return 3;
            char cwd[512];
            if (!getcwd(cwd, sizeof cwd)) return 4;
            fprintf(o, "cwd=%s\n", cwd);
            FILE *f = fopen("/proc/self/status", "r");
            char line[512];
            while (f && fgets(line, sizeof line, f)) {
                if (!strncmp(line, "Uid", 3) || !strncmp(line, "Gid", 3) || !strncmp(line, "Cap", 3)
                    || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Seccomp", 7))
                    fputs(line, o);
            }
            return 0;
        }
        """#

    static let native: [UInt8] = {
        let dir = Harness.tempDir("hookst")
        defer { Harness.removeTree(dir) }
        Harness.write(dir + "/hookst.c", source)
        let r = Harness.spawn(["/usr/bin/gcc", "-static", "-O2", "-o", dir + "/hookst", dir + "/hookst.c"])
        guard r.status == 0 else { fatalError("cannot build the hook: \(r.stderr)") }
        return CGuest.readBytes(dir + "/hookst")
    }()
}

extension HookStatus {
    /// `mountin NS DIR`: joins the mount namespace NS and mounts a tmpfs on DIR there.
    static let mountIn: [UInt8] = {
        let dir = Harness.tempDir("mountin")
        defer { Harness.removeTree(dir) }
        Harness.write(dir + "/m.c", """
            #define _GNU_SOURCE
            #include <fcntl.h>
            #include <sched.h>
            #include <stdio.h>
            #include <sys/mount.h>
            int main(int argc, char **argv) {
                int fd = open(argv[1], O_RDONLY);
                if (fd < 0 || setns(fd, CLONE_NEWNS) != 0) { perror("setns"); return 1; }
                if (mount("tmpfs", argv[2], "tmpfs", 0, 0) != 0) { perror("mount"); return 2; }
                return 0;
            }
            """)
        let r = Harness.spawn(["/usr/bin/gcc", "-static", "-O2", "-o", dir + "/m", dir + "/m.c"])
        guard r.status == 0 else { fatalError("cannot build mountin: \(r.stderr)") }
        return CGuest.readBytes(dir + "/m")
    }()
}
