// Signal names and numbers as `kill` accepts them: `9`, `KILL`, `SIGKILL`, `sigkill`, and `0`
// (no signal: is the container alive?).

public enum Signals {
    /// Linux signal numbers (x86_64 and arm64 agree on these).
    public static let byName: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
        "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
        "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
        "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
        "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    public static func parse(_ text: String) throws -> Int32 {
        if let n = Int32(text) {
            // 0 sends nothing and only checks that the container's process is alive, as with runc.
            guard (0...64).contains(n) else { throw SignalError(text: text) }
            return n
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let n = byName[name] { return n }
        if name.hasPrefix("RTMIN"), let n = rt(name.dropFirst(5), base: 34, sign: 1) { return n }
        if name.hasPrefix("RTMAX"), let n = rt(name.dropFirst(5), base: 64, sign: -1) { return n }
        throw SignalError(text: text)
    }

    private static func rt(_ rest: Substring, base: Int32, sign: Int32) -> Int32? {
        if rest.isEmpty { return base }
        let offset = rest.hasPrefix("+") || rest.hasPrefix("-") ? Int32(rest.dropFirst()) : nil
        guard let offset, (0...30).contains(offset) else { return nil }
        return base + sign * offset
    }

    public struct SignalError: Error, CustomStringConvertible {
        public var text: String
        public var description: String { "unknown signal \"\(text)\"" }
    }
}
