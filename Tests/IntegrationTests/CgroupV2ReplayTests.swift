// runc is the oracle on cgroup v2 too: callers' configs (../shared/caller-configs and the
// project's own captures) run in the cgroup v2 VM (Debian's kernel under qemu) under runc 1.1.5,
// copied in with its libraries, with the native probe, and under runwasm with the WASI probe.
// Compared: create's status, the v2 cgroup files of the created container, and which device
// opens the eBPF device program lets through.

import Foundation
import Glibc
import Testing

@Suite("callers' configs against runc on a cgroup v2 host", .serialized, .timeLimit(.minutes(6)))
struct CgroupV2ReplayTests {
    static let cases = [
        "cri/default-container.json", "cri/resources-container.json", "cri/privileged-container.json", "cri/readonly-container.json",
        "ctr/plain.json", "docker/plain.json", "docker/resources.json", "docker/cpu-opts.json", "docker/privileged.json",
        "docker/device.json", "docker/tty-devrule.json", "docker/user.json", "podman/memory.json", "podman/rootfs.json",
        "plain/runc-spec.json", "plain/crun-spec.json",
        "own/ctr/memory-cpu.json", "own/ctr/privileged.json", "own/podman/resources.json", "own/podman/security.json",
        "own/podman/volume-device.json",
    ]

    static let files = [
        "memory.max", "memory.swap.max", "memory.low", "memory.high", "memory.oom.group", "cpu.max", "cpu.weight",
        "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "hugetlb.2MB.max", "hugetlb.1GB.max",
    ]

    static let probes = ["open", "/dev/null", "rw", "open", "/dev/zero", "r", "open", "/dev/full", "w", "open", "/dev/tty", "rw",
                         "open", "/dev/mem", "r", "open", "/dev/kmsg", "r"]

    /// The config made to run in the VM: this bundle's rootfs, a cgroup of its own, new
    /// namespaces where the caller joined existing ones, no bind mounts of the caller's host
    /// files, no hooks, no terminal.
    static func rewrite(_ original: [String: Any], cgroup: String, args: [String]) -> [String: Any] {
        var c = CallerConfigs.runnable(original)
        var process = c["process"] as? [String: Any] ?? [:]
        process["args"] = args
        c["process"] = process
        var linux = c["linux"] as? [String: Any] ?? [:]
        linux["cgroupsPath"] = cgroup
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ["type": $0["type"] ?? ""] }
        c["linux"] = linux
        c["mounts"] = (c["mounts"] as? [[String: Any]] ?? []).filter { m in
            let options = m["options"] as? [String] ?? []
            return !(m["type"] as? String == "bind" || options.contains("bind") || options.contains("rbind"))
        }
        return c
    }

    @Test("cgroup v2 files and device access of callers' configs are runc's")
    func replay() throws {
        let libraries = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib64/ld-linux-x86-64.so.2"]
        for file in ["/usr/sbin/runc"] + libraries { try #require(access(file, R_OK) == 0, "\(file) is missing (scripts/setup installs runc)") }
        var bundles: [String: [String: Any]] = [:]
        var script = "R=\"runwasm --root /tmp/rw\"\nC=\"/bin/runc --root /tmp/rc\"\n"
        for (i, file) in Self.cases.enumerated() {
            let data = try #require(FileManager.default.contents(atPath: CallerConfigs.path(file)), "missing \(file)")
            let original = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let cgroup = "/replay/c\(i)"
            bundles["runc-\(i)"] = Self.rewrite(original, cgroup: cgroup, args: ["/probe"] + Self.probes + ["sleep", "60"])
            bundles["wasm-\(i)"] = Self.rewrite(original, cgroup: cgroup, args: ["/app.wasm"] + Self.probes + ["sleep", "60"])
            for (runtime, prefix) in [("$C", "runc"), ("$R", "wasm")] {
                let id = "\(prefix)-\(i)"
                script += """
                    if \(runtime) create -b /test/\(id) \(id) >/tmp/\(id).out 2>/tmp/\(id).err; then
                      for f in \(Self.files.joined(separator: " ")); do [ -f /sys/fs/cgroup\(cgroup)/$f ] && echo "RES \(id) $f $(tr '\\n' ';' < /sys/fs/cgroup\(cgroup)/$f)"; done
                      \(runtime) start \(id)
                      n=0; while [ $(grep -c '^open' /tmp/\(id).out) -lt 6 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
                      sed "s/^/RES \(id) /" /tmp/\(id).out
                      \(runtime) delete -f \(id) >/dev/null 2>&1
                    else
                      echo "RES \(id) create-failed $(head -c 300 /tmp/\(id).err | tr '\\n' ' ')"
                    fi

                    """
            }
        }
        var files = ["/bin/runc": CGuest.readBytes("/usr/sbin/runc")]
        for library in libraries { files[library] = CGuest.readBytes(library) }
        let out = try CgroupV2Host.boot(bundles: bundles, module: Probe.wasm, script: script, files: files, rootfsFiles: ["/probe": Probe.native])
        func results(_ id: String) -> [String] {
            out.split(separator: "\n").filter { $0.hasPrefix("RES \(id) ") }.map { String($0.dropFirst("RES \(id) ".count)) }
        }
        var compared = 0
        for (i, file) in Self.cases.enumerated() {
            let runc = results("runc-\(i)")
            let wasm = results("wasm-\(i)")
            #expect(!runc.isEmpty, "\(file): nothing from runc in the VM:\n\(out.suffix(2000))")
            #expect(runc.first { $0.hasPrefix("create-failed") } == nil, "\(file): runc: \(runc)")
            #expect(wasm == runc, "\(file): runc only: \(runc.filter { !wasm.contains($0) }), runwasm only: \(wasm.filter { !runc.contains($0) })")
            if runc.contains(where: { $0.hasPrefix("memory.max ") }) && runc.contains(where: { $0.hasPrefix("open /dev/null") }) { compared += 1 }
        }
        #expect(compared == Self.cases.count, "every case was compared on files and device opens (\(compared))")
    }
}
