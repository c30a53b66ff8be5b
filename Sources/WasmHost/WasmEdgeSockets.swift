// WasmEdge's socket extension of `wasi_snapshot_preview1`: `sock_open`, `sock_bind`,
// `sock_connect`, `sock_listen`, `sock_accept`, `sock_recv(_from)`, `sock_send(_to)`,
// `sock_getlocaladdr`, `sock_getpeeraddr`, `sock_getsockopt`, `sock_setsockopt`,
// `sock_getaddrinfo` and their `_v2` forms, so that a guest built for WasmEdge's sockets (its
// `wasmedge_wasi_socket` crate, or C written against the same imports) runs unmodified.
//
// WasmEdge has two versions of the ABI that differ in the arity of a few calls (`sock_accept`,
// `sock_recv_from`, `sock_getlocaladdr`, `sock_getpeeraddr`); its linker picks the version whose
// type matches what the module imports, and a module may import a mix of both. runwasm does the
// same: each socket import the module declares is defined with the declared type and the
// implementation of the version that type names. Names that preview 1 also defines with its own
// type (`sock_accept(fd, flags, fd*)`, `sock_recv`, `sock_send`, `sock_shutdown`) are left to the
// preview-1 socket core; WasmEdge's versions of them have the same meaning.
//
// Sockets are host sockets in the guest's descriptor table (the socket core's `SocketTable`,
// `GuestSocket`); what they reach is what the container's network namespace reaches. Every call
// checks the guest's pointers and lengths against its memory (EFAULT) and its descriptors against
// the table (EBADF, ENOTSOCK); every host failure is the guest's WASI errno.

import Glibc
@_spi(WASIPlatform) import WASI
import WasmKit

enum WasmEdgeSockets {
    /// A WASI errno, or one of WasmEdge's EAI codes (77…87), as the guest's return value.
    struct Failure: Error, Equatable {
        var code: UInt32
        init(_ errno: WASIAbi.Errno) { code = UInt32(errno.rawValue) }
        init(code: UInt32) { self.code = code }
        static func host(_ e: Int32) -> Failure { Failure(HostErrno.wasi(e)) }
        static let badf = Failure(.EBADF), fault = Failure(.EFAULT), inval = Failure(.EINVAL)
        static let nosys = Failure(.ENOSYS), notsock = Failure(.ENOTSOCK)
        // WasmEdge's getaddrinfo codes (its `__wasi_errno_t` extension).
        static let eaiBadFlags = Failure(code: 79), eaiFamily = Failure(code: 81), eaiMemory = Failure(code: 82)
        static let eaiNoName = Failure(code: 84), eaiService = Failure(code: 85), eaiSockType = Failure(code: 86)
    }

    /// One implementation of a WasmEdge socket call.
    enum Call: Equatable {
        case open, bind(v2: Bool), connect(v2: Bool), listen
        case acceptV1, acceptFlags, recv, send
        case recvFromV1, recvFromV2, sendTo(v2: Bool)
        case getsockopt, setsockopt
        case localAddrV1, localAddrV2, peerAddrV1, peerAddrV2
        case getaddrinfo
    }

    /// Every import name of WasmEdge's socket extension (both versions). A module importing one
    /// of them from `wasi_snapshot_preview1` uses sockets.
    static let importNames: Set<String> = [
        "sock_open", "sock_bind", "sock_connect", "sock_listen", "sock_accept", "sock_recv", "sock_recv_from",
        "sock_send", "sock_send_to", "sock_shutdown", "sock_getsockopt", "sock_setsockopt", "sock_getlocaladdr",
        "sock_getpeeraddr", "sock_getaddrinfo", "sock_open_v2", "sock_bind_v2", "sock_connect_v2",
        "sock_listen_v2", "sock_accept_v2", "sock_recv_v2", "sock_recv_from_v2", "sock_send_v2",
        "sock_send_to_v2", "sock_getlocaladdr_v2", "sock_getpeeraddr_v2",
    ]

