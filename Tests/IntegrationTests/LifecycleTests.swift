import Glibc
import Testing

@Suite("lifecycle through the CLI", .serialized, .timeLimit(.minutes(2)))
struct LifecycleTests {
    @Test("run prints the guest's output and exits with its status")
    func runHello() {
        let box = Sandbox(module: Guests.hello())
        let r = box.runwasm(["run", "--bundle", box.bundle, "hello"])
        #expect(r.status == 0)
        #expect(box.output == "hello from wasm\n")
        #expect(box.errors == "")
        #expect(box.leftovers.isEmpty, "run deletes the container when it ends")
    }

    @Test("exit codes propagate", arguments: [0, 1, 42, 255])
    func exitCodes(code: Int) {
        let box = Sandbox(module: Guests.exit(code))
        #expect(box.runwasm(["run", "-b", box.bundle, "exit\(code)"]).status == Int32(code))
    }

    @Test("returning from _start exits 0; proc_exit after output keeps the output")
    func returnAndExitAfterOutput() {
        let box = Sandbox(module: Guests.hello("bye\n", exit: 7))
        #expect(box.runwasm(["run", "-b", box.bundle, "bye"]).status == 7)
        #expect(box.output == "bye\n")
    }

    @Test("a trap exits 134 with one line on stderr")
    func trap() {
        let box = Sandbox(module: Guests.trap)
        let r = box.runwasm(["run", "-b", box.bundle, "trap"])
        #expect(r.status == 134)
        let lines = box.errors.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("runwasm: guest trap:") == true, "stderr: \(box.errors)")
        #expect(lines.first?.contains("unreachable") == true)
    }

    @Test("create leaves a waiting process: pid file, parent is the caller, no user code yet")
    func createThenStart() throws {
        let box = Sandbox(module: Guests.hello())
        let pidFile = box.dir + "/init.pid"
        let r = box.runwasm(["create", "--bundle", box.bundle, "--pid-file", pidFile, "c1"])
        #expect(r.status == 0)
        #expect(box.errors == "", "create writes nothing to stderr")
        let text = try #require(Harness.read(pidFile))
        #expect(text.allSatisfy { $0.isNumber }, "pid file holds digits only, no newline: \(text.debugDescription)")
        let pid = try #require(pid_t(text))
        #expect(Harness.isAlive(pid))
        #expect(Harness.parentPid(of: pid) == getpid(), "the container process is the caller's child")
        #expect(box.output == "", "no user code before start")

        let state = try #require(box.state("c1"))
        #expect(state["status"] as? String == "created")
        #expect(state["pid"] as? Int == Int(pid))
        #expect(state["id"] as? String == "c1")
        #expect(state["bundle"] as? String == box.bundle)
        #expect(state["rootfs"] as? String == box.rootfs)
        #expect(state["ociVersion"] as? String != nil)
        #expect((state["created"] as? String)?.hasSuffix("Z") == true)

        let start = box.runwasm(["start", "c1"])
        #expect(start.status == 0)
        #expect(Harness.waitFor(pid) == 0, "the caller reaps the guest's exit status")
        #expect(box.output == "hello from wasm\n")
        #expect(box.state("c1")?["status"] as? String == "stopped")
        #expect(box.state("c1")?["pid"] as? Int == 0)
        #expect(box.runwasm(["delete", "c1"]).status == 0)
        #expect(box.leftovers.isEmpty)
    }

    @Test("a container left waiting, whose program pages were given back, still runs its guest")
    func idleThenStart() throws {
        let box = Sandbox(module: Guests.hello())
        let pid = try box.create("idle")
        // Past the 100 ms after which a waiting container drops its program pages.
        usleep(400_000)
        #expect(Harness.isAlive(pid))
        #expect(box.runwasm(["start", "idle"]).status == 0)
        #expect(Harness.waitFor(pid) == 0)
        #expect(box.output == "hello from wasm\n")
        #expect(box.runwasm(["delete", "idle"]).status == 0)
    }

    @Test("state output is runc's shape: field order, two-space indent, no trailing newline")
    func stateBytes() throws {
        let box = Sandbox(module: Guests.hello())
        box.config["annotations"] = ["b": "2", "a": "1"]
        let pid = try box.create("shape")
        let r = box.runwasmCaptured(["state", "shape"])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        #expect(!r.stdout.hasSuffix("\n"))
        let keys = r.stdout.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  \""), !line.hasPrefix("    ") else { return nil }
            return String(line.dropFirst(3).prefix { $0 != "\"" })
        }
        #expect(keys == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"])
        #expect(r.stdout.contains("\n  \"pid\": \(pid),\n"))
        #expect(r.stdout.contains("\"annotations\": {\n    \"a\": \"1\",\n    \"b\": \"2\"\n  },"))
        box.runwasm(["delete", "--force", "shape"])
        _ = Harness.waitFor(pid)
    }

    @Test("a module's start section does not run before start")
    func startSectionDeferred() throws {
        let box = Sandbox(module: Guests.startSection)
        let pid = try box.create("ss")
        #expect(box.output == "")
        #expect(box.runwasm(["start", "ss"]).status == 0)
        #expect(Harness.waitFor(pid) == 0)
        #expect(box.output == "start section ran\n")
        box.runwasm(["delete", "ss"])
    }

    @Test("SIGTERM ends a running guest at once with 143, also as PID 1 of its namespace")
    func sigterm() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.create("term")
        #expect(box.runwasm(["start", "term"]).status == 0)
        #expect(Harness.eventually { box.output == "running\n" })
        #expect(box.state("term")?["status"] as? String == "running")
        #expect(box.runwasm(["kill", "term", "15"]).status == 0)
        #expect(Harness.waitFor(pid, timeout: 5) == 143)
        #expect(box.state("term")?["status"] as? String == "stopped")
        #expect(box.runwasm(["delete", "term"]).status == 0)
    }

    @Test("SIGKILL by name, and SIGINT by SIG-name, end a guest", arguments: [("KILL", Int32(137)), ("SIGINT", Int32(130)), ("sigterm", Int32(143))])
    func killByName(signal: String, status: Int32) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.create("k")
        #expect(box.runwasm(["start", "k"]).status == 0)
        #expect(box.runwasm(["kill", "k", signal]).status == 0)
        #expect(Harness.waitFor(pid, timeout: 5) == status)
        box.runwasm(["delete", "k"])
    }

    @Test("kill with no signal sends SIGTERM; kill of a created container works too")
    func killDefault() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.create("kd")
        #expect(box.runwasm(["kill", "kd"]).status == 0)
        #expect(Harness.waitFor(pid, timeout: 5) == 143)
        #expect(box.output == "", "the guest never ran")
        box.runwasm(["delete", "kd"])
    }

    @Test("run forwards SIGTERM to the guest and exits 143")
    func runForwardsSignals() throws {
        let box = Sandbox(module: Guests.spin)
        box.writeConfig()
        let pid = Harness.start([Harness.binary, "--root", box.root, "run", "-b", box.bundle, "fwd"], stdoutPath: box.stdout, stderrPath: box.stderr)
        #expect(Harness.eventually { box.output == "running\n" })
        kill(pid, SIGTERM)
        #expect(Harness.waitFor(pid, timeout: 10) == 143)
        #expect(box.leftovers.isEmpty)
    }
}
