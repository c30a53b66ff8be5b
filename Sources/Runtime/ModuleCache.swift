// The validated-module cache: a directory of empty-content markers, one per module whose exact
// bytes WasmKit validated in full, so that later containers of the same module skip that work
// (their functions are then translated, and checked, only when first called).
//
// Trusted for one thing only, "these exact bytes validated", and only when nobody but root can
// have written it: the directory and every directory above it belong to root and are not
// writable by group or others (a sticky directory such as /tmp may sit above it), and so does
// each entry. An entry is a regular file named by the SHA-256 of the module's bytes and a tag of
// runwasm's and WasmKit's versions, holding a fixed text that repeats that name; anything else
// found there (truncated, foreign, another owner, a link) is ignored. Entries are written to a
// temporary name and renamed, so concurrent creates of one new module never see half of one.
//
// The directory is opened by the runtime before the container process is cloned and handed to
// it as a descriptor: the lookup and the write happen inside the container (which alone knows
// the module's bytes) but never through the container's rootfs. The descriptor is closed before
// anything of the guest runs.

import Crypto
import Glibc
import Sandbox
import WasmHost

public struct ModuleCache {
    /// `/var/lib/runwasm/modules`, made on first use by root.
    public static let defaultDirectory = "/var/lib/runwasm/modules"
    /// The environment variable that moves (a path) or disables (`off`) the cache.
    public static let environmentVariable = "RUNWASM_MODULE_CACHE"
    static let format = "runwasm validated module v1"

    /// What `--module-cache`, then RUNWASM_MODULE_CACHE, ask for: a directory, or nil for off.
    public static func directory(flag: String?) -> String? {
        let setting = flag ?? getenv(environmentVariable).map { String(cString: $0) }
        guard let setting else { return defaultDirectory }
        if setting.isEmpty || setting == "off" || setting == "none" { return nil }
        return setting
    }

    /// The directory's descriptor, owned by this value; closed by `close()`.
    let fd: Int32

    /// Opens the cache directory, making the default one (as root) when it is missing. Nil when
    /// it cannot be opened or may have been written by anyone but root: the modules are then
    /// validated in full each time, as without a cache.
    public static func open(_ path: String) -> ModuleCache? {
        guard path.hasPrefix("/") else { return nil }
        if path == defaultDirectory && geteuid() == 0 && access(path, F_OK) != 0 {
            // Searchable but not listable by others: a container in a user namespace may still
            // look its module up by name.
            _ = mkdir("/var/lib/runwasm", 0o711)
            _ = mkdir(path, 0o711)
        }
        var dir = Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return nil }
        let components = path.split(separator: "/").map(String.init)
        for (index, name) in components.enumerated() {
            guard name != "..", name != "." else { Glibc.close(dir); return nil }
            let next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            Glibc.close(dir)
            guard next >= 0 else { return nil }
            dir = next
            var st = stat()
            guard fstat(dir, &st) == 0, st.st_uid == 0 else { Glibc.close(dir); return nil }
            let othersWrite = st.st_mode & (S_IWGRP | S_IWOTH) != 0
            let last = index == components.count - 1
            // Above the cache a sticky directory is fine: others cannot rename what root owns there.
            if othersWrite && (last || st.st_mode & S_ISVTX == 0) { Glibc.close(dir); return nil }
        }
        var st = stat()
        guard fstat(dir, &st) == 0, st.st_uid == 0, st.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            Glibc.close(dir)
            return nil
        }
        return ModuleCache(fd: dir)
    }

    public func close() { Glibc.close(fd) }

    /// Runwasm's and WasmKit's versions, as they appear in entry names.
    static let versionTag: String = {
        let versions = "runwasm \(Info.version); wasmkit \(PreparedGuest.wasmKitVersion)"
        return hex(SHA256.hash(data: Array(versions.utf8))).prefix(16).description
    }()

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The entry name for a module whose whole file has this SHA-256.
    static func key(forDigest digest: [UInt8]) -> String {
        hex(digest) + "-" + versionTag
    }

    static func content(_ key: String) -> [UInt8] { Array("\(format)\n\(key)\n".utf8) }

    /// Whether an entry trusted as root's says these bytes validated.
    public func contains(_ key: String) -> Bool {
        let fd = openat(self.fd, key, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        let expected = ModuleCache.content(key)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0,
            st.st_mode & (S_IWGRP | S_IWOTH) == 0, st.st_size == expected.count
        else { return false }
        var found = [UInt8](repeating: 0, count: expected.count + 1)
        let n = found.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n == expected.count && Array(found.prefix(n)) == expected
    }

    /// Records that the bytes named by `key` validated. Best effort: a cache that cannot be
    /// written (a container in a user namespace, a read-only disk) only costs later creates.
    public func record(_ key: String) {
        let tmp = ".tmp-\(key.prefix(16))-\(getpid())"
        let fd = openat(self.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let content = ModuleCache.content(key)
        let written = content.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        // The umask may have taken bits off the mode; root's entry is 0644 whatever it is.
        let ok = written == content.count && fchmod(fd, 0o644) == 0
        Glibc.close(fd)
        if !ok || renameat(self.fd, tmp, self.fd, key) != 0 { unlinkat(self.fd, tmp, 0) }
    }
}
