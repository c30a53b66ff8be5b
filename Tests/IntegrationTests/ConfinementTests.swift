import Foundation
import Glibc
import Testing

/// The kernel's wall, seen from outside (/proc, cgroup files) and from inside (the guest).
@Suite("confinement", .serialized, .timeLimit(.minutes(2)))
struct ConfinementTests {
    func status(_ pid: pid_t) -> [String: String] {
        var fields: [String: String] = [:]
        for line in (Harness.read("/proc/\(pid)/status") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    func finish(_ box: Sandbox, _ id: String, _ pid: pid_t) {
        box.runwasm(["delete", "--force", id])
        _ = Harness.waitFor(pid, timeout: 5)
    }

    @Test("a running guest is under seccomp with no_new_privs and the capabilities runc's execve would leave")
    func statusFromOutside() throws {
        let box = Sandbox(module: Guests.spin)
        box.process["capabilities"] = [
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        ]
        box.process["noNewPrivileges"] = true
        let pid = try box.startSpinning("caps")
        let s = status(pid)
        #expect(s["Seccomp"] == "2")
        #expect(s["Seccomp_filters"] == "1", "runwasm's interpreter filter")
        #expect(s["NoNewPrivs"] == "1")
        // CAP_CHOWN = 0, CAP_KILL = 5, CAP_NET_BIND_SERVICE = 10. Root's effective set after
        // runc's execve is its permitted set (Docs/security.md, The virtual execve), not the config's list.
        #expect(s["CapBnd"] == "0000000000000421")
        #expect(s["CapEff"] == "0000000000000420")
        #expect(s["CapPrm"] == "0000000000000420")
        #expect(s["CapInh"] == "0000000000000400")
        #expect(s["CapAmb"] == "0000000000000400")
        finish(box, "caps", pid)
    }

    @Test("ambient capabilities that are not inheritable are skipped, as runc skips them (its default spec lists some)")
    func ambientNotInheritable() throws {
        let box = Sandbox(module: Guests.spin)
        box.process["capabilities"] = [
            "bounding": ["CAP_KILL", "CAP_AUDIT_WRITE"], "effective": ["CAP_KILL", "CAP_AUDIT_WRITE"],
            "permitted": ["CAP_KILL", "CAP_AUDIT_WRITE"], "ambient": ["CAP_KILL", "CAP_AUDIT_WRITE"],
        ]
        let pid = try box.startSpinning("amb")
        #expect(status(pid)["CapAmb"] == "0000000000000000")
        #expect(status(pid)["CapEff"] == "0000000020000020")
        finish(box, "amb", pid)
    }

    @Test("with no process.capabilities the interpreter keeps none")
    func noCapabilities() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.startSpinning("nocaps")
        let s = status(pid)
        for set in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] { #expect(s[set] == "0000000000000000", "\(set)") }
        finish(box, "nocaps", pid)
    }

    @Test("process.user, umask and rlimits are applied")
    func userAndLimits() throws {
        let box = Sandbox(module: Guests.spin)
        box.process["user"] = ["uid": 1234, "gid": 2345, "additionalGids": [3456, 4567], "umask": 0o027]
        box.process["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 256, "hard": 512], ["type": "RLIMIT_CORE", "soft": 0, "hard": 0]]
        box.process["oomScoreAdj"] = 321
        let pid = try box.startSpinning("user")
        let s = status(pid)
        #expect(s["Uid"]?.split(separator: "\t").allSatisfy { $0 == "1234" } == true, "Uid: \(s["Uid"] ?? "")")
        #expect(s["Gid"]?.split(separator: "\t").allSatisfy { $0 == "2345" } == true)
        #expect(s["Groups"] == "3456 4567")
        #expect(s["Umask"] == "0027")
        let limits = Harness.read("/proc/\(pid)/limits") ?? ""
        #expect(limits.contains { _ in true } && limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" 256 ") && $0.contains(" 512 ") })
        #expect(Harness.read("/proc/\(pid)/oom_score_adj") == "321\n")
        finish(box, "user", pid)
    }

    @Test("a guest's file, clock, random and poll calls work under both filters, with a real default profile")
    func guestUnderDefaultProfile() throws {
        let profilePath = "/usr/share/containers/seccomp.json"
        let profileText = try #require(Harness.read(profilePath), "scripts/test installs golang-github-containers-common for \(profilePath)")
        let profile = try #require(Harness.json(profileText))
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "write", "/tmp/out.txt", "under seccomp"])
        Harness.mkdirs(box.rootfs + "/tmp")
        box.config["linux"] = (box.config["linux"] as! [String: Any]).merging(["seccomp": profile]) { $1 }
        #expect(box.runwasm(["run", "-b", box.bundle, "dflt"]).status == 0, "stderr: \(box.errors)")
        #expect(Harness.read(box.rootfs + "/tmp/out.txt") == "under seccomp")

        // Clock, random and poll: the spin guest's output path plus a C guest that sleeps.
        let sleeper = Sandbox(module: SleepGuest.module)
        sleeper.config["linux"] = (sleeper.config["linux"] as! [String: Any]).merging(["seccomp": profile]) { $1 }
        #expect(sleeper.runwasm(["run", "-b", sleeper.bundle, "sleep"]).status == 0, "stderr: \(sleeper.errors)")
        #expect(sleeper.output.contains("slept, random ok, poll ok"))
    }

