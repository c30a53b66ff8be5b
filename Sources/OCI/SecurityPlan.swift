// The confinement half of the plan: seccomp, capabilities, user, rlimits, paths, sysctls,
// id mappings and cgroup resources, validated once with the field named in every error.

public enum SeccompAction: Equatable, Codable, Sendable {
    case killThread, killProcess, trap, errno(UInt32), trace(UInt32), allow, log

    /// The spec's action names; `errno` is the default errno (EPERM) or the rule's errnoRet.
    static func parse(_ name: String, errnoRet: UInt32?, field: String) throws(ConfigError) -> SeccompAction {
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return .killThread
        case "SCMP_ACT_KILL_PROCESS": return .killProcess
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_ERRNO": return .errno(errnoRet ?? 1)
        case "SCMP_ACT_TRACE": return .trace(errnoRet ?? 1)
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_LOG": return .log
        case "SCMP_ACT_NOTIFY": throw ConfigError(field, "SCMP_ACT_NOTIFY (seccomp notify) is not supported yet")
        default: throw ConfigError(field, "unknown seccomp action \"\(name)\"")
        }
    }
}

public enum SeccompOperator: String, Codable, Sendable {
    case notEqual = "SCMP_CMP_NE", lessThan = "SCMP_CMP_LT", lessOrEqual = "SCMP_CMP_LE", equal = "SCMP_CMP_EQ"
    case greaterOrEqual = "SCMP_CMP_GE", greaterThan = "SCMP_CMP_GT", maskedEqual = "SCMP_CMP_MASKED_EQ"
}

public struct SeccompArgPlan: Equatable, Codable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: SeccompOperator
}

public struct SeccompRulePlan: Equatable, Codable, Sendable {
    public var names: [String]
    public var action: SeccompAction
    public var args: [SeccompArgPlan]
}

public struct SeccompPlan: Equatable, Codable, Sendable {
    public var defaultAction: SeccompAction
    /// libseccomp's names: `x86_64`, `aarch64`…
    public var architectures: [String]
    /// SECCOMP_FILTER_FLAG_* bits.
    public var flags: UInt32
    public var rules: [SeccompRulePlan]

    static let architectureNames: [String: String] = [
        "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32", "SCMP_ARCH_ARM": "arm",
        "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64",
        "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
        "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64",
        "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x",
        "SCMP_ARCH_PARISC": "parisc", "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64",
    ]

    static let flagBits: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
    ]

    public static var supportedFlags: [String] { flagBits.keys.sorted() }
    public static var supportedActions: [String] {
        ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]
    }
    public static var supportedOperators: [String] {
        ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]
    }
    public static var supportedArchitectures: [String] { architectureNames.keys.sorted() }

    init(_ spec: Spec.Seccomp) throws(ConfigError) {
        let field = "linux.seccomp"
        if let listener = spec.listenerPath, !listener.isEmpty {
            throw ConfigError(field + ".listenerPath", "seccomp notify is not supported yet")
        }
        guard let defaultName = spec.defaultAction else { throw ConfigError(field + ".defaultAction", "missing") }
        defaultAction = try SeccompAction.parse(defaultName, errnoRet: spec.defaultErrnoRet, field: field + ".defaultAction")
        architectures = try (spec.architectures ?? []).enumerated().map { i, name throws(ConfigError) in
            guard let arch = Self.architectureNames[name] else {
                throw ConfigError("\(field).architectures[\(i)]", "unknown architecture \"\(name)\"")
            }
            return arch
        }
        var flags: UInt32 = 0
        for (i, name) in (spec.flags ?? []).enumerated() {
            guard let bit = Self.flagBits[name] else { throw ConfigError("\(field).flags[\(i)]", "unsupported flag \"\(name)\"") }
            flags |= bit
        }
        self.flags = flags
        rules = try (spec.syscalls ?? []).enumerated().map { i, rule throws(ConfigError) in
            let ruleField = "\(field).syscalls[\(i)]"
            guard let names = rule.names, !names.isEmpty else { throw ConfigError(ruleField + ".names", "missing") }
            guard let actionName = rule.action else { throw ConfigError(ruleField + ".action", "missing") }
            let action = try SeccompAction.parse(actionName, errnoRet: rule.errnoRet, field: ruleField + ".action")
            let args = try (rule.args ?? []).enumerated().map { j, arg throws(ConfigError) in
                let argField = "\(ruleField).args[\(j)]"
                guard let index = arg.index, index < 6 else { throw ConfigError(argField + ".index", "must be 0 to 5") }
                guard let opName = arg.op, let op = SeccompOperator(rawValue: opName) else {
                    throw ConfigError(argField + ".op", "unknown operator \"\(arg.op ?? "")\"")
                }
                return SeccompArgPlan(index: index, value: arg.value ?? 0, valueTwo: arg.valueTwo ?? 0, op: op)
            }
            return SeccompRulePlan(names: names, action: action, args: args)
        }
    }
}

