// runc is the oracle for hooks too: real callers' configs, with a hook of every kind added, run
// under runc (native probe) and under runwasm (WASI probe). Each hook (busybox-static's sh)
// records what it was given: its working directory, environment, credentials, capabilities,
// no_new_privs and seccomp mode, and the state on its stdin. runwasm's records must be runc's.

import Foundation
import Glibc
import Testing

@Suite("hooks against runc", .serialized, .timeLimit(.minutes(3)))
struct HookDifferentialTests {
    static let kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

    static let configs = ["plain/runc-spec.json", "docker/plain.json", "cri/runas-container.json", "podman/image-plain.json"]

    /// A hook that writes what it sees to `dir/kind`. startContainer hooks run inside the
    /// container, where the log directory is bound at /hooklog and busybox is in the rootfs.
    static func hook(_ kind: String, logDir: String) -> [String: Any] {
        let script = """
            { echo "cwd $(pwd)"; env | sort | sed 's/^/env /'
              grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]*|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/^/status /'
              echo "stdin $(cat)"; } > "$1/$2"
            """
        return ["path": "/bin/busybox", "args": ["sh", "-c", script, "hook", logDir, kind], "env": ["HOOK_KIND=\(kind)", "PATH=/bin"]]
    }

    /// The hook's record with the run's own numbers (the container's pid) made generic, and
    /// two differences runwasm keeps on purpose (Docs/compatibility.md): the state's ociVersion
    /// is the runtime-spec version runwasm implements, and poststart hooks run when `start`
    /// starts the process, as the runtime-spec says (runc 1.1.5 runs them during create, so its
    /// state says "created").
    static func normalized(_ record: String, kind: String) -> [String] {
        record.split(separator: "\n").map { line in
            guard line.hasPrefix("stdin ") else { return String(line) }
            guard let state = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] else { return String(line) }
            let keys = state.keys.sorted().map { key -> String in
                if key == "pid" { return "pid=\((state[key] as? Int ?? 0) > 0 ? "set" : "unset")" }
                if key == "ociVersion" { return "ociVersion=(the runtime's)" }
                if key == "annotations", let annotations = state[key] as? [String: String] {
                    return "annotations=" + annotations.keys.sorted().map { "\($0):\(annotations[$0]!)" }.joined(separator: ",")
                }
                if key == "status" && kind == "poststart" { return "status=(created or running)" }
                return "\(key)=\(state[key].map { "\($0)" } ?? "")"
            }
            return "stdin " + keys.joined(separator: " ")
        }
    }

    func records(_ runtime: [String], box: Sandbox, config: [String: Any], args: [String], logDir: String) -> (status: Int32, errors: String, hooks: [String: [String]]) {
        for kind in Self.kinds { unlink(logDir + "/" + kind) }
        var c = config
        var process = c["process"] as! [String: Any]
        process["args"] = args
        // podman's RLIMIT_NOFILE of 1048576 is above this host's nr_open (runc fails too); the
        // rlimits are the replay's business, not the hooks'.
        process["rlimits"] = nil
        c["process"] = process
        box.config = c
        box.rewriteConfig()
        let r = Harness.spawn(runtime + ["run", "-b", box.bundle, "hooks"], timeout: 30)
        var hooks: [String: [String]] = [:]
        for kind in Self.kinds { hooks[kind] = Harness.read(logDir + "/" + kind).map { Self.normalized($0, kind: kind) } }
        return (r.status, r.stderr, hooks)
    }

    @Test("each hook kind sees the cwd, environment, credentials and state that runc gives it", arguments: configs)
    func hooks(_ file: String) throws {
        let data = try #require(FileManager.default.contents(atPath: CallerConfigs.root + "/" + file), "missing \(file)")
        let original = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        try #require(access("/bin/busybox", X_OK) == 0, "no /bin/busybox: scripts/setup installs busybox-static")
        let holder = try NamespaceHolder()
        defer { holder.stop() }
        let box = Sandbox(module: Probe.wasm)
        Harness.write(box.rootfs + "/probe", Probe.native, mode: 0o755)
        for dir in ["proc", "dev", "sys", "etc", "tmp", "bin", "hooklog"] { Harness.mkdirs(box.rootfs + "/" + dir) }
        Harness.write(box.rootfs + "/bin/busybox", CGuest.readBytes("/bin/busybox"), mode: 0o755)
        let logDir = box.dir + "/hooklog"
        Harness.mkdirs(logDir)
        chmod(box.dir, 0o755)
        chmod(logDir, 0o777)
        let name = file.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ".json", with: "")
        var config = CallerConfigReplayTests.rewrite(original, case: "hooks-" + name, hostDir: box.dir + "/host", holder: holder)
        CallerConfigs.makeTargets(of: config, in: box.rootfs)
        config["mounts"] = (config["mounts"] as? [[String: Any]] ?? []) + [["destination": "/hooklog", "type": "bind", "source": logDir, "options": ["rbind", "rw"]]]
        var hooks: [String: Any] = [:]
        for kind in Self.kinds { hooks[kind] = [Self.hook(kind, logDir: kind == "startContainer" ? "/hooklog" : logDir)] }
        config["hooks"] = hooks
        config["annotations"] = ((config["annotations"] as? [String: String]) ?? [:]).merging(["dev.runwasm.test": "hooks"]) { $1 }
        defer {
            for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
                rmdir("/sys/fs/cgroup/\(hierarchy)/runwasm-replay-\(getpid())/hooks-\(name)")
                rmdir("/sys/fs/cgroup/\(hierarchy)/runwasm-replay-\(getpid())")
            }
        }

        let runc = records(["/usr/sbin/runc", "--root", box.dir + "/runc-root"], box: box, config: config, args: ["/probe", "exit", "0"], logDir: logDir)
        try #require(runc.status == 0, "\(file): runc: \(runc.errors)")
        let wasm = records([Harness.binary, "--root", box.root], box: box, config: config, args: ["/app.wasm", "exit", "0"], logDir: logDir)
        #expect(wasm.status == 0, "\(file): runwasm: \(wasm.errors)")
        for kind in Self.kinds {
            let expected = try #require(runc.hooks[kind], "\(file): runc ran no \(kind) hook")
            let got = wasm.hooks[kind] ?? []
            #expect(got == expected, """
                \(file): \(kind) hook, runc only:
                \(expected.filter { !got.contains($0) }.joined(separator: "\n"))
                runwasm only:
                \(got.filter { !expected.contains($0) }.joined(separator: "\n"))
                """)
        }
    }
}
