// The resources beyond memory, pids, cpu shares/quota, cpuset and device rules: block I/O,
// huge pages, network classes and priorities, swappiness, the OOM killer, realtime cpu time and
// v2's `unified` files. Each is applied as runc 1.1.5 applies it, or fails `create` naming the
// field; zero and false values that runc treats as unset (Docker sends `blockIO.weight 0` and
// `disableOOMKiller false` on every container) are unset here too.

public struct WeightDevicePlan: Equatable, Codable, Sendable {
    public var major: Int64
    public var minor: Int64
    public var weight: UInt16
    public var leafWeight: UInt16
}

public struct ThrottleDevicePlan: Equatable, Codable, Sendable {
    public var major: Int64
    public var minor: Int64
    public var rate: UInt64
    /// `major:minor rate`, the v1 throttle files' format.
    public var line: String { "\(major):\(minor) \(rate)" }
}

public struct BlockIOPlan: Equatable, Codable, Sendable {
    /// 0 means unset, as for runc.
    public var weight: UInt16 = 0
    public var leafWeight: UInt16 = 0
    public var weightDevices: [WeightDevicePlan] = []
    public var readBps: [ThrottleDevicePlan] = []
    public var writeBps: [ThrottleDevicePlan] = []
    public var readIOPS: [ThrottleDevicePlan] = []
    public var writeIOPS: [ThrottleDevicePlan] = []
    public init() {}
    public var isEmpty: Bool { self == BlockIOPlan() }
}

public struct HugepageLimitPlan: Equatable, Codable, Sendable {
    /// `2MB`, `1GB`: the kernel's name in `hugetlb.<size>.*`.
    public var pageSize: String
    public var limit: UInt64
}

public struct InterfacePriorityPlan: Equatable, Codable, Sendable {
    public var name: String
    public var priority: UInt32
}

public struct ResourceExtrasPlan: Equatable, Codable, Sendable {
    /// 0 to 100; nil when unset or -1 (UInt64.max), as runc reads it.
    public var swappiness: UInt64?
    /// Only true is applied (false is the kernel's default).
    public var disableOOMKiller: Bool?
    public var realtimeRuntime: Int64?
    public var realtimePeriod: UInt64?
    public var blockIO: BlockIOPlan?
    public var hugepageLimits: [HugepageLimitPlan]?
    /// net_cls.classid; 0 means unset.
    public var classID: UInt32?
    public var priorities: [InterfacePriorityPlan]?
    /// cgroup v2 files, by name.
    public var unified: [String: String]?
    public init() {}

    public var isEmpty: Bool { self == ResourceExtrasPlan() }

    /// This plan with every value that `other` sets replacing this one's.
    public func overridden(by other: ResourceExtrasPlan) -> ResourceExtrasPlan {
        var r = self
        r.swappiness = other.swappiness ?? swappiness
        r.disableOOMKiller = other.disableOOMKiller ?? disableOOMKiller
        r.realtimeRuntime = other.realtimeRuntime ?? realtimeRuntime
        r.realtimePeriod = other.realtimePeriod ?? realtimePeriod
        r.blockIO = other.blockIO ?? blockIO
        r.hugepageLimits = other.hugepageLimits ?? hugepageLimits
        r.classID = other.classID ?? classID
        r.priorities = other.priorities ?? priorities
        r.unified = other.unified ?? unified
        return r
    }