public struct CapabilitiesPlan: Equatable, Codable, Sendable {
    public var bounding: [String] = []
    public var effective: [String] = []
    public var inheritable: [String] = []
    public var permitted: [String] = []
    public var ambient: [String] = []
    public init() {}

    /// Each set with its field name, for errors.
    public var sets: [(field: String, names: [String])] {
        [("bounding", bounding), ("effective", effective), ("inheritable", inheritable), ("permitted", permitted), ("ambient", ambient)]
    }
}

public struct UserPlan: Equatable, Codable, Sendable {
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var additionalGids: [UInt32] = []
    public var umask: UInt32?
    public init() {}
}

public struct RlimitPlan: Equatable, Codable, Sendable {
    /// The RLIMIT_* number.
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64

    static let resources: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
        "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
        "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]
}

public struct IDMappingPlan: Equatable, Codable, Sendable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32
}

public struct DeviceRulePlan: Equatable, Codable, Sendable {
    public var allow: Bool
    /// `a`, `c` or `b`.
    public var type: String
    /// -1 means any (`*`).
    public var major: Int64
    public var minor: Int64
    public var access: String

    public init(allow: Bool, type: String, major: Int64, minor: Int64, access: String) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// What runc (1.1) allows in every container after the config's own rules, so that callers'
    /// deny-all rule (Docker, podman, containerd's CRI, `runc spec`) still leaves the devices a
    /// process needs: mknod of any device, null, random, full, tty, zero, urandom, the pty
    /// slaves (136:*), ptmx and tun. Appended to the config's rules, so a config cannot take them
    /// away, as with runc.
    public static let runtimeDefaults: [DeviceRulePlan] = [
        ("c", -1, -1, "m"), ("b", -1, -1, "m"), ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"),
        ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, -1, "rwm"), ("c", 5, 2, "rwm"),
        ("c", 10, 200, "rwm"),
    ].map { DeviceRulePlan(allow: true, type: $0.0, major: $0.1, minor: $0.2, access: $0.3) }

    /// The cgroup v1 `devices.allow`/`devices.deny` line: `c 1:3 rwm`.
    public var line: String {
        func number(_ n: Int64) -> String { n < 0 ? "*" : String(n) }
        return "\(type) \(number(major)):\(number(minor)) \(access)"
    }
}

/// `linux.resources`, checked.
public struct ResourcesPlan: Equatable, Codable, Sendable {
    public var memoryLimit: Int64?
    public var memoryReservation: Int64?
    public var memorySwap: Int64?
    public var pidsLimit: Int64?
    public var cpuShares: UInt64?
    public var cpuQuota: Int64?
    public var cpuPeriod: UInt64?
    public var cpusetCpus: String?
    public var cpusetMems: String?
    public var devices: [DeviceRulePlan] = []
    /// Block I/O, huge pages, network, swappiness, OOM killer, realtime, unified (ResourceExtras.swift).
    public var extras: ResourceExtrasPlan?
    public init() {}

    public var isEmpty: Bool { self == ResourcesPlan() }

    /// This plan with every 0 that runc treats as "leave alone" made nil (runc's flags, like its
    /// JSON, take 0 as unchanged).
    public var zeroesUnset: ResourcesPlan {
        var r = self
        if r.memoryLimit == 0 { r.memoryLimit = nil }
        if r.memoryReservation == 0 { r.memoryReservation = nil }
        if r.memorySwap == 0 { r.memorySwap = nil }
        if r.pidsLimit == 0 { r.pidsLimit = nil }
        if r.cpuShares == 0 { r.cpuShares = nil }
        if r.cpuQuota == 0 { r.cpuQuota = nil }
        if r.cpuPeriod == 0 { r.cpuPeriod = nil }
        if r.cpusetCpus == "" { r.cpusetCpus = nil }
        if r.cpusetMems == "" { r.cpusetMems = nil }
        return r
    }

