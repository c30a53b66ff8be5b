// The state store under `--root`: one directory per container holding `state.json` (written
// atomically), the `start.sock` that `start` connects to, and a lock file taken with flock(2)
// by every verb that changes the container.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CSandbox
import Glibc
import OCI
import Sandbox

/// What runwasm remembers about a container between invocations.
struct ContainerRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case id, pid, startTime, bundle, rootfs, created, annotations, cgroup, poststart, poststop, owner, creator
    }

    /// A process, named by its pid and start time (so that a reused pid is not mistaken for it).
    struct Process: Codable, Equatable {
        var pid: Int32
        var startTime: UInt64

        static func current() -> Process {
            Process(pid: getpid(), startTime: Sys.processInfo(getpid())?.startTime ?? 0)
        }

        var isAlive: Bool {
            guard let info = Sys.processInfo(pid) else { return false }
            return info.alive && info.startTime == startTime
        }
    }

    var id: String
    var pid: Int32
    /// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat): a different
    /// value means the pid was reused and the container is gone.
    var startTime: UInt64
    var bundle: String
    var rootfs: String
    var created: String
    var annotations: [String: String]
    /// True once `start` told the guest to run: it then removes the start socket, whose presence
    /// marks a created container (as runc's exec fifo does). Derived when loading, not stored.
    var started = false
    var cgroup: Cgroup?
    var poststart: [HookPlan]
    var poststop: [HookPlan]
    var owner: UInt32
    /// The `runwasm create` (or `run`) still making the container; nil once it committed (saved
    /// the record without it). A record whose creator is gone was abandoned half-made: it counts
    /// as stopped, and `delete` removes what it recorded (its process, cgroup and directory).
    var creator: Process?

    /// The live status, read from /proc: a zombie or a reused pid counts as stopped.
    var status: ContainerStatus {
        if let creator { return creator.isAlive ? .creating : .stopped }
        guard pid > 0, let info = Sys.processInfo(pid), info.alive, info.startTime == startTime else {
            return .stopped
        }
        if cgroup?.isFrozen == true { return .paused }
        return started ? .running : .created
    }

    func state(_ status: ContainerStatus) -> ContainerState {
        ContainerState(
            id: id, status: status, pid: pid, bundle: bundle, rootfs: rootfs, created: created,
            annotations: annotations)
    }
}

struct Store {
    let root: String

    static let stateFile = "state.json"
    static let lockFile = "lock"

    func directory(_ id: String) -> String { root + "/" + id }

    /// Container ids: letters, digits and `_ + - .`, as runc allows; never `.` or `..`.
    static func validate(id: String) throws {
        let allowed = id.unicodeScalars.allSatisfy {
            ($0.value < 128 && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_+-.".unicodeScalars.contains($0)
        }
        guard !id.isEmpty, allowed, id != ".", id != ".." else {
            throw RuntimeError("invalid container id \"\(id)\": use letters, digits and _ + - . only")
        }
        guard id.utf8.count <= 1024 else { throw RuntimeError("invalid container id: longer than 1024 bytes") }
    }

    /// Makes the container's directory holding `record` (its state while creating) and its
    /// lock, taken, and returns the lock's fd. The directory is filled under a temporary name
    /// and then renamed to the id, so that a create killed at any instant leaves either no
    /// container directory or one with a state file (which `state`, `list` and `delete` see).
    /// Fails if the id is taken.
    func makeDirectory(_ id: String, record: ContainerRecord) throws -> Int32 {
        try Sys.mkdirAll(root, mode: 0o711)
        removeAbandonedTemporaries()
        // `#` is not allowed in an id, so no container or verb ever sees this name.
        let tmp = root + "/" + Self.temporaryPrefix + String(getpid())
        Sys.removeAll(tmp)
        guard mkdir(tmp, 0o711) == 0 else { throw SystemError("mkdir", tmp) }
        let fd: Int32
        do {
            fd = try lock(path: tmp + "/" + Self.lockFile)
        } catch {
            Sys.removeAll(tmp)
            throw error
        }
        do {
            try save(record, in: tmp)
            let dir = directory(id)
            var r = rw_rename_noreplace(tmp, dir)
            if r == -EINVAL {
                // A file system without RENAME_NOREPLACE: claim the name, then replace the empty
                // directory (rename does that atomically).
                if mkdir(dir, 0o711) != 0 { r = -errno } else { r = rename(tmp, dir) == 0 ? 0 : -errno }
            }
            if r == -EEXIST || r == -ENOTEMPTY { throw RuntimeError("container with given ID already exists") }
            try Sys.check(r, "rename", "\(tmp) to \(dir)")
        } catch {
            close(fd)
            Sys.removeAll(tmp)
            throw error
        }
        return fd
    }

    static let temporaryPrefix = "#creating-"

    /// Temporary directories of creates that were killed before they named their container.
    private func removeAbandonedTemporaries() {
        guard let dir = opendir(root) else { return }
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.hasPrefix(Self.temporaryPrefix), let pid = Int32(name.dropFirst(Self.temporaryPrefix.count)) else { continue }
            if pid != getpid() && Sys.processInfo(pid) == nil { stale.append(name) }
        }
        closedir(dir)
        for name in stale { Sys.removeAll(root + "/" + name) }
    }

