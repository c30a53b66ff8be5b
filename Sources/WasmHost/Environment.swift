// The guest's environment in the order the config gives it. WasmKit's WASI keeps the environment
// in a dictionary, so its `environ_get` lists the entries in an order that changes from one run
// to the next; runwasm links its own `environ_sizes_get` and `environ_get` over them.

@_spi(WASIPlatform) import WASI
import WasmKit

enum OrderedEnvironment {
    /// Links `environ_sizes_get` and `environ_get` that give the guest `entries` ("NAME=value"),
    /// in order, replacing WASI's own.
    static func link(_ entries: [String], to imports: inout Imports, store: Store) {
        let strings = entries.map { Array($0.utf8) + [0] }
        let total = strings.reduce(0) { $0 + $1.count }
        let type = FunctionType(parameters: [.i32, .i32], results: [.i32])

        imports.define(
            module: "wasi_snapshot_preview1", name: "environ_sizes_get",
            Function(store: store, type: type) { caller, arguments in
                let written = guestWrite(caller, at: arguments[0].i32, words: [UInt32(strings.count)])
                    && guestWrite(caller, at: arguments[1].i32, words: [UInt32(total)])
                return [.i32(written ? 0 : UInt32(WASIAbi.Errno.EFAULT.rawValue))]
            })

        imports.define(
            module: "wasi_snapshot_preview1", name: "environ_get",
            Function(store: store, type: type) { caller, arguments in
                let pointers = arguments[0].i32
                let buffer = arguments[1].i32
                var offsets: [UInt32] = []
                var bytes: [UInt8] = []
                bytes.reserveCapacity(total)
                for s in strings {
                    offsets.append(buffer &+ UInt32(bytes.count))
                    bytes += s
                }
                let written = guestWrite(caller, at: pointers, words: offsets) && guestWrite(caller, at: buffer, bytes: bytes)
                return [.i32(written ? 0 : UInt32(WASIAbi.Errno.EFAULT.rawValue))]
            })
    }

    /// Little-endian 32-bit words into the guest's memory at `offset`; false when out of bounds.
    private static func guestWrite(_ caller: borrowing Caller, at offset: UInt32, words: [UInt32]) -> Bool {
        guestWrite(caller, at: offset, bytes: words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } })
    }

    private static func guestWrite(_ caller: borrowing Caller, at offset: UInt32, bytes: [UInt8]) -> Bool {
        guard case .memory(let memory) = caller.instance?.export("memory") else { return false }
        guard UInt64(offset) + UInt64(bytes.count) <= UInt64(memory.byteCount) else { return false }
        guard !bytes.isEmpty else { return true }
        memory.withUnsafeMutableBufferPointer(offset: UInt(offset), count: bytes.count) { target in
            target.copyBytes(from: bytes)
        }
        return true
    }
}
