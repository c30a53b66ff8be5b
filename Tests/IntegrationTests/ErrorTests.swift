import Glibc
import Testing

/// Bad input fails `create` with a clear message, a non-zero exit, and nothing left behind.
@Suite("bad input", .serialized, .timeLimit(.minutes(2)))
struct ErrorTests {
    /// Runs create, expects failure with `message` in the error, and checks nothing is left.
    func expectCreateFails(_ box: Sandbox, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let r = box.runwasm(["create", "--bundle", box.bundle, "--pid-file", box.dir + "/pid", "bad"])
        #expect(r.status == 1, sourceLocation: sourceLocation)
        #expect(box.errors.contains(message), "stderr was: \(box.errors)", sourceLocation: sourceLocation)
        #expect(box.errors.split(separator: "\n").count == 1, "one line: \(box.errors)", sourceLocation: sourceLocation)
        #expect(box.leftovers.isEmpty, "nothing left under --root: \(box.leftovers)", sourceLocation: sourceLocation)
        #expect(!Harness.exists(box.dir + "/pid"), "no pid file", sourceLocation: sourceLocation)
        #expect(Harness.eventually(timeout: 5) { containerProcesses(of: box).isEmpty }, "no process left", sourceLocation: sourceLocation)
        #expect(box.output == "", "nothing ran", sourceLocation: sourceLocation)
    }