    @Test("a call the config's filter kills ends only the container, with 159 and a line on stderr")
    func deniedCallKillsContainer() throws {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "mkdir", "/made"])
        box.config["linux"] = (box.config["linux"] as! [String: Any]).merging([
            "seccomp": ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_TRAP"]]],
        ]) { $1 }
        let r = box.runwasm(["run", "-b", box.bundle, "trap"])
        #expect(r.status == 159, "128 + SIGSYS")
        #expect(box.errors.contains("runwasm: seccomp: the interpreter made system call"), "stderr: \(box.errors)")
        #expect(!Harness.exists(box.rootfs + "/made"))
        #expect(box.leftovers.isEmpty)

        let errno = Sandbox(module: CGuest.module, args: ["/app.wasm", "mkdir", "/made"])
        errno.config["linux"] = (errno.config["linux"] as! [String: Any]).merging([
            "seccomp": ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13]]],
        ]) { $1 }
        #expect(errno.runwasm(["run", "-b", errno.bundle, "errno"]).status == 1)
        #expect(errno.output.contains("mkdir /made: error"), "the guest sees the error: \(errno.output)")
        #expect(!Harness.exists(errno.rootfs + "/made"))
    }

    @Test("a malformed seccomp profile fails create, naming the rule, leaving nothing", arguments: [
        (["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["read"], "action": "SCMP_ACT_ALLOW"], ["names": ["write"], "action": "SCMP_ACT_BOGUS"]]] as [String: Any],
         "config.json: linux.seccomp.syscalls[1].action: unknown seccomp action \"SCMP_ACT_BOGUS\""),
        (["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [["index": 9, "value": 1, "op": "SCMP_CMP_EQ"]]]]],
         "config.json: linux.seccomp.syscalls[0].args[0].index: must be 0 to 5"),
        (["defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/notify.sock"], "config.json: linux.seccomp.listenerPath: seccomp notify is not supported yet"),
        (["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]], "config.json: linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_VAX\""),
    ])
    func malformedProfile(profile: [String: Any], message: String) {
        let box = Sandbox(module: Guests.hello())
        box.config["linux"] = (box.config["linux"] as! [String: Any]).merging(["seccomp": profile]) { $1 }
        let r = box.runwasm(["create", "-b", box.bundle, "bad"])
        #expect(r.status == 1)
        #expect(box.errors.contains(message), "stderr: \(box.errors)")
        #expect(box.leftovers.isEmpty)
    }

    @Test("masked and read-only paths, and namespaced sysctls")
    func pathsAndSysctl() throws {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "read", "/secret/key", "/etc/conf"])
        Harness.mkdirs(box.rootfs + "/secret")
        Harness.mkdirs(box.rootfs + "/etc")
        Harness.write(box.rootfs + "/secret/key", "KEY")
        Harness.write(box.rootfs + "/etc/conf", "CONF")
        box.config["linux"] = (box.config["linux"] as! [String: Any]).merging([
            "maskedPaths": ["/secret", "/proc/kcore", "/does/not/exist"],
            "readonlyPaths": ["/etc", "/proc/sys"],
            "sysctl": ["net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"],
        ]) { $1 }
        #expect(box.runwasm(["run", "-b", box.bundle, "paths"]).status == 1)
        #expect(box.output.contains("/secret/key: error"), "masked: \(box.output)")
        #expect(box.output.contains("/etc/conf: ok CONF"))

        let spin = Sandbox(module: Guests.spin)
        Harness.mkdirs(spin.rootfs + "/etc")
        spin.config["linux"] = (spin.config["linux"] as! [String: Any]).merging([
            "readonlyPaths": ["/etc"], "sysctl": ["net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"],
        ]) { $1 }
        let pid = try spin.create("sysctl")
        let forward = Harness.spawn(["/usr/bin/nsenter", "--net", "-t", String(pid), "/bin/cat", "/proc/sys/net/ipv4/ip_forward"])
        #expect(forward.stdout == "1\n")
        let shm = Harness.spawn(["/usr/bin/nsenter", "--ipc", "-t", String(pid), "/bin/cat", "/proc/sys/kernel/shmmni"])
        #expect(shm.stdout == "1234\n")
        let mounts = Harness.read("/proc/\(pid)/mounts") ?? ""
        #expect(mounts.split(separator: "\n").contains { $0.contains(" /etc ") && $0.contains(" ro,") }, "/etc is read-only")
        finish(spin, "sysctl", pid)

        let bad = Sandbox(module: Guests.hello())
        bad.config["linux"] = (bad.config["linux"] as! [String: Any]).merging(["sysctl": ["vm.swappiness": "10"]]) { $1 }
        #expect(bad.runwasm(["create", "-b", bad.bundle, "x"]).status == 1)
        #expect(bad.errors.contains("config.json: linux.sysctl.vm.swappiness: not a namespaced sysctl"))
    }

    @Test("a user namespace with a mapped root runs the guest")
    func userNamespace() throws {
        let box = Sandbox(module: CGuest.module, args: ["/app.wasm", "read", "/etc/motd"])
        Harness.mkdirs(box.rootfs + "/etc")
        Harness.write(box.rootfs + "/etc/motd", "mapped")
        // The image belongs to the mapped root, as podman and containerd prepare it.
        box.useUserNamespace()
        #expect(box.runwasm(["run", "-b", box.bundle, "userns"]).status == 0, "stderr: \(box.errors)")
        #expect(box.output.contains("/etc/motd: ok mapped"))

        let spin = Sandbox(module: Guests.spin)
        spin.useUserNamespace()
        let pid = try spin.create("userns2")
        #expect(Harness.read("/proc/\(pid)/uid_map")?.split(separator: " ").filter { !$0.isEmpty }.joined(separator: " ") == "0 100000 65536\n")
        #expect(status(pid)["Uid"]?.hasPrefix("100000") == true, "the guest runs as host uid 100000 (root inside)")
        finish(spin, "userns2", pid)
    }
}

