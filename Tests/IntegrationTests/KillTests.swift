// kill as runc 1.1.5 does it: --all reaches every process of the container through its cgroup,
// and SIGKILL of a paused container thaws it so that it dies.

import Glibc
import Testing

@Suite("kill as runc", .serialized, .timeLimit(.minutes(2)))
struct KillAllTests {
    @Test("kill -a signals every process of the container, exec'd ones too; SIGKILL of a paused container ends it")
    func killAll() throws {
        let box = Sandbox(module: Guests.spin)
        Harness.write(box.rootfs + "/spin2.wasm", Guests.spin)
        // No pid namespace: the end of the container's first process must not take the exec'd
        // one with it (the kernel kills a pid namespace's processes when its PID 1 exits).
        var linux = box.config["linux"] as! [String: Any]
        linux["namespaces"] = ["network", "ipc", "uts", "mount"].map { ["type": $0] }
        box.config["linux"] = linux
        let pid = try box.startSpinning("killall")
        let execPid = box.dir + "/exec.pid"
        #expect(box.runwasm(["exec", "-d", "--pid-file", execPid, "killall", "/spin2.wasm"]).status == 0, "\(box.errors)")
        let exec = try #require(Harness.read(execPid).flatMap { pid_t($0) })
        Harness.adopt(exec)
        #expect(box.runwasm(["kill", "-a", "killall", "TERM"]).status == 0)
        #expect(Harness.waitFor(exec, timeout: 10) == 143, "the exec'd process got SIGTERM too")
        _ = Harness.waitFor(pid, timeout: 10)

        let paused = Sandbox(module: Guests.spin)
        let p = try paused.startSpinning("pausedkill")
        #expect(paused.runwasm(["pause", "pausedkill"]).status == 0)
        #expect(paused.runwasm(["kill", "pausedkill", "KILL"]).status == 0)
        #expect(Harness.waitFor(p, timeout: 10) == 137, "a paused container killed with SIGKILL ends")
        paused.runwasm(["delete", "--force", "pausedkill"])
        box.runwasm(["delete", "--force", "killall"])
    }
}