    public init(_ spec: Spec.Resources, field: String) throws(ConfigError) {
        if let s = spec.memory?.swappiness, s != UInt64.max {
            guard s <= 100 else {
                throw ConfigError(field + ".memory.swappiness", "invalid memory swappiness value: \(s) (valid range is 0-100)")
            }
            swappiness = s
        }
        if spec.memory?.disableOOMKiller == true { disableOOMKiller = true }
        if let k = spec.memory?.kernel, k != 0 {
            throw ConfigError(field + ".memory.kernel", "kernel memory limits are not applied by runwasm")
        }
        if let k = spec.memory?.kernelTCP, k != 0 {
            throw ConfigError(field + ".memory.kernelTCP", "kernel TCP memory limits are not applied by runwasm")
        }
        if let v = spec.cpu?.realtimeRuntime, v != 0 { realtimeRuntime = v }
        if let v = spec.cpu?.realtimePeriod, v != 0 { realtimePeriod = v }
        if let v = spec.cpu?.idle, v != 0 { throw ConfigError(field + ".cpu.idle", "cpu.idle is not applied by runwasm") }
        if let v = spec.cpu?.burst, v != 0 { throw ConfigError(field + ".cpu.burst", "cpu burst is not applied by runwasm") }
        if let rdma = spec.rdma, rdma != .null, rdma != .object([]) {
            throw ConfigError(field + ".rdma", "the rdma controller is not applied by runwasm")
        }
        if let b = spec.blockIO {
            var plan = BlockIOPlan()
            plan.weight = b.weight ?? 0
            plan.leafWeight = b.leafWeight ?? 0
            for (name, value) in [("weight", plan.weight), ("leafWeight", plan.leafWeight)] where value != 0 && !(10...1000).contains(value) {
                throw ConfigError("\(field).blockIO.\(name)", "\(value) is outside 10 to 1000")
            }
            plan.weightDevices = (b.weightDevice ?? []).map {
                WeightDevicePlan(major: $0.major ?? 0, minor: $0.minor ?? 0, weight: $0.weight ?? 0, leafWeight: $0.leafWeight ?? 0)
            }
            func throttles(_ list: [Spec.ThrottleDevice]?) -> [ThrottleDevicePlan] {
                (list ?? []).map { ThrottleDevicePlan(major: $0.major ?? 0, minor: $0.minor ?? 0, rate: $0.rate ?? 0) }
            }
            plan.readBps = throttles(b.throttleReadBpsDevice)
            plan.writeBps = throttles(b.throttleWriteBpsDevice)
            plan.readIOPS = throttles(b.throttleReadIOPSDevice)
            plan.writeIOPS = throttles(b.throttleWriteIOPSDevice)
            if !plan.isEmpty { blockIO = plan }
        }
        if let list = spec.hugepageLimits, !list.isEmpty {
            hugepageLimits = try list.enumerated().map { i, h throws(ConfigError) in
                let f = "\(field).hugepageLimits[\(i)].pageSize"
                guard let size = h.pageSize, Self.isPageSize(size) else {
                    throw ConfigError(f, h.pageSize.map { "\"\($0)\" is not a huge page size such as 2MB" } ?? "missing")
                }
                return HugepageLimitPlan(pageSize: size, limit: h.limit ?? 0)
            }
        }
        if let id = spec.network?.classID, id != 0 { classID = id }
        if let list = spec.network?.priorities, !list.isEmpty {
            priorities = try list.enumerated().map { i, p throws(ConfigError) in
                guard let name = p.name, !name.isEmpty, !name.contains(" "), !name.contains("\n") else {
                    throw ConfigError("\(field).network.priorities[\(i)].name", "not an interface name")
                }
                return InterfacePriorityPlan(name: name, priority: p.priority ?? 0)
            }
        }
        if let u = spec.unified, !u.isEmpty {
            for key in u.keys.sorted() where key.isEmpty || key.contains("/") || key == "." || key == ".." || !key.contains(".") {
                throw ConfigError("\(field).unified.\(key)", "not a cgroup file name")
            }
            unified = u
        }
    }

    /// `64KB`, `2MB`, `1GB`: a number and a unit, as the kernel names hugetlb files.
    static func isPageSize(_ s: String) -> Bool {
        guard let unit = ["KB", "MB", "GB"].first(where: { s.hasSuffix($0) }) else { return false }
        let digits = s.dropLast(unit.count)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
