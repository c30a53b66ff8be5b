import Glibc
import Testing

@Suite("hooks", .serialized, .timeLimit(.minutes(2)))
struct HookTests {
    /// A hook that saves its stdin (the state) and a few facts about where it ran.
    func recorder(_ file: String, extra: String = "") -> [String: Any] {
        [
            "path": "/bin/sh",
            "args": ["sh", "-c", "cat > \(file).json; readlink /proc/self/ns/mnt > \(file).mntns; echo \"$HOOKVAR\" > \(file).env; \(extra)"],
            "env": ["HOOKVAR=hook-env-value", "PATH=/usr/bin:/bin"],
            "timeout": 10,
        ]
    }

    /// Lets hooks that run inside the container find /bin/sh: the host's /usr, read-only.
    func shareHostUsr(_ box: Sandbox, out: String) {
        for dir in ["bin", "lib", "lib64", "sbin"] { symlink("usr/\(dir)", box.rootfs + "/\(dir)") }
        box.addMount(["destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]])
        box.addMount(["destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]])
    }

    @Test("each hook kind runs where and when the runtime-spec says, with the state on stdin")
    func allKinds() throws {
        let box = Sandbox(module: Guests.spin)
        let out = box.dir + "/out"
        Harness.mkdirs(out)
        shareHostUsr(box, out: out)
        box.config["annotations"] = ["team": "wasm"]
        box.config["hooks"] = [
            "prestart": [recorder(out + "/prestart")],
            "createRuntime": [recorder(out + "/createRuntime")],
            "createContainer": [recorder(out + "/createContainer")],
            "startContainer": [recorder("/out/startContainer", extra: "pwd > /out/startContainer.cwd")],
            "poststart": [recorder(out + "/poststart")],
            "poststop": [recorder(out + "/poststop")],
        ]
        box.process["cwd"] = "/usr"
        let pid = try box.create("h")
        let containerMnt = GuestTests().readlinkString("/proc/\(pid)/ns/mnt")
        let runtimeMnt = GuestTests().readlinkString("/proc/self/ns/mnt")

        for kind in ["prestart", "createRuntime"] {
            let state = try #require(Harness.json(Harness.read(out + "/\(kind).json") ?? ""), "\(kind) ran")
            #expect(state["status"] as? String == "creating")
            #expect(state["pid"] as? Int == Int(pid))
            #expect(state["id"] as? String == "h")
            #expect(state["bundle"] as? String == box.bundle)
            #expect((state["annotations"] as? [String: String])?["team"] == "wasm")
            #expect(Harness.read(out + "/\(kind).mntns") == runtimeMnt + "\n", "\(kind) runs in the runtime's mount namespace")
            #expect(Harness.read(out + "/\(kind).env") == "hook-env-value\n")
        }
        #expect(Harness.read(out + "/createContainer.mntns") == containerMnt + "\n", "createContainer runs in the container's mount namespace")
        #expect(!Harness.exists(out + "/startContainer.json"), "startContainer waits for start")
        #expect(!Harness.exists(out + "/poststart.json"))

        #expect(box.runwasm(["start", "h"]).status == 0)
        let start = try #require(Harness.json(Harness.read(out + "/startContainer.json") ?? ""), "startContainer ran inside the container")
        #expect(start["status"] as? String == "created")
        #expect(Harness.read(out + "/startContainer.mntns") == containerMnt + "\n")
        #expect(Harness.read(out + "/startContainer.cwd") == "/usr\n", "startContainer runs in process.cwd")
        let post = try #require(Harness.json(Harness.read(out + "/poststart.json") ?? ""))
        #expect(post["status"] as? String == "running")
        #expect(Harness.read(out + "/poststart.mntns") == runtimeMnt + "\n")
        #expect(!Harness.exists(out + "/poststop.json"))

        #expect(box.runwasm(["kill", "h", "KILL"]).status == 0)
        _ = Harness.waitFor(pid)
        #expect(box.runwasm(["delete", "h"]).status == 0)
        let stop = try #require(Harness.json(Harness.read(out + "/poststop.json") ?? ""))
        #expect(stop["status"] as? String == "stopped")
        #expect(stop["pid"] == nil, "poststop gets no pid")
    }

    @Test("a hook that outlives its timeout is killed and fails create")
    func timeout() {
        let box = Sandbox(module: Guests.hello())
        box.config["hooks"] = ["prestart": [["path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1]]]
        let started = Harness.now()
        let r = box.runwasm(["create", "-b", box.bundle, "t"])
        #expect(r.status == 1)
        #expect(Harness.now() - started < 10)
        #expect(box.errors.contains("hook prestart[0] (/bin/sleep) timed out after 1 s"))
        #expect(box.leftovers.isEmpty)
    }

    @Test("a failing createContainer hook fails create and shows the hook's output")
    func failingCreateContainer() {
        let box = Sandbox(module: Guests.hello())
        box.config["hooks"] = ["createContainer": [["path": "/bin/sh", "args": ["sh", "-c", "echo no way >&2; exit 3"]]]]
        let r = box.runwasm(["create", "-b", box.bundle, "cc"])
        #expect(r.status == 1)
        #expect(box.errors.contains("hook createContainer[0] (/bin/sh) failed: exit status 3: no way"))
        #expect(box.leftovers.isEmpty)
    }

    @Test("a failing startContainer or poststart hook fails start and ends the container")
    func failingStartHooks() throws {
        for kind in ["startContainer", "poststart"] {
            let box = Sandbox(module: Guests.spin)
            let out = box.dir + "/out"
            Harness.mkdirs(out)
            shareHostUsr(box, out: out)
            box.config["hooks"] = [kind: [["path": "/bin/false"]]]
            let pid = try box.create("f")
            let r = box.runwasm(["start", "f"])
            #expect(r.status == 1, "\(kind)")
            #expect(box.errors.contains("hook \(kind)[0] (/bin/false) failed: exit status 1"))
            let status = Harness.waitFor(pid, timeout: 5)
            #expect(status == (kind == "startContainer" ? 1 : 137), "\(kind): the container ended (\(status))")
            if kind == "startContainer" { #expect(box.output == "", "the guest never ran") }
            #expect(box.runwasm(["delete", "f"]).status == 0)
        }
    }

    @Test("a failing poststop hook is a warning: delete still succeeds")
    func failingPoststop() throws {
        let box = Sandbox(module: Guests.hello())
        box.config["hooks"] = ["poststop": [["path": "/bin/false"]]]
        let pid = try box.create("ps")
        #expect(box.runwasm(["start", "ps"]).status == 0)
        _ = Harness.waitFor(pid)
        #expect(box.runwasm(["delete", "ps"]).status == 0)
        #expect(box.leftovers.isEmpty)
        #expect(box.errors.contains("warning: hook poststop[0] (/bin/false) failed"))
    }
}
