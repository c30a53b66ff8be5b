import OCI
import Testing

/// A NUL byte would cut a string where the kernel reads it: refused, naming the field.
@Suite("config.json: NUL bytes")
struct NULByteTests {
    func load(_ json: String) throws(ConfigError) -> ContainerPlan {
        try ContainerPlan.load(configJSON: Array(json.utf8), bundle: "/b")
    }

    func config(process: String = #""args":["/app.wasm"]"#, rest: String = "") -> String {
        #"{"ociVersion":"1.0.2","process":{"# + process + #"},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"}]}"#
            + rest + "}"
    }

    @Test("NUL bytes are refused where the kernel would cut the string", arguments: [
        (#""args":["/app.wasm","a\u0000b"]"#, "", "config.json: process.args[1]: contains a NUL byte"),
        (#""args":["/app.wasm\u0000.sh"]"#, "", "config.json: process.args[0]: contains a NUL byte"),
        (#""args":["/app.wasm"],"env":["A=1","B=x\u0000y"]"#, "", "config.json: process.env[1]: contains a NUL byte"),
        (#""args":["/app.wasm"],"cwd":"/a\u0000b""#, "", "config.json: process.cwd: contains a NUL byte"),
        (#""args":["/app.wasm"]"#, #","mounts":[{"destination":"/tmp\u0000/x","type":"tmpfs","source":"tmpfs"}]"#,
         "config.json: mounts[0].destination: contains a NUL byte"),
        (#""args":["/app.wasm"]"#, #","mounts":[{"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["mode=755\u0000"]}]"#,
         "config.json: mounts[0].options[0]: contains a NUL byte"),
        (#""args":["/app.wasm"]"#, #","hostname":"a\u0000b""#, "config.json: hostname: contains a NUL byte"),
        (#""args":["/app.wasm"]"#, #","hooks":{"prestart":[{"path":"/bin/true","args":["true","\u0000"]}]}"#,
         "config.json: hooks.prestart[0].args[1]: contains a NUL byte"),
    ])
    func refused(process: String, rest: String, message: String) {
        #expect(throws: ConfigError.self) { try load(config(process: process, rest: rest)) }
        do {
            _ = try load(config(process: process, rest: rest))
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("annotations may hold NUL bytes: they never reach the kernel")
    func annotations() throws {
        let plan = try load(config(rest: #","annotations":{"a":"x\u0000y"}"#))
        #expect(plan.annotations["a"] == "x\u{0}y")
    }
}
