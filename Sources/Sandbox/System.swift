// Small wrappers over libc calls: errors that name the call and the object, EINTR retried,
// whole reads and writes, atomic file writes.

import CSandbox
import Glibc
import OCI

/// A failed system call: `mount("/proc") failed: Operation not permitted`.
public struct SystemError: Error, CustomStringConvertible {
    public var call: String
    public var object: String
    public var errno: Int32

    public init(_ call: String, _ object: String = "", errno: Int32 = Glibc.errno) {
        self.call = call
        self.object = object
        self.errno = errno
    }

    public var description: String {
        let what = object.isEmpty ? "\(call) failed" : "\(call)(\(object)) failed"
        return "\(what): \(Sys.errorString(errno))"
    }
}

/// A plain failure with a message for the user.
public struct RuntimeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum Sys {
    public static func errorString(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }

    /// Converts a CSandbox result (value or -errno) into a value or a thrown error.
    @discardableResult
    public static func check<T: BinaryInteger>(_ result: T, _ call: String, _ object: String = "") throws -> T {
        if result < 0 { throw SystemError(call, object, errno: Int32(truncatingIfNeeded: 0 - result)) }
        return result
    }

    /// Retries a libc call that fails with EINTR; throws on any other failure.
    @discardableResult
    public static func retry<T: BinaryInteger>(_ call: String, _ object: String = "", _ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw SystemError(call, object)
        }
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws -> Int32 {
        try retry("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String = "") throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", what)
            }
            offset += n
        }
    }

    /// More bytes than a read's limit: never a silent cut.
    public struct LimitExceeded: Error, CustomStringConvertible {
        public let what: String
        public let limit: Int
        public var description: String { "\(what) is larger than \(Sys.byteCount(limit)), the most runwasm reads" }
    }

    /// `1 GiB`, `64 MiB`, or bytes.
    public static func byteCount(_ n: Int) -> String {
        if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }

    /// Everything up to end of file; throws `LimitExceeded` if there are more than `limit` bytes.
    public static func readAll(_ fd: Int32, limit: Int = 64 << 20, what: String = "") throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // One byte past the limit tells a file of exactly `limit` bytes from a longer one.
            let wanted = min(chunk.count, limit + 1 - result.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, wanted) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", what)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw LimitExceeded(what: what, limit: limit) }
        }
        return result
    }

    public static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd, limit: limit, what: path)
    }

    /// Writes `bytes` to `path` atomically for readers: a temporary file in the same directory,
    /// then rename. No fsync: state and pid files describe processes that a reboot ends anyway
    /// (they live on tmpfs under /run), and an fsync on a disk-backed --root cost 0.5 ms a create.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode)
        do {
            try writeAll(fd, bytes, what: tmp)
            close(fd)
            try retry("rename", path) { rename(tmp, path) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    public static func mkdirAll(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = Path.parent(of: path)
        if parent != path { try mkdirAll(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir", path) }
    }

    /// Removes `path` and everything below it, without following symlinks.
    public static func removeAll(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafePointer(to: entry.pointee.d_name) {
                        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { removeAll(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    public static func realtimeNow() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }

    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func sleep(seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// `2026-11-25T13:20:58.560596038Z` (nanoseconds) or `2026-11-25T13:20:58Z`.
    public static func rfc3339(_ ts: timespec, nanoseconds: Bool) -> String {
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
        out += "T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))"
        if nanoseconds && ts.tv_nsec != 0 {
            // Go trims trailing zeros of the fraction.
            var frac = pad(Int32(ts.tv_nsec), 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out + "Z"
    }

    /// Whether a process exists and has not exited, and its start time (for pid-reuse checks).
    public static func processInfo(_ pid: Int32) -> (alive: Bool, startTime: UInt64)? {
        var start: UInt64 = 0
        var state: CChar = 0
        guard rw_proc_stat(pid, &start, &state) == 0 else { return nil }
        let zombie = state == CChar(UInt8(ascii: "Z")) || state == CChar(UInt8(ascii: "X"))
        return (!zombie, start)
    }

    /// Converts `[String]` to a NULL-terminated `char *[]` for the duration of `body`.
    public static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) throws -> R) rethrows -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return try body(pointers)
    }
}

extension Path {
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}

