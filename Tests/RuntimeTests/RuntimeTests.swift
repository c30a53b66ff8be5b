import Runtime
import Testing
import WasmHost

@Suite("pure runtime logic")
struct RuntimeUnitTests {
    @Test("signals by number and by name (0: only check the container is alive, as runc)", arguments: [
        ("9", Int32(9)), ("0", 0), ("KILL", 9), ("SIGKILL", 9), ("sigkill", 9), ("term", 15), ("SIGRTMIN", 34), ("RTMIN+2", 36), ("SIGRTMAX-1", 63),
    ])
    func signals(text: String, number: Int32) throws {
        #expect(try Signals.parse(text) == number)
    }

    @Test("unknown signals are refused", arguments: ["65", "-1", "SIGFOO", "", "RTMIN+31"])
    func badSignals(text: String) {
        #expect(throws: Signals.SignalError.self) { try Signals.parse(text) }
    }

    @Test("binaries are classified by their first bytes")
    func classify() {
        #expect(BinaryKind.classify([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) == .coreModule)
        #expect(BinaryKind.classify([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]) == .component)
        #expect(BinaryKind.classify([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]) == .elf)
        #expect(BinaryKind.classify(Array("#! /bin/sh -e\necho".utf8)) == .script(interpreter: "/bin/sh -e"))
        #expect(BinaryKind.classify([]) == .empty)
        #expect(BinaryKind.classify(Array("hello".utf8)) == .other)
    }

    @Test("a log record in each format")
    func logFormats() {
        let json = Logger(path: nil, format: .json, debug: false).format(level: "error", "a \"b\"", time: "2026-01-02T03:04:05Z")
        #expect(json == #"{"level":"error","msg":"a \"b\"","time":"2026-01-02T03:04:05Z"}"# + "\n")
        let text = Logger(path: nil, format: .text, debug: false).format(level: "error", "oops", time: "2026-01-02T03:04:05Z")
        #expect(text == "time=\"2026-01-02T03:04:05Z\" level=error msg=\"oops\"\n")
    }

    @Test("features lists what runwasm honours, as valid JSON with a newline")
    func features() {
        let text = Info.featuresJSON
        #expect(text.hasSuffix("}\n"))
        #expect(text.contains("\"ociVersionMin\": \"1.0.0\""))
        #expect(text.contains("\"dev.runwasm.wasm\": \"true\""))
        #expect(text.contains("\"user\""), "user namespaces are supported")
        #expect(text.contains("\"CAP_SYS_ADMIN\""))
        #expect(text.contains("\"SCMP_ACT_ERRNO\""))
        #expect(text.contains("\"rro\""), "recursive mount options are applied (mount_setattr)")
    }
}
