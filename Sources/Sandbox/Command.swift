// Runs a helper program (such as ps) and captures what it prints.

import CSandbox
import Glibc

public enum Command {
    /// Runs `path` with `arguments` (argv[0] included), stdin from /dev/null; returns its exit
    /// status and its stdout and stderr together.
    public static func capture(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        var output: [Int32] = [-1, -1]
        try Sys.check(rw_pipe(&output), "pipe2")
        let null = try Sys.open("/dev/null", O_RDONLY)
        let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        let pid = Sys.withCStrings(arguments) { argv in
            Sys.withCStrings(environment) { envp in rw_spawn(path, argv, envp, null, output[1], output[1]) }
        }
        close(null)
        close(output[1])
        defer { close(output[0]) }
        try Sys.check(pid, "spawn", path)
        let bytes = try Sys.readAll(output[0], limit: 16 << 20, what: path)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: bytes, as: UTF8.self))
    }
}