    /// The implementation for an import of `name` taking `parameters` i32s and returning one
    /// i32, as WasmEdge's linker chooses it: the version whose type matches. nil for a type no
    /// version has, and for preview 1's own shapes of the names preview 1 shares.
    static func call(name: String, parameters: Int) -> Call? {
        switch (name, parameters) {
        case ("sock_open", 3), ("sock_open_v2", 3): return .open
        case ("sock_bind", 3): return .bind(v2: false)
        case ("sock_bind_v2", 3): return .bind(v2: true)
        case ("sock_connect", 3): return .connect(v2: false)
        case ("sock_connect_v2", 3): return .connect(v2: true)
        case ("sock_listen", 2), ("sock_listen_v2", 2): return .listen
        case ("sock_accept", 2): return .acceptV1
        case ("sock_accept_v2", 3): return .acceptFlags
        case ("sock_recv_v2", 6): return .recv
        case ("sock_send_v2", 5): return .send
        case ("sock_recv_from", 7): return .recvFromV1
        case ("sock_recv_from", 8), ("sock_recv_from_v2", 8): return .recvFromV2
        case ("sock_send_to", 7): return .sendTo(v2: false)
        case ("sock_send_to_v2", 7): return .sendTo(v2: true)
        case ("sock_getsockopt", 5): return .getsockopt
        case ("sock_setsockopt", 5): return .setsockopt
        case ("sock_getlocaladdr", 4): return .localAddrV1
        case ("sock_getlocaladdr", 3), ("sock_getlocaladdr_v2", 3): return .localAddrV2
        case ("sock_getpeeraddr", 4): return .peerAddrV1
        case ("sock_getpeeraddr", 3), ("sock_getpeeraddr_v2", 3): return .peerAddrV2
        case ("sock_getaddrinfo", 8): return .getaddrinfo
        default: return nil
        }
    }

    /// Preview 1's own types of the names it shares with WasmEdge: the socket core serves these.
    static let preview1Shapes: [String: Int] = ["sock_accept": 3, "sock_recv": 6, "sock_send": 5, "sock_shutdown": 2]

    /// Whether `declared` has an import that runwasm defines for WasmEdge (not one of preview
    /// 1's shapes, which the socket core serves).
    static func importsOwnCalls(_ declared: [(module: String, name: String, type: FunctionType)]) -> Bool {
        declared.contains { d in
            d.module == "wasi_snapshot_preview1" && importNames.contains(d.name) && d.type.results == [.i32]
                && d.type.parameters.allSatisfy { $0 == .i32 } && call(name: d.name, parameters: d.type.parameters.count) != nil
        }
    }

    /// The socket imports of `declared` ((module, name, type) of each function import) that
    /// match no version of WasmEdge's ABI nor preview 1's: described for an error message.
    static func mismatches(_ declared: [(module: String, name: String, type: FunctionType)]) -> [String] {
        declared.compactMap { d in
            guard d.module == "wasi_snapshot_preview1", importNames.contains(d.name) else { return nil }
            let allI32 = d.type.parameters.allSatisfy { $0 == .i32 } && d.type.results == [.i32]
            if allI32, call(name: d.name, parameters: d.type.parameters.count) != nil { return nil }
            if allI32, preview1Shapes[d.name] == d.type.parameters.count { return nil }
            return "\(d.name) \(d.type.parameters) -> \(d.type.results)"
        }
    }

    /// Defines, for each WasmEdge socket import the module declares, a function of the declared
    /// type implementing the version that type names.
    static func link(
        declared: [(module: String, name: String, type: FunctionType)], table: SocketTable,
        to imports: inout Imports, store: Store
    ) {
        for d in declared where d.module == "wasi_snapshot_preview1" && importNames.contains(d.name) {
            guard d.type.parameters.allSatisfy({ $0 == .i32 }), d.type.results == [.i32],
                let call = call(name: d.name, parameters: d.type.parameters.count)
            else { continue }
            imports.define(
                module: d.module, name: d.name,
                Function(store: store, type: d.type) { caller, arguments in
                    do {
                        let memory = try GuestView(caller)
                        try Host(memory: memory, table: table).perform(call, arguments.map { $0.i32 })
                        return [.i32(0)]
                    } catch let failure as WasmEdgeSockets.Failure {
                        return [.i32(failure.code)]
                    } catch let errno as WASIAbi.Errno {
                        return [.i32(UInt32(errno.rawValue))]
                    } catch {
                        return [.i32(UInt32(WASIAbi.Errno.EIO.rawValue))]
                    }
                })
        }
    }
}

