// A real cgroup v2 host: this build machine is cgroup v1 hybrid, so Debian's kernel boots under
// qemu (TCG) from an initramfs holding busybox-static, runwasm's static binary and the test's
// bundles, mounts cgroup2 with every controller, runs a script and powers off. The script prints
// one line per fact; the tests read them.

import Foundation
import Glibc
import Testing

enum CgroupV2Host {
    /// Debian's kernel, unpacked by scripts/setup (`fetch_test_kernel`).
    static let kernel = getenv("RUNWASM_TEST_KERNEL").map { String(cString: $0) } ?? "/var/cache/runwasm-test-kernel/vmlinuz"

    static let initScript = """
        #!/bin/busybox sh
        /bin/busybox mkdir -p /usr/bin /sbin /usr/sbin
        /bin/busybox --install -s
        mount -t proc proc /proc
        mount -t sysfs sys /sys
        mount -t devtmpfs dev /dev
        if [ ! -e /.stage2 ]; then
          # pivot_root refuses the initramfs root: continue from a tmpfs
          mkdir /new && mount -t tmpfs -o size=512m tmpfs /new
          cp -a /bin /test /init /new/
          for d in /lib /lib64; do [ -d $d ] && cp -a $d /new/; done
          mkdir -p /new/proc /new/sys /new/dev /new/tmp && touch /new/.stage2
          umount /proc /sys /dev
          exec switch_root /new /init
        fi
        mount -t cgroup2 none /sys/fs/cgroup
        for c in cpu cpuset memory pids io hugetlb; do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || echo "enabling $c failed"; done
        echo "controllers $(cat /sys/fs/cgroup/cgroup.subtree_control)"
        sh /test/run.sh 2>&1
        echo "RUNWASM-VM-DONE"
        poweroff -f
        """

    /// Boots the VM with `bundles` (name → config) under /test/NAME, each with `module` as its
    /// rootfs's /app.wasm, and `script` as /test/run.sh; returns what the VM printed.
    /// `files` are more files for the VM (path → contents), `rootfsFiles` more files for every
    /// bundle's rootfs.
    static func boot(bundles: [String: [String: Any]], module: [UInt8], script: String,
                     files: [String: [UInt8]] = [:], rootfsFiles: [String: [UInt8]] = [:]) throws -> String {
        try #require(access(kernel, R_OK) == 0, "no test kernel at \(kernel): scripts/setup fetches Debian's linux-image-amd64")
        try #require(access("/usr/bin/qemu-system-x86_64", X_OK) == 0, "no qemu-system-x86_64: scripts/setup installs qemu-system-x86")
        let busybox = "/bin/busybox"
        try #require(access(busybox, X_OK) == 0, "no busybox: scripts/setup installs busybox-static")
        let dir = Harness.tempDir("v2host")
        defer { Harness.removeTree(dir) }
        let stage = dir + "/stage"
        for sub in ["bin", "test", "proc", "sys", "dev"] { Harness.mkdirs(stage + "/" + sub) }
        Harness.write(stage + "/bin/busybox", CGuest.readBytes(busybox), mode: 0o755)
        Harness.write(stage + "/bin/runwasm", CGuest.readBytes(Harness.binary), mode: 0o755)
        Harness.write(stage + "/init", initScript, mode: 0o755)
        Harness.write(stage + "/test/run.sh", script, mode: 0o755)
        for (path, bytes) in files {
            Harness.mkdirs(stage + String(path[..<path.lastIndex(of: "/")!]))
            Harness.write(stage + path, bytes, mode: 0o755)
        }
        for (name, config) in bundles {
            let bundle = stage + "/test/" + name
            for sub in ["rootfs/proc", "rootfs/dev"] { Harness.mkdirs(bundle + "/" + sub) }
            Harness.write(bundle + "/rootfs/app.wasm", module, mode: 0o755)
            for (path, bytes) in rootfsFiles { Harness.write(bundle + "/rootfs" + path, bytes, mode: 0o755) }
            Harness.write(bundle + "/config.json", Array(try JSONSerialization.data(withJSONObject: config)))
        }
        let packed = Harness.spawn(["/bin/sh", "-c", "cd \"$1\" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > \"$2\"", "sh", stage, dir + "/initrd.gz"])
        try #require(packed.status == 0, "packing the initramfs: \(packed.stderr)")
        let vm = Harness.spawn([
            "/usr/bin/qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot",
            "-kernel", kernel, "-initrd", dir + "/initrd.gz", "-append", "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init",
        ], timeout: 240)
        try #require(vm.stdout.contains("RUNWASM-VM-DONE"), "the VM did not finish its script (qemu status \(vm.status)):\n\(vm.stdout.suffix(3000))\(vm.stderr)")
        // The firmware's and the console's escape sequences (ESC c, ESC [ ... letter) go.
        let escapes = try NSRegularExpression(pattern: "\u{1b}(c|\\[[0-9;?]*[A-Za-z])")
        let text = vm.stdout.replacingOccurrences(of: "\r", with: "")
        return escapes.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "")
    }
}