    func exists(_ id: String) -> Bool { Sys.isDirectory(directory(id)) }

    /// Takes the container's lock (blocking) and returns its fd; close it to release.
    func lock(_ id: String) throws -> Int32 {
        // Every directory runwasm makes holds its lock file from the start (see `create`): a
        // directory without one is another runtime's (a shared --root, as Docker gives every
        // runtime), and runwasm neither adds a file to it nor removes it.
        let path = directory(id) + "/" + Self.lockFile
        if !Sys.exists(path) && isForeign(id) { throw foreign(id) }
        return try lock(path: path)
    }

    /// True for a directory holding another runtime's state file and no lock. (A runwasm
    /// directory being removed by another verb may lack its lock for an instant: its state file,
    /// if still there, is runwasm's own.)
    func isForeign(_ id: String) -> Bool {
        guard !Sys.exists(directory(id) + "/" + Self.lockFile),
            let bytes = try? Sys.readFile(directory(id) + "/" + Self.stateFile)
        else { return false }
        return (try? JSONDecoder().decode(ContainerRecord.self, from: Data(bytes))) == nil
    }

    func foreign(_ id: String) -> RuntimeError {
        RuntimeError("container \(id) is not a runwasm container (\(directory(id)) was made by another runtime)")
    }

    private func lock(path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == ENOENT { throw RuntimeError("container does not exist") }
            throw SystemError("open", path)
        }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = SystemError("flock", path)
            close(fd)
            throw e
        }
        return fd
    }

    func load(_ id: String) throws -> ContainerRecord {
        let path = directory(id) + "/" + Self.stateFile
        let bytes: [UInt8]
        do {
            bytes = try Sys.readFile(path)
        } catch let e as SystemError where e.errno == ENOENT {
            throw RuntimeError("container does not exist")
        }
        do {
            var record = try JSONDecoder().decode(ContainerRecord.self, from: Data(bytes))
            record.started = !Sys.exists(directory(id) + "/" + StartSocket.name)
            return record
        } catch {
            if isForeign(id) { throw foreign(id) }
            throw RuntimeError("state of container \(id) is unreadable (\(path)): \(error)")
        }
    }

    func save(_ record: ContainerRecord) throws {
        try save(record, in: directory(record.id))
    }

    private func save(_ record: ContainerRecord, in dir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(record)
        try Sys.writeFileAtomically(dir + "/" + Self.stateFile, Array(data), mode: 0o600)
    }

    func remove(_ id: String) {
        Sys.removeAll(directory(id))
    }

    /// Ids of every container directory under the root, sorted.
    func ids() -> [String] {
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var ids: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." && (try? Store.validate(id: name)) != nil && Sys.isDirectory(root + "/" + name) {
                ids.append(name)
            }
        }
        return ids.sorted()
    }
}