// MARK: - guest memory

/// What WasmEdge's calls read and write in the guest's memory beyond `GuestView`'s words, every
/// access bounds-checked (EFAULT).
extension GuestView {
    func check(_ offset: UInt32, _ count: UInt32) throws { _ = try bytes(at: offset, count: count) }

    func bytes(_ offset: UInt32, _ count: UInt32) throws -> [UInt8] { Array(try bytes(at: offset, count: count)) }

    func write(_ offset: UInt32, _ data: [UInt8]) throws {
        let target = try bytes(at: offset, count: UInt32(data.count))
        if !data.isEmpty { target.copyBytes(from: data) }
    }

    func u32(_ offset: UInt32) throws -> UInt32 { try load32(at: offset) }
    func u16(_ offset: UInt32) throws -> UInt16 { try bytes(at: offset, count: 2).loadUnaligned(as: UInt16.self).littleEndian }
    func u8(_ offset: UInt32) throws -> UInt8 { try bytes(at: offset, count: 1)[0] }
    func setU32(_ offset: UInt32, _ v: UInt32) throws { try store32(v, at: offset) }
    func setU16(_ offset: UInt32, _ v: UInt16) throws { try store16(v, at: offset) }
}

// MARK: - addresses

/// A socket address as a host sockaddr, and its WasmEdge encodings.
struct SocketAddress {
    /// WasmEdge's `__wasi_address_family_t`.
    static let inet4: UInt16 = 1, inet6: UInt16 = 2

    var family: UInt16
    /// 4 or 16 bytes, network order.
    var ip: [UInt8]
    /// Host order.
    var port: UInt16

    /// From WasmEdge's `__wasi_address_t {buf, buf_len}` at `pointer`: 4 (IPv4) or 16 (IPv6) raw
    /// bytes, or with `v2` also the 128-byte `{u16 family; u8 address[126]}`.
    static func read(_ memory: GuestView, at pointer: UInt32, port: UInt32, v2: Bool) throws -> SocketAddress {
        let buf = try memory.u32(pointer)
        let length = try memory.u32(pointer + 4)
        guard port <= 0xffff else { throw WasmEdgeSockets.Failure.inval }
        switch length {
        case 4: return SocketAddress(family: inet4, ip: try memory.bytes(buf, 4), port: UInt16(port))
        case 16: return SocketAddress(family: inet6, ip: try memory.bytes(buf, 16), port: UInt16(port))
        case 128 where v2:
            let family = try memory.u16(buf)
            switch family {
            case inet4: return SocketAddress(family: inet4, ip: try memory.bytes(buf + 2, 4), port: UInt16(port))
            case inet6: return SocketAddress(family: inet6, ip: try memory.bytes(buf + 2, 16), port: UInt16(port))
            case 3: throw WasmEdgeSockets.Failure.nosys  // AF_UNIX: WasmEdge refuses it unless configured to allow it
            default: throw WasmEdgeSockets.Failure.inval
            }
        default: throw WasmEdgeSockets.Failure.inval
        }
    }

    /// From a host sockaddr; nil for a family other than IPv4 and IPv6.
    init?(storage: sockaddr_storage) {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            let a = withUnsafeBytes(of: &s) { $0.load(as: sockaddr_in.self) }
            family = Self.inet4
            ip = withUnsafeBytes(of: a.sin_addr) { Array($0) }
            port = UInt16(bigEndian: a.sin_port)
        case AF_INET6:
            let a = withUnsafeBytes(of: &s) { $0.load(as: sockaddr_in6.self) }
            family = Self.inet6
            ip = withUnsafeBytes(of: a.sin6_addr) { Array($0) }
            port = UInt16(bigEndian: a.sin6_port)
        default:
            return nil
        }
    }

    init(family: UInt16, ip: [UInt8], port: UInt16) {
        self.family = family
        self.ip = ip
        self.port = port
    }

    /// Calls `body` with the host sockaddr.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if family == Self.inet4 {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: ip) }
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: ip) }
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }

    /// Writes this address into the guest's `__wasi_address_t` at `pointer`. `v2`: the buffer
    /// must be the 128-byte storage, family (u16) then address. Otherwise the raw 4 or 16 bytes,
    /// which must fit the buffer.
    func write(_ memory: GuestView, at pointer: UInt32, v2: Bool) throws {
        let buf = try memory.u32(pointer)
        let length = try memory.u32(pointer + 4)
        if v2 {
            guard length == 128 else { throw WasmEdgeSockets.Failure.inval }
            try memory.check(buf, 128)
            try memory.write(buf, [UInt8(family), 0] + ip + [UInt8](repeating: 0, count: 126 - ip.count))
        } else {
            guard length == 4 || length == 16 else { throw WasmEdgeSockets.Failure.inval }
            guard UInt32(ip.count) <= length else { throw WasmEdgeSockets.Failure.inval }
            try memory.write(buf, ip)
        }
    }
}

