// The state store under `--root`: one directory per container holding `state.json` (written
// atomically), the `start.sock` that `start` connects to, and a lock file taken with flock(2)
// by every verb that changes the container.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import OCI
import Sandbox

/// What runwasm remembers about a container between invocations.
struct ContainerRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case id, pid, startTime, bundle, rootfs, created, annotations, cgroup, poststart, poststop, owner
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

    /// The live status, read from /proc: a zombie or a reused pid counts as stopped.
    var status: ContainerStatus {
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

    /// Creates the container's directory; fails if the id is taken.
    func makeDirectory(_ id: String) throws {
        try Sys.mkdirAll(root, mode: 0o711)
        let dir = directory(id)
        if mkdir(dir, 0o711) != 0 {
            if errno == EEXIST { throw RuntimeError("container with given ID already exists") }
            throw SystemError("mkdir", dir)
        }
    }

    func exists(_ id: String) -> Bool { Sys.isDirectory(directory(id)) }

    /// Takes the container's lock (blocking) and returns its fd; close it to release.
    func lock(_ id: String) throws -> Int32 {
        let path = directory(id) + "/" + Self.lockFile
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
            throw RuntimeError("state of container \(id) is unreadable (\(path)): \(error)")
        }
    }

    func save(_ record: ContainerRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(record)
        try Sys.writeFileAtomically(directory(record.id) + "/" + Self.stateFile, Array(data), mode: 0o600)
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
            if name != "." && name != ".." && Sys.isDirectory(root + "/" + name) { ids.append(name) }
        }
        return ids.sorted()
    }
}
