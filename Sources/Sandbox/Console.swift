// The container's terminal: a pty made inside the container (from its own devpts), whose slave
// becomes the process's stdio and controlling terminal; the master goes to --console-socket.

import CSandbox
import Glibc

public enum Console {
    /// Opens a pty, makes its slave fds 0-2 and the controlling terminal, and returns the master.
    static func attach(size: (rows: UInt16, cols: UInt16)?) throws -> Int32 {
        var name = [CChar](repeating: 0, count: 128)
        let r = rw_open_pty(&name, name.count)
        // Name the likely cause: no devpts mounted, or a device rule that denies the pty.
        let why = switch -r {
        case ENOENT, ENODEV: " (a terminal needs a devpts mount at /dev/pts)"
        case EPERM, EACCES: " (not permitted by the device cgroup or the node's mode)"
        default: ""
        }
        let master = try Sys.check(r, "open", "/dev/ptmx" + why)
        do {
            let slavePath = String(cString: name)
            let slave = try Sys.open(slavePath, O_RDWR | O_NOCTTY)
            if let size { try Sys.check(rw_set_window_size(slave, size.rows, size.cols), "ioctl(TIOCSWINSZ)", slavePath) }
            for target: Int32 in 0...2 where dup2(slave, target) < 0 { throw SystemError("dup2", slavePath) }
            close(slave)
            try Sys.check(rw_make_controlling_terminal(0), "ioctl(TIOCSCTTY)", slavePath)
            return master
        } catch {
            close(master)
            throw error
        }
    }

    /// Sends the pty master over the caller's --console-socket: one message, one SCM_RIGHTS fd.
    public static func send(master: Int32, to socketFD: Int32) throws {
        let name = Array("/dev/ptmx".utf8)
        try Sys.check(rw_send_fd(socketFD, master, name, name.count), "sendmsg", "console socket")
    }

    /// Connects to the caller's console socket (an AF_UNIX stream socket).
    public static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8CString)
        guard bytes.count <= MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw RuntimeError("console socket path is too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, c) in bytes.enumerated() { buf[i] = UInt8(bitPattern: c) }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let e = SystemError("connect", "console socket \(path)")
            close(fd)
            throw e
        }
        return fd
    }
}