    /// Checks what `update` is about to apply, before anything is written: the same rules as a
    /// config's resources.
    public func validate(field: String) throws(ConfigError) {
        for (name, value) in [("limit", memoryLimit), ("reservation", memoryReservation), ("swap", memorySwap)] {
            if let value, value < -1 {
                throw ConfigError(field + ".memory." + name, "\(value) is not a byte count (use -1 for no limit)")
            }
        }
        if let swap = memorySwap, let limit = memoryLimit, swap != -1, limit != -1, swap < limit {
            throw ConfigError(field + ".memory.swap", "\(swap) is below memory.limit \(limit) (swap counts memory plus swap)")
        }
        if let period = cpuPeriod, !(1000...1_000_000).contains(period) {
            throw ConfigError(field + ".cpu.period", "\(period) µs is outside 1000 to 1000000")
        }
    }

    /// This plan with every value that `other` sets (other than runc's "unchanged" 0) replacing
    /// this one's.
    public func overridden(by other: ResourcesPlan) -> ResourcesPlan {
        let other = other.zeroesUnset
        var r = self
        r.memoryLimit = other.memoryLimit ?? memoryLimit
        r.memoryReservation = other.memoryReservation ?? memoryReservation
        r.memorySwap = other.memorySwap ?? memorySwap
        r.pidsLimit = other.pidsLimit ?? pidsLimit
        r.cpuShares = other.cpuShares ?? cpuShares
        r.cpuQuota = other.cpuQuota ?? cpuQuota
        r.cpuPeriod = other.cpuPeriod ?? cpuPeriod
        r.cpusetCpus = other.cpusetCpus ?? cpusetCpus
        r.cpusetMems = other.cpusetMems ?? cpusetMems
        if !other.devices.isEmpty { r.devices = other.devices }
        if let more = other.extras { r.extras = (extras ?? ResourceExtrasPlan()).overridden(by: more) }
        return r
    }

    /// runc leaves a resource alone when its value is 0 (Docker sends 0 for every field it does
    /// not set, on `run` and on `update`): such fields are nil here, so nothing is written.
    public init(_ spec: Spec.Resources, field: String) throws(ConfigError) {
        func set<T: BinaryInteger>(_ v: T?) -> T? { v == 0 ? nil : v }
        memoryLimit = set(spec.memory?.limit)
        memoryReservation = set(spec.memory?.reservation)
        memorySwap = set(spec.memory?.swap)
        pidsLimit = set(spec.pids?.limit)
        cpuShares = set(spec.cpu?.shares)
        cpuQuota = set(spec.cpu?.quota)
        cpuPeriod = set(spec.cpu?.period)
        try validate(field: field)
        cpusetCpus = spec.cpu?.cpus.flatMap { $0.isEmpty ? nil : $0 }
        cpusetMems = spec.cpu?.mems.flatMap { $0.isEmpty ? nil : $0 }
        devices = try (spec.devices ?? []).enumerated().map { i, d throws(ConfigError) in
            let type = d.type ?? "a"
            guard ["a", "b", "c"].contains(type) else { throw ConfigError("\(field).devices[\(i)].type", "unknown device type \"\(type)\"") }
            let access = d.access ?? "rwm"
            guard !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else {
                throw ConfigError("\(field).devices[\(i)].access", "\"\(access)\" is not a combination of r, w and m")
            }
            return DeviceRulePlan(allow: d.allow ?? false, type: type, major: d.major ?? -1, minor: d.minor ?? -1, access: access)
        }
        let more = try ResourceExtrasPlan(spec, field: field)
        extras = more.isEmpty ? nil : more
    }
}

/// Everything that confines the container process, beyond namespaces and mounts.
public struct SecurityPlan: Sendable {
    public var seccomp: SeccompPlan?
    public var capabilities = CapabilitiesPlan()
    public var user = UserPlan()
    public var noNewPrivileges = false
    public var rlimits: [RlimitPlan] = []
    public var oomScoreAdj: Int?
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    /// Sorted by key, so that they apply in a stable order.
    public var sysctl: [(key: String, value: String)] = []
    public var uidMappings: [IDMappingPlan] = []
    public var gidMappings: [IDMappingPlan] = []
    public var cgroupsPath: String?
    public var resources = ResourcesPlan()

    public init() {}

