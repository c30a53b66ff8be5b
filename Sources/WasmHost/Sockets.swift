// Sockets in the guest's fd table: the listeners runwasm opened at create (fds 3, 4, … before the
// directory preopens, where wasmtime's --tcplisten put them), the connections `sock_accept`
// returns, and whatever other socket calls open.
//
// WasmKit's fd table is internal to its WASI implementation. Its entries come from preopens and
// from `path_open`, which pushes whatever runwasm's `FileSystemImplementation.openAt` returns.
// So a socket enters the table through WasmKit's own `path_open`, called from here with a small
// scratch memory of runwasm's, relative to an anchor directory: a directory entry that refuses
// every path and, only during that synchronous call, hands out the socket being installed. Once
// in the table a socket is an ordinary `WASIFile` (filetype SOCKET_STREAM, host fd set), so
// WasmKit's fd_read, fd_write, fd_close, fd_fdstat_get, fd_fdstat_set_flags and poll_oneoff
// serve it unchanged. runwasm keeps its own fd → socket map for the sock_* calls, in step with
// the table by wrapping the only calls that move or drop entries: fd_close and fd_renumber.

import CSandbox
import Glibc
@_spi(WASIPlatform) import WASI
import WasmKit
import WasmKitWASI

// MARK: - a socket entry

/// A host socket as the guest sees it: a WASI stream socket.
final class GuestSocket: WASIFile, @unchecked Sendable {
    /// The host descriptor, owned: closed when the guest closes its fd or the guest ends.
    let fd: Int32
    /// A listening socket (sock_accept works on it; fd_read and fd_write do not).
    let isListener: Bool

    init(fd: Int32, isListener: Bool) {
        self.fd = fd
        self.isListener = isListener
    }

    var hostFileDescriptor: CInt? { fd }

    func close() throws { Glibc.close(fd) }

    func attributes() throws -> WASIAbi.Filestat {
        var stat = try ContainerFile.filestat(fd)
        stat = WASIAbi.Filestat(
            dev: stat.dev, ino: stat.ino, filetype: .SOCKET_STREAM, nlink: stat.nlink, size: 0,
            atim: stat.atim, mtim: stat.mtim, ctim: stat.ctim)
        return stat
    }

    func fileType() throws -> WASIAbi.FileType { .SOCKET_STREAM }

    func status() throws -> WASIAbi.Fdflags {
        let flags = try HostErrno.retrying { fcntl(fd, F_GETFL) }
        return flags & O_NONBLOCK != 0 ? .NONBLOCK : []
    }

    func fdStat() throws -> WASIAbi.FdStat {
        var rights: WASIAbi.Rights = [.FD_READ, .FD_WRITE, .FD_FDSTAT_SET_FLAGS, .FD_FILESTAT_GET, .POLL_FD_READWRITE, .SOCK_SHUTDOWN]
        if isListener { rights.insert(.SOCK_ACCEPT) }
        return WASIAbi.FdStat(fsFileType: .SOCKET_STREAM, fsFlags: try status(), fsRightsBase: rights, fsRightsInheriting: [])
    }

    /// NONBLOCK or nothing; any other flag is EINVAL, as for wasmtime's sockets.
    func setFdStatFlags(_ flags: WASIAbi.Fdflags) throws {
        guard flags.isSubset(of: .NONBLOCK) else { throw WASIAbi.Errno.EINVAL }
        try Self.setNonblocking(fd, flags.contains(.NONBLOCK))
    }

    static func setNonblocking(_ fd: Int32, _ on: Bool) throws {
        var current = try HostErrno.retrying { fcntl(fd, F_GETFL) }
        current = on ? current | O_NONBLOCK : current & ~O_NONBLOCK
        try HostErrno.retrying { fcntl(fd, F_SETFL, current) }
    }

