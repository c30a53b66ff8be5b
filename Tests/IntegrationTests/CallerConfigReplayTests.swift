// runc is the oracle: every config in ../shared/caller-configs (captured byte for byte from
// Docker 20.10, containerd 1.6's CRI plugin, podman 4.3, ctr, `runc spec`, `crun spec` and
// runtime-tools) runs under runc with the native probe and under runwasm with the WASI probe, in
// the same rewritten bundle, and what the process can observe of itself is compared: exit status,
// credentials and seccomp mode, environment, hostname, mounts, rlimits, the OOM score, the sysctls
// the config sets, device opens; and, of the created container seen from outside, the v1 cgroup
// files the config's resources set, its namespaces (host's, joined, new) and `state`. Differences runwasm keeps on purpose are listed below, each with its reason
// (Docs/compatibility.md).

import Foundation
import Glibc
import Testing

enum CallerConfigs {
    static let root: String = {
        let file = #filePath
        return file.components(separatedBy: "/Tests/")[0] + "/../shared/caller-configs"
    }()

    /// The project's own captures (scripts/capture-configs), replayed beside the shared corpus.
    static let ownRoot: String = {
        let file = #filePath
        return file.components(separatedBy: "/Tests/")[0] + "/Tests/Fixtures/caller-configs"
    }()

    /// Configs of containers that run a process (not pod sandboxes, exec or update files), as
    /// paths below `root`, or below `ownRoot` with an `own/` prefix.
    static let replayable: [String] = {
        var files: [String] = []
        for (base, prefix, dirs) in [(root, "", ["docker", "podman", "cri", "ctr", "plain"]), (ownRoot, "own/", ["ctr", "podman"])] {
            for dir in dirs {
                for name in ((try? FileManager.default.contentsOfDirectory(atPath: base + "/" + dir)) ?? []).sorted()
                where name.hasSuffix(".json") && !name.hasSuffix(".process.json") && !name.hasSuffix(".update.json") && !name.contains("-sandbox") {
                    files.append(prefix + dir + "/" + name)
                }
            }
        }
        return files
    }()

    /// The config's cwd and the destinations of its mounts in `rootfs`: a file where the source
    /// is a file, else a directory.
    static func makeTargets(of config: [String: Any], in rootfs: String) {
        if let cwd = (config["process"] as? [String: Any])?["cwd"] as? String { Harness.mkdirs(rootfs + cwd) }
        for mount in config["mounts"] as? [[String: Any]] ?? [] {
            guard let dest = mount["destination"] as? String, !Harness.exists(rootfs + dest) else { continue }
            let isFile = (mount["source"] as? String).map { !Harness.isDirectory($0) && Harness.exists($0) } ?? false
            if isFile {
                Harness.mkdirs(String((rootfs + dest)[..<(rootfs + dest).lastIndex(of: "/")!]))
                Harness.write(rootfs + dest, "")
            } else {
                Harness.mkdirs(rootfs + dest)
            }
        }
    }

    /// A captured config with the bundle's own rootfs (read-only as the caller asked), no hooks
    /// (they name the caller's own binaries) and no terminal (no console socket here).
    static func runnable(_ original: [String: Any]) -> [String: Any] {
        var c = original
        c["root"] = ["path": "rootfs", "readonly": (original["root"] as? [String: Any])?["readonly"] as? Bool ?? false]
        c["hooks"] = nil
        var process = c["process"] as? [String: Any] ?? [:]
        process["terminal"] = false
        process["consoleSize"] = nil
        c["process"] = process
        return c
    }

    /// The file behind an entry of `replayable`.
    static func path(_ file: String) -> String {
        file.hasPrefix("own/") ? ownRoot + "/" + file.dropFirst(4) : root + "/" + file
    }

    /// Types of the bind-mount sources at capture time, from manifest.json.
    static let bindSourceTypes: [String: String] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [:] }
        var types: [String: String] = [:]
        for entry in list {
            for source in entry["bind_sources"] as? [[String: Any]] ?? [] {
                if let path = source["path"] as? String, let type = source["type_at_capture"] as? String { types[path] = type }
            }
        }
        return types
    }()
}

