// Runs runtime-spec hooks: `path` with `args` and `env`, the state JSON on stdin, killed after
// `timeout` seconds; a non-zero exit is an error that carries the hook's output.

import CSandbox
import Glibc
import OCI

public enum HookRunner {
    /// Runs each hook of `kind` in order, in `directory` if one is given (else in this
    /// process's); the first failure stops the rest and is thrown.
    public static func run(_ hooks: [HookPlan], kind: String, state: String, in directory: String? = nil) throws {
        guard !hooks.isEmpty else { return }
        var previous: Int32 = -1
        if let directory {
            previous = open(".", Int32(RW_O_PATH) | O_DIRECTORY | O_CLOEXEC)
            guard chdir(directory) == 0 else {
                if previous >= 0 { close(previous) }
                throw SystemError("chdir", "\(directory), where \(kind) hooks run")
            }
        }
        defer {
            if previous >= 0 {
                _ = fchdir(previous)
                close(previous)
            }
        }
        for (index, hook) in hooks.enumerated() {
            try run(hook, label: "\(kind)[\(index)]", state: state)
        }
    }

    static func run(_ hook: HookPlan, label: String, state: String) throws {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard rw_pipe(&input) == 0 else { throw SystemError("pipe2", "hook \(label)") }
        guard rw_pipe(&output) == 0 else {
            close(input[0])
            close(input[1])
            throw SystemError("pipe2", "hook \(label)")
        }
        let args = hook.args.isEmpty ? [hook.path] : hook.args
        let pid = Sys.withCStrings(args) { argv in
            Sys.withCStrings(hook.env) { envp in
                rw_spawn(hook.path, argv, envp, input[0], output[1], output[1])
            }
        }
        close(input[0])
        close(output[1])
        guard pid > 0 else {
            close(input[1])
            close(output[0])
            throw RuntimeError("hook \(label) (\(hook.path)) could not start: \(Sys.errorString(-pid))")
        }
        // The state is small (well under a pipe's buffer), so writing it cannot block on the hook.
        _ = signal(SIGPIPE, SIG_IGN)
        try? Sys.writeAll(input[1], Array(state.utf8))
        close(input[1])

        let flags = fcntl(output[0], F_GETFL)
        _ = fcntl(output[0], F_SETFL, flags | O_NONBLOCK)
        var captured: [UInt8] = []
        let deadline = hook.timeout.map { Sys.monotonicSeconds() + Double($0) }
        var status: Int32 = 0
        var timedOut = false
        while true {
            drain(output[0], into: &captured)
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR {
                close(output[0])
                throw SystemError("waitpid", "hook \(label)")
            }
            if let deadline, Sys.monotonicSeconds() > deadline {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                timedOut = true
                _ = waitpid(pid, &status, 0)
                break
            }
            var pfd = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 5)
        }
        drain(output[0], into: &captured)
        close(output[0])

        let text = String(decoding: captured.suffix(2048), as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" }).joined(separator: "; ")
        let detail = text.isEmpty ? "" : ": \(text)"
        if timedOut {
            throw RuntimeError("hook \(label) (\(hook.path)) timed out after \(hook.timeout ?? 0) s\(detail)")
        }
        let exited = status & 0x7f == 0
        if exited {
            let code = (status >> 8) & 0xff
            if code == 0 { return }
            throw RuntimeError("hook \(label) (\(hook.path)) failed: exit status \(code)\(detail)")
        }
        throw RuntimeError("hook \(label) (\(hook.path)) failed: killed by signal \(status & 0x7f)\(detail)")
    }

    private static func drain(_ fd: Int32, into captured: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            captured.append(contentsOf: buffer[0..<n])
            if captured.count > 65536 { captured.removeFirst(captured.count - 65536) }
        }
    }
}