    /// Namespaced sysctls a container may set, with the namespace each needs.
    static func sysctlNamespace(_ key: String) -> NamespaceKind? {
        let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]
        if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { return .ipc }
        if key.hasPrefix("net.") { return .network }
        if key == "kernel.domainname" { return .uts }
        return nil
    }

    init(spec: Spec, namespaces: [NamespacePlan]) throws(ConfigError) {
        let process = spec.process
        if let s = spec.linux?.seccomp { seccomp = try SeccompPlan(s) }
        if let caps = process?.capabilities {
            capabilities.bounding = caps.bounding ?? []
            capabilities.effective = caps.effective ?? []
            capabilities.inheritable = caps.inheritable ?? []
            capabilities.permitted = caps.permitted ?? []
            capabilities.ambient = caps.ambient ?? []
            for (field, names) in capabilities.sets {
                for (i, name) in names.enumerated() where !name.uppercased().hasPrefix("CAP_") {
                    throw ConfigError("process.capabilities.\(field)[\(i)]", "\"\(name)\" is not a capability name")
                }
            }
        }
        if let u = process?.user {
            func id(_ v: Int64?, _ field: String) throws(ConfigError) -> UInt32 {
                guard let v else { return 0 }
                guard let id = UInt32(exactly: v), id != UInt32.max else { throw ConfigError(field, "\(v) is not a valid id") }
                return id
            }
            user.uid = try id(u.uid, "process.user.uid")
            user.gid = try id(u.gid, "process.user.gid")
            user.additionalGids = try (u.additionalGids ?? []).enumerated().map { i, g throws(ConfigError) in
                try id(g, "process.user.additionalGids[\(i)]")
            }
            if let mask = u.umask {
                guard (0...0o777).contains(mask) else { throw ConfigError("process.user.umask", "\(mask) is not a umask") }
                user.umask = UInt32(mask)
            }
        }
        noNewPrivileges = process?.noNewPrivileges ?? false
        rlimits = try (process?.rlimits ?? []).enumerated().map { i, r throws(ConfigError) in
            guard let resource = RlimitPlan.resources[r.type] else {
                throw ConfigError("process.rlimits[\(i)].type", "unknown rlimit \"\(r.type)\"")
            }
            guard r.soft <= r.hard else { throw ConfigError("process.rlimits[\(i)].soft", "\(r.soft) is above hard \(r.hard)") }
            return RlimitPlan(resource: resource, soft: r.soft, hard: r.hard)
        }
        if let adj = process?.oomScoreAdj {
            guard (-1000...1000).contains(adj) else { throw ConfigError("process.oomScoreAdj", "\(adj) is outside -1000 to 1000") }
            oomScoreAdj = adj
        }
        let linux = spec.linux
        for (field, list) in [("linux.maskedPaths", linux?.maskedPaths ?? []), ("linux.readonlyPaths", linux?.readonlyPaths ?? [])] {
            for (i, path) in list.enumerated() where !path.hasPrefix("/") {
                throw ConfigError("\(field)[\(i)]", "\"\(path)\" is not an absolute path")
            }
        }
        maskedPaths = linux?.maskedPaths ?? []
        readonlyPaths = linux?.readonlyPaths ?? []
        for key in (linux?.sysctl ?? [:]).keys.sorted() {
            if key == "kernel.hostname" {
                throw ConfigError("linux.sysctl.\(key)", "conflicts with the hostname field; set that instead")
            }
            guard let needed = Self.sysctlNamespace(key) else {
                throw ConfigError("linux.sysctl.\(key)", "not a namespaced sysctl, so a container may not set it")
            }
            // New or joined by path, as runc allows (a joined network namespace that is the
            // host's own is refused when the container process joins it).
            guard namespaces.contains(where: { $0.kind == needed }) else {
                throw ConfigError("linux.sysctl.\(key)", "needs a \(needed.rawValue) namespace of the container's own (new or joined by path)")
            }
            sysctl.append((key, linux!.sysctl![key]!))
        }
        let hasUserNamespace = namespaces.contains { $0.kind == .user }
        for (field, list) in [("linux.uidMappings", linux?.uidMappings ?? []), ("linux.gidMappings", linux?.gidMappings ?? [])] {
            if !list.isEmpty && !hasUserNamespace {
                throw ConfigError(field, "id mappings need a user namespace in linux.namespaces")
            }
            for (i, m) in list.enumerated() where m.size == 0 {
                throw ConfigError("\(field)[\(i)].size", "must be greater than zero")
            }
        }
        uidMappings = (linux?.uidMappings ?? []).map { IDMappingPlan(containerID: $0.containerID, hostID: $0.hostID, size: $0.size) }
        gidMappings = (linux?.gidMappings ?? []).map { IDMappingPlan(containerID: $0.containerID, hostID: $0.hostID, size: $0.size) }
        if let ns = namespaces.first(where: { $0.kind == .user }), ns.path == nil, uidMappings.isEmpty || gidMappings.isEmpty {
            throw ConfigError("linux.uidMappings", "a new user namespace needs both uidMappings and gidMappings")
        }
        cgroupsPath = linux?.cgroupsPath.flatMap { $0.isEmpty ? nil : $0 }
        if let r = linux?.resources { resources = try ResourcesPlan(r, field: "linux.resources") }
    }
}