/// Namespaces to join, made by a holder process, for configs that join namespaces by path.
final class NamespaceHolder {
    let pid: pid_t
    init() throws {
        pid = Harness.start(["/usr/bin/unshare", "--ipc", "--uts", "--net", "--pid", "--fork", "--mount-proc", "/bin/sleep", "120"])
        try #require(Harness.eventually(timeout: 5) {
            // the forked sleep: the holder's child, in the new pid namespace
            guard let children = Harness.read("/proc/\(self.pid)/task/\(self.pid)/children") else { return false }
            return !children.trimmingCharacters(in: .whitespaces).isEmpty
        })
    }
    var sleeper: pid_t {
        pid_t((Harness.read("/proc/\(pid)/task/\(pid)/children") ?? "").split(separator: " ").first ?? "") ?? pid
    }
    func path(_ type: String) -> String {
        let name = ["network": "net", "ipc": "ipc", "uts": "uts", "pid": "pid", "mount": "mnt", "cgroup": "cgroup", "user": "user"][type] ?? type
        return "/proc/\(sleeper)/ns/\(name)"
    }
    func stop() {
        kill(pid, SIGKILL)
        _ = Harness.waitFor(pid, timeout: 5)
    }
}

@Suite("caller configs against runc", .serialized, .timeLimit(.minutes(5)))
struct CallerConfigReplayTests {
    /// The probe's questions, with the config's sysctls added.
    static func questions(_ config: [String: Any]) -> [String] {
        var q = ["status", "env", "read", "/proc/sys/kernel/hostname", "mounts", "open", "/dev/null", "rw", "open", "/dev/zero", "r",
                 "lines", "/proc/self/limits", "lines", "/proc/self/oom_score_adj"]
        let sysctl = ((config["linux"] as? [String: Any])?["sysctl"] as? [String: String]) ?? [:]
        for key in sysctl.keys.sorted() { q += ["sysctl", key] }
        return q
    }