    /// Live container processes of `box`: clones of a runwasm whose command line names its root.
    func containerProcesses(of box: Sandbox) -> Set<pid_t> {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var found: Set<pid_t> = []
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard let pid = pid_t(name), Harness.isAlive(pid) else { continue }
            let cmdline = (Harness.read("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
            if Harness.read("/proc/\(pid)/comm") == "runwasm:init\n" && cmdline.contains(box.root) {
                found.insert(pid)
            }
        }
        return found
    }

    @Test("an ELF entrypoint is refused and never executed")
    func elf() {
        let box = Sandbox(args: ["/bin/true"])
        Harness.mkdirs(box.rootfs + "/bin")
        // A real ELF that would write to stdout if it were ever run natively.
        let echo = CGuest.readBytes("/bin/echo")
        Harness.write(box.rootfs + "/bin/true", echo, mode: 0o755)
        box.process["args"] = ["/bin/true", "NATIVE-RAN"]
        // Wasm annotations are hints; they never skip the check.
        box.config["annotations"] = ["run.oci.handler": "wasm", "module.wasm.image/variant": "compat"]
        expectCreateFails(box, "runwasm: /bin/true is an ELF executable, not a WebAssembly module; runwasm runs only WebAssembly")
    }

    @Test("a script entrypoint is refused")
    func script() {
        let box = Sandbox(args: ["/run.sh"])
        Harness.write(box.rootfs + "/run.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        expectCreateFails(box, "/run.sh is a script (#!/bin/sh), not a WebAssembly module")
    }

    @Test("a component-model binary is refused for now")
    func component() {
        let box = Sandbox(module: [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00])
        expectCreateFails(box, "/app.wasm is a WebAssembly component; runwasm runs only WebAssembly core modules")
    }

    @Test("a missing entrypoint, a directory, an empty file and a PATH miss are refused")
    func missing() {
        expectCreateFails(Sandbox(), "/app.wasm: no such file or directory in the container")
        let dir = Sandbox(args: ["/dir"])
        Harness.mkdirs(dir.rootfs + "/dir")
        expectCreateFails(dir, "/dir is a directory, not a WebAssembly module")
        expectCreateFails(Sandbox(module: []), "/app.wasm is an empty file, not a WebAssembly module")
        expectCreateFails(Sandbox(args: ["nothere"]), "nothere: executable file not found in $PATH")
    }

    @Test("an invalid module is refused at create, naming the problem")
    func invalidModule() {
        // A valid header followed by garbage sections.
        expectCreateFails(Sandbox(module: [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff]), "invalid WebAssembly module")
        // A module without _start is not a WASI command.
        expectCreateFails(Sandbox(module: Guests.wasm("(module (memory (export \"memory\") 1))")), "exports no _start function")
        // An ill-typed function that is never called is still caught: validation is eager.
        let illTyped = Guests.wasm("""
            (module (memory (export "memory") 1)
              (func (export "_start"))
              (func $bad (result i32) (i64.const 1)))
            """)
        expectCreateFails(Sandbox(module: illTyped), "/app.wasm:")
    }

    @Test("an entrypoint that escapes the rootfs through a symlink is resolved inside it")
    func symlinkEntrypoint() {
        let box = Sandbox(args: ["/app.wasm"])
        // The link points at a host path; inside the container it resolves under the rootfs.
        Harness.write(box.dir + "/outside.wasm", Guests.hello())
        symlink(box.dir + "/outside.wasm", box.rootfs + "/app.wasm")
        expectCreateFails(box, "/app.wasm: no such file or directory in the container")
    }

    @Test("malformed, missing and contradictory configs name the cause")
    func configs() {
        let malformed = Sandbox(module: Guests.hello())
        malformed.rewriteConfig()
        Harness.write(malformed.bundle + "/config.json", "{ not json")
        expectCreateFails(malformed, "config.json: not valid JSON")

        let noConfig = Sandbox(module: Guests.hello())
        noConfig.rewriteConfig()
        unlink(noConfig.bundle + "/config.json")
        expectCreateFails(noConfig, "cannot read \(noConfig.bundle)/config.json: No such file or directory")

        let badNamespace = Sandbox(module: Guests.hello())
        badNamespace.config["linux"] = ["namespaces": [["type": "pid"], ["type": "mount"], ["type": "foo"]]]
        expectCreateFails(badNamespace, "config.json: linux.namespaces[2].type: unknown namespace \"foo\"")

        let wrongType = Sandbox(module: Guests.hello())
        wrongType.process["args"] = "/app.wasm"
        expectCreateFails(wrongType, "config.json: process.args: expected an array")

        let noRootfs = Sandbox(module: Guests.hello())
        noRootfs.config["root"] = ["path": "nowhere"]
        expectCreateFails(noRootfs, "rootfs \(noRootfs.bundle)/nowhere does not exist")

        let hostnameWithoutUTS = Sandbox(module: Guests.hello())
        hostnameWithoutUTS.config["linux"] = ["namespaces": [["type": "pid"], ["type": "mount"]]]
        expectCreateFails(hostnameWithoutUTS, "config.json: hostname: setting it needs a new uts namespace")

        let noMountNS = Sandbox(module: Guests.hello())
        noMountNS.config["linux"] = ["namespaces": [["type": "pid"], ["type": "uts"]]]
        expectCreateFails(noMountNS, "config.json: linux.namespaces: runwasm needs a mount namespace")

        let terminal = Sandbox(module: Guests.hello())
        terminal.process["terminal"] = true
        expectCreateFails(terminal, "process.terminal is true but no --console-socket was given")

        let version = Sandbox(module: Guests.hello())
        version.config["ociVersion"] = "2.0.0"
        expectCreateFails(version, "config.json: ociVersion: unsupported version \"2.0.0\"")

        let relativeCwd = Sandbox(module: Guests.hello())
        relativeCwd.process["cwd"] = "work"
        expectCreateFails(relativeCwd, "config.json: process.cwd: \"work\" is not an absolute path")

        let badMount = Sandbox(module: Guests.hello())
        badMount.addMount(["destination": "/data", "type": "bind", "source": "/does/not/exist", "options": ["rbind"]])
        expectCreateFails(badMount, "mounts[3] (/data): stat(source /does/not/exist) failed: No such file or directory")
    }

    @Test("unknown fields are ignored")
    func unknownFields() {
        let box = Sandbox(module: Guests.hello())
        box.config["vm"] = ["hypervisor": ["path": "/x"]]
        box.process["somethingNew"] = 1
        #expect(box.runwasm(["run", "-b", box.bundle, "unknown"]).status == 0)
        #expect(box.output == "hello from wasm\n")
    }

    @Test("--log --log-format json appends exactly one error record; stderr gets the bare line")
    func jsonLog() throws {
        let box = Sandbox(module: Guests.hello())
        let log = box.dir + "/log.json"
        let r = box.runwasm(["delete", "ghost"], globals: ["--log", log, "--log-format", "json"])
        #expect(r.status == 1)
        let text = try #require(Harness.read(log))
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1)
        let record = try #require(Harness.json(String(lines[0])))
        #expect(record["level"] as? String == "error")
        #expect(record["msg"] as? String == "container does not exist")
        let time = try #require(record["time"] as? String)
        #expect(time.count == 20 && time.hasSuffix("Z") && time.contains("T"), "RFC 3339: \(time)")
        #expect(box.errors == "runwasm: container does not exist\n")

        // Success writes nothing to the log.
        #expect(box.runwasm(["delete", "--force", "ghost"], globals: ["--log", log, "--log-format=json"]).status == 0)
        #expect(Harness.read(log) == text)

        let textLog = box.dir + "/log.txt"
        box.runwasm(["start", "ghost"], globals: ["--log", textLog])
        let line = try #require(Harness.read(textLog))
        #expect(line.hasPrefix("time=\""))
        #expect(line.hasSuffix(" level=error msg=\"container does not exist\"\n"))
    }

    @Test("a failed create leaves no state, no process and no mount behind")
    func failedCreateCleansUp() {
        let box = Sandbox(module: Guests.hello())
        box.config["hooks"] = ["createRuntime": [["path": "/bin/false"]]]
        let mountsBefore = Harness.read("/proc/self/mountinfo")
        expectCreateFails(box, "hook createRuntime[0] (/bin/false) failed: exit status 1")
        #expect(Harness.read("/proc/self/mountinfo") == mountsBefore)
    }
}
