// runc-compatible logging: `--log FILE` appends records, `--log-format text|json` picks their
// shape, and a fatal error also goes to stderr as one bare line. Without `--debug` only the final
// error is written, because podman reads the whole `--log` file as one JSON object.

import Glibc
import OCI
import Sandbox

public enum LogFormat: String, Sendable {
    case text, json
}

public struct Logger: Sendable {
    public var path: String?
    public var format: LogFormat
    public var debugEnabled: Bool

    public init(path: String?, format: LogFormat, debug: Bool) {
        self.path = path
        self.format = format
        self.debugEnabled = debug
    }

    public func debug(_ message: @autoclosure () -> String) {
        guard debugEnabled else { return }
        record(level: "debug", message())
    }

    public func warning(_ message: String) {
        record(level: "warning", message)
        if path == nil { writeStderr("runwasm: warning: \(message)\n") }
    }

    /// Records a failure: one record in `--log`, and one line on stderr.
    public func error(_ message: String) {
        record(level: "error", message)
        writeStderr("runwasm: \(message)\n")
    }

    /// The bytes of one record in the configured format, with its newline.
    public func format(level: String, _ message: String, time: String) -> String {
        switch format {
        case .json:
            return JSONValue.object([("level", .string(level)), ("msg", .string(message)), ("time", .string(time))]).compact() + "\n"
        case .text:
            let quoted = JSONValue.string(message).compact()
            return "time=\"\(time)\" level=\(level) msg=\(quoted)\n"
        }
    }

    private func record(level: String, _ message: String) {
        let line = format(level: level, message, time: Sys.rfc3339(Sys.realtimeNow(), nanoseconds: false))
        guard let path else {
            // Without --log, only the stderr line of `error` is written (and debug records).
            if level == "debug" { writeStderr(line) }
            return
        }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            writeStderr("runwasm: cannot open log file \(path): \(Sys.errorString(errno))\n")
            return
        }
        try? Sys.writeAll(fd, Array(line.utf8), what: path)
        close(fd)
    }

    private func writeStderr(_ text: String) {
        try? Sys.writeAll(2, Array(text.utf8), what: "stderr")
    }
}