    func setTimes(atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags) throws {
        throw WASIAbi.Errno.ENOTSUP
    }
    func advise(offset: WASIAbi.FileSize, length: WASIAbi.FileSize, advice: WASIAbi.Advice) throws {
        throw WASIAbi.Errno.ESPIPE
    }
    func setFilestatSize(_ size: WASIAbi.FileSize) throws { throw WASIAbi.Errno.EINVAL }
    func sync() throws { throw WASIAbi.Errno.EINVAL }
    func datasync() throws { throw WASIAbi.Errno.EINVAL }
    func tell() throws -> WASIAbi.FileSize { throw WASIAbi.Errno.ESPIPE }
    func seek(offset: WASIAbi.FileDelta, whence: WASIAbi.Whence) throws -> WASIAbi.FileSize { throw WASIAbi.Errno.ESPIPE }
    func pread(into buffers: GuestBuffers, offset: WASIAbi.FileSize) throws -> WASIAbi.Size { throw WASIAbi.Errno.ESPIPE }
    func pwrite(vectored buffers: GuestBuffers, offset: WASIAbi.FileSize) throws -> WASIAbi.Size { throw WASIAbi.Errno.ESPIPE }

    /// fd_read: one recv per buffer, stopping at the first short one, as readv does.
    func read(into buffers: GuestBuffers) throws -> WASIAbi.Size {
        try transfer(buffers) { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
    }

    /// fd_write: send with MSG_NOSIGNAL, so that a peer that has gone gives EPIPE, not SIGPIPE.
    func write(vectored buffers: GuestBuffers) throws -> WASIAbi.Size {
        try transfer(buffers) { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func transfer(_ buffers: GuestBuffers, _ io: (UnsafeMutableRawBufferPointer) -> Int) throws -> WASIAbi.Size {
        var total = 0
        for index in 0..<buffers.count {
            var short = false
            do {
                let n = try buffers.withHostBuffer(at: index) { buffer in
                    guard buffer.count > 0 else { return 0 }
                    let n = try HostErrno.retrying { io(buffer) }
                    short = n < buffer.count
                    return n
                }
                total += n
            } catch {
                // Bytes already moved are reported; the error comes with the next call.
                if total > 0 { break }
                throw error
            }
            if short { break }
        }
        return WASIAbi.Size(total)
    }
}

// MARK: - the anchor directory

/// A directory entry in the guest's table that refuses every operation. `path_open` relative to
/// it returns the socket the `SocketTable` is installing, and only during that call.
final class SocketAnchor: WASIDir, @unchecked Sendable {
    /// The preopen host path that makes `ContainerFileSystem` create an anchor: a path with a NUL
    /// byte, which no real preopen can have.
    static let hostPath = "\0runwasm-socket-anchor"

    weak var table: SocketTable?

    init(table: SocketTable?) { self.table = table }

    /// Called by `ContainerFileSystem.openAt` for a path relative to this anchor.
    func open() throws -> FdEntry {
        guard let socket = table?.takePending() else { throw WASIAbi.Errno.ENOTCAPABLE }
        return .file(socket)
    }

    var preopenPath: String? { nil }
    func close() throws {}
    func attributes() throws -> WASIAbi.Filestat { throw WASIAbi.Errno.ENOTCAPABLE }
    func fileType() throws -> WASIAbi.FileType { .DIRECTORY }
    func status() throws -> WASIAbi.Fdflags { [] }
    func setTimes(atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func advise(offset: WASIAbi.FileSize, length: WASIAbi.FileSize, advice: WASIAbi.Advice) throws {}
    func readlink(atPath path: String) throws -> [UInt8] { throw WASIAbi.Errno.ENOTCAPABLE }
    func createDirectory(atPath path: String) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func removeDirectory(atPath path: String) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func removeFile(atPath path: String) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func symlink(from sourcePath: String, to destPath: String) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func rename(from sourcePath: String, toDir newDir: any WASIDir, to destPath: String) throws { throw WASIAbi.Errno.ENOTCAPABLE }
    func readEntries(cookie: WASIAbi.DirCookie) throws -> WASIReaddirEntries { throw WASIAbi.Errno.ENOTCAPABLE }
    func attributes(path: String, symlinkFollow: Bool) throws -> WASIAbi.Filestat { throw WASIAbi.Errno.ENOTCAPABLE }
    func setFilestatTimes(
        path: String, atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags, symlinkFollow: Bool
    ) throws { throw WASIAbi.Errno.ENOTCAPABLE }
}

// MARK: - runwasm's own memory for calling WasmKit's WASI functions

/// A few bytes of host memory posing as guest memory, for calling WasmKit's WASI functions from
/// host code. Offsets are runwasm's own, always in bounds.
struct ScratchMemory: GuestMemory {
    let bytes: UnsafeMutableRawBufferPointer

    func withUnsafeMutableBufferPointer<T>(
        offset: UInt, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T
    ) rethrows -> T {
        let start = Int(offset)
        precondition(start >= 0 && count >= 0 && start + count <= bytes.count, "scratch memory access out of bounds")
        return try body(UnsafeMutableRawBufferPointer(rebasing: bytes[start..<(start + count)]))
    }

    func load32(at offset: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian }
}

// MARK: - the table

/// The guest's sockets: installs host sockets in WasmKit's fd table, finds them by guest fd, and
/// links the socket calls. One per guest.
final class SocketTable: @unchecked Sendable {
    /// Guest fd → socket, for every socket in WasmKit's table.
    private var sockets: [UInt32: GuestSocket] = [:]
    /// The socket `path_open` hands out through an anchor, set only during `install`.
    private var pending: GuestSocket?
    /// The guest fd of the anchor that stays in the table for installs while the guest runs.
    private(set) var anchorFd: UInt32 = 0
    private var functions: [String: WASIHostFunction<ScratchMemory>] = [:]
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)

    init() { scratch.initializeMemory(as: UInt8.self, repeating: 0) }

    deinit { scratch.deallocate() }

    /// The preopens that reserve the listeners' fds (`count` of them, first) and the anchor
    /// (last), around `preopens`.
    static func preopens(listeners count: Int, around preopens: [(guest: String, host: String)]) -> [(guest: String, host: String)] {
        Array(repeating: (guest: "", host: SocketAnchor.hostPath), count: count) + preopens + [(guest: "", host: SocketAnchor.hostPath)]
    }

    /// Takes WasmKit's WASI functions and places `listeners` (host fds, listening) at fds 3, 4, …
    /// over the reserved anchors. `preopenCount` is the number of directory preopens between
    /// the reserved fds and the last anchor. Closes every listener fd on failure.
    func attach(_ wasi: WASIBridgeToHost, listeners: [Int32], preopenCount: Int) throws(WASIAbi.Errno) {
        functions = wasi.hostFunctions(capabilities: WASI.WASICapability<ScratchMemory>.all)
        anchorFd = UInt32(3 + listeners.count + preopenCount)
        var current = 0
        do {
            for (index, fd) in listeners.enumerated() {
                current = index
                let installed = try install(GuestSocket(fd: fd, isListener: true))
                try renumber(installed, to: UInt32(3 + index))
            }
        } catch {
            // The one that failed is closed (by `install`) or in the table (closed with it).
            for fd in listeners.dropFirst(current + 1) { Glibc.close(fd) }
            throw error
        }
    }

    /// Called through the anchor by `openAt`: the socket being installed, once.
    func takePending() -> GuestSocket? {
        defer { pending = nil }
        return pending
    }

    // MARK: the core other socket calls build on

    /// Puts `socket` in the guest's fd table and returns its guest fd. On failure the socket's
    /// host fd is closed.
    func install(_ socket: GuestSocket) throws(WASIAbi.Errno) -> UInt32 {
        pending = socket
        defer { pending = nil }
        let path: [UInt8] = Array(".".utf8)
        scratch.copyBytes(from: path)
        let errno = call(
            "path_open",
            [.i32(anchorFd), .i32(0), .i32(0), .i32(UInt32(path.count)), .i32(0),
             .i64(WASIAbi.Rights([.FD_READ, .FD_WRITE]).rawValue), .i64(0), .i32(0), .i32(8)])
        guard errno == 0 else {
            if pending != nil { Glibc.close(socket.fd) }
            throw WASIAbi.Errno(rawValue: errno) ?? .EIO
        }
        let fd = ScratchMemory(bytes: scratch).load32(at: 8)
        sockets[fd] = socket
        return fd
    }

    /// The socket at guest fd `fd`: EBADF when the guest has no such fd, ENOTSOCK when it is
    /// not a socket.
    func socket(at fd: UInt32) throws(WASIAbi.Errno) -> GuestSocket {
        if let socket = sockets[fd] { return socket }
        let errno = call("fd_fdstat_get", [.i32(fd), .i32(16)])
        if errno != 0 { throw WASIAbi.Errno(rawValue: errno) ?? .EBADF }
        throw WASIAbi.Errno.ENOTSOCK
    }

    /// WasmKit's fd_renumber, keeping the socket map in step.
    func renumber(_ from: UInt32, to: UInt32) throws(WASIAbi.Errno) {
        guard from != anchorFd, to != anchorFd else { throw WASIAbi.Errno.EBADF }
        let errno = call("fd_renumber", [.i32(from), .i32(to)])
        guard errno == 0 else { throw WASIAbi.Errno(rawValue: errno) ?? .EIO }
        if from != to {
            sockets[to] = sockets.removeValue(forKey: from)
        }
    }

    /// WasmKit's fd_close, keeping the socket map in step.
    func close(_ fd: UInt32) throws(WASIAbi.Errno) {
        guard fd != anchorFd else { throw WASIAbi.Errno.EBADF }
        let errno = call("fd_close", [.i32(fd)])
        guard errno == 0 else { throw WASIAbi.Errno(rawValue: errno) ?? .EIO }
        sockets[fd] = nil
    }

    /// Whether guest fd `fd` is a socket.
    func sockets(contains fd: UInt32) -> Bool { sockets[fd] != nil }

    /// WasmKit's fd_prestat_get into the scratch memory (`scratchPrestat`).
    fileprivate func callPrestat(_ fd: UInt32) -> UInt16 { call("fd_prestat_get", [.i32(fd), .i32(32)]) }
    fileprivate var scratchPrestat: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: scratch[32..<40]) }

    /// Calls one of WasmKit's WASI functions with arguments that point into the scratch memory.
    private func call(_ name: String, _ arguments: [Value]) -> UInt16 {
        guard let function = functions[name] else { return WASIAbi.Errno.ENOSYS.rawValue }
        do {
            let results = try function.implementation(ScratchMemory(bytes: scratch), arguments)
            guard case .i32(let errno)? = results.first else { return WASIAbi.Errno.EIO.rawValue }
            return UInt16(truncatingIfNeeded: errno)
        } catch {
            return WASIAbi.Errno.EIO.rawValue
        }
    }

    // MARK: the calls themselves

    /// sock_accept(fd, flags): flags 0 or NONBLOCK (else EINVAL); the new connection's fd.
    func accept(_ fd: UInt32, flags: UInt32) throws(WASIAbi.Errno) -> UInt32 {
        let listener = try socket(at: fd)
        guard flags & ~UInt32(WASIAbi.Fdflags.NONBLOCK.rawValue) == 0 else { throw WASIAbi.Errno.EINVAL }
        let nonblocking = flags != 0
        let conn = rw_accept4(listener.fd, nonblocking ? 1 : 0)
        guard conn >= 0 else { throw HostErrno.wasi(-conn) }
        // A WASI preview 1 guest cannot set socket options: TCP connections get TCP_NODELAY,
        // as Go's net package gives every one, so that a response written in two parts does not
        // wait for the peer's delayed ACK. (Fails harmlessly on a unix socket.)
        var one: Int32 = 1
        _ = setsockopt(conn, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return try install(GuestSocket(fd: conn, isListener: false))
    }

    /// sock_recv: PEEK and WAITALL only (else ENOTSUP); the bytes read and roflags (always 0).
    func receive(_ fd: UInt32, into buffers: [UnsafeMutableRawBufferPointer], flags: UInt32) throws(WASIAbi.Errno) -> Int {
        let socket = try socket(at: fd)
        guard flags & ~UInt32(3) == 0 else { throw WASIAbi.Errno.ENOTSUP }
        var native: Int32 = 0
        if flags & 1 != 0 { native |= Int32(MSG_PEEK) }
        if flags & 2 != 0 { native |= Int32(MSG_WAITALL) }
        return try Self.message(buffers) { (header: inout msghdr) in recvmsg(socket.fd, &header, native) }
    }

    /// sock_send: flags must be 0 (else ENOTSUP); never raises SIGPIPE.
    func send(_ fd: UInt32, from buffers: [UnsafeMutableRawBufferPointer], flags: UInt32) throws(WASIAbi.Errno) -> Int {
        let socket = try socket(at: fd)
        guard flags == 0 else { throw WASIAbi.Errno.ENOTSUP }
        return try Self.message(buffers) { (header: inout msghdr) in sendmsg(socket.fd, &header, Int32(MSG_NOSIGNAL)) }
    }

    /// sock_shutdown: RD (1), WR (2) or both (3); anything else is EINVAL.
    func shutdown(_ fd: UInt32, how: UInt32) throws(WASIAbi.Errno) {
        let socket = try socket(at: fd)
        let native: Int32
        switch how {
        case 1: native = Int32(SHUT_RD)
        case 2: native = Int32(SHUT_WR)
        case 3: native = Int32(SHUT_RDWR)
        default: throw WASIAbi.Errno.EINVAL
        }
        guard Glibc.shutdown(socket.fd, native) == 0 else { throw HostErrno.wasi(errno) }
    }

    private static func message(_ buffers: [UnsafeMutableRawBufferPointer], _ io: (inout msghdr) -> Int) throws(WASIAbi.Errno) -> Int {
        var iovecs = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        let n: Int = iovecs.withUnsafeMutableBufferPointer { vectors in
            var header = msghdr()
            header.msg_iov = vectors.baseAddress
            header.msg_iovlen = vectors.count
            var n: Int
            repeat { n = io(&header) } while n < 0 && errno == EINTR
            return n < 0 ? -Int(errno) : n
        }
        guard n >= 0 else { throw HostErrno.wasi(Int32(-n)) }
        return n
    }
}

// MARK: - the guest's memory during a call

/// The guest's linear memory during one host call, every access bounds-checked (EFAULT).
struct GuestView {
    let base: UnsafeMutableRawBufferPointer

    init(_ caller: borrowing Caller) throws(WASIAbi.Errno) {
        guard case .memory(let memory) = caller.instance?.export("memory") else { throw WASIAbi.Errno.EFAULT }
        let count = memory.byteCount
        // The memory cannot grow during a host call: the pointer stays valid until it returns.
        base = count == 0
            ? UnsafeMutableRawBufferPointer(start: nil, count: 0)
            : memory.withUnsafeMutableBufferPointer(offset: 0, count: count) { $0 }
    }

    func bytes(at offset: UInt32, count: UInt32) throws(WASIAbi.Errno) -> UnsafeMutableRawBufferPointer {
        guard UInt64(offset) + UInt64(count) <= UInt64(base.count) else { throw WASIAbi.Errno.EFAULT }
        guard count > 0 else { return UnsafeMutableRawBufferPointer(start: nil, count: 0) }
        return UnsafeMutableRawBufferPointer(rebasing: base[Int(offset)..<Int(offset) + Int(count)])
    }

    func load32(at offset: UInt32) throws(WASIAbi.Errno) -> UInt32 {
        try bytes(at: offset, count: 4).loadUnaligned(as: UInt32.self).littleEndian
    }

    func store32(_ value: UInt32, at offset: UInt32) throws(WASIAbi.Errno) {
        try bytes(at: offset, count: 4).storeBytes(of: value.littleEndian, as: UInt32.self)
    }

    func store16(_ value: UInt16, at offset: UInt32) throws(WASIAbi.Errno) {
        try bytes(at: offset, count: 2).storeBytes(of: value.littleEndian, as: UInt16.self)
    }

    func store8(_ value: UInt8, at offset: UInt32) throws(WASIAbi.Errno) {
        try bytes(at: offset, count: 1).storeBytes(of: value, as: UInt8.self)
    }

    /// The host buffers of a WASI iovec/ciovec array (8 bytes an entry: pointer, length).
    func buffers(iovs: UInt32, count: UInt32) throws(WASIAbi.Errno) -> [UnsafeMutableRawBufferPointer] {
        guard count <= 1024 else { throw WASIAbi.Errno.EINVAL }
        var result: [UnsafeMutableRawBufferPointer] = []
        result.reserveCapacity(Int(count))
        for i in 0..<count {
            let entry = iovs &+ 8 &* i
            result.append(try bytes(at: try load32(at: entry), count: try load32(at: entry &+ 4)))
        }
        return result
    }
}

// MARK: - linking

extension SocketTable {
    /// Defines one `wasi_snapshot_preview1` function whose body returns an errno.
    func define(
        _ name: String, _ parameters: [WasmTypes.ValueType], in imports: inout Imports, store: Store,
        _ body: @escaping (borrowing Caller, [Value]) throws(WASIAbi.Errno) -> Void
    ) {
        imports.define(
            module: "wasi_snapshot_preview1", name: name,
            Function(store: store, type: FunctionType(parameters: parameters, results: [.i32])) { caller, arguments in
                do throws(WASIAbi.Errno) {
                    try body(caller, arguments)
                    return [.i32(0)]
                } catch {
                    return [.i32(UInt32(error.rawValue))]
                }
            })
    }

    /// Links sock_accept, sock_recv, sock_send and sock_shutdown over this table, and fd_close,
    /// fd_renumber and fd_prestat_get around WasmKit's, replacing what `wasi.link` defined.
    func link(to imports: inout Imports, store: Store) {
        define("sock_accept", [.i32, .i32, .i32], in: &imports, store: store) { caller, a throws(WASIAbi.Errno) in
            let memory = try GuestView(caller)
            _ = try memory.bytes(at: a[2].i32, count: 4)
            let fd = try self.accept(a[0].i32, flags: a[1].i32)
            try memory.store32(fd, at: a[2].i32)
        }
        define("sock_recv", [.i32, .i32, .i32, .i32, .i32, .i32], in: &imports, store: store) { caller, a throws(WASIAbi.Errno) in
            let memory = try GuestView(caller)
            let buffers = try memory.buffers(iovs: a[1].i32, count: a[2].i32)
            _ = try memory.bytes(at: a[4].i32, count: 4)
            _ = try memory.bytes(at: a[5].i32, count: 2)
            let n = try self.receive(a[0].i32, into: buffers, flags: a[3].i32)
            try memory.store32(UInt32(n), at: a[4].i32)
            try memory.store16(0, at: a[5].i32)
        }
        define("sock_send", [.i32, .i32, .i32, .i32, .i32], in: &imports, store: store) { caller, a throws(WASIAbi.Errno) in
            let memory = try GuestView(caller)
            let buffers = try memory.buffers(iovs: a[1].i32, count: a[2].i32)
            _ = try memory.bytes(at: a[4].i32, count: 4)
            let n = try self.send(a[0].i32, from: buffers, flags: a[3].i32)
            try memory.store32(UInt32(n), at: a[4].i32)
        }
        define("sock_shutdown", [.i32, .i32], in: &imports, store: store) { _, a throws(WASIAbi.Errno) in
            try self.shutdown(a[0].i32, how: a[1].i32)
        }
        define("fd_close", [.i32], in: &imports, store: store) { _, a throws(WASIAbi.Errno) in
            try self.close(a[0].i32)
        }
        define("fd_renumber", [.i32, .i32], in: &imports, store: store) { _, a throws(WASIAbi.Errno) in
            try self.renumber(a[0].i32, to: a[1].i32)
        }
        // A socket is not a directory preopen, but it must not answer EBADF: wasi-libc stops
        // looking for preopens at the first EBADF, and the root comes after the listeners. It
        // answers with a preopen type that is not DIR (1), which wasi-libc and Go skip.
        define("fd_prestat_get", [.i32, .i32], in: &imports, store: store) { caller, a throws(WASIAbi.Errno) in
            let memory = try GuestView(caller)
            let out = try memory.bytes(at: a[1].i32, count: 8)
            if self.sockets(contains: a[0].i32) {
                out.initializeMemory(as: UInt8.self, repeating: 0)
                out[0] = 1
                return
            }
            let errno = self.callPrestat(a[0].i32)
            guard errno == 0 else { throw WASIAbi.Errno(rawValue: errno) ?? .EIO }
            out.copyMemory(from: UnsafeRawBufferPointer(self.scratchPrestat))
        }
    }
}
