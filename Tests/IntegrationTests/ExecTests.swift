import CSandbox
import Foundation
import Glibc
import Testing

@Suite("exec", .serialized, .timeLimit(.minutes(2)))
struct ExecTests {
    /// A running container whose rootfs also holds the C checker at /checker.wasm.
    func runningBox(_ id: String) throws -> (Sandbox, pid_t) {
        let box = Sandbox(module: Guests.spin)
        Harness.write(box.rootfs + "/checker.wasm", CGuest.module)
        Harness.mkdirs(box.rootfs + "/work")
        Harness.write(box.rootfs + "/work/note.txt", "in work")
        let pid = try box.create(id)
        try #require(box.runwasm(["start", id]).status == 0)
        try #require(Harness.eventually { box.output.contains("running") })
        return (box, pid)
    }

    func finish(_ box: Sandbox, _ id: String, _ pid: pid_t) {
        Harness.reapExecZombies()
        box.runwasm(["delete", "--force", id])
        _ = Harness.waitFor(pid, timeout: 5)
    }

    @Test("argv form in the foreground: the guest's exit code, --env and --cwd")
    func argvForm() throws {
        let (box, pid) = try runningBox("e1")
        let r = box.runwasmCaptured(["exec", "--env", "EXTRA=1", "--cwd", "/work", "e1", "/checker.wasm", "args", "x"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("arg[2]=x"))
        #expect(r.stdout.contains("env EXTRA=1"))
        #expect(r.stdout.contains("env PWD=/work"))
        let code = box.runwasmCaptured(["exec", "e1", "/checker.wasm", "exit", "42"])
        #expect(code.status == 42)
        let relative = box.runwasmCaptured(["exec", "--cwd", "/work", "e1", "/checker.wasm", "cd", "read", "note.txt"])
        #expect(relative.stdout.contains("note.txt: ok in work"))
        finish(box, "e1", pid)
    }

    @Test("--process form, detached, with a pid file: the process joins the container")
    func processForm() throws {
        let (box, pid) = try runningBox("e2")
        let spin = box.rootfs + "/spin.wasm"
        Harness.write(spin, Guests.spin)
        let processFile = box.dir + "/process.json"
        Harness.write(processFile, #"{"args":["/spin.wasm"],"env":["A=b"],"cwd":"/","user":{"uid":0,"gid":0}}"#)
        let pidFile = box.dir + "/exec.pid"
        let r = box.runwasm(["exec", "--process", processFile, "--detach", "--pid-file", pidFile, "e2"])
        #expect(r.status == 0, "stderr: \(box.errors)")
        let execPid = try #require(pid_t(Harness.read(pidFile) ?? ""), "pid file, no newline")
        #expect(Harness.parentPid(of: execPid) == getpid(), "a detached exec is the caller's child")
        for ns in ["pid", "net", "ipc", "uts", "mnt"] {
            #expect(GuestTests().readlinkString("/proc/\(execPid)/ns/\(ns)") == GuestTests().readlinkString("/proc/\(pid)/ns/\(ns)"), "\(ns)")
        }
        #expect(Harness.read("/proc/\(execPid)/cgroup") == Harness.read("/proc/\(pid)/cgroup"), "same cgroup")
        let status = Harness.read("/proc/\(execPid)/status") ?? ""
        #expect(status.contains("Seccomp:\t2"))
        #expect(status.contains("NoNewPrivs:\t1"))
        let ps = box.runwasmCaptured(["ps", "--format", "json", "e2"]).stdout
        #expect(ps == "[\(min(pid, execPid)),\(max(pid, execPid))]\n")
        #expect(box.runwasm(["kill", "e2", "KILL"]).status == 0)
        #expect(Harness.waitFor(execPid, timeout: 5) == 137, "the exec'd process ends with the container's pid namespace")
        _ = Harness.waitFor(pid, timeout: 5)
        box.runwasm(["delete", "e2"])
    }

    @Test("a failed exec exits 255 and writes no pid file", arguments: ["missing-module", "stopped", "bad-json", "no-command"])
    func failures(kind: String) throws {
        let (box, pid) = try runningBox("e3")
        let pidFile = box.dir + "/bad.pid"
        var argv = ["exec", "--detach", "--pid-file", pidFile]
        switch kind {
        case "missing-module": argv += ["e3", "/nope.wasm"]
        case "stopped":
            box.runwasm(["kill", "e3", "KILL"])
            _ = Harness.waitFor(pid, timeout: 5)
            argv += ["e3", "/checker.wasm"]
        case "bad-json":
            Harness.write(box.dir + "/p.json", #"{"args":"notalist"}"#)
            argv += ["--process", box.dir + "/p.json", "e3"]
        default: argv += ["e3"]
        }
        let r = box.runwasmCaptured(argv)
        #expect(r.status == 255)
        #expect(!Harness.exists(pidFile))
        // The failed process (if one was made) is this caller's child: reap it, as conmon would.
        Harness.reapExecZombies()
        switch kind {
        case "missing-module": #expect(r.stderr.contains("/nope.wasm: no such file or directory"))
        case "stopped": #expect(r.stderr.contains("cannot exec in a stopped container"))
        case "bad-json": #expect(r.stderr.contains("process.args: expected an array"))
        default: #expect(r.stderr.contains("exec needs --process or a command"))
        }
        finish(box, "e3", pid)
    }

    @Test("--tty with --console-socket sends the exec'd process's pty master")
    func tty() throws {
        let (box, pid) = try runningBox("e4")
        Harness.write(box.rootfs + "/hello.wasm", Guests.hello("exec tty\n"))
        let socketPath = box.dir + "/exec-console.sock"
        let listener = try Harness.listenUnix(socketPath)
        defer { close(listener) }
        let pidFile = box.dir + "/tty.pid"
        let r = box.runwasm(["exec", "--detach", "--tty", "--console-socket", socketPath, "--pid-file", pidFile, "e4", "/hello.wasm"])
        #expect(r.status == 0, "stderr: \(box.errors)")
        let conn = accept(listener, nil, nil)
        try #require(conn >= 0)
        defer { close(conn) }
        var data = [UInt8](repeating: 0, count: 256)
        var master: Int32 = -1
        _ = data.withUnsafeMutableBytes { rw_recv_with_fd(conn, $0.baseAddress, $0.count, &master) }
        try #require(master >= 0)
        defer { close(master) }
        let execPid = try #require(pid_t(Harness.read(pidFile) ?? ""))
        #expect(Harness.waitFor(execPid) == 0)
        var out = [UInt8](repeating: 0, count: 64)
        let n = out.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
        #expect(n > 0 && String(decoding: out[0..<n], as: UTF8.self) == "exec tty\r\n")
        finish(box, "e4", pid)
    }
}
