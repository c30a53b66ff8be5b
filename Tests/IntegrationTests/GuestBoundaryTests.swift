// The guest reaches the container's files, never an interpreter process: a hostile guest tries
// every route it knows to the memory, descriptors and credentials of its own process and of the
// other runwasm processes in its container, and to the host's /proc/sys, as root, as a non-root
// user and in a user namespace. Then the guest's view of its files is compared with a native
// process's view under runc, in the same container config.

import Foundation
import Glibc
import Testing

@Suite("guest boundary", .serialized, .timeLimit(.minutes(3)))
struct GuestBoundaryTests {
    enum Identity: String, CaseIterable, CustomStringConvertible {
        case root, nonRoot, userNamespace
        var description: String { rawValue }
    }

    /// A sandbox with the probe, a tmpfs /tmp and no masked or read-only paths at all: the
    /// boundary must hold without the help of the config.
    func probeSandbox(_ args: [String], as identity: Identity) -> Sandbox {
        let box = Sandbox(module: Probe.wasm, args: ["/app.wasm"] + args)
        box.addMount(["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]])
        Harness.mkdirs(box.rootfs + "/tmp")
        // An image's /tmp is 1777; the tmpfs over it takes that mode (as under runc), so a
        // non-root guest can make its symlinks there.
        chmod(box.rootfs + "/tmp", 0o1777)
        Harness.mkdirs(box.rootfs + "/proc")
        Harness.mkdirs(box.rootfs + "/dev")
        switch identity {
        case .root:
            break
        case .nonRoot:
            box.process["user"] = ["uid": 1000, "gid": 1000]
        case .userNamespace:
            box.useUserNamespace()
        }
        return box
    }

    static let burst = "/proc/sys/kernel/printk_ratelimit_burst"

    @Test("no route from the guest to its own process, /proc/sys or kernel memory", arguments: Identity.allCases)
    func ownProcess(_ identity: Identity) throws {
        let before = try #require(Harness.read(Self.burst)).trimmingCharacters(in: .whitespacesAndNewlines)
        let changed = String((Int(before) ?? 10) + 1)
        let box = probeSandbox(
            [
                "routes", "/proc/self", "routes", "/proc/thread-self", "routes", "/proc/1",
                "open", "/proc/self/mem", "rw", "open", "/proc/self/maps", "r",
                // the same file by other names: a directory descriptor, .. out of allowed places,
                // symlinks the guest makes, magic links, /dev/fd
                "openat", "/proc", "self/mem", "openat", "/proc/net", "../mem", "openat", "/proc/sys", "../self/mem",
                "openat", "/proc", "1/task/1/mem", "open", "/proc/self/net/../mem", "r",
                "symlink", "/proc/self/mem", "/tmp/mem", "open", "/tmp/mem", "rw",
                "symlink", "../proc/self", "/tmp/self", "open", "/tmp/self/mem", "rw",
                "open", "/dev/fd/3", "r", "open", "/proc/self/fd/3/proc/self/mem", "r",
                "open", "/proc/self", "d", "open", "/proc/self/task", "d",
                // the host's kernel
                "write", Self.burst, changed, "open", "/proc/sysrq-trigger", "w", "open", "/proc/kcore", "r",
                "all-processes",
                // what stays readable
                "read", "/proc/self/status", "read", "/proc/meminfo", "read", "/dev/stdin", "open", "/proc/self/fd/1", "w",
            ], as: identity)
        let r = box.runwasm(["run", "-b", box.bundle, "boundary-\(identity)"])
        let after = Harness.read(Self.burst)?.trimmingCharacters(in: .whitespacesAndNewlines)
        if after != before { Harness.write(Self.burst, before) }
        #expect(after == before, "the guest changed the host's \(Self.burst)")
        #expect(r.status == 0, "stderr: \(box.errors)")
        let out = box.output
        #expect(!out.contains("ROUTE"), "routes found:\n\(out)")
        for line in [
            "routes /proc/self: 0", "routes /proc/thread-self: 0", "routes /proc/1: 0",
            "open /proc/self/mem rw: EACCES", "open /proc/self/maps r: EACCES",
            "openat /proc self/mem: EACCES", "openat /proc/net ../mem: EACCES", "openat /proc/sys ../self/mem: EACCES",
            "openat /proc 1/task/1/mem: EACCES", "open /proc/self/net/../mem r: EACCES",
            "open /tmp/mem rw: EACCES", "open /tmp/self/mem rw: EACCES",
            "open /dev/fd/3 r: EACCES", "open /proc/self/fd/3/proc/self/mem r: EACCES",
            "open /proc/self d: EACCES", "open /proc/self/task d: EACCES",
            "all-processes: 0 routes in 4 directories", "read /dev/stdin: ok",
        ] {
            #expect(out.contains(line), "expected \"\(line)\" in:\n\(out)")
        }
        // procfs is read-only to the guest (a non-root guest is refused by the kernel first); the
        // sysrq trigger is missing on some kernels
        #expect(!out.contains("write \(Self.burst): ok") && out.contains("write \(Self.burst): E"), "\(out)")
        #expect(!out.contains("open /proc/sysrq-trigger w: ok") && !out.contains("open /proc/kcore r: ok"), "\(out)")
        if identity == .root {
            #expect(out.contains("write \(Self.burst): EROFS"))
            // its own stdout, reopened by name (the file belongs to host root: others may not)
            #expect(out.contains("open /proc/self/fd/1 w: ok"), "\(out)")
        }
        #expect(out.contains("read /proc/self/status: ok Name:"), "status stays readable:\n\(out)")
        #expect(out.contains("read /proc/meminfo: ok MemTotal:"), "global /proc files stay readable:\n\(out)")
    }

    /// path_open on the `/` preopen (fd 3), straight from WebAssembly: `path` with the rights
    /// to read and write and the lookup flag to follow symlinks; exits with the WASI errno (0
    /// if it opened, after trying one fd_pwrite of 8 bytes at offset 4096).
    static func rawOpen(_ path: String) -> [UInt8] {
        Guests.wasm("""
            (module
              (import "wasi_snapshot_preview1" "path_open"
                (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
              (memory (export "memory") 1)
              (data (i32.const 64) "\(path)")
              (func (export "_start")
                (local $errno i32)
                ;; dirfd 3, follow symlinks, path, no oflags, rights FD_READ|FD_SEEK|FD_WRITE, fd out at 0
                (local.set $errno (call $path_open (i32.const 3) (i32.const 1) (i32.const 64) (i32.const \(path.utf8.count))
                  (i32.const 0) (i64.const 0x46) (i64.const 0) (i32.const 0) (i32.const 0)))
                (if (i32.eqz (local.get $errno))
                  (then
                    (i32.store (i32.const 16) (i32.const 32))
                    (i32.store (i32.const 20) (i32.const 8))
                    (drop (call $fd_pwrite (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i64.const 4096) (i32.const 24)))))
                (call $proc_exit (local.get $errno))))
            """)
    }

    @Test("straight from WebAssembly, path_open of the interpreter's memory is refused", arguments: [
        "proc/self/mem", "proc/1/mem", "proc/thread-self/mem", "proc/self/task/1/mem", "proc/self/../self/mem", "dev/fd/../mem",
    ])
    func rawPathOpen(_ path: String) throws {
        let box = Sandbox(module: Self.rawOpen(path))
        Harness.mkdirs(box.rootfs + "/proc")
        Harness.mkdirs(box.rootfs + "/dev")
        let r = box.runwasm(["run", "-b", box.bundle, "raw"])
        #expect(r.status == 2, "WASI EACCES (2) for \(path); stderr: \(box.errors)")
    }

    @Test("no route between the container's process and an exec'd one, either way")
    func execProcesses() throws {
        let box = probeSandbox(["wait", "all-processes"], as: .root)
        let fifo = box.dir + "/init-stdin"
        mkfifo(fifo, 0o600)
        let holder = open(fifo, O_RDWR | O_CLOEXEC)
        try #require(holder >= 0)
        var holderOpen = true
        defer { if holderOpen { close(holder) } }
        box.writeConfig()
        let pidFile = box.dir + "/init.pid"
        let created = Harness.spawn(
            [Harness.binary, "--root", box.root, "create", "--bundle", box.bundle, "--pid-file", pidFile, "boundary-exec"],
            stdoutPath: box.stdout, stderrPath: box.stderr, stdinPath: fifo)
        try #require(created.status == 0, "create: \(box.errors)")
        let initPid = try #require(Harness.read(pidFile).flatMap { pid_t($0) })
        Harness.adopt(initPid)
        defer {
            _ = Harness.spawn([Harness.binary, "--root", box.root, "delete", "--force", "boundary-exec"])
            _ = Harness.waitFor(initPid, timeout: 5)
        }
        try #require(box.runwasmCaptured(["start", "boundary-exec"]).status == 0)
        try #require(Harness.eventually { box.output.contains("waiting") })

        // A second guest, exec'd and left waiting on its stdin, and a third that attacks both.
        let execFifo = box.dir + "/exec-stdin"
        mkfifo(execFifo, 0o600)
        let execHolder = open(execFifo, O_RDWR | O_CLOEXEC)
        let execOut = box.dir + "/exec-out"
        let execPidFile = box.dir + "/exec.pid"
        let waiting = Harness.spawn(
            [Harness.binary, "--root", box.root, "exec", "-d", "--pid-file", execPidFile, "boundary-exec", "/app.wasm", "wait"],
            stdoutPath: execOut, stderrPath: box.dir + "/exec-err", stdinPath: execFifo)
        try #require(waiting.status == 0, "exec -d: \(Harness.read(box.dir + "/exec-err") ?? "")")
        let execPid = try #require(Harness.read(execPidFile).flatMap { pid_t($0) })
        Harness.adopt(execPid)
        defer {
            // The exec'd guest (a child of this process) ends at the end of its stdin, or was
            // killed with the rest of the pid namespace when the container's guest ended.
            close(execHolder)
            _ = Harness.waitFor(execPid, timeout: 10)
        }
        try #require(Harness.eventually { (Harness.read(execOut) ?? "").contains("waiting") })

        let attack = box.runwasmCaptured(["exec", "boundary-exec", "/app.wasm", "all-processes"])
        #expect(attack.status == 0, "exec: \(attack.stderr)")
        #expect(!attack.stdout.contains("ROUTE"), "an exec'd guest reached another process:\n\(attack.stdout)")
        // pid 1, the waiting exec'd process and the attacker itself, each with its task directory
        #expect(attack.stdout.contains("all-processes: 0 routes in 8 directories"), "\(attack.stdout)")

        // Now the container's own guest attacks the two others (the waiting one is still there).
        close(holder)
        holderOpen = false
        try #require(Harness.eventually { box.output.contains("all-processes:") })
        #expect(!box.output.contains("ROUTE"), "the container's guest reached an exec'd process:\n\(box.output)")
        #expect(box.output.contains("all-processes: 0 routes in 6 directories"), "\(box.output)")
    }
}

/// The guest's files against a native process's, both in the same container config: runc with a
/// native static build of the probe, runwasm with its WASI build.
@Suite("guest files against runc", .serialized, .timeLimit(.minutes(3)))
struct GuestFilesDifferentialTests {
    struct Outcome {
        var runc: String
        var runwasm: String
        /// "path mode" of each file either made in the rootfs, sorted.
        var runcFiles: [String]
        var runwasmFiles: [String]
    }

    /// Runs the same config under runc (native probe) and runwasm (Wasm probe), removing what the
    /// first made before the second runs.
    func compare(_ setup: (Sandbox) -> Void, _ args: [String]) throws -> Outcome {
        let box = Sandbox(module: Probe.wasm)
        Harness.write(box.rootfs + "/probe", Probe.native, mode: 0o755)
        Harness.mkdirs(box.rootfs + "/data")
        Harness.mkdirs(box.rootfs + "/proc")
        Harness.mkdirs(box.rootfs + "/dev")
        Harness.write(box.rootfs + "/data/file", "contents")
        chmod(box.rootfs + "/data", 0o755)
        symlink("/data/file", box.rootfs + "/abs-link")
        symlink("/data", box.rootfs + "/abs-dir")
        setup(box)
        func entries() -> [String] {
            let found = Harness.spawn(["/usr/bin/find", box.rootfs, "-mindepth", "1", "-printf", "%P %m\\n"])
            return found.stdout.split(separator: "\n").map(String.init).sorted()
        }
        let before = Set(entries().map { $0.split(separator: " ")[0] })
        func made() -> [String] { entries().filter { !before.contains($0.split(separator: " ")[0]) } }
        func clean() {
            for entry in made() { _ = Harness.spawn(["/bin/rm", "-rf", box.rootfs + "/" + entry.split(separator: " ")[0]]) }
        }

        box.process["args"] = ["/probe"] + args
        box.writeConfig()
        // Both runtimes are called with umask 000: what the container gets must not depend on it.
        let runc = Harness.spawn(
            ["/bin/sh", "-c", "umask 000; exec /usr/sbin/runc --root \"$1\" run -b \"$2\" native", "sh", box.dir + "/runc-root", box.bundle],
            stdoutPath: box.dir + "/runc-out", stderrPath: box.dir + "/runc-err")
        try #require(runc.status == 0, "runc: \(Harness.read(box.dir + "/runc-err") ?? "")")
        let runcFiles = made()
        clean()

        box.process["args"] = ["/app.wasm"] + args
        box.rewriteConfig()
        let r = Harness.spawn(
            ["/bin/sh", "-c", "umask 000; exec \"$1\" --root \"$2\" run -b \"$3\" wasm", "sh", Harness.binary, box.root, box.bundle],
            stdoutPath: box.stdout, stderrPath: box.stderr)
        try #require(r.status == 0, "runwasm: \(box.errors)")
        return Outcome(runc: Harness.read(box.dir + "/runc-out") ?? "", runwasm: box.output, runcFiles: runcFiles, runwasmFiles: made())
    }

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test("absolute symlinks resolve from the container's root; stdin from /dev/null is no terminal")
    func symlinksAndTerminal() throws {
        let o = try compare({ _ in }, [
            "read", "/abs-link", "stat", "/abs-link", "read", "/abs-dir/file", "read", "/dev/stdin", "isatty", "0",
            "read", "/dev/null",
        ])
        #expect(lines(o.runwasm) == lines(o.runc), "runc:\n\(o.runc)\nrunwasm:\n\(o.runwasm)")
        #expect(o.runwasm.contains("read /abs-link: ok contents"))
        #expect(o.runwasm.contains("isatty 0: 0"))
    }

    @Test("creating a file gives the kernel's errno: EROFS on a read-only root")
    func readOnlyRoot() throws {
        let o = try compare({ box in
            box.config["root"] = ["path": "rootfs", "readonly": true]
        }, ["creat", "/data/new", "mkdir", "/data/dir", "write", "/data/file", "x", "read", "/data/file"])
        #expect(lines(o.runwasm) == lines(o.runc), "runc:\n\(o.runc)\nrunwasm:\n\(o.runwasm)")
        #expect(o.runwasm.contains("creat /data/new: EROFS"))
    }

    @Test("a non-root user gets EACCES in a root-owned directory")
    func nonRootUser() throws {
        let o = try compare({ box in
            box.process["user"] = ["uid": 1000, "gid": 1000]
        }, ["creat", "/data/new", "mkdir", "/data/dir", "write", "/data/file", "x", "read", "/data/file"])
        #expect(lines(o.runwasm) == lines(o.runc), "runc:\n\(o.runc)\nrunwasm:\n\(o.runwasm)")
        #expect(o.runwasm.contains("creat /data/new: EACCES"))
    }

    @Test("the environment in the config's order, one entry a name, and HOME from the image's passwd", arguments: [0, 1000, 4242])
    func environment(_ uid: Int) throws {
        let o = try compare({ box in
            box.process["env"] = ["B=1", "A=2", "PWD=/", "C=3", "B=4"]
            box.process["user"] = ["uid": uid, "gid": uid]
            Harness.mkdirs(box.rootfs + "/etc")
            Harness.write(box.rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n")
        }, ["env"])
        #expect(lines(o.runwasm) == lines(o.runc), "runc:\n\(o.runc)\nrunwasm:\n\(o.runwasm)")
        #expect(o.runwasm.contains("env HOME=\(uid == 0 ? "/root" : uid == 1000 ? "/home/u" : "/")\n"), "\(o.runwasm)")
    }

    @Test("files and directories the guest creates get 0666 and 0777 less the umask (0022 when the config has none)",
          arguments: [nil, 0o022, 0o027, 0o002])
    func creationModes(_ umask: Int?) throws {
        let o = try compare({ box in
            if let umask {
                var user = box.process["user"] as! [String: Any]
                user["umask"] = umask
                box.process["user"] = user
            }
            chmod(box.rootfs + "/data", 0o777)
        }, ["creat", "/data/new", "mkdir", "/data/dir"])
        #expect(o.runwasmFiles == o.runcFiles, "runc made \(o.runcFiles), runwasm \(o.runwasmFiles)")
        #expect(o.runwasmFiles.contains("data/new \(String(0o666 & ~(umask ?? 0o022), radix: 8))"))
    }
}
