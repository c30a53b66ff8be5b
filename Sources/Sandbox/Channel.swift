// The parent/child synchronisation channel: an AF_UNIX SOCK_SEQPACKET socket pair carrying
// short text messages, one per packet, optionally with one fd.

import CSandbox
import Glibc

public struct Channel {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// A connected pair; both ends are close-on-exec.
    public static func pair() throws -> (Channel, Channel) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair")
        }
        return (Channel(fd: fds[0]), Channel(fd: fds[1]))
    }

    public func send(_ message: String) throws {
        var bytes = Array(message.utf8)
        if bytes.isEmpty { bytes = [0x20] }
        try Sys.retry("send", "sync socket") { bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    }

    public func send(_ message: String, passing passed: Int32) throws {
        let bytes = Array(message.utf8)
        try Sys.check(rw_send_fd(fd, passed, bytes, bytes.count), "sendmsg", "sync socket")
    }

    /// The next message and the fd it carried (or -1); nil at end of file (the peer is gone).
    public func receive() throws -> (String, Int32)? {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var passed: Int32 = -1
        let n = buffer.withUnsafeMutableBytes { rw_recv_with_fd(fd, $0.baseAddress, $0.count, &passed) }
        try Sys.check(n, "recvmsg", "sync socket")
        if n == 0 { return nil }
        return (String(decoding: buffer[0..<n], as: UTF8.self), passed)
    }

    public func close() {
        _ = Glibc.close(fd)
    }
}
