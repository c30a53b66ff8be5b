// WasmKit + WASI preview 1: loads, validates and instantiates a module, then runs `_start`.
// Knows nothing of OCI or of Linux confinement: it is handed bytes, argv, an environment,
// preopened directories and three stdio fds.

import WASI
@_spi(Fuzzing) import WasmKit
import WasmKitWASI

/// What a file is, judged by its first bytes.
public enum BinaryKind: Equatable, Sendable {
    case coreModule
    case component
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
            default: return .other
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
    public var environment: [String: String]
    /// Guest path and host path of each preopened directory, in fd order from 3.
    public var preopens: [(guest: String, host: String)]
    public var stdin: Int32 = 0
    public var stdout: Int32 = 1
    public var stderr: Int32 = 2
    /// The most linear memory the guest may have, in bytes; a `memory.grow` past it returns -1.
    public var memoryLimit: Int?

    public init(args: [String], environment: [String: String], preopens: [(guest: String, host: String)]) {
        self.args = args
        self.environment = environment
        self.preopens = preopens
    }
}

/// A module parsed, validated, linked to WASI and (unless it has a start section, whose code
/// must not run before `start`) instantiated, ready for `run()`.
public final class PreparedGuest {
    private let store: Store
    private let module: Module
    private let imports: Imports
    private let wasi: WASIBridgeToHost
    private var instance: Instance?

    public static let wasmKitVersion = "0.4.2"

    public init(moduleBytes: [UInt8], options: GuestOptions) throws(GuestError) {
        let module: Module
        do {
            module = try parseWasm(bytes: moduleBytes)
        } catch {
            throw GuestError("invalid WebAssembly module: \(error)")
        }
        guard
            module.exports.contains(where: {
                if case .function = $0.descriptor { return $0.name == "_start" }
                return false
            })
        else {
            throw GuestError("the module exports no _start function, so it is not a WASI command")
        }
        self.module = module
        // Eager compilation validates every function body now, so that a broken module fails
        // `create` rather than surfacing half-way through a run.
        let engine = Engine(configuration: EngineConfiguration(compilationMode: .eager))
        store = Store(engine: engine)
        if let limit = options.memoryLimit { store.resourceLimiter = MemoryCap(bytes: limit) }
        do {
            wasi = try WASIBridgeToHost(
                args: options.args,
                environment: options.environment,
                preopens: options.preopens.map { WASIBridgeToHost.Preopen(guestPath: $0.guest, hostPath: $0.host) },
                stdin: options.stdin, stdout: options.stdout, stderr: options.stderr)
        } catch {
            throw GuestError("cannot set up WASI: \(error)")
        }
        var imports = Imports()
        wasi.link(to: &imports, store: store)
        self.imports = imports
        if !Self.hasStartSection(moduleBytes) {
            do {
                instance = try module.instantiate(store: store, imports: imports)
            } catch {
                try? wasi.close()
                if let limit = options.memoryLimit, "\(error)".contains("limit") || "\(error)".contains("grow") {
                    throw GuestError("cannot instantiate the module within the memory limit (\(limit >> 20) MiB of linear memory): \(error)")
                }
                throw GuestError("cannot instantiate the module: \(error)")
            }
        }
    }

    /// Runs `_start` and reports how the guest ended. Never throws: every failure is a trap.
    public func run() -> GuestExit {
        defer { try? wasi.close() }
        do {
            let instance = try self.instance ?? module.instantiate(store: store, imports: imports)
            let code = try wasi.start(instance)
            return .exited(UInt8(truncatingIfNeeded: code))
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

    /// True when the binary has a start section (id 8), whose function runs at instantiation.
    static func hasStartSection(_ bytes: [UInt8]) -> Bool {
        var offset = 8
        while offset < bytes.count {
            let id = bytes[offset]
            offset += 1
            var size = 0
            var shift = 0
            while offset < bytes.count {
                let byte = bytes[offset]
                offset += 1
                size |= Int(byte & 0x7f) << shift
                shift += 7
                if byte & 0x80 == 0 || shift > 28 { break }
            }
            if id == 8 { return true }
            offset += size
        }
        return false
    }
}

/// Denies linear-memory growth past a byte count: the guest's `memory.grow` returns -1 and its
/// allocator reports out of memory, instead of the kernel's OOM killer ending the container.
final class MemoryCap: ResourceLimiter, @unchecked Sendable {
    let bytes: Int
    init(bytes: Int) { self.bytes = bytes }
    func limitMemoryGrowth(to desired: Int) throws -> Bool { desired <= bytes }
    func limitTableGrowth(to desired: Int) throws -> Bool { true }
}
