// What can fail about a module fails `create`, with a message naming it; `start` only runs the
// guest. And the guest's tables count against the memory limit like its linear memory.

import Glibc
import Testing

@Suite("module checks at create", .serialized, .timeLimit(.minutes(2)))
struct ModuleChecksTests {
    /// create (never start) of `module`; returns the status, the error text and what is left.
    func create(_ module: [UInt8]) -> (status: Int32, errors: String, leftovers: [String]) {
        let box = Sandbox(module: module)
        let r = box.runwasm(["create", "--bundle", box.bundle, "checks"])
        let errors = box.errors
        if r.status == 0 { box.runwasm(["delete", "--force", "checks"]) }
        return (r.status, errors, box.leftovers)
    }

    @Test("a \\0asm binary of another version is named for what it is")
    func otherVersion() {
        var module = Guests.hello()
        module[4] = 2
        let r = create(module)
        #expect(r.status != 0)
        #expect(r.errors.contains("a WebAssembly binary of version 2, not a core module (version 1)"), "\(r.errors)")
        #expect(r.leftovers.isEmpty)
    }

    @Test("a _start that takes parameters or returns results fails create")
    func startSignature() {
        for signature in ["(param i32)", "(result i32)"] {
            let module = Guests.wasm("""
                (module
                  \(Guests.wasiImports)
                  (func (export "_start") \(signature) \(signature.contains("result") ? "(i32.const 0)" : "")))
                """)
            let r = create(module)
            #expect(r.status != 0, "\(signature)")
            #expect(r.errors.contains("_start has type () -> ()"), "\(signature): \(r.errors)")
            #expect(r.leftovers.isEmpty)
        }
    }

    @Test("a module that imports WASI but exports no memory fails create")
    func missingMemory() {
        let module = Guests.wasm("""
            (module
              (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
              (func (export "_start") (call $proc_exit (i32.const 3))))
            """)
        let r = create(module)
        #expect(r.status != 0)
        #expect(r.errors.contains("exports no memory named \"memory\""), "\(r.errors)")
    }

    @Test("proc_exit(n) in a start section exits n")
    func startSectionExit() {
        let box = Sandbox(module: Guests.wasm("""
            (module
              \(Guests.wasiImports)
              (func $init (call $proc_exit (i32.const 77)))
              (start $init)
              (func (export "_start")))
            """))
        let r = box.runwasm(["run", "-b", box.bundle, "start-exit"])
        #expect(r.status == 77, "stderr: \(box.errors)")
        #expect(!box.errors.contains("WASIExitCode"))
    }

    @Test("table.grow counts against the memory limit: it fails instead of taking host memory")
    func tableGrowth() {
        // Asks for 100 million more table elements (800 MB of host memory) under a 64 MiB limit;
        // table.grow returns -1, and the guest exits with 3.
        let box = Sandbox(module: Guests.wasm("""
            (module
              \(Guests.wasiImports)
              (table $t 1 funcref)
              (func (export "_start")
                (if (i32.eq (table.grow $t (ref.null func) (i32.const 100000000)) (i32.const -1))
                  (then (call $proc_exit (i32.const 3))))
                (call $proc_exit (i32.const 4))))
            """))
        var linux = box.config["linux"] as! [String: Any]
        linux["resources"] = ["memory": ["limit": 64 << 20]]
        box.config["linux"] = linux
        let r = box.runwasm(["run", "-b", box.bundle, "table-grow"])
        #expect(r.status == 3, "stderr: \(box.errors)")
    }
}
