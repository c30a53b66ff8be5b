// Callers write a deny-all device rule and rely on the runtime's own allow-list (null, zero,
// random, the ptys...). The same config under runc and under runwasm must leave the same cgroup
// v1 device list, and the guest must open what a native process opens.

import Foundation
import Glibc
import Testing

@Suite("device rules against runc", .serialized, .timeLimit(.minutes(2)))
struct DeviceRuleTests {
    static let devicesRoot = "/sys/fs/cgroup/devices"

    /// `linux.resources.devices` as Docker, podman, containerd's CRI and `runc spec` write it.
    func denyAll(_ box: Sandbox, cgroup: String) {
        var linux = box.config["linux"] as! [String: Any]
        linux["resources"] = ["devices": [["allow": false, "access": "rwm"]]]
        linux["cgroupsPath"] = cgroup
        box.config["linux"] = linux
    }

    /// devices.list of `cgroup` while a container of `runtime` sits created in it.
    func deviceList(_ runtime: [String], _ box: Sandbox, cgroup: String, id: String) throws -> String {
        let r = Harness.spawn(runtime + ["create", "--bundle", box.bundle, "--pid-file", box.dir + "/\(id).pid", id])
        try #require(r.status == 0, "\(runtime[0]) create: \(r.stderr)")
        let pid = try #require(Harness.read(box.dir + "/\(id).pid").flatMap { pid_t($0) })
        Harness.adopt(pid)
        let list = Harness.read(Self.devicesRoot + cgroup + "/devices.list") ?? ""
        _ = Harness.spawn(runtime + ["delete", "--force", id])
        _ = Harness.waitFor(pid, timeout: 5)
        return list
    }

    @Test("a deny-all rule leaves runc's default devices allowed, as under runc")
    func defaultAllowList() throws {
        try #require(Harness.isDirectory(Self.devicesRoot), "this host has no cgroup v1 devices hierarchy")
        let cgroup = "/runwasm-test-devices-\(getpid())"
        let box = Sandbox(module: Probe.wasm)
        Harness.write(box.rootfs + "/probe", Probe.native, mode: 0o755)
        Harness.mkdirs(box.rootfs + "/proc")
        Harness.mkdirs(box.rootfs + "/dev")
        denyAll(box, cgroup: cgroup)
        let probes = ["open", "/dev/null", "rw", "open", "/dev/zero", "r", "open", "/dev/urandom", "r", "open", "/dev/full", "w",
                      "open", "/dev/tty", "rw"]

        box.process["args"] = ["/probe", "wait"]
        box.writeConfig()
        let runcList = try deviceList(["/usr/sbin/runc", "--root", box.dir + "/runc-root"], box, cgroup: cgroup, id: "devices-runc")
        box.process["args"] = ["/app.wasm", "wait"]
        box.rewriteConfig()
        let runwasmList = try deviceList([Harness.binary, "--root", box.root], box, cgroup: cgroup, id: "devices-runwasm")
        #expect(!runcList.isEmpty)
        // The same rules; the order of devices.list follows the order of the writes.
        func rules(_ list: String) -> [Substring] { list.split(separator: "\n").sorted() }
        #expect(rules(runwasmList) == rules(runcList), "runc:\n\(runcList)\nrunwasm:\n\(runwasmList)")

        box.process["args"] = ["/probe"] + probes
        box.rewriteConfig()
        let native = Harness.spawn(["/usr/sbin/runc", "--root", box.dir + "/runc-root", "run", "-b", box.bundle, "devices-native"])
        box.process["args"] = ["/app.wasm"] + probes
        box.rewriteConfig()
        let wasm = box.runwasm(["run", "-b", box.bundle, "devices-wasm"])
        #expect(wasm.status == 0, "\(box.errors)")
        #expect(box.output == native.stdout, "runc:\n\(native.stdout)\nrunwasm:\n\(box.output)")
        #expect(box.output.contains("open /dev/null rw: ok"))
        rmdir(Self.devicesRoot + cgroup)
    }

    @Test("a terminal container under a deny-all rule gets its pty")
    func terminalUnderDenyAll() throws {
        try #require(Harness.isDirectory(Self.devicesRoot), "this host has no cgroup v1 devices hierarchy")
        let box = Sandbox(module: Guests.hello("tty ok\n"))
        Harness.mkdirs(box.rootfs + "/dev/pts")
        box.process["terminal"] = true
        denyAll(box, cgroup: "/runwasm-test-devices-tty-\(getpid())")
        let socket = box.dir + "/console.sock"
        let listener = try Harness.listenUnix(socket)
        defer { close(listener) }
        let r = box.runwasm(["create", "--bundle", box.bundle, "--console-socket", socket, "tty"])
        #expect(r.status == 0, "create: \(box.errors)")
        if r.status == 0 { box.runwasm(["delete", "--force", "tty"]) }
    }
}
