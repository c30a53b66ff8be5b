// Reads a module file for WasmKit: each byte the engine needs is read once, straight into the one
// buffer WasmKit parses, and nothing else is kept.
//
// Custom sections (DWARF debug information, the name section: 13 of CPython's 26 MB, 21 of
// yosys's 69) never reach WasmKit: nothing of them is observable to a guest, and runwasm reports
// a trap by its reason, never by a backtrace's names. Their framing and names are checked here as
// WasmKit would check them; one that is malformed is passed on, so that WasmKit reports it.
//
// With a cache, the SHA-256 covers the whole file as read (custom sections too, read in small
// chunks that are not kept), so a cache key names the exact bytes that were validated.
//
// pread rather than mmap: a file truncated while mapped would kill the process with SIGBUS, and
// WasmKit parses arrays, so a mapping would be copied anyway.

import Crypto
import Glibc
import Sandbox

struct ModuleFile {
    /// What WasmKit parses: the header and every section but the custom ones, in file order.
    let bytes: [UInt8]

    struct Changed: Error {}

    /// A section of the file: where it starts (its id byte), its header's and its content's length.
    struct Section {
        var start: Int
        var headerLength: Int
        var length: Int
        var keep: Bool
    }

    /// Reads the module of `size` bytes at `fd`; with `hash`, its SHA-256 is computed on a
    /// second thread (`digest` waits for it), so that hashing overlaps WasmKit's parse.
    static func read(_ fd: Int32, size: Int, hash: Bool, path: String) throws -> ModuleFile {
        let sections = try layout(fd, size: size, path: path)
        let kept = sections.reduce(8) { $0 + ($1.keep ? $1.headerLength + $1.length : 0) }
        let bytes = try [UInt8](unsafeUninitializedCapacity: kept) { buffer, count in
            let base = UnsafeMutableRawBufferPointer(buffer)
            // Faulting in 2 MiB pages rather than 4 KiB ones: 69 MB of yosys cost 17k faults.
            let page = 2 << 20
            let start = (Int(bitPattern: base.baseAddress) + page - 1) & ~(page - 1)
            let end = (Int(bitPattern: base.baseAddress) + kept) & ~(page - 1)
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
            try readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: base[0..<8]), at: 0, path: path)
            var written = 8
            for s in sections where s.keep {
                let total = s.headerLength + s.length
                try readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: base[written..<written + total]), at: s.start, path: path)
                written += total
            }
            count = written
        }
        // One byte past the end: a file that grew while read is not the file that was hashed.
        var extra: UInt8 = 0
        if pread(fd, &extra, 1, off_t(size)) != 0 { throw Changed() }
        guard hash else { return ModuleFile(bytes: bytes, hashing: nil) }
        let copy = dup(fd)
        guard copy >= 0 else { throw SystemError("dup", path) }
        let hashing = BackgroundWork {
            defer { close(copy) }
            return try? digest(of: bytes, sections: sections, fd: copy, path: path)
        }
        return ModuleFile(bytes: bytes, hashing: hashing)
    }

    private let hashing: BackgroundWork?

    init(bytes: [UInt8], hashing: BackgroundWork?) {
        self.bytes = bytes
        self.hashing = hashing
    }

    /// The SHA-256 of the whole file as read; nil without a cache or when a custom section could
    /// no longer be read.
    var digest: [UInt8]? { hashing?.result() }

    /// The file's SHA-256, in file order: the kept sections from `bytes`, the others from `fd`.
    private static func digest(of bytes: [UInt8], sections: [Section], fd: Int32, path: String) throws -> [UInt8] {
        var hasher = SHA256()
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { kept in
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: kept[0..<8]))
            var at = 8
            for s in sections {
                let total = s.headerLength + s.length
                if s.keep {
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: kept[at..<at + total]))
                    at += total
                    continue
                }
                if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 1 << 20) }
                var offset = s.start
                while offset < s.start + total {
                    let n = min(scratch.count, s.start + total - offset)
                    try scratch.withUnsafeMutableBytes { chunk in
                        let part = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n])
                        try readFully(fd, into: part, at: offset, path: path)
                        hasher.update(bufferPointer: UnsafeRawBufferPointer(part))
                    }
                    offset += n
                }
            }
        }
        return Array(hasher.finalize())
    }

    private static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", path)
            }
            if n == 0 { throw Changed() }
            done += n
        }
    }

    /// The sections after the 8-byte header, from their headers alone. Where the framing breaks
    /// (a size past the end, a bad LEB128), the rest of the file is one kept piece, for WasmKit to
    /// report.
    static func layout(_ fd: Int32, size: Int, path: String) throws -> [Section] {
        var sections: [Section] = []
        var offset = 8
        var head = [UInt8](repeating: 0, count: 16 + 5)
        func rest() { sections.append(Section(start: offset, headerLength: 0, length: size - offset, keep: true)) }
        while offset < size {
            let n = min(head.count, size - offset)
            try head.withUnsafeMutableBytes { try readFully(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: offset, path: path) }
            var at = 1
            guard let length = leb(head, &at, limit: n), offset + at + length <= size else {
                rest()
                break
            }
            var keep = true
            if head[0] == 0 {
                keep = !(try customNameIsWellFormed(fd, contentStart: offset + at, length: length, path: path))
            }
            sections.append(Section(start: offset, headerLength: at, length: length, keep: keep))
            offset += at + length
        }
        return sections
    }

    /// An unsigned LEB128 of at most 32 bits from `bytes[at..<limit]`.
    static func leb(_ bytes: [UInt8], _ at: inout Int, limit: Int) -> Int? {
        var result = 0
        var shift = 0
        while at < limit, shift < 35 {
            let b = bytes[at]
            at += 1
            result |= Int(b & 0x7f) << shift
            if b & 0x80 == 0 { return shift == 28 && b > 0x0f ? nil : result }
            shift += 7
        }
        return nil
    }

    /// Whether a custom section's name is a length within the section followed by valid UTF-8,
    /// which is all a custom section must be.
    static func customNameIsWellFormed(_ fd: Int32, contentStart: Int, length: Int, path: String) throws -> Bool {
        var head = [UInt8](repeating: 0, count: min(5, length))
        try head.withUnsafeMutableBytes { try readFully(fd, into: $0, at: contentStart, path: path) }
        var at = 0
        guard let nameLength = leb(head, &at, limit: head.count), at + nameLength <= length else { return false }
        var name = [UInt8](repeating: 0, count: nameLength)
        try name.withUnsafeMutableBytes { try readFully(fd, into: $0, at: contentStart + at, path: path) }
        return String(validating: name, as: UTF8.self) != nil
    }
}

/// One computation on a thread of its own, joined by `result()`. The container process is
/// single-threaded again once it is joined (before `prepare` returns).
final class BackgroundWork {
    private let body: () -> [UInt8]?
    private var value: [UInt8]?
    private var thread = pthread_t()
    private var running = false

    init(_ body: @escaping () -> [UInt8]?) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        running = pthread_create(&thread, nil, { raw in
            let work = Unmanaged<BackgroundWork>.fromOpaque(raw!).takeRetainedValue()
            work.value = work.body()
            return nil
        }, context) == 0
        if !running {
            Unmanaged<BackgroundWork>.fromOpaque(context).release()
            value = body()
        }
    }

    func result() -> [UInt8]? {
        if running {
            pthread_join(thread, nil)
            running = false
        }
        return value
    }

    deinit { _ = result() }
}
