import Glibc
import Testing

/// What a C program compiled to wasm32-wasi sees inside the container.
@Suite("the guest's view", .serialized, .timeLimit(.minutes(2)))
struct GuestTests {
    @Test("argv is process.args; the environment is process.env alone, the last duplicate winning")
    func argsAndEnv() {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "args", "two words", "ü"])
        box.process["env"] = ["PATH=/usr/bin", "A=1", "A=2", "EMPTY="]
        let r = box.runwasm(["run", "-b", box.bundle, "env"], environment: ["PATH=/usr/bin:/bin", "LEAK_CHECK=host-secret"])
        #expect(r.status == 0)
        let lines = Set(box.output.split(separator: "\n").map(String.init))
        #expect(lines.contains("arg[0]=/app.wasm"))
        #expect(lines.contains("arg[1]=args"))
        #expect(lines.contains("arg[2]=two words"))
        #expect(lines.contains("arg[3]=ü"))
        #expect(lines.contains("env A=2"))
        #expect(!lines.contains("env A=1"))
        #expect(lines.contains("env EMPTY="))
        #expect(lines.contains("env PWD=/"), "PWD tells the guest its working directory")
        #expect(!box.output.contains("host-secret"), "runwasm's own environment does not leak in")
    }

    @Test("the entrypoint is found through PATH and relative to cwd")
    func entrypointResolution() {
        let box = Sandbox(args: ["checker", "exit", "5"])
        Harness.mkdirs(box.rootfs + "/opt/bin")
        Harness.write(box.rootfs + "/opt/bin/checker", CGuest.module, mode: 0o644)
        box.process["env"] = ["PATH=/usr/bin:/opt/bin"]
        #expect(box.runwasm(["run", "-b", box.bundle, "path"]).status == 5)

        let rel = Sandbox(args: ["./bin/checker", "exit", "6"])
        Harness.mkdirs(rel.rootfs + "/opt/bin")
        Harness.write(rel.rootfs + "/opt/bin/checker", CGuest.module)
        rel.process["cwd"] = "/opt"
        #expect(rel.runwasm(["run", "-b", rel.bundle, "rel"]).status == 6)
    }

    @Test("files in the rootfs and in a bind mount can be read and written, relative to cwd")
    func files() {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "cd", "read", "note.txt", "/data/shared.txt", "/etc/motd"])
        Harness.mkdirs(box.rootfs + "/work")
        Harness.mkdirs(box.rootfs + "/etc")
        Harness.write(box.rootfs + "/work/note.txt", "in cwd")
        Harness.write(box.rootfs + "/etc/motd", "in rootfs")
        let shared = box.dir + "/shared"
        Harness.mkdirs(shared)
        Harness.write(shared + "/shared.txt", "from host")
        box.addMount(["destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "rw"]])
        box.process["cwd"] = "/work"
        #expect(box.runwasm(["run", "-b", box.bundle, "files"]).status == 0)
        #expect(box.output.contains("note.txt: ok in cwd"))
        #expect(box.output.contains("/data/shared.txt: ok from host"))
        #expect(box.output.contains("/etc/motd: ok in rootfs"))

        let writer = Sandbox(module: CGuest.module, args: ["/app.wasm", "write", "/data/out.txt", "written by wasm"])
        writer.addMount(["destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "rw"]])
        #expect(writer.runwasm(["run", "-b", writer.bundle, "write"]).status == 0)
        #expect(Harness.read(shared + "/out.txt") == "written by wasm", "a write lands on the host through the bind mount")
    }

    @Test("a read-only root and a read-only bind mount refuse writes")
    func readOnly() {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "write", "/new.txt", "x"])
        box.config["root"] = ["path": "rootfs", "readonly": true]
        #expect(box.runwasm(["run", "-b", box.bundle, "ro"]).status == 1)
        #expect(box.output.hasPrefix("/new.txt: error"), "output: \(box.output)")
        #expect(!Harness.exists(box.rootfs + "/new.txt"))

        let shared = box.dir + "/ro-shared"
        Harness.mkdirs(shared)
        let bind = Sandbox(module: CGuest.module, args: ["/app.wasm", "write", "/data/x.txt", "x"])
        bind.addMount(["destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro"]])
        #expect(bind.runwasm(["run", "-b", bind.bundle, "robind"]).status == 1)
        #expect(!Harness.exists(shared + "/x.txt"))
    }

    @Test("`..` and symlinks cannot reach files outside the container")
    func escapes() {
        let box = Sandbox(
            module: CGuest.module,
            args: ["/app.wasm", "read", "/../secret.txt", "../../secret.txt", "/abs-link", "/rel-link", "/etc/hostname-here"])
        // A file beside the rootfs on the host, which the guest must never read.
        Harness.write(box.bundle + "/secret.txt", "HOST-SECRET")
        symlink(box.bundle + "/secret.txt", box.rootfs + "/abs-link")
        symlink("../../../../secret.txt", box.rootfs + "/rel-link")
        Harness.mkdirs(box.rootfs + "/etc")
        Harness.write(box.rootfs + "/etc/hostname-here", "inside")
        let r = box.runwasm(["run", "-b", box.bundle, "escape"])
        #expect(r.status == 1, "the escapes fail")
        #expect(!box.output.contains("HOST-SECRET"), "output: \(box.output)")
        #expect(box.output.contains("/etc/hostname-here: ok inside"))
        #expect(box.output.contains("/abs-link: error"))
        #expect(box.output.contains("/rel-link: error"))
    }

    @Test("the container has its own hostname and namespaces")
    func namespaces() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.create("ns")
        for ns in ["pid", "net", "ipc", "uts", "mnt"] {
            #expect(readlinkString("/proc/\(pid)/ns/\(ns)") != readlinkString("/proc/self/ns/\(ns)"), "\(ns) namespace is new")
        }
        #expect(readlinkString("/proc/\(pid)/root") == "/", "the process is pivoted into its rootfs")
        let status = Harness.read("/proc/\(pid)/status") ?? ""
        #expect(status.contains("NSpid:\t\(pid)\t1"), "the guest is PID 1 of its pid namespace")
        let hostname = Harness.spawn(["/usr/bin/nsenter", "--uts", "-t", String(pid), "/bin/hostname"])
        #expect(hostname.stdout == "wasm-box\n")
        box.runwasm(["delete", "ns"])
        _ = Harness.waitFor(pid)
    }

    func readlinkString(_ path: String) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    @Test("containerd's default mounts (shm, mqueue, sysfs, cgroup) are set up")
    func defaultMounts() throws {
        let box = Sandbox(module: Guests.spin)
        box.addMount(["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]])
        box.addMount(["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]])
        box.addMount(["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]])
        box.addMount(["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]])
        let pid = try box.create("mounts")
        let mounts = Harness.read("/proc/\(pid)/mounts") ?? ""
        for (target, type) in [("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs")] {
            #expect(mounts.contains(" \(target) \(type) "), "\(target) is a \(type) mount: \(mounts)")
        }
        #expect(mounts.contains(" /sys/fs/cgroup "))
        // The cgroup mount shows the container's own cgroup only, read-only at every level: a
        // guest running as root must not reach the host's cgroups (or raise its own limits).
        let hostIsV1 = Harness.exists("/sys/fs/cgroup/memory/cgroup.procs")
        let cgroupMounts = mounts.split(separator: "\n").filter { $0.contains(" /sys/fs/cgroup") }
        #expect(cgroupMounts.count > 1 || !hostIsV1)
        for line in cgroupMounts {
            #expect(line.split(separator: " ")[3].hasPrefix("ro,"), "read-only: \(line)")
        }
        if hostIsV1 {
            #expect(Harness.read("/proc/\(pid)/root/sys/fs/cgroup/memory/cgroup.procs") == "\(pid)\n", "its own memory cgroup")
        }
        #expect(mounts.split(separator: "\n").first { $0.contains(" /sys sysfs ") }?.contains("ro,") == true, "sysfs is read-only")
        for device in ["null", "zero", "full", "random", "urandom", "tty"] {
            var st = stat()
            #expect(stat("/proc/\(pid)/root/dev/\(device)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR, "/dev/\(device)")
        }
        box.runwasm(["delete", "mounts"])
        _ = Harness.waitFor(pid)
    }

    @Test("a namespace given by path is joined, not created")
    func joinNamespaceByPath() throws {
        // A process holding a network namespace of its own, as a CNI plugin would leave one.
        let holder = Harness.start(["/usr/bin/unshare", "--net", "/bin/sleep", "60"])
        defer {
            kill(holder, SIGKILL)
            _ = Harness.waitFor(holder)
        }
        let hostNet = readlinkString("/proc/self/ns/net")
        #expect(Harness.eventually { readlinkString("/proc/\(holder)/ns/net") != hostNet })
        let wanted = readlinkString("/proc/\(holder)/ns/net")

        let box = Sandbox(module: Guests.spin)
        box.config["linux"] = ["namespaces": [["type": "pid"], ["type": "mount"], ["type": "uts"], ["type": "network", "path": "/proc/\(holder)/ns/net"]]]
        let pid = try box.create("join")
        #expect(readlinkString("/proc/\(pid)/ns/net") == wanted)
        #expect(readlinkString("/proc/\(pid)/ns/ipc") == readlinkString("/proc/self/ns/ipc"), "no ipc namespace was asked for")
        box.runwasm(["delete", "join"])
        _ = Harness.waitFor(pid)
    }
}