/// A C guest that sleeps, reads random bytes and polls stdin.
enum SleepGuest {
    static let module: [UInt8] = {
        let dir = Harness.tempDir("sleep")
        Harness.write(dir + "/sleep.c", """
            #include <poll.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <time.h>
            int main(void) {
                struct timespec ts = {0, 20000000};
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                if (nanosleep(&ts, NULL) != 0) return 10;
                clock_gettime(CLOCK_MONOTONIC, &b);
                if ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 15000000L) return 11;
                unsigned char r[32] = {0};
                arc4random_buf(r, sizeof r);
                int nonzero = 0;
                for (int i = 0; i < 32; i++) nonzero |= r[i];
                if (!nonzero) return 12;
                struct pollfd p = {0, POLLIN, 0};
                if (poll(&p, 1, 10) < 0) return 13;
                printf("slept, random ok, poll ok\\n");
                return 0;
            }
            """)
        let r = Harness.spawn(["/usr/bin/clang-14", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-fuse-ld=lld", "-o", dir + "/sleep.wasm", dir + "/sleep.c"])
        guard r.status == 0 else { fatalError("clang-14 failed: \(r.stderr)") }
        defer { Harness.removeTree(dir) }
        return CGuest.readBytes(dir + "/sleep.wasm")
    }()
}