@Suite("cgroup v2 host (Debian's kernel under qemu)", .serialized, .timeLimit(.minutes(5)))
struct CgroupV2HostTests {
    func config(_ name: String, args: [String], resources: [String: Any]? = nil, mounts: [[String: Any]] = []) -> [String: Any] {
        var c = Sandbox.baseConfig(args: ["/app.wasm"] + args)
        var linux = c["linux"] as! [String: Any]
        linux["cgroupsPath"] = "/rw/" + name
        if let resources { linux["resources"] = resources }
        c["linux"] = linux
        c["mounts"] = (c["mounts"] as! [[String: Any]]) + mounts
        return c
    }

    /// The line that starts with `key ` in `output`, less the key.
    func fact(_ key: String, _ output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test("limits, CLONE_INTO_CGROUP, freezing, update, OOM events, cleanup and the eBPF device filter on a real cgroup v2 host")
    func v2Host() throws {
        let kmsg: [String: Any] = ["destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]]
        let denyAll: [[String: Any]] = [["allow": false, "access": "rwm"]]
        // /dev/kmsg (c 1:11) opens for writing without any capability (reading needs CAP_SYSLOG).
        let probes = ["open", "/dev/null", "rw", "open", "/dev/kmsg", "w"]
        let bundles: [String: [String: Any]] = [
            "limits": config("limits", args: ["sleep", "30"], resources: [
                "memory": ["limit": 64 << 20, "swap": 96 << 20], "pids": ["limit": 42],
                "cpu": ["shares": 512, "quota": 50000, "period": 100000, "cpus": "0"], "devices": denyAll,
            ]),
            "devdeny": config("devdeny", args: probes, resources: ["devices": denyAll], mounts: [kmsg]),
            "devread": config("devread", args: probes, resources: [
                "devices": denyAll + [["allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"]],
            ], mounts: [kmsg]),
            "devwrite": config("devwrite", args: probes, resources: [
                "devices": denyAll + [["allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"]],
            ], mounts: [kmsg]),
            "devnone": config("devnone", args: probes, mounts: [kmsg]),
            "extras": config("extras", args: ["sleep", "30"], resources: [
                "hugepageLimits": [["pageSize": "2MB", "limit": 4 << 20]],
            ]),
            "ioweight": config("ioweight", args: ["sleep", "30"], resources: ["blockIO": ["weight": 500]]),
            "swappiness": config("swappiness", args: ["exit", "0"], resources: ["memory": ["swappiness": 10]]),
            "oom": config("oom", args: ["sleep", "30"], resources: ["memory": ["limit": 32 << 20, "swap": 32 << 20]]),
        ]
        let script = """
            R="runwasm --root /tmp/state"
            P=/sys/fs/cgroup/rw/limits
            $R create -b /test/limits --pid-file /tmp/limits.pid limits || echo "create failed"
            for f in memory.max memory.swap.max pids.max cpu.max cpu.weight cpuset.cpus; do echo "$f $(cat $P/$f)"; done
            echo "proc-cgroup $(cat /proc/$(cat /tmp/limits.pid)/cgroup)"
            $R start limits
            $R pause limits; echo "paused $(cat $P/cgroup.freeze) $($R state limits | grep -o '"status": "[a-z]*"')"
            $R resume limits; echo "resumed $(cat $P/cgroup.freeze) $($R state limits | grep -o '"status": "[a-z]*"')"
            $R update --memory 104857600 --pids-limit 7 limits; echo "updated $(cat $P/memory.max) $(cat $P/pids.max)"
            $R delete -f limits; sleep 0.2; echo "removed $([ -d $P ] && echo no || echo yes)"
            E=/sys/fs/cgroup/rw/extras
            # (create's stdio becomes the container's: a file, never a pipe that would stay open)
            $R create -b /test/extras extras >/tmp/extras.out 2>&1 || sed "s/^/extras-error /" /tmp/extras.out
            echo "hugetlb.2MB.max $(cat $E/hugetlb.2MB.max)"
            $R delete -f extras
            $R create -b /test/ioweight ioweight >/tmp/io.out 2>&1 || sed "s/^/ioweight-error /" /tmp/io.out
            echo "io.weight $(cat /sys/fs/cgroup/rw/ioweight/io.weight 2>/dev/null | head -1) bfq $(cat /sys/fs/cgroup/rw/ioweight/io.bfq.weight 2>/dev/null | head -1)"
            $R delete -f ioweight
            $R run -b /test/swappiness swappiness 2>&1 | sed "s/^/swappiness-error /" | head -1
            for c in devdeny devread devwrite devnone; do $R run -b /test/$c $c | sed "s/^/$c /"; done
            # OOM: an operator's process joins the container's cgroup and allocates past its limit;
            # the kernel's OOM killer acts there, and `events` reports it as runc's does.
            O=/sys/fs/cgroup/rw/oom
            $R create -b /test/oom oom >/tmp/oom.out 2>&1 || sed "s/^/oom-error /" /tmp/oom.out
            $R start oom
            $R events --interval 100ms oom >/tmp/oom.events 2>&1 &
            sleep 0.5
            sh -c "echo \\$\\$ > $O/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=64M count=1" 2>/dev/null
            echo "oom-dd $?"
            sleep 1
            echo "oom-kill $(grep '^oom_kill ' $O/memory.events)"
            echo "oom-state $($R state oom | grep -o '"status": "[a-z]*"')"
            $R delete -f oom; sleep 0.5
            echo "oom-events $(grep -c '"type":"oom"' /tmp/oom.events)"
            echo "oom-removed $([ -d $O ] && echo no || echo yes)"
            """
        let out = try CgroupV2Host.boot(bundles: bundles, module: Probe.wasm, script: script)
        #expect(fact("controllers", out)?.contains("memory") == true, "\(out)")
        #expect(!out.contains("create failed"), "\(out)")
        #expect(fact("memory.max", out) == "67108864")
        #expect(fact("memory.swap.max", out) == "33554432", "v2 limits swap alone: 96 MiB - 64 MiB")
        #expect(fact("pids.max", out) == "42")
        #expect(fact("cpu.max", out) == "50000 100000")
        #expect(fact("cpuset.cpus", out) == "0")
        #expect(fact("proc-cgroup", out) == "0::/rw/limits", "the process was cloned into its cgroup: \(out)")
        #expect(fact("paused", out) == "1 \"status\": \"paused\"")
        #expect(fact("resumed", out) == "0 \"status\": \"running\"")
        #expect(fact("updated", out) == "104857600 7")
        #expect(fact("removed", out) == "yes")
        // Block I/O weight (blkio's 10…1000 onto io.weight's 1…10000, as runc converts it) and
        // huge page limits; swappiness, which v2 has no file for, fails create naming the field.
        #expect(fact("extras-error", out) == nil, "\(out)")
        #expect(fact("hugetlb.2MB.max", out) == "4194304")
        // blkio's weight 10…1000 onto io.weight's 1…10000, as runc converts it (no BFQ loaded here).
        #expect(fact("ioweight-error", out) == nil, "\(out)")
        #expect(fact("io.weight", out) == "default 4950 bfq ", "\(out)")
        #expect(fact("swappiness-error", out)?.contains("swappiness") == true, "\(out)")
        // The eBPF device filter: deny-all keeps runc's defaults; an allow rule opens exactly its access.
        #expect(fact("devdeny", out).map { _ in out.contains("devdeny open /dev/null rw: ok") } == true, "\(out)")
        #expect(out.contains("devdeny open /dev/kmsg w: EPERM"), "\(out)")
        #expect(out.contains("devread open /dev/kmsg w: EPERM"), "an allow rule for reading does not allow writing: \(out)")
        #expect(out.contains("devwrite open /dev/kmsg w: ok"), "\(out)")
        #expect(out.contains("devnone open /dev/kmsg w: ok"), "\(out)")
        // The OOM killer in the container's cgroup: counted in memory.events, reported by `events`,
        // and the guest (not the process killed) still running.
        #expect(fact("oom-error", out) == nil, "\(out)")
        #expect(fact("oom-dd", out) == "137", "the allocating process was OOM-killed: \(out)")
        #expect(fact("oom-kill", out) == "oom_kill 1", "\(out)")
        #expect(fact("oom-state", out) == "\"status\": \"running\"", "\(out)")
        #expect(fact("oom-events", out) == "1", "one oom event from `events`: \(out)")
        #expect(fact("oom-removed", out) == "yes", "\(out)")
    }
}
