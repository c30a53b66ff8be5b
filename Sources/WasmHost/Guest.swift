// WasmKit + WASI preview 1: loads, validates and instantiates a module, then runs `_start`.
// Knows nothing of OCI or of Linux confinement: it is handed bytes, argv, an environment,
// preopened directories and three stdio fds.

@_spi(WASIPlatform) import WASI
@_spi(Fuzzing) import WasmKit
import WasmKitWASI
import WasmParser

/// What a file is, judged by its first bytes.
public enum BinaryKind: Equatable, Sendable {
    case coreModule
    case component
    /// `\0asm` with a version that is neither a core module's (1) nor a component's.
    case otherVersion(UInt32)
    case elf
    case script(interpreter: String)
    case empty
    case other

    public static func classify(_ header: [UInt8]) -> BinaryKind {
        if header.isEmpty { return .empty }
        if header.count >= 8, header[0..<4] == [0x00, 0x61, 0x73, 0x6d] {
            switch Array(header[4..<8]) {
            case [0x01, 0x00, 0x00, 0x00]: return .coreModule
            case [0x0d, 0x00, 0x01, 0x00]: return .component
            default:
                let v = header[4..<8].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
                return .otherVersion(v)
            }
        }
        if header.count >= 4, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46] { return .elf }
        if header.count >= 2, header[0] == 0x23, header[1] == 0x21 {
            let line = header.dropFirst(2).prefix { $0 != 0x0a }
            let text = String(decoding: line, as: UTF8.self).trimmingWhitespace
            return .script(interpreter: text)
        }
        return .other
    }

    /// "an ELF executable", "a script (#!/bin/sh)"… for error messages.
    public var description: String {
        switch self {
        case .coreModule: return "a WebAssembly module"
        case .component: return "a WebAssembly component (the component model is not supported yet)"
        case .otherVersion(let v):
            let layer = v >> 16 == 0 ? "" : ", layer \(v >> 16)"
            return "a WebAssembly binary of version \(v & 0xffff)\(layer), not a core module (version 1)"
        case .elf: return "an ELF executable"
        case .script(let interpreter): return "a script (#!\(interpreter))"
        case .empty: return "an empty file"
        case .other: return "not a WebAssembly module (no \\0asm header)"
        }
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

public struct GuestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How a guest run ended.
public enum GuestExit: Equatable, Sendable {
    /// `proc_exit(n)` (n & 0xff), or 0 when `_start` returned.
    case exited(UInt8)
    /// A trap or host failure, with a one-line reason.
    case trapped(String)

    /// The exit status of a trap: 128 + SIGABRT, as the wasmtime CLI uses.
    public static let trapStatus: Int32 = 134

    public var status: Int32 {
        switch self {
        case .exited(let code): return Int32(code)
        case .trapped: return Self.trapStatus
        }
    }
}

public struct GuestOptions: Sendable {
    public var args: [String]
    /// "NAME=value" entries, in the order the guest sees them.
    public var environment: [String]
    /// Guest path and host path of each preopened directory, in fd order from 3.
    public var preopens: [(guest: String, host: String)]
    public var stdin: Int32 = 0
    public var stdout: Int32 = 1
    public var stderr: Int32 = 2
    /// The most linear memory the guest may have, in bytes; a `memory.grow` past it returns -1.
    public var memoryLimit: Int?
    /// Listening sockets (host fds, owned from here on) the guest sees at fds 3, 4, …, before
    /// the preopened directories.
    public var listeners: [Int32] = []

    public init(args: [String], environment: [String], preopens: [(guest: String, host: String)]) {
        self.args = args
        self.environment = environment
        self.preopens = preopens
    }
}

/// A module parsed, checked, linked to WASI and (unless it has a start section, whose code
/// must not run before `start`) instantiated, ready for `run()`.
///
/// WasmKit validates a function's body when it translates it. A module seen for the first time
/// (`validated: false`) is translated in full now, so that no broken module reaches `start`; one
/// whose exact bytes validated before is translated function by function as the guest first
/// calls each, so that the cost of `create` does not grow with the module's size.
public final class PreparedGuest {
    private let store: Store
    private let module: Module
    private let imports: Imports
    private let wasi: WASIBridgeToHost
    private var instance: Instance?
    /// Whether the guest can make socket calls: it has listeners, or it imports sock_* calls.
    public let usesSockets: Bool
    /// Whether the module imports one of WasmEdge's own socket calls (`sock_open`,
    /// `sock_connect`…, not only preview 1's shapes): its filter also allows socket, bind,
    /// connect, listen and the address and option calls.
    public let usesWasmEdgeSockets: Bool

    public static let wasmKitVersion = "0.4.2"

    /// The engine settings, chosen by measurement (Docs/performance.md): the interpreter's
    /// default threading model (direct-threaded) and stack size (512 KiB).
    static func engineConfiguration(eager: Bool) -> EngineConfiguration {
        EngineConfiguration(compilationMode: eager ? .eager : .lazy)
    }

    /// `validated` is asked once the module is parsed: whether these exact bytes validated before.
    public init(moduleBytes: [UInt8], options: GuestOptions, validated: () -> Bool = { false }) throws(GuestError) {
        let module: Module
        let shape: ModuleShape
        do {
            module = try parseWasm(bytes: moduleBytes)
            shape = try ModuleShape(moduleBytes, imports: module.imports, exports: module.exports)
        } catch {
            throw GuestError("invalid WebAssembly module: \(error)")
        }
        // What a WASI command must have is checked now, so that `start` only runs it.
        guard let startType = shape.startTypeIndex.map({ module.functionType(at: $0) }) else {
            throw GuestError("the module exports no _start function, so it is not a WASI command")
        }
        guard let startType, startType.parameters.isEmpty, startType.results.isEmpty else {
            throw GuestError("the module's _start takes parameters or returns results; a WASI command's _start has type () -> ()")
        }
        if shape.importsWASI && !shape.exportsMemory {
            throw GuestError("the module imports WASI functions but exports no memory named \"memory\", which WASI needs")
        }
        // WasmEdge's socket calls are defined with the type each import declares; a type that
        // none of its versions (nor preview 1) has would fail instantiation with WasmKit's
        // generic mismatch, so it is named here.
        let declared = module.imports.compactMap { i -> (module: String, name: String, type: FunctionType)? in
            guard case .function(let index) = i.descriptor, let type = module.functionType(at: index) else { return nil }
            return (i.module, i.name, type)
        }
        usesWasmEdgeSockets = WasmEdgeSockets.importsOwnCalls(declared)
        let mismatched = WasmEdgeSockets.mismatches(declared)
        if !mismatched.isEmpty {
            throw GuestError(
                "the module imports \(mismatched.joined(separator: ", ")) from wasi_snapshot_preview1, a type that matches neither version of WasmEdge's socket calls nor WASI preview 1")
        }
        self.module = module
        // Eager compilation validates every function body now, so that a broken module fails
        // `create` rather than surfacing half-way through a run.
        let eager = !validated()
        let engine = Engine(configuration: PreparedGuest.engineConfiguration(eager: eager))
        store = Store(engine: engine)
        if let limit = options.memoryLimit { store.resourceLimiter = MemoryCap(bytes: limit, tables: shape.tableCount) }
        let fileSystem = ContainerFileSystem(stdio: [options.stdin, options.stdout, options.stderr])
        usesSockets = !options.listeners.isEmpty || shape.importsSockets
        let sockets = usesSockets ? SocketTable() : nil
        fileSystem.sockets = sockets
        let preopens = sockets == nil ? options.preopens : SocketTable.preopens(listeners: options.listeners.count, around: options.preopens)
        do {
            // WASI's own environment is replaced below by the ordered one.
            wasi = try WASIBridgeToHost(
                args: options.args,
                environment: [:],
                fileSystem: .custom { fileSystem }
                    .withStdio(
                        stdin: ContainerFile(fd: options.stdin, access: .read, borrowed: true),
                        stdout: ContainerFile(fd: options.stdout, access: .write, borrowed: true),
                        stderr: ContainerFile(fd: options.stderr, access: .write, borrowed: true))
                    .withPreopens(preopens.map { WASIBridgeToHost.Preopen(guestPath: $0.guest, hostPath: $0.host) }))
        } catch {
            throw GuestError("cannot set up WASI: \(error)")
        }
        if let sockets {
            do {
                try sockets.attach(wasi, listeners: options.listeners, preopenCount: options.preopens.count)
            } catch {
                try? wasi.close()
                throw GuestError("cannot place the listening sockets in the guest's fd table: \(error)")
            }
        }
        var imports = Imports()
        wasi.link(to: &imports, store: store)
        OrderedEnvironment.link(options.environment, to: &imports, store: store)
        sockets?.link(to: &imports, store: store)
        if let sockets { WasmEdgeSockets.link(declared: declared, table: sockets, to: &imports, store: store) }
        self.imports = imports
        if eager && shape.hasStartSection {
            // Instantiating runs the start function, which must wait for `start`: the module is
            // validated in a store of its own, without its start function.
            do {
                try PreparedGuest.validateWithoutStart(module, wasi: wasi, options: options, sockets: sockets, declared: declared)
            } catch {
                try? wasi.close()
                throw error
            }
        }
        if !shape.hasStartSection {
            do {
                instance = try module.instantiate(store: store, imports: imports)
            } catch {
                try? wasi.close()
                if let limit = options.memoryLimit, "\(error)".contains("limit") || "\(error)".contains("grow") {
                    throw GuestError("cannot instantiate the module within the memory limit (\(limit >> 20) MiB of linear memory and tables): \(error)")
                }
                throw GuestError("cannot instantiate the module: \(error)")
            }
        }
    }

    private static func validateWithoutStart(
        _ module: Module, wasi: WASIBridgeToHost, options: GuestOptions, sockets: SocketTable?,
        declared: [(module: String, name: String, type: FunctionType)]
    ) throws(GuestError) {
        var module = module
        module.dropStartFunction()
        let store = Store(engine: Engine(configuration: engineConfiguration(eager: true)))
        if let limit = options.memoryLimit { store.resourceLimiter = MemoryCap(bytes: limit, tables: 1 << 16) }
        do {
            var imports = Imports()
            wasi.link(to: &imports, store: store)
            OrderedEnvironment.link([], to: &imports, store: store)
            sockets?.link(to: &imports, store: store)
            if let sockets { WasmEdgeSockets.link(declared: declared, table: sockets, to: &imports, store: store) }
            _ = try module.instantiate(store: store, imports: imports)
        } catch {
            throw GuestError("invalid WebAssembly module: \(error)")
        }
    }

    /// Runs `_start` and reports how the guest ended. Never throws: every failure is a trap.
    public func run() -> GuestExit {
        defer { try? wasi.close() }
        do {
            let instance = try self.instance ?? module.instantiate(store: store, imports: imports)
            let code = try wasi.start(instance)
            return .exited(UInt8(truncatingIfNeeded: code))
        } catch let exit as WASIExitCode {
            // proc_exit from a start section, which runs while instantiating.
            return .exited(UInt8(truncatingIfNeeded: exit.code))
        } catch let trap as Trap {
            return .trapped("trap: \(trap.description.split(separator: "\n").first ?? "")")
        } catch {
            let line = "\(error)".split(separator: "\n").first ?? ""
            return .trapped("error: \(line)")
        }
    }

    /// Closes WASI's descriptors without running the guest.
    public func discard() {
        try? wasi.close()
    }
}

/// What runwasm checks of a module beyond WasmKit's validation. Imports and exports come from
/// WasmKit's parse; the rest from a walk over the section headers that skips every section but
/// the (small) function section, so that no section is decoded twice.
struct ModuleShape {
    var startTypeIndex: TypeIndex?
    var exportsMemory = false
    var importsWASI = false
    var importsSockets = false
    var hasStartSection = false
    var tableCount = 0

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    init(_ bytes: [UInt8], imports: [Import], exports: [Export]) throws {
        var importedFunctionTypes: [TypeIndex] = []
        for i in imports {
            if i.module == "wasi_snapshot_preview1" || i.module == "wasi_unstable" {
                importsWASI = true
                if i.name.hasPrefix("sock_") { importsSockets = true }
            }
            switch i.descriptor {
            case .function(let type): importedFunctionTypes.append(type)
            case .table: tableCount += 1
            default: break
            }
        }
        var startIndex: Int?
        for e in exports {
            if e.name == "_start", case .function(let index) = e.descriptor { startIndex = Int(index) }
            if e.name == "memory", case .memory = e.descriptor { exportsMemory = true }
        }
        if let startIndex, startIndex < importedFunctionTypes.count {
            startTypeIndex = importedFunctionTypes[startIndex]
        }
        var offset = 8
        func leb() throws -> Int {
            var result = 0
            var shift = 0
            while true {
                guard offset < bytes.count, shift < 35 else { throw Malformed(description: "bad section header at \(offset)") }
                let b = bytes[offset]
                offset += 1
                result |= Int(b & 0x7f) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
        }
        while offset < bytes.count {
            let id = bytes[offset]
            offset += 1
            let size = try leb()
            let end = offset + size
            guard end <= bytes.count else { throw Malformed(description: "section \(id) runs past the end") }
            switch id {
            case 3:  // function section: the type of each defined function
                if let startIndex, startIndex >= importedFunctionTypes.count {
                    let count = try leb()
                    let wanted = startIndex - importedFunctionTypes.count
                    if wanted < count {
                        for _ in 0..<wanted { _ = try leb() }
                        startTypeIndex = TypeIndex(try leb())
                    }
                }
            case 4: tableCount += try leb()
            case 8: hasStartSection = true
            default: break
            }
            offset = end
        }
    }
}

/// Denies linear-memory and table growth past a byte count: the guest's `memory.grow` or
/// `table.grow` returns -1 and its allocator reports out of memory, instead of the kernel's OOM
/// killer ending the container. Tables are counted at 8 bytes an element (WasmKit's storage),
/// each as large as the largest one seen, since the limiter is not told which table grows.
final class MemoryCap: ResourceLimiter, @unchecked Sendable {
    let bytes: Int
    let tables: Int
    private var memory = 0
    private var largestTable = 0

    init(bytes: Int, tables: Int) {
        self.bytes = bytes
        self.tables = max(tables, 1)
    }

    private func fits(memory: Int, largestTable: Int) -> Bool {
        let (tableBytes, o1) = largestTable.multipliedReportingOverflow(by: 8 * tables)
        let (total, o2) = memory.addingReportingOverflow(tableBytes)
        return !o1 && !o2 && total <= bytes
    }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        guard fits(memory: desired, largestTable: largestTable) else { return false }
        memory = max(memory, desired)
        return true
    }

    func limitTableGrowth(to desired: Int) throws -> Bool {
        let largest = max(largestTable, desired)
        guard fits(memory: memory, largestTable: largest) else { return false }
        largestTable = largest
        return true
    }
}
