// Reading a verb's input file (or stdin), flushing streamed output and exiting, for the CLI.

import Glibc
import Sandbox

public enum Input {
    /// The bytes of `path`, or of stdin when `path` is `-`.
    public static func read(_ path: String) throws -> [UInt8] {
        if path == "-" { return try Sys.readAll(0, what: "stdin") }
        do {
            return try Sys.readFile(Runtime.absolute(path))
        } catch let e as SystemError {
            throw RuntimeError("cannot read \(path): \(Sys.errorString(e.errno))")
        }
    }
}

public enum Output {
    /// Flushes stdout, so that each streamed line reaches a reader at once.
    public static func flush() { fflush(stdout) }
}

public enum Process {
    /// Ends runwasm with `status`, flushing stdout first.
    public static func exit(_ status: Int32) -> Never {
        fflush(stdout)
        Glibc.exit(status)
    }
}
