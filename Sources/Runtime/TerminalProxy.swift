// A foreground `run` of a container with `process.terminal` and no `--console-socket`: as runc
// does, runwasm keeps the pty master and copies between it and its own stdio until the container
// ends, with its own terminal (when stdin is one) in raw mode and its window size passed on.

import CSandbox
import Glibc

/// Set by SIGWINCH while a terminal is proxied (read by the proxy's loop).
nonisolated(unsafe) private var windowChanged: sig_atomic_t = 0

enum TerminalProxy {
    /// Copies stdin to `master` and `master` to stdout until `child` has exited and the pty has
    /// nothing more to say; returns the child's status (128 + signal when killed).
    static func run(master: Int32, child: pid_t) -> Int32 {
        var saved = termios()
        let stdinIsTerminal = isatty(0) == 1 && tcgetattr(0, &saved) == 0
        if stdinIsTerminal {
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(0, TCSANOW, &raw)
            copyWindowSize(to: master)
        }
        defer { if stdinIsTerminal { tcsetattr(0, TCSANOW, &saved) } }
        // (`run` forwards the termination signals.) A change of runwasm's window resizes the
        // container's terminal, and the kernel signals its foreground process group, instead of
        // SIGWINCH being forwarded as is.
        _ = signal(SIGWINCH) { _ in windowChanged = 1 }

        var stdinOpen = true
        var status: Int32 = 0
        var exited = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            if windowChanged != 0 {
                windowChanged = 0
                if stdinIsTerminal { copyWindowSize(to: master) }
            }
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0), pollfd(fd: stdinOpen ? 0 : -1, events: Int16(POLLIN), revents: 0)]
            // Wake now and then to notice the child's exit: the pty stays open while any
            // process of the container (an exec'd one) holds it.
            let ready = poll(&fds, 2, exited ? 0 : 100)
            if ready < 0 && errno != EINTR { break }
            if ready > 0 && fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(1, buffer, n)
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    break  // EIO: every slave is closed, the container has ended
                }
            }
            if ready > 0 && stdinOpen && fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(master, buffer, n)
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    stdinOpen = false
                }
            }
            if !exited && waitpid(child, &status, WNOHANG) == child { exited = true }
            // After the exit, drain what the pty still holds, then stop.
            if exited && ready == 0 { break }
        }
        if !exited { while waitpid(child, &status, 0) < 0 && errno == EINTR {} }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private static func copyWindowSize(to master: Int32) {
        var rows: UInt16 = 0
        var cols: UInt16 = 0
        if rw_get_window_size(0, &rows, &cols) == 0 { _ = rw_set_window_size(master, rows, cols) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], _ count: Int) {
        var done = 0
        while done < count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
