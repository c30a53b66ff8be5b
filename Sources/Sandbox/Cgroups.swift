// Cgroups v1 and v2, found at run time: the container's cgroup is made and its resources set by
// `create` before the guest can run; `delete` removes it; pause/resume freeze it; ps, update
// and events read and write it.

import CSandbox
import Glibc
import OCI

public struct Cgroup: Codable, Sendable, Equatable {
    public enum Version: String, Codable, Sendable { case v1, v2 }
    public var version: Version
    /// The cgroup's path below each hierarchy's root (`/runwasm/c1`, `/system.slice/x-c1.scope`).
    public var path: String
    /// v2: the one directory. v1: one directory per hierarchy (controller mount), keyed by the
    /// controllers mounted there (`cpu,cpuacct`, `memory`…).
    public var directories: [String: String]

    /// Where the hierarchies are: `RUNWASM_CGROUP_ROOT` (a cgroup2 mount, for tests and unusual
    /// hosts) or /sys/fs/cgroup, v2 when it is a cgroup2 file system, v1 otherwise.
    static func hierarchies() throws -> (Version, [String: String]) {
        if let env = getenv("RUNWASM_CGROUP_ROOT").map({ String(cString: $0) }), !env.isEmpty {
            return (.v2, ["": env])
        }
        if rw_fs_type("/sys/fs/cgroup") == 0x6367_7270 { return (.v2, ["": "/sys/fs/cgroup"]) }
        var mounts: [String: String] = [:]
        let known: Set = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc"]
        // mountinfo: id parent major:minor root mountpoint options [optional…] - fstype source superoptions
        // (split as bytes: a host may have hundreds of mounts, and only the cgroup ones matter).
        let space = UInt8(ascii: " ")
        for line in ((try? Sys.readFile("/proc/self/mountinfo")) ?? []).split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: space)
            guard let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }),
                dash >= 5, fields.count > dash + 3, fields[dash + 1].elementsEqual("cgroup".utf8)
            else { continue }
            let controllers = String(decoding: fields[dash + 3], as: UTF8.self).split(separator: ",").map(String.init)
                .filter { known.contains($0) || $0.hasPrefix("name=") }
            let key = controllers.sorted().joined(separator: ",")
            if !key.isEmpty && mounts[key] == nil { mounts[key] = String(decoding: fields[4], as: UTF8.self) }
        }
        // A hybrid host's unified hierarchy (cgroup2 beside the v1 ones, /sys/fs/cgroup/unified):
        // runc places the container there too (0::/path in /proc/PID/cgroup). Its key is "".
        if !mounts.isEmpty {
            for line in ((try? Sys.readFile("/proc/self/mountinfo")) ?? []).split(separator: UInt8(ascii: "\n")) {
                let fields = line.split(separator: space)
                guard let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }),
                    dash >= 5, fields.count > dash + 1, fields[dash + 1].elementsEqual("cgroup2".utf8),
                    fields[3].elementsEqual("/".utf8)
                else { continue }
                let point = String(decoding: fields[4], as: UTF8.self)
                if point.hasPrefix("/sys/fs/cgroup/") { mounts[""] = point }
                break
            }
        }
        guard !mounts.isEmpty else { throw RuntimeError("no cgroup hierarchy is mounted (looked for cgroup2 or cgroup v1 at /sys/fs/cgroup)") }
        return (.v1, mounts)
    }

    /// The cgroup for `cgroupsPath` (a path, or `slice:prefix:name` with `systemd`).
    public static func resolvePath(_ cgroupsPath: String?, id: String, systemd: Bool) throws -> String {
        guard let path = cgroupsPath, !path.isEmpty else {
            return systemd ? "/system.slice/runwasm-\(id).scope" : "/runwasm/\(id)"
        }
        if systemd {
            let parts = path.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else {
                throw RuntimeError("config.json: linux.cgroupsPath: \"\(path)\" is not of the form slice:prefix:name (--systemd-cgroup)")
            }
            let slice = try expandSlice(parts[0].isEmpty ? "system.slice" : parts[0])
            let unit = parts[1].isEmpty ? parts[2] : "\(parts[1])-\(parts[2]).scope"
            return Path.clean(slice + "/" + unit)
        }
        if path.contains(":") && !path.hasPrefix("/") {
            throw RuntimeError("config.json: linux.cgroupsPath: \"\(path)\" is in the systemd form; pass --systemd-cgroup")
        }
        return Path.clean("/" + path)
    }

    /// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`, as systemd nests slices.
    static func expandSlice(_ slice: String) throws -> String {
        guard slice.hasSuffix(".slice"), !slice.contains("/") else {
            throw RuntimeError("config.json: linux.cgroupsPath: \"\(slice)\" is not a systemd slice name")
        }
        if slice == "-.slice" { return "/" }
        let name = String(slice.dropLast(6))
        var path = ""
        var prefix = ""
        for part in name.split(separator: "-", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw RuntimeError("config.json: linux.cgroupsPath: \"\(slice)\" is not a valid slice name") }
            prefix += prefix.isEmpty ? String(part) : "-" + part
            path += "/" + prefix + ".slice"
        }
        return path
    }

    /// The cgroup at `path` (in every v1 hierarchy), made or not.
    public static func locate(path: String) throws -> Cgroup {
        let (version, roots) = try hierarchies()
        var dirs: [String: String] = [:]
        for (controllers, root) in roots { dirs[controllers] = Path.clean(root + "/" + path) }
        return Cgroup(version: version, path: path, directories: dirs)
    }

    /// Creates the cgroup (in every v1 hierarchy) and applies `resources`. The container process
    /// enters it as it starts (`entry()`), before anything of the container runs.
    public static func create(path: String, resources: ResourcesPlan) throws -> Cgroup {
        let (version, roots) = try hierarchies()
        var dirs: [String: String] = [:]
        for (controllers, root) in roots { dirs[controllers] = Path.clean(root + "/" + path) }
        let cgroup = Cgroup(version: version, path: path, directories: dirs)
        do {
            for (controllers, dir) in dirs.sorted(by: { $0.key < $1.key }) {
                try makeDirectory(dir, root: roots[controllers]!, cpuset: version == .v1 && controllers.split(separator: ",").contains("cpuset"))
            }
            if version == .v2 { try enableControllers(root: roots[""]!, path: path) }
        } catch {
            cgroup.remove()
            throw error
        }
        // A process cloned into a frozen cgroup would wait there for ever (runc's message). The
        // cgroup is left as it is: frozen by someone else, it is not runwasm's to remove.
        if cgroup.isFrozen { throw RuntimeError("container's cgroup unexpectedly frozen (\(path))") }
        do {
            try cgroup.apply(resources)
        } catch {
            cgroup.remove()
            throw error
        }
        return cgroup
    }

    private static func makeDirectory(_ dir: String, root: String, cpuset: Bool) throws {
        var current = root
        for part in dir.dropFirst(root.count).split(separator: "/") {
            let parent = current
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir", current) }
            // A new v1 cpuset cgroup starts with no cpus and mems; it takes its parent's.
            if cpuset {
                for file in ["cpuset.cpus", "cpuset.mems"] where (read(current + "/" + file) ?? "").isEmpty {
                    if let value = read(parent + "/" + file), !value.isEmpty { try write(current + "/" + file, value) }
                }
            }
        }
    }

    /// v2: controllers must be enabled in every ancestor's cgroup.subtree_control; like runc, every
    /// controller the root offers (hugetlb, rdma and misc too, for the fields that need them).
    private static func enableControllers(root: String, path: String) throws {
        let wanted = (read(root + "/cgroup.controllers") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        var current = root
        let parts = path.split(separator: "/")
        for part in parts.dropLast() {
            for c in wanted { try? write(current + "/cgroup.subtree_control", "+" + c) }
            current += "/" + part
        }
        for c in wanted { try? write(current + "/cgroup.subtree_control", "+" + c) }
    }

    /// The sub-cgroup that `exec --cgroup` names, runc's way: one `PATH` (below the container's
    /// cgroup in every hierarchy) or any number of `CONTROLLER[,CONTROLLER]:PATH` (below it in
    /// those controllers' hierarchies; the others keep the container's cgroup). The sub-cgroup
    /// must exist; unlike runc, a PATH may not lead out of the container's cgroup.
    public func sub(_ arguments: [String]) throws -> Cgroup {
        guard !arguments.isEmpty else { return self }
        var wanted: [String: String] = [:]  // controller ("" for all) → path below the container's cgroup
        for argument in arguments {
            let parts = argument.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2 else { throw RuntimeError("invalid --cgroup argument: \(argument)") }
            let sub = parts.last!
            let clean = Path.clean("/" + sub)
            guard !sub.isEmpty, !sub.split(separator: "/").contains(".."), clean != "/" else {
                throw RuntimeError("invalid --cgroup argument: \(argument) is not a sub cgroup path (a path below the container's cgroup)")
            }
            if parts.count == 1 {
                guard arguments.count == 1 else {
                    throw RuntimeError("invalid --cgroup argument: \(argument) (missing <controller>: prefix)")
                }
                wanted[""] = clean
            } else {
                for controller in parts[0].split(separator: ",").map(String.init) { wanted[controller] = clean }
            }
        }
        var result = self
        if let all = wanted[""] {
            for (key, dir) in directories { result.directories[key] = dir + all }
            result.path = Path.clean(path + all)
            return result
        }
        for (controller, sub) in wanted {
            let key: String?
            if version == .v2 {
                key = nil
            } else {
                key = directories.keys.first { $0.split(separator: ",").contains(Substring(controller)) }
            }
            guard let key, let dir = directories[key] else {
                throw RuntimeError("invalid --cgroup argument: unknown controller \(controller)")
            }
            let target = dir + sub
            if result.directories[key] != dir && result.directories[key] != target {
                throw RuntimeError("invalid --cgroup argument: two paths for the hierarchy of \(key)")
            }
            result.directories[key] = target
        }
        return result
    }

    /// The open files through which a process about to be cloned enters this cgroup.
    public func entry() throws -> CgroupEntry {
        var entry = CgroupEntry(cgroup: self)
        do {
            switch version {
            case .v2:
                let dir = directories[""]!
                entry.directoryFD = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
                entry.selfMoves.append((try Sys.open(dir + "/cgroup.procs", O_WRONLY), dir + "/cgroup.procs"))
            case .v1:
                for (key, dir) in directories.sorted(by: { $0.key < $1.key }) {
                    if key.isEmpty {
                        // A hybrid host's unified hierarchy: cloned into it (clone3), or the
                        // process moves itself in through cgroup.procs on an older kernel.
                        entry.directoryFD = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
                        entry.unifiedMove = (try Sys.open(dir + "/cgroup.procs", O_WRONLY), dir + "/cgroup.procs")
                    } else {
                        entry.selfMoves.append((try Sys.open(dir + "/tasks", O_WRONLY), dir + "/tasks"))
                    }
                }
            }
        } catch {
            entry.close()
            throw error
        }
        return entry
    }

    /// Directory of the hierarchy that holds `controller` (v1), or the one directory (v2).
    func directory(for controller: String) -> String? {
        if version == .v2 { return directories[""] }
        return directories.first { $0.key.split(separator: ",").contains(Substring(controller)) }?.value
    }

    /// Writes the resource files that `resources` sets; unset fields (and runc's "unchanged" 0)
    /// are left alone. When a write fails, the files already written get their old values back
    /// (device rules excepted), so a failing `update` changes nothing else.
    public func apply(_ resources: ResourcesPlan) throws {
        let r = resources.zeroesUnset
        var written: [(path: String, old: String)] = []
        func path(_ controller: String, _ file: String) throws -> String {
            guard let dir = directory(for: controller) else {
                throw RuntimeError("cgroup controller \(controller) is not available for \(file)")
            }
            return dir + "/" + file
        }
        func set(_ controller: String, _ file: String, _ value: String?) throws {
            guard let value else { return }
            let target = try path(controller, file)
            let old = Cgroup.read(target)
            try Cgroup.write(target, value)
            if let old { written.append((target, old)) }
        }
        do {
            try apply(r, set: set, path: path)
        } catch {
            for (target, old) in written.reversed() { try? Cgroup.write(target, old) }
            throw error
        }
    }

    private func apply(
        _ r: ResourcesPlan, set: (String, String, String?) throws -> Void, path: (String, String) throws -> String
    ) throws {
        switch version {
        case .v1:
            // memory.memsw (memory + swap) may never be below memory.limit: as runc does, swap
            // first when it is unlimited or above the current limit, otherwise memory first.
            // Unlimited memory without a swap value makes swap unlimited too.
            let memory = "memory.limit_in_bytes", memsw = "memory.memsw.limit_in_bytes"
            var swap = r.memorySwap
            if r.memoryLimit == -1 && swap == nil, let p = try? path("memory", memsw), Sys.exists(p) { swap = -1 }
            let current = try r.memoryLimit == nil ? nil : Cgroup.read(path("memory", memory)).flatMap { UInt64($0) }
            if let limit = r.memoryLimit, let s = swap, s == -1 || (current.map { $0 < UInt64(s) } ?? false) {
                try set("memory", memsw, String(s))
                try set("memory", memory, String(limit))
            } else {
                try set("memory", memory, r.memoryLimit.map { String($0) })
                try set("memory", memsw, swap.map { String($0) })
            }
            try set("memory", "memory.soft_limit_in_bytes", r.memoryReservation.map { String($0) })
            try set("pids", "pids.max", r.pidsLimit.map { $0 < 0 ? "max" : String($0) })
            try set("cpu", "cpu.shares", r.cpuShares.map { String($0) })
            // Under a parent with a quota, the kernel refuses (EINVAL) a period whose ratio to
            // the old quota exceeds the parent's: then, as runc does, the quota goes first and
            // the period after it.
            var periodLater: String?
            if let period = r.cpuPeriod.map({ String($0) }) {
                do {
                    try set("cpu", "cpu.cfs_period_us", period)
                } catch let e as CgroupWriteError where e.errno == EINVAL && r.cpuQuota != nil {
                    periodLater = period
                }
            }
            try set("cpu", "cpu.cfs_quota_us", r.cpuQuota.map { String($0) })
            try set("cpu", "cpu.cfs_period_us", periodLater)
            try set("cpuset", "cpuset.cpus", r.cpusetCpus)
            try set("cpuset", "cpuset.mems", r.cpusetMems)
            if !r.devices.isEmpty, let dir = directory(for: "devices") {
                for rule in r.devices + DeviceRulePlan.runtimeDefaults {
                    try Cgroup.write(dir + (rule.allow ? "/devices.allow" : "/devices.deny"), rule.line)
                }
            }
        case .v2:
            try set("memory", "memory.max", r.memoryLimit.map { $0 == -1 ? "max" : String($0) })
            try set("memory", "memory.low", r.memoryReservation.map { String($0) })
            if let swap = r.memorySwap {
                // v2 limits swap alone; the spec's value counts memory plus swap.
                let value = swap == -1 ? "max" : String(max(0, swap - (r.memoryLimit ?? swap)))
                try set("memory", "memory.swap.max", value)
            }
            try set("pids", "pids.max", r.pidsLimit.map { $0 < 0 ? "max" : String($0) })
            // cpu.shares 2…262144 maps onto cpu.weight 1…10000.
            try set("cpu", "cpu.weight", r.cpuShares.map { String(Cgroup.weight(shares: $0)) })
            if r.cpuQuota != nil || r.cpuPeriod != nil {
                // As runc: a period only when one is given (the kernel keeps the current one).
                let quota = r.cpuQuota.map { $0 <= 0 ? "max" : String($0) } ?? "max"
                try set("cpu", "cpu.max", quota + (r.cpuPeriod.map { " \($0)" } ?? ""))
            }
            try set("cpuset", "cpuset.cpus", r.cpusetCpus)
            try set("cpuset", "cpuset.mems", r.cpusetMems)
            if !r.devices.isEmpty, let dir = directory(for: "devices") {
                // v2 has no device files: an eBPF program, runc's default allow-list after the
                // config's rules as on v1.
                let fd = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
                defer { close(fd) }
                try DeviceFilter.attach(r.devices + DeviceRulePlan.runtimeDefaults, toCgroup: fd, path: dir)
            }
        }
        if let extras = r.extras { try applyExtras(extras) }
    }

    /// cpu.shares (2…262144) mapped onto cpu.weight (1…10000), as runc maps them.
    static func weight(shares: UInt64) -> UInt64 {
        let clamped: UInt64 = max(2, min(shares, 262_144))
        return 1 + ((clamped - 2) * 9999) / 262_142
    }

    /// The pids in the cgroup.
    public func pids() -> [Int32] {
        guard let dir = directory(for: "pids") ?? directory(for: "freezer") ?? directories.values.first else { return [] }
        return (Cgroup.read(dir + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }.sorted()
    }

    public var isFrozen: Bool {
        switch version {
        case .v1: return Cgroup.read((directory(for: "freezer") ?? "") + "/freezer.state")?.hasPrefix("FROZEN") == true
        case .v2: return Cgroup.read((directories[""] ?? "") + "/cgroup.freeze") == "1"
        }
    }

    /// Freezes or thaws every process of the cgroup, and waits until the kernel has done it.
    public func freeze(_ frozen: Bool) throws {
        switch version {
        case .v1:
            guard let dir = directory(for: "freezer") else { throw RuntimeError("the freezer cgroup controller is not mounted") }
            try Cgroup.write(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED")
            let wanted = frozen ? "FROZEN" : "THAWED"
            for _ in 0..<1000 where Cgroup.read(dir + "/freezer.state") != wanted { Sys.sleep(seconds: 0.001) }
        case .v2:
            let dir = directories[""]!
            try Cgroup.write(dir + "/cgroup.freeze", frozen ? "1" : "0")
            for _ in 0..<1000 {
                let events = Cgroup.read(dir + "/cgroup.events") ?? ""
                if events.contains("frozen \(frozen ? 1 : 0)") { break }
                Sys.sleep(seconds: 0.001)
            }
        }
    }

    /// Removes the cgroup's directories (its processes must be gone).
    public func remove() {
        for dir in directories.values {
            for _ in 0..<200 {
                if rmdir(dir) == 0 || errno == ENOENT { break }
                if errno != EBUSY { break }
                Sys.sleep(seconds: 0.005)
            }
        }
    }

    /// A value read from a cgroup file, trailing newline removed.
    public func value(_ controller: String, _ file: String) -> String? {
        guard let dir = directory(for: controller) else { return nil }
        return Cgroup.read(dir + "/" + file)
    }

    static func read(_ path: String) -> String? {
        guard let bytes = try? Sys.readFile(path, limit: 1 << 20) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    static func write(_ path: String, _ value: String) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw CgroupWriteError(path: path, value: value, errno: n < 0 ? errno : EIO) }
    }
}

/// A cgroup file refused a value.
public struct CgroupWriteError: Error, CustomStringConvertible {
    public var path: String
    public var value: String
    public var errno: Int32
    public var description: String { "cannot write \"\(value)\" to \(path): \(Sys.errorString(errno))" }
}

/// How a cloned process enters its cgroup without its parent moving it there.
///
/// A parent writing a pid to `cgroup.procs` makes the kernel take the global threadgroup lock
/// for writing, which waits for an RCU grace period when no migration ran just before: 5 to 29 ms
/// on the build machine, longer than all else `create` does. Instead, on cgroup v2 the process is
/// cloned straight into the cgroup (clone3's CLONE_INTO_CGROUP); on v1 the new process, still
/// single-threaded, writes 0 ("this thread") to each hierarchy's `tasks`, a move the kernel
/// makes without that lock. The files are opened by the parent, whose credentials the kernel
/// checks, before the clone.
public struct CgroupEntry {
    /// The cgroup entered.
    public let cgroup: Cgroup
    /// v2: the cgroup's directory, for CLONE_INTO_CGROUP.
    public internal(set) var directoryFD: Int32 = -1
    /// Files the child writes "0" to: v1 `tasks` of every hierarchy; v2 `cgroup.procs`, used
    /// only when the kernel has no clone3 (before 5.7).
    var selfMoves: [(fd: Int32, path: String)] = []
    /// v1 on a hybrid host: the unified hierarchy's `cgroup.procs`, used only without clone3.
    var unifiedMove: (fd: Int32, path: String)?

    init(cgroup: Cgroup) { self.cgroup = cgroup }

    /// In the child: enters the cgroup unless the clone already placed it there, and closes the files.
    public func enter(placedByClone: Bool) throws {
        defer { close() }
        // v1: the clone placed it in the unified hierarchy at most; the v1 ones remain.
        if placedByClone && cgroup.version == .v2 { return }
        var moves = selfMoves
        if !placedByClone, let unifiedMove { moves.append(unifiedMove) }
        for (fd, path) in moves {
            guard Glibc.write(fd, "0", 1) == 1 else {
                throw RuntimeError("cannot move the container process into its cgroup (\(path)): \(Sys.errorString(errno))")
            }
        }
    }

    public var fds: [Int32] { (directoryFD >= 0 ? [directoryFD] : []) + selfMoves.map(\.fd) + (unifiedMove.map { [$0.fd] } ?? []) }

    public func close() {
        for fd in fds { Glibc.close(fd) }
    }
}
