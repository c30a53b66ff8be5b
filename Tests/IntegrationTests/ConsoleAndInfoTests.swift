import CSandbox
import Foundation
import Glibc
import Testing

@Suite("console, info verbs and the pod sandbox", .serialized, .timeLimit(.minutes(2)))
struct ConsoleAndInfoTests {
    @Test("terminal: the pty master arrives over --console-socket as one SCM_RIGHTS fd, with the config's size")
    func consoleSocket() throws {
        let box = Sandbox(module: Guests.hello())
        box.process["terminal"] = true
        box.process["consoleSize"] = ["height": 33, "width": 101]
        let socketPath = box.dir + "/console.sock"
        let listener = try Harness.listenUnix(socketPath)
        defer { close(listener) }
        let pid = try box.create("tty", extra: ["--console-socket", socketPath])
        #expect(box.output == "", "the guest's output goes to the pty, not to create's stdout")

        let conn = accept(listener, nil, nil)
        try #require(conn >= 0)
        defer { close(conn) }
        var data = [UInt8](repeating: 0, count: 4096)
        var master: Int32 = -1
        let n = data.withUnsafeMutableBytes { rw_recv_with_fd(conn, $0.baseAddress, $0.count, &master) }
        #expect(n > 0, "the message carries a name")
        try #require(master >= 0, "one fd arrived")
        defer { close(master) }
        var rows: UInt16 = 0
        var cols: UInt16 = 0
        #expect(rw_get_window_size(master, &rows, &cols) == 0)
        #expect(rows == 33 && cols == 101)

        #expect(box.runwasm(["start", "tty"]).status == 0)
        #expect(Harness.waitFor(pid) == 0)
        var out = [UInt8](repeating: 0, count: 256)
        let got = out.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
        try #require(got > 0)
        #expect(String(decoding: out[0..<got], as: UTF8.self) == "hello from wasm\r\n", "the guest wrote to the pty")
        box.runwasm(["delete", "tty"])
    }

    @Test("--console-socket without process.terminal is refused")
    func consoleWithoutTerminal() {
        let box = Sandbox(module: Guests.hello())
        let r = box.runwasm(["create", "-b", box.bundle, "--console-socket", box.dir + "/x.sock", "c"])
        #expect(r.status == 1)
        #expect(box.errors.contains("--console-socket was given but process.terminal is false"))
        #expect(box.leftovers.isEmpty)
    }

    @Test("features prints valid JSON on stdout and nothing on stderr")
    func features() throws {
        let r = Harness.spawn([Harness.binary, "features"])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        let json = try #require(Harness.json(r.stdout))
        #expect(json["ociVersionMin"] as? String == "1.0.0")
        #expect((json["hooks"] as? [String])?.contains("createContainer") == true)
        let annotations = try #require(json["annotations"] as? [String: String])
        #expect(annotations["dev.runwasm.wasm"] == "true")
        #expect(annotations["dev.runwasm.wasmkit.version"] == "0.4.2")
    }

    @Test("--version and -v print runc's layout")
    func version() {
        for flag in ["--version", "-v"] {
            let r = Harness.spawn([Harness.binary, flag])
            #expect(r.status == 0)
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("runwasm version ") == true)
            #expect(lines.contains { $0.hasPrefix("commit: ") })
            #expect(lines.contains { $0.hasPrefix("spec: 1.") })
        }
    }

    @Test("checkpoint and restore fail, even with --help")
    func unsupported() {
        for argv in [["checkpoint", "--help"], ["checkpoint", "x"], ["--root", "/tmp/r", "restore", "--help"]] {
            let r = Harness.spawn([Harness.binary] + argv)
            #expect(r.status != 0, "\(argv)")
            #expect(r.stderr.contains("not supported"))
        }
        let exec = Harness.spawn([Harness.binary, "--root", "/tmp/runwasm-test-none", "exec", "--process", "/p.json", "x"])
        #expect(exec.status == 255, "a failed exec exits 255")
        #expect(exec.stderr.contains("container does not exist"))
        let unknown = Harness.spawn([Harness.binary, "frobnicate"])
        #expect(unknown.status != 0)
    }

    @Test("spec writes a starter config that runs /app.wasm, and will not overwrite it")
    func spec() throws {
        let box = Sandbox(module: Guests.hello("from spec\n"))
        let r = Harness.spawn([Harness.binary, "spec", "--bundle", box.bundle])
        #expect(r.status == 0)
        let json = try #require(Harness.json(Harness.read(box.bundle + "/config.json") ?? ""))
        #expect(((json["process"] as? [String: Any])?["args"] as? [String]) == ["/app.wasm"])
        #expect(Harness.spawn([Harness.binary, "spec", "--bundle", box.bundle]).status == 1)
        let run = Harness.spawn([Harness.binary, "--root", box.root, "run", "--bundle", box.bundle, "spec1"])
        #expect(run.status == 0)
        #expect(run.stdout == "from spec\n")
        #expect(run.stderr == "")
    }

    @Test("a Kubernetes pod sandbox runs the built-in pause, needs no module, and ends on SIGTERM", arguments: [
        "io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType",
    ])
    func podSandbox(annotation: String) throws {
        let box = Sandbox(args: ["/pause"])
        box.config["annotations"] = [annotation: "sandbox"]
        let pid = try box.create("pod")
        #expect(box.runwasm(["start", "pod"]).status == 0)
        usleep(100_000)
        #expect(box.state("pod")?["status"] as? String == "running")
        #expect(box.runwasm(["kill", "pod", "TERM"]).status == 0)
        #expect(Harness.waitFor(pid, timeout: 5) == 143)
        #expect(box.runwasm(["delete", "pod"]).status == 0)
    }

    @Test("relative --pid-file, --bundle and --root resolve against the caller's cwd")
    func relativePaths() throws {
        let box = Sandbox(module: Guests.hello())
        box.rewriteConfig()
        let r = Harness.spawn(
            ["/bin/sh", "-c", "cd \"$1\" && exec \"$2\" --root root create -b bundle --pid-file rel.pid rel", "sh", box.dir, Harness.binary],
            stdoutPath: box.stdout, stderrPath: box.stderr)
        #expect(r.status == 0, "stderr: \(box.errors)")
        let containerPid = try #require(pid_t(Harness.read(box.dir + "/rel.pid") ?? ""))
        #expect(box.state("rel")?["bundle"] as? String == box.bundle)
        box.runwasm(["delete", "rel"])
        _ = Harness.waitFor(containerPid)
    }
}