    /// Rewrites a captured config to run here: our rootfs, our cgroup, namespaces joined from the
    /// holder, bind sources made under `hostDir`, no hooks (they name the caller's own binaries),
    /// no terminal (no console socket here).
    static func rewrite(_ original: [String: Any], case name: String, hostDir: String, holder: NamespaceHolder) -> [String: Any] {
        var c = CallerConfigs.runnable(original)
        var linux = c["linux"] as? [String: Any] ?? [:]
        linux["cgroupsPath"] = "/runwasm-replay-\(getpid())/\(name)"
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ns in
            guard ns["path"] != nil, let type = ns["type"] as? String else { return ns }
            return ["type": type, "path": holder.path(type)]
        }
        c["linux"] = linux
        // Bind sources in the caller's own state (its containers', volumes', pods' files) are made
        // under hostDir, as a file or a directory as they were at capture time.
        let callerState = ["/var/lib/", "/run/", "/var/run/", "/mnt/", "/srv/"]
        c["mounts"] = (c["mounts"] as? [[String: Any]] ?? []).map { mount in
            var m = mount
            let options = mount["options"] as? [String] ?? []
            guard let source = mount["source"] as? String, source.hasPrefix("/"),
                  mount["type"] as? String == "bind" || options.contains("bind") || options.contains("rbind") else { return m }
            if Harness.exists(source) && !callerState.contains(where: { source.hasPrefix($0) }) { return m }
            let local = hostDir + source
            // As the capture's manifest recorded it; else files are named with a dot or bound
            // under /etc (podman's passwd, group, hosts…).
            let destination = mount["destination"] as? String ?? ""
            let isDirectory = CallerConfigs.bindSourceTypes[source].map { $0 == "directory" }
                ?? !((source.split(separator: "/").last ?? "").contains(".") || destination.hasPrefix("/etc/"))
            if isDirectory {
                Harness.mkdirs(local)
            } else {
                Harness.mkdirs(String(local[..<local.lastIndex(of: "/")!]))
                if !Harness.exists(local) { Harness.write(local, "replayed\n") }
            }
            m["source"] = local
            return m
        }
        return c
    }

    struct Run {
        var status: Int32
        var lines: [String]
        var errors: String
    }

    func run(_ runtime: [String], bundle: String, id: String, dir: String) -> Run {
        let r = Harness.spawn(runtime + ["run", "-b", bundle, id], stdoutPath: dir + "/\(id).out", stderrPath: dir + "/\(id).err", timeout: 30)
        let out = Harness.read(dir + "/\(id).out") ?? ""
        return Run(status: r.status, lines: out.split(separator: "\n").map(String.init), errors: Harness.read(dir + "/\(id).err") ?? "")
    }

    /// Lines that differ on purpose (Docs/compatibility.md): runwasm always sets no_new_privs and
    /// always loads its own seccomp filter for the interpreter (so `Seccomp: 2` where a config is
    /// unconfined), adds PWD to the guest's environment (WASI has no working directory), and
    /// mounts the tmpfs that holds a v1 cgroup mount's hierarchies read-only (runc leaves it
    /// writable).
    static func normalized(_ lines: [String]) -> [String] {
        lines.filter { !$0.hasPrefix("status NoNewPrivs:") && !$0.hasPrefix("env PWD=") && !$0.hasPrefix("status Seccomp:") }
            .map { $0.hasPrefix("mount /sys/fs/cgroup tmpfs ") ? $0.replacingOccurrences(of: "tmpfs ro,", with: "tmpfs rw,") : $0 }
    }

    /// The v1 cgroup files a config's resources set, as "controller/file value" lines; the device
    /// list sorted (its order follows the order of the writes).
    static func cgroupFiles(_ cgroup: String) -> [String] {
        let files = [
            "memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes", "memory/memory.memsw.limit_in_bytes",
            "memory/memory.swappiness", "memory/memory.oom_control", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us",
            "cpu/cpu.cfs_period_us", "cpuset/cpuset.cpus", "cpuset/cpuset.mems", "pids/pids.max", "blkio/blkio.weight",
            "net_cls/net_cls.classid",
        ]
        var lines = files.compactMap { file -> String? in
            let parts = file.split(separator: "/")
            guard let value = Harness.read("/sys/fs/cgroup/\(parts[0])\(cgroup)/\(parts[1])") else { return nil }
            return "\(file) \(value.split(separator: "\n").joined(separator: ";"))"
        }
        lines += (Harness.read("/sys/fs/cgroup/devices\(cgroup)/devices.list") ?? "").split(separator: "\n").sorted().map { "devices.list \($0)" }
        return lines
    }

    /// Each namespace of a process, as an operator sees it from outside: the host's, the one
    /// joined from the holder, or a new one.
    static func namespaces(of pid: pid_t, holder: NamespaceHolder) -> [String] {
        ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"].map { name in
            func link(_ path: String) -> String? {
                var buf = [CChar](repeating: 0, count: 256)
                let n = Glibc.readlink(path, &buf, buf.count - 1)
                return n > 0 ? String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
            }
            guard let mine = link("/proc/\(pid)/ns/\(name)") else { return "ns \(name) unreadable" }
            if mine == link("/proc/self/ns/\(name)") { return "ns \(name) host" }
            if mine == link("/proc/\(holder.sleeper)/ns/\(name)") { return "ns \(name) joined" }
            return "ns \(name) new"
        }
    }

    /// What `state` of a created container says that does not depend on the runtime or the run:
    /// the status, the bundle, the annotations, and that it has a pid.
    static func stateFacts(_ json: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return ["state unparsable: \(json)"] }
        var facts = ["state status \(object["status"] ?? "-")", "state bundle \(object["bundle"] ?? "-")",
                     "state pid \(((object["pid"] as? Int) ?? 0) > 0 ? "set" : "unset")"]
        let annotations = (object["annotations"] as? [String: String]) ?? [:]
        facts += annotations.keys.sorted().map { "state annotation \($0)=\(annotations[$0]!)" }
        return facts
    }

    /// create (with the probe asleep), the cgroup files, the namespaces and `state`, delete.
    func created(_ runtime: [String], bundle: String, id: String, cgroup: String, dir: String, holder: NamespaceHolder)
        -> (status: Int32, files: [String], observed: [String], errors: String) {
        let r = Harness.spawn(runtime + ["create", "-b", bundle, "--pid-file", dir + "/\(id).pid", id], timeout: 30)
        let pid = Harness.read(dir + "/\(id).pid").flatMap { pid_t($0) }
        if let pid { Harness.adopt(pid) }
        var files: [String] = [], observed: [String] = []
        if r.status == 0 {
            files = Self.cgroupFiles(cgroup)
            if let pid { observed = Self.namespaces(of: pid, holder: holder) }
            observed += Self.stateFacts(Harness.spawn(runtime + ["state", id], timeout: 30).stdout)
        }
        _ = Harness.spawn(runtime + ["delete", "--force", id], timeout: 30)
        if let pid { _ = Harness.waitFor(pid, timeout: 5) }
        return (r.status, files, observed, r.stderr)
    }

    @Test("the corpus of callers' configs is there (../shared/caller-configs beside the checkout)")
    func corpus() {
        #expect(CallerConfigs.replayable.count >= 50 + 10, "\(CallerConfigs.root) and \(CallerConfigs.ownRoot): \(CallerConfigs.replayable.count) configs")
    }

    @Test("each caller's config: what the process observes under runwasm is what it observes under runc",
          arguments: CallerConfigs.replayable)
    func replay(_ file: String) throws {
        let data = try #require(FileManager.default.contents(atPath: CallerConfigs.path(file)), "missing \(file)")
        let original = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let holder = try NamespaceHolder()
        defer { holder.stop() }
        let box = Sandbox(module: Probe.wasm)
        Harness.write(box.rootfs + "/probe", Probe.native, mode: 0o755)
        for dir in ["proc", "dev", "sys", "etc", "tmp", "data", "mnt"] { Harness.mkdirs(box.rootfs + "/" + dir) }
        let name = file.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ".json", with: "")
        var config = Self.rewrite(original, case: name, hostDir: box.dir + "/host", holder: holder)
        CallerConfigs.makeTargets(of: config, in: box.rootfs)
        let questions = Self.questions(config)
        var process = config["process"] as! [String: Any]

        process["args"] = ["/probe"] + questions
        config["process"] = process
        box.config = config
        box.rewriteConfig()
        let runc = run(["/usr/sbin/runc", "--root", box.dir + "/runc-root"], bundle: box.bundle, id: "runc-\(name)", dir: box.dir)

        process["args"] = ["/app.wasm"] + questions
        config["process"] = process
        box.config = config
        box.rewriteConfig()
        let wasm = run([Harness.binary, "--root", box.root], bundle: box.bundle, id: "wasm-\(name)", dir: box.dir)

        // The cgroup files the config's resources set, with each container created and waiting.
        let cgroup = "/runwasm-replay-\(getpid())/\(name)"
        process["args"] = ["/probe", "sleep", "30"]
        config["process"] = process
        box.config = config
        box.rewriteConfig()
        let runcCgroup = created(["/usr/sbin/runc", "--root", box.dir + "/runc-root"], bundle: box.bundle, id: "runc-cg-\(name)", cgroup: cgroup, dir: box.dir, holder: holder)
        process["args"] = ["/app.wasm", "sleep", "30"]
        config["process"] = process
        box.config = config
        box.rewriteConfig()
        let wasmCgroup = created([Harness.binary, "--root", box.root], bundle: box.bundle, id: "wasm-cg-\(name)", cgroup: cgroup, dir: box.dir, holder: holder)

        for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            rmdir("/sys/fs/cgroup/\(hierarchy)/runwasm-replay-\(getpid())")
        }
        if runcCgroup.status == 0 && wasmCgroup.status == 0 {
            #expect(wasmCgroup.files == runcCgroup.files,
                    "\(file): cgroup files, runc only: \(runcCgroup.files.filter { !wasmCgroup.files.contains($0) }), runwasm only: \(wasmCgroup.files.filter { !runcCgroup.files.contains($0) })")
            #expect(runcCgroup.observed.contains("state status created") && runcCgroup.observed.contains { $0.hasPrefix("ns mnt ") },
                    "\(file): \(runcCgroup.observed)")
            #expect(wasmCgroup.observed == runcCgroup.observed,
                    "\(file): namespaces and state, runc only: \(runcCgroup.observed.filter { !wasmCgroup.observed.contains($0) }), runwasm only: \(wasmCgroup.observed.filter { !runcCgroup.observed.contains($0) })")
        }
        #expect((runc.status == 0) == (wasm.status == 0),
                "\(file): runc exited \(runc.status) (\(runc.errors.suffix(300))), runwasm \(wasm.status) (\(wasm.errors.suffix(300)))")
        guard runc.status == 0, wasm.status == 0 else { return }
        let expected = Self.normalized(runc.lines)
        let got = Self.normalized(wasm.lines)
        let missing = expected.filter { !got.contains($0) }
        let extra = got.filter { !expected.contains($0) }
        #expect(missing.isEmpty && extra.isEmpty, "\(file): runc only:\n\(missing.joined(separator: "\n"))\nrunwasm only:\n\(extra.joined(separator: "\n"))")
        // The seccomp mode: runc's, or 2 (filter) where runc's is 0 (unconfined).
        let mode = { (lines: [String]) in lines.first { $0.hasPrefix("status Seccomp:") } }
        #expect(mode(wasm.lines) == mode(runc.lines) || mode(wasm.lines) == "status Seccomp:\t2", "\(file)")
    }
}
