import OCI
import Testing

@Suite("config.json to plan")
struct PlanTests {
    func load(_ json: String, bundle: String = "/b") throws(ConfigError) -> ContainerPlan {
        try ContainerPlan.load(configJSON: Array(json.utf8), bundle: bundle)
    }

    let minimal = """
        {"ociVersion":"1.0.2","process":{"args":["/app.wasm"],"cwd":"/"},"root":{"path":"rootfs"},
         "linux":{"namespaces":[{"type":"mount"}]}}
        """

    @Test("a minimal config decodes, with defaults applied")
    func minimalConfig() throws {
        let plan = try load(minimal)
        #expect(plan.rootfs == "/b/rootfs")
        #expect(plan.args == ["/app.wasm"])
        #expect(plan.cwd == "/")
        #expect(!plan.terminal)
        #expect(!plan.rootReadonly)
        #expect(plan.namespaces == [NamespacePlan(kind: .mount, path: nil)])
        #expect(plan.rootPropagation == MountFlags.slave | MountFlags.rec)
        #expect(!plan.isPodSandbox)
    }

    @Test("errors name the field", arguments: [
        ("{", "config.json: not valid JSON"),
        (#"{"ociVersion":"1.0.2","process":{"args":"x"},"root":{"path":"r"}}"#, "config.json: process.args: expected an array"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"]},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"foo"}]}}"#,
         #"config.json: linux.namespaces[2].type: unknown namespace "foo""#),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"]},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"},{"type":"mount"}]}}"#,
         #"config.json: linux.namespaces[1].type: namespace "mount" is listed twice"#),
        (#"{"ociVersion":"1.0.2","process":{"args":[]},"root":{"path":"r"}}"#, "config.json: process.args: must name the module to run"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"],"env":["NOEQUALS"]},"root":{"path":"r"}}"#,
         #"config.json: process.env[0]: "NOEQUALS" is not of the form KEY=VALUE"#),
        (#"{"process":{"args":["/a"]},"root":{"path":"r"}}"#, "config.json: ociVersion: missing"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"]}}"#, "config.json: root.path: missing"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"]},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"}]},"mounts":[{"destination":"rel","type":"tmpfs"}]}"#,
         #"config.json: mounts[0].destination: "rel" is not an absolute path"#),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"]},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"}]},"hooks":{"poststop":[{"args":["x"]}]}}"#,
         "config.json: hooks.poststop[0].path: missing"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"],"consoleSize":{"height":-1,"width":2}},"root":{"path":"r"}}"#,
         "config.json: process.consoleSize.height: -1 is out of range (0 to 65535)"),
        (#"{"ociVersion":"1.0.2","process":{"args":["/a"],"consoleSize":{"height":"tall","width":2}},"root":{"path":"r"}}"#,
         "config.json: process.consoleSize.height: expected an integer"),
    ])
    func namedErrors(json: String, message: String) {
        do {
            _ = try load(json)
            Issue.record("expected an error for \(json)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("supported ociVersions", arguments: [("1.0.0", true), ("1.0.2-dev", true), ("1.1.0", true), ("1.2.1", true), ("1.3.0", false), ("2.0.0", false), ("1.0", false), ("x", false)])
    func versions(version: String, ok: Bool) {
        #expect(ContainerPlan.isSupported(ociVersion: version) == ok)
    }

    @Test("mount options become flags, propagation and data")
    func mountOptions() throws {
        let plan = try load("""
            {"ociVersion":"1.1.0","process":{"args":["/a"]},"root":{"path":"/abs/root","readonly":true},
             "linux":{"namespaces":[{"type":"mount"},{"type":"uts"}],"rootfsPropagation":"rprivate"},"hostname":"h",
             "mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
                       {"destination":"/data/../data/","source":"host","options":["rbind","ro","rslave","x-systemd.automount"]}]}
            """)
        #expect(plan.rootfs == "/abs/root")
        #expect(plan.rootReadonly)
        #expect(plan.hostname == "h")
        #expect(plan.rootPropagation == MountFlags.private | MountFlags.rec)
        #expect(plan.mounts[0] == MountPlan(destination: "/dev", type: "tmpfs", source: "tmpfs",
            flags: MountFlags.nosuid | MountFlags.strictatime, propagation: 0, data: "mode=755,size=65536k"))
        #expect(plan.mounts[1] == MountPlan(destination: "/data", type: "bind", source: "/b/host",
            flags: MountFlags.bind | MountFlags.rec | MountFlags.rdonly, propagation: MountFlags.slave | MountFlags.rec, data: ""))
    }

    @Test("environment duplicates: the last wins")
    func environment() throws {
        let plan = try load("""
            {"ociVersion":"1.0.2","process":{"args":["/a"],"env":["A=1","B=x=y","A=2","E="]},"root":{"path":"r"},
             "linux":{"namespaces":[{"type":"mount"}]}}
            """)
        #expect(plan.environment == ["A": "2", "B": "x=y", "E": ""])
    }

    @Test("pod sandbox annotations are recognised", arguments: [
        ("io.kubernetes.cri.container-type", "sandbox", true),
        ("io.kubernetes.cri-o.ContainerType", "sandbox", true),
        ("io.kubernetes.cri.container-type", "container", false),
    ])
    func sandbox(key: String, value: String, expected: Bool) throws {
        let plan = try load("""
            {"ociVersion":"1.0.2","process":{"args":["/pause"]},"root":{"path":"r"},
             "linux":{"namespaces":[{"type":"mount"}]},"annotations":{"\(key)":"\(value)"}}
            """)
        #expect(plan.isPodSandbox == expected)
    }

    @Test("lexical path cleaning", arguments: [
        ("/a/b/../c", "/a/c"), ("/../..", "/"), ("a//b/./c/", "a/b/c"), ("..", ".."), ("/", "/"), ("", "."),
    ])
    func clean(input: String, output: String) {
        #expect(Path.clean(input) == output)
    }
}

@Suite("JSON as Go writes it")
struct JSONTests {
    @Test("indented output matches encoding/json MarshalIndent")
    func indented() {
        let v: JSONValue = .object([("a", .int(1)), ("b", .array([.string("x"), .bool(true)])), ("c", .object([])), ("d", .array([]))])
        #expect(v.indented() == "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    true\n  ],\n  \"c\": {},\n  \"d\": []\n}")
        #expect(v.compact() == #"{"a":1,"b":["x",true],"c":{},"d":[]}"#)
    }

    @Test("strings are escaped as Go escapes them")
    func escaping() {
        #expect(JSONValue.string("<a&b>\"\\\n\u{1}é").compact() == #""\u003ca\u0026b\u003e\"\\\n\u0001é""#)
    }

    @Test("state JSON omits empty annotations and reports pid 0 once stopped")
    func state() {
        var s = ContainerState(id: "x", status: .running, pid: 42, bundle: "/b", rootfs: "/b/r", created: "t", annotations: [:])
        #expect(s.json.compact() == #"{"ociVersion":"1.2.1","id":"x","pid":42,"status":"running","bundle":"/b","rootfs":"/b/r","created":"t","owner":""}"#)
        s.status = .stopped
        #expect(s.json["pid"] == .int(0))
        #expect(s.hookJSON.compact() == #"{"ociVersion":"1.2.1","id":"x","status":"stopped","bundle":"/b"}"#)
    }
}
