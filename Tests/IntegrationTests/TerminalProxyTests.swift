// `run` in the foreground with `process.terminal` and no `--console-socket`: runwasm holds the
// pty and proxies it, as runc does (runc's own tests and `runc spec`'s default config need it).

import Glibc
import Testing

@Suite("run with a terminal and no console socket", .serialized, .timeLimit(.minutes(2)))
struct TerminalProxyTests {
    func terminalBox(_ args: [String]) -> Sandbox {
        let box = Sandbox(module: Probe.wasm, args: ["/app.wasm"] + args)
        Harness.mkdirs(box.rootfs + "/dev/pts")
        box.process["terminal"] = true
        return box
    }

    @Test("the guest's terminal output and exit code come through runwasm's stdio, from a terminal")
    func fromTerminal() throws {
        let box = terminalBox(["isatty", "0", "isatty", "1", "exit", "7"])
        box.writeConfig()
        // script(1) gives runwasm a terminal of its own, as a user's shell would.
        let command = "\(Harness.binary) --root \(box.root) run -b \(box.bundle) proxied"
        let r = Harness.spawn(["/usr/bin/script", "-qec", command, "/dev/null"])
        #expect(r.stdout.contains("isatty 0: 1\r\n") && r.stdout.contains("isatty 1: 1\r\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.status == 7, "the guest's exit code: \(r.stdout) \(r.stderr)")
        #expect(box.leftovers.isEmpty)
    }

    @Test("without a terminal of its own, runwasm still proxies the container's pty")
    func withoutTerminal() throws {
        let box = terminalBox(["isatty", "1"])
        let r = box.runwasm(["run", "-b", box.bundle, "proxied2"])
        #expect(r.status == 0, "\(box.errors)")
        #expect(box.output == "isatty 1: 1\r\n", "\(box.output)")
    }

    @Test("exec -t in the foreground without a console socket proxies the exec'd process's pty")
    func execTerminal() throws {
        let box = Sandbox(module: Guests.spin)
        Harness.mkdirs(box.rootfs + "/dev/pts")
        Harness.write(box.rootfs + "/probe.wasm", Probe.wasm)
        let pid = try box.startSpinning("execpty")
        let command = "\(Harness.binary) --root \(box.root) exec -t execpty /probe.wasm isatty 1 exit 4"
        let r = Harness.spawn(["/usr/bin/script", "-qec", command, "/dev/null"])
        #expect(r.stdout.contains("isatty 1: 1\r\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.status == 4)
        box.runwasm(["delete", "--force", "execpty"])
        _ = Harness.waitFor(pid, timeout: 5)
    }

    @Test("run -d and create with a terminal still need a console socket")
    func detachedNeedsSocket() throws {
        let box = terminalBox(["isatty", "1"])
        #expect(box.runwasm(["run", "-d", "-b", box.bundle, "detached"]).status != 0)
        #expect(box.errors.contains("no --console-socket"), "\(box.errors)")
        #expect(box.runwasm(["create", "-b", box.bundle, "created"]).status != 0)
        #expect(box.leftovers.isEmpty)
    }
}