// MARK: - the calls

private struct Host {
    let memory: GuestView
    let table: SocketTable
    typealias Failure = WasmEdgeSockets.Failure

    /// The host socket behind guest fd `fd` (EBADF, ENOTSOCK).
    func sock(_ fd: UInt32) throws -> Int32 { try table.socket(at: fd).fd }

    /// Runs a host call whose failure `body` reports as -errno (see `checked`), retrying on
    /// EINTR; a failure is the guest's errno.
    @discardableResult
    func sys<T: SignedInteger>(_ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            if Int32(-r) != EINTR { throw WasmEdgeSockets.Failure.host(Int32(-r)) }
        }
    }

    /// A system call's result, its failure as -errno: errno is read at once, before the
    /// cleanups of the closures around the call can change it.
    func checked<T: SignedInteger>(_ r: T) -> T { r < 0 ? T(-errno) : r }

    func perform(_ call: WasmEdgeSockets.Call, _ a: [UInt32]) throws {
        switch call {
        case .open: try open(family: a[0], type: a[1], out: a[2])
        case .bind(let v2):
            let fd = try sock(a[0])
            let address = try SocketAddress.read(memory, at: a[1], port: a[2], v2: v2)
            try sys { address.withSockaddr { checked(Glibc.bind(fd, $0, $1)) } }
        case .connect(let v2):
            let fd = try sock(a[0])
            let address = try SocketAddress.read(memory, at: a[1], port: a[2], v2: v2)
            try sys { address.withSockaddr { checked(Glibc.connect(fd, $0, $1)) } }
        case .listen:
            let fd = try sock(a[0])
            try sys { checked(Glibc.listen(fd, Int32(bitPattern: a[1]))) }
        case .acceptV1: try accept(a[0], flags: 0, out: a[1])
        case .acceptFlags: try accept(a[0], flags: a[1], out: a[2])
        case .recv: try receive(a[0], iovs: a[1], count: a[2], address: nil, flags: a[3], port: nil, length: a[4], outFlags: a[5])
        case .recvFromV1:
            try receive(a[0], iovs: a[1], count: a[2], address: (a[3], false), flags: a[4], port: nil, length: a[5], outFlags: a[6])
        case .recvFromV2:
            try receive(a[0], iovs: a[1], count: a[2], address: (a[3], true), flags: a[4], port: a[5], length: a[6], outFlags: a[7])
        case .send: try send(a[0], iovs: a[1], count: a[2], to: nil, length: a[4])
        case .sendTo(let v2):
            let address = try SocketAddress.read(memory, at: a[3], port: a[4], v2: v2)
            try send(a[0], iovs: a[1], count: a[2], to: address, length: a[6])
        case .getsockopt: try getsockopt(a[0], level: a[1], name: a[2], value: a[3], size: a[4])
        case .setsockopt: try setsockopt(a[0], level: a[1], name: a[2], value: a[3], size: a[4])
        case .localAddrV1: try address(a[0], peer: false, buffer: a[1], type: a[2], port: a[3])
        case .localAddrV2: try address(a[0], peer: false, buffer: a[1], type: nil, port: a[2])
        case .peerAddrV1: try address(a[0], peer: true, buffer: a[1], type: a[2], port: a[3])
        case .peerAddrV2: try address(a[0], peer: true, buffer: a[1], type: nil, port: a[2])
        case .getaddrinfo: try WasmEdgeResolver(memory: memory).getaddrinfo(a)
        }
    }

    func open(family: UInt32, type: UInt32, out: UInt32) throws {
        let domain: Int32
        switch family {
        case 1: domain = AF_INET
        case 2: domain = AF_INET6
        case 3: throw WasmEdgeSockets.Failure.nosys  // AF_UNIX, off in WasmEdge unless configured
        default: throw WasmEdgeSockets.Failure.inval
        }
        let kind: Int32
        switch type {
        case 1: kind = Int32(SOCK_DGRAM.rawValue)
        case 2: kind = Int32(SOCK_STREAM.rawValue)
        default: throw WasmEdgeSockets.Failure.inval
        }
        try memory.check(out, 4)
        let host = try sys { checked(Glibc.socket(domain, kind | Int32(SOCK_CLOEXEC.rawValue), 0)) }
        let fd = try table.install(GuestSocket(fd: host, isListener: false))
        try memory.setU32(out, fd)
    }

    func accept(_ listener: UInt32, flags: UInt32, out: UInt32) throws {
        // The core checks the listener and the flags (0 or NONBLOCK).
        try memory.check(out, 4)
        try memory.setU32(out, try table.accept(listener, flags: flags))
    }

    func receive(
        _ guestFD: UInt32, iovs: UInt32, count: UInt32, address: (pointer: UInt32, v2: Bool)?, flags: UInt32, port: UInt32?,
        length: UInt32, outFlags: UInt32
    ) throws {
        let fd = try sock(guestFD)
        // riflags: RECV_PEEK (1), RECV_WAITALL (2).
        guard flags & ~UInt32(3) == 0 else { throw WasmEdgeSockets.Failure.inval }
        var hostFlags: Int32 = 0
        if flags & 1 != 0 { hostFlags |= Int32(MSG_PEEK) }
        if flags & 2 != 0 { hostFlags |= Int32(MSG_WAITALL) }
        let buffers = try memory.buffers(iovs: iovs, count: count)
        try memory.check(length, 4)
        try memory.check(outFlags, 2)
        if let port { try memory.check(port, 2) }
        if let address {
            let buf = try memory.u32(address.pointer)
            let size = try memory.u32(address.pointer + 4)
            if address.v2 {
                guard size == 4 || size == 16 || size == 128 else { throw WasmEdgeSockets.Failure.inval }
            } else {
                guard size == 4 || size == 16 else { throw WasmEdgeSockets.Failure.inval }
            }
            try memory.check(buf, size)
        }
        var from = sockaddr_storage()
        var message = msghdr()
        var vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        let received: Int = try sys {
            vectors.withUnsafeMutableBufferPointer { vecs in
                withUnsafeMutablePointer(to: &from) { fromPointer in
                    message.msg_name = address == nil ? nil : UnsafeMutableRawPointer(fromPointer)
                    message.msg_namelen = address == nil ? 0 : socklen_t(MemoryLayout<sockaddr_storage>.size)
                    message.msg_iov = vecs.baseAddress
                    message.msg_iovlen = vecs.count
                    return checked(recvmsg(fd, &message, hostFlags))
                }
            }
        }
        try memory.setU32(length, UInt32(received))
        try memory.setU16(outFlags, message.msg_flags & Int32(MSG_TRUNC) != 0 ? 1 : 0)
        if let address, message.msg_namelen > 0, let sender = SocketAddress(storage: from) {
            let buf = try memory.u32(address.pointer)
            let size = try memory.u32(address.pointer + 4)
            if size == 128 {
                try memory.write(buf, [UInt8(sender.family), 0] + sender.ip)
            } else {
                try memory.write(buf, Array(sender.ip.prefix(Int(size))))
            }
            // The port in host order, as the crate reads it (a 16-bit value).
            if let port { try memory.setU16(port, sender.port) }
        }
    }

    func send(_ guestFD: UInt32, iovs: UInt32, count: UInt32, to address: SocketAddress?, length: UInt32) throws {
        let fd = try sock(guestFD)
        let buffers = try memory.buffers(iovs: iovs, count: count)
        try memory.check(length, 4)
        // WasmEdge ignores si_flags and always sends with MSG_NOSIGNAL: a closed peer is EPIPE,
        // never a SIGPIPE for the container.
        var vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        let sent: Int = try sys {
            vectors.withUnsafeMutableBufferPointer { vecs in
                var message = msghdr()
                message.msg_iov = vecs.baseAddress
                message.msg_iovlen = vecs.count
                if let address {
                    return address.withSockaddr { sa, len in
                        message.msg_name = UnsafeMutableRawPointer(mutating: sa)
                        message.msg_namelen = len
                        return checked(sendmsg(fd, &message, Int32(MSG_NOSIGNAL)))
                    }
                }
                return checked(sendmsg(fd, &message, Int32(MSG_NOSIGNAL)))
            }
        }
        try memory.setU32(length, UInt32(sent))
    }

    func address(_ guestFD: UInt32, peer: Bool, buffer: UInt32, type: UInt32?, port: UInt32) throws {
        let fd = try sock(guestFD)
        try memory.check(port, 4)
        if let type { try memory.check(type, 4) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try sys {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    checked(peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length))
                }
            }
        }
        guard let address = SocketAddress(storage: storage) else { throw Failure(.EAFNOSUPPORT) }
        try address.write(memory, at: buffer, v2: type == nil)
        // V1 writes the family as 4 or 6 (WasmEdge keeps this for the applications built on it).
        if let type { try memory.setU32(type, address.family == SocketAddress.inet4 ? 4 : 6) }
        try memory.setU32(port, UInt32(address.port))
    }

    /// WasmEdge's `__wasi_sock_opt_so_t` (0…14) in order, as Linux SO_* values.
    static let options: [Int32] = [
        SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_DONTROUTE, SO_BROADCAST, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE,
        SO_OOBINLINE, SO_LINGER, SO_RCVLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_ACCEPTCONN, SO_BINDTODEVICE,
    ]

    func option(level: UInt32, name: UInt32) throws -> Int32 {
        guard level == 0 else { throw WasmEdgeSockets.Failure.inval }  // SOL_SOCKET is the only level
        guard name < Self.options.count else { throw WasmEdgeSockets.Failure.inval }
        return Self.options[Int(name)]
    }

    func getsockopt(_ guestFD: UInt32, level: UInt32, name: UInt32, value: UInt32, size: UInt32) throws {
        let fd = try sock(guestFD)
        let option = try option(level: level, name: name)
        let capacity = try memory.u32(size)
        guard capacity <= 256 else { throw WasmEdgeSockets.Failure.inval }
        try memory.check(value, capacity)
        var buffer = [UInt8](repeating: 0, count: Int(max(capacity, 4)))
        var length = socklen_t(capacity)
        try sys { buffer.withUnsafeMutableBytes { checked(Glibc.getsockopt(fd, SOL_SOCKET, option, $0.baseAddress, &length)) } }
        var out = Array(buffer.prefix(Int(length)))
        if (option == SO_ERROR || option == SO_TYPE) && out.count == 4 {
            let raw = out.withUnsafeBytes { $0.load(as: Int32.self) }
            // SO_ERROR as a WASI errno, SO_TYPE as WasmEdge's sock type.
            let translated: UInt32
            if option == SO_ERROR {
                translated = raw == 0 ? 0 : UInt32(HostErrno.wasi(raw).rawValue)
            } else {
                translated = raw == Int32(SOCK_DGRAM.rawValue) ? 1 : raw == Int32(SOCK_STREAM.rawValue) ? 2 : 0
            }
            out = (0..<4).map { UInt8(truncatingIfNeeded: translated >> (8 * $0)) }
        }
        try memory.write(value, out)
        try memory.setU32(size, UInt32(out.count))
    }

    func setsockopt(_ guestFD: UInt32, level: UInt32, name: UInt32, value: UInt32, size: UInt32) throws {
        let fd = try sock(guestFD)
        let option = try option(level: level, name: name)
        guard size <= 256 else { throw WasmEdgeSockets.Failure.inval }
        let bytes = try memory.bytes(value, size)
        try sys { bytes.withUnsafeBytes { checked(Glibc.setsockopt(fd, SOL_SOCKET, option, $0.baseAddress, socklen_t(size))) } }
    }
}
