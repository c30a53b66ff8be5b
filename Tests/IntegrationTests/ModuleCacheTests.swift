// The validated-module cache: a module is validated in full the first time runwasm sees its exact
// bytes; later creates of the same bytes skip that work (their functions are translated, and
// checked, when first called). The cache is trusted only for "these exact bytes validated", and
// only when no one but root can have written it.

import Glibc
import Testing

@Suite("validated-module cache", .serialized, .timeLimit(.minutes(4)))
struct ModuleCacheTests {
    /// A module of many functions, one of which (never called) drops `marker`: the byte after
    /// `i32.const marker` is `drop` (0x1a).
    static let marker = 1_234_567
    static let large: [UInt8] = {
        var functions = ""
        for i in 0..<10000 {
            functions += "(func $f\(i) (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const \(i + 3))) (i32.const \(i))))\n"
        }
        return Guests.wasm("""
            (module
              \(Guests.wasiImports)
              (data (i32.const 16) "large\\0a")
              \(functions)
              (func $never (drop (i32.const \(marker))))
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 6))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                (call $proc_exit (call $f7 (i32.const 0)))))
            """)
    }()

    /// `large` with one byte changed: the unused function's `drop` becomes `i64.eqz`, which takes
    /// an i64 from a stack holding an i32. Invalid, but only that never-called function.
    static let broken: [UInt8] = {
        var bytes = large
        // i32.const 1234567 = 0x41 followed by the value's signed LEB128, then drop.
        let pattern: [UInt8] = [0x41, 0x87, 0xad, 0xcb, 0x00, 0x1a]
        let at = (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<$0 + pattern.count]) == pattern }!
        bytes[at + pattern.count - 1] = 0x50
        return bytes
    }()

    /// A cache directory of root's, 0700, under /tmp (sticky).
    func cacheDir() -> String { Harness.tempDir("modcache") }

    func entries(_ dir: String) -> [String] { Harness.entries(dir).sorted() }

    /// create, start, wait: status and stdout.
    func run(_ module: [UInt8], cache: String, args: [String] = ["/app.wasm"], id: String = "cache") -> (status: Int32, output: String, errors: String) {
        let box = Sandbox(module: module, args: args)
        let r = box.runwasm(["run", "--bundle", box.bundle, id], globals: ["--module-cache", cache])
        return (r.status, box.output, box.errors)
    }

    func create(_ module: [UInt8], cache: String? = nil, environment: [String]? = nil) -> (status: Int32, errors: String) {
        let box = Sandbox(module: module)
        let globals = cache.map { ["--module-cache", $0] } ?? []
        let r = box.runwasm(["create", "--bundle", box.bundle, "cache"], globals: globals, environment: environment)
        let errors = box.errors
        if r.status == 0 { box.runwasm(["delete", "--force", "cache"], globals: globals, environment: environment) }
        return (r.status, errors)
    }

    func sha256(_ bytes: [UInt8]) -> String {
        let dir = Harness.tempDir("hash")
        defer { Harness.removeTree(dir) }
        Harness.write(dir + "/m", bytes)
        return String(Harness.spawn(["/usr/bin/sha256sum", dir + "/m"]).stdout.prefix(64))
    }

    /// The entry `valid` leaves in a fresh cache, and the name the same entry would have for `other`.
    func forge(from valid: [UInt8], for other: [UInt8], in dir: String) throws -> (name: String, content: String) {
        #expect(create(valid, cache: dir).status == 0)
        let made = try #require(entries(dir).first, "no cache entry was written")
        let content = try #require(Harness.read(dir + "/" + made))
        let name = made.replacingOccurrences(of: sha256(valid), with: sha256(other))
        #expect(name != made && made.hasPrefix(sha256(valid)))
        return (name, content.replacingOccurrences(of: made, with: name))
    }

    @Test("a real program behaves the same from a cached module as from a fresh one")
    func cachedSameAsFresh() {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        let args = ["/app.wasm", "args", "one", "two"]
        let off = run(CGuest.module, cache: "off", args: args)
        #expect(entries(dir).isEmpty)
        let first = run(CGuest.module, cache: dir, args: args)
        #expect(entries(dir).count == 1, "the first create records the module: \(entries(dir))")
        let cached = run(CGuest.module, cache: dir, args: args)
        #expect(entries(dir).count == 1)
        #expect(off.status == 0 && first.status == 0 && cached.status == 0, "\(off.errors) \(first.errors) \(cached.errors)")
        #expect(off.output.contains("arg[3]=two"))
        #expect(first.output == off.output && cached.output == off.output)
        // A guest that exits with a status, and one that traps, too.
        for extra in [["exit", "9"]] {
            let a = run(CGuest.module, cache: "off", args: ["/app.wasm"] + extra)
            let b = run(CGuest.module, cache: dir, args: ["/app.wasm"] + extra)
            #expect(a.status == 9 && b.status == 9)
        }
        let a = run(Guests.trap, cache: "off")
        _ = run(Guests.trap, cache: dir)
        let b = run(Guests.trap, cache: dir)
        #expect(a.status == b.status && a.status == 134, "\(a) \(b)")
        #expect(entries(dir).count == 2)
    }

    @Test("an invalid function that is never called fails create the first time its module is seen")
    func invalidOnFirstSight() {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        #expect(Self.large.count > 100_000)
        let r = create(Self.broken, cache: dir)
        #expect(r.status != 0)
        #expect(r.errors.contains("Expected i64 on the stack top but got i32"), "\(r.errors)")
        #expect(entries(dir).isEmpty, "a module that failed validation is not recorded")
        // Nor with the cache off.
        #expect(create(Self.broken, cache: "off").status != 0)
    }

    @Test("a module changed by one byte is validated again")
    func oneByteChange() {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        let ok = run(Self.large, cache: dir)
        #expect(ok.status == 7 && ok.output == "large\n", "\(ok)")
        #expect(entries(dir).count == 1)
        // Cached now: the same bytes still run (lazily translated).
        #expect(run(Self.large, cache: dir).status == 7)
        // One byte differs: validated in full again, and the invalid function is found.
        let r = create(Self.broken, cache: dir)
        #expect(r.status != 0, "the changed module must be validated again")
        #expect(entries(dir).count == 1)
        // A valid one-byte change (the data segment's text) is recorded as a second module.
        var changed = Self.large
        let at = (0..<changed.count - 5).first { Array(changed[$0..<$0 + 5]) == Array("large".utf8) }!
        changed[at] = UInt8(ascii: "L")
        let l = run(changed, cache: dir)
        #expect(l.status == 7 && l.output == "Large\n")
        #expect(entries(dir).count == 2)
    }

    @Test("a trusted entry skips validation, and a corrupt, truncated, foreign or untrusted one is ignored")
    func entryTrust() throws {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        let (name, content) = try forge(from: Self.large, for: Self.broken, in: dir)
        let path = dir + "/" + name
        // Truncated, corrupt, foreign: ignored, so the broken module is validated and fails.
        let bad = [
            String(content.prefix(content.count / 2)),
            content.replacingOccurrences(of: "v1", with: "v0"),
            "",
            content + "x",
        ]
        for text in bad {
            Harness.write(path, text)
            #expect(create(Self.broken, cache: dir).status != 0, "entry \(text.debugDescription) was trusted")
        }
        // Another owner's entry is ignored.
        Harness.write(path, content)
        chown(path, 1000, 1000)
        #expect(create(Self.broken, cache: dir).status != 0, "an entry owned by uid 1000 was trusted")
        // An entry writable by others is ignored.
        chown(path, 0, 0)
        chmod(path, 0o666)
        #expect(create(Self.broken, cache: dir).status != 0, "an entry writable by others was trusted")
        // A symbolic link to a good entry is ignored.
        unlink(path)
        Harness.write(dir + "/elsewhere", content)
        symlink(dir + "/elsewhere", path)
        #expect(create(Self.broken, cache: dir).status != 0, "a symlinked entry was trusted")
        unlink(path)
        // The same entry, root's and 0644, is trusted: the never-called invalid function is then
        // not reached (this is what the cache saves), which shows the cases above were refused.
        Harness.write(path, content)
        #expect(create(Self.broken, cache: dir).status == 0, "root's entry was not used")
        // In a directory others can write, even root's entry is not trusted, and nothing is written.
        chmod(dir, 0o777)
        #expect(create(Self.broken, cache: dir).status != 0, "an entry in a directory others can write was trusted")
        let before = entries(dir)
        #expect(create(Guests.exit(0), cache: dir).status == 0)
        #expect(entries(dir) == before, "runwasm wrote to a cache directory others can write")
        chmod(dir, 0o775)
        #expect(create(Self.broken, cache: dir).status != 0, "a group-writable directory was trusted")
        // A directory owned by another user.
        chmod(dir, 0o755)
        chown(dir, 1000, 1000)
        #expect(create(Self.broken, cache: dir).status != 0, "a directory owned by uid 1000 was trusted")
        chown(dir, 0, 0)
    }

    @Test("the cache is moved or turned off by --module-cache and RUNWASM_MODULE_CACHE")
    func flagAndEnvironment() {
        let a = cacheDir()
        let b = cacheDir()
        defer { Harness.removeTree(a); Harness.removeTree(b) }
        let path = "PATH=/usr/bin:/bin"
        #expect(create(Guests.exit(0), environment: [path, "RUNWASM_MODULE_CACHE=\(a)"]).status == 0)
        #expect(entries(a).count == 1, "RUNWASM_MODULE_CACHE names the directory")
        // The flag wins over the environment.
        #expect(create(Guests.exit(1), cache: b, environment: [path, "RUNWASM_MODULE_CACHE=\(a)"]).status == 0)
        #expect(entries(a).count == 1 && entries(b).count == 1)
        // off, by flag or by environment.
        #expect(create(Guests.exit(2), cache: "off", environment: [path, "RUNWASM_MODULE_CACHE=\(a)"]).status == 0)
        #expect(create(Guests.exit(3), environment: [path, "RUNWASM_MODULE_CACHE=off"]).status == 0)
        #expect(entries(a).count == 1 && entries(b).count == 1)
        // With the cache off, a module recorded earlier is validated again.
        let forged = cacheDir()
        defer { Harness.removeTree(forged) }
        if let (name, content) = try? forge(from: Self.large, for: Self.broken, in: forged) {
            Harness.write(forged + "/" + name, content)
            #expect(create(Self.broken, cache: forged).status == 0)
            #expect(create(Self.broken, cache: "off").status != 0)
            #expect(create(Self.broken, environment: [path, "RUNWASM_MODULE_CACHE=off"]).status != 0)
        }
    }

    @Test("concurrent creates of one new module all succeed and leave one whole entry")
    func concurrentCreates() throws {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        let boxes = (0..<6).map { _ in Sandbox(module: Self.large) }
        for box in boxes { box.rewriteConfig() }
        // Distinct ids: containers of one id would share a cgroup.
        let pids = boxes.enumerated().map { index, box in
            Harness.start(
                [Harness.binary, "--root", box.root, "--module-cache", dir, "create", "--bundle", box.bundle, "race\(index)"],
                environment: ["PATH=/usr/bin:/bin"], stdoutPath: box.stdout, stderrPath: box.stderr)
        }
        let statuses = pids.map { Harness.waitFor($0) }
        for (index, (box, status)) in zip(boxes, statuses).enumerated() {
            #expect(status == 0, "\(box.errors)")
            box.runwasm(["delete", "--force", "race\(index)"])
        }
        #expect(entries(dir).count == 1, "\(entries(dir))")
        let name = try #require(entries(dir).first)
        #expect(Harness.read(dir + "/" + name) == "runwasm validated module v1\n\(name)\n")
        #expect(run(Self.large, cache: dir).status == 7)
    }

    @Test("custom sections, which runwasm does not hand to WasmKit, are still checked: a malformed one fails create")
    func customSections() {
        let dir = cacheDir()
        defer { Harness.removeTree(dir) }
        let hello = Guests.hello("custom\n")
        // A well-formed custom section ("x", 3 bytes) changes nothing the guest sees.
        let good = hello + [0x00, 0x05, 0x01, UInt8(ascii: "x"), 1, 2, 3]
        let r = run(good, cache: dir)
        #expect(r.status == 0 && r.output == "custom\n", "\(r)")
        // A name that is not UTF-8, and a section running past the end of the file.
        for bad in [hello + [0x00, 0x03, 0x02, 0xff, 0xfe], hello + [0x00, 0x40, 0x01, UInt8(ascii: "x")]] {
            let c = create(bad, cache: dir)
            #expect(c.status != 0, "a malformed custom section was accepted")
            #expect(c.errors.contains("invalid WebAssembly module"), "\(c.errors)")
        }
        #expect(entries(dir).count == 1)
    }
}
