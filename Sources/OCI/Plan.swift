// The validated plan: `config.json` decoded and checked once, at the edge. Nothing downstream
// reads the raw `Spec`; whatever runwasm cannot honour fails here, naming the field.

/// An error in `config.json`, naming the field (`config.json: linux.namespaces[2].type: …`).
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var field: String
    public var problem: String
    public init(_ field: String, _ problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String {
        field.isEmpty ? "config.json: \(problem)" : "config.json: \(field): \(problem)"
    }
}

public enum NamespaceKind: String, CaseIterable, Sendable {
    case pid, network, mount, ipc, uts, user, cgroup, time
}

public struct NamespacePlan: Equatable, Sendable {
    public var kind: NamespaceKind
    /// Join the namespace at this path instead of creating a new one.
    public var path: String?
    public init(kind: NamespaceKind, path: String?) {
        self.kind = kind
        self.path = path
    }
}

public struct MountPlan: Equatable, Sendable {
    public var destination: String
    public var type: String
    public var source: String
    /// MS_* flags applied when mounting (MS_BIND, MS_RDONLY, MS_NOSUID…).
    public var flags: UInt
    /// MS_SHARED, MS_PRIVATE… applied after the mount, as the kernel requires.
    public var propagation: UInt
    /// Options the kernel parses itself (`mode=755`, `size=64k`…), joined with commas.
    public var data: String
    /// MOUNT_ATTR_* set and cleared on the mount and every submount (`rro`, `rnosuid`…), with
    /// mount_setattr(AT_RECURSIVE).
    public var recursiveSet: UInt64 = 0
    public var recursiveClear: UInt64 = 0
    /// `tmpcopyup` (podman's `--tmpfs`, runc's extension): the new tmpfs starts with a copy of
    /// what the image has at the destination.
    public var copyUp = false
    public init(destination: String, type: String, source: String, flags: UInt, propagation: UInt, data: String) {
        self.destination = destination
        self.type = type
        self.source = source
        self.flags = flags
        self.propagation = propagation
        self.data = data
    }
    public var isBind: Bool { flags & MountFlags.bind != 0 }
}

/// The Linux MS_* values, kept here as plain numbers so that this target stays free of Glibc.
public enum MountFlags {
    public static let rdonly: UInt = 1
    public static let nosuid: UInt = 2
    public static let nodev: UInt = 4
    public static let noexec: UInt = 8
    public static let synchronous: UInt = 16
    public static let remount: UInt = 32
    public static let mandlock: UInt = 64
    public static let dirsync: UInt = 128
    public static let nosymfollow: UInt = 256
    public static let noatime: UInt = 1024
    public static let nodiratime: UInt = 2048
    public static let bind: UInt = 4096
    public static let rec: UInt = 16384
    public static let unbindable: UInt = 1 << 17
    public static let `private`: UInt = 1 << 18
    public static let slave: UInt = 1 << 19
    public static let shared: UInt = 1 << 20
    public static let relatime: UInt = 1 << 21
    public static let strictatime: UInt = 1 << 24
}

/// The MOUNT_ATTR_* values of mount_setattr(2).
public enum MountAttributes {
    public static let rdonly: UInt64 = 0x1
    public static let nosuid: UInt64 = 0x2
    public static let nodev: UInt64 = 0x4
    public static let noexec: UInt64 = 0x8
    public static let nosymfollow: UInt64 = 0x20_0000
}

/// `linux.devices[i]`: a node made in the container's /dev.
public struct DevicePlan: Equatable, Sendable {
    public var path: String
    /// `c`, `b`, `u` (unbuffered character) or `p` (fifo).
    public var type: String
    public var major: UInt32
    public var minor: UInt32
    /// Permission bits only.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
}

public struct HookPlan: Codable, Equatable, Sendable {
    public var path: String
    public var args: [String]
    public var env: [String]
    /// Seconds; nil means no limit.
    public var timeout: Int?
}

public struct HooksPlan: Equatable, Sendable {
    public var prestart: [HookPlan] = []
    public var createRuntime: [HookPlan] = []
    public var createContainer: [HookPlan] = []
    public var startContainer: [HookPlan] = []
    public var poststart: [HookPlan] = []
    public var poststop: [HookPlan] = []
    public init() {}
}

public struct ContainerPlan: Sendable {
    public var ociVersion: String
    /// Absolute path of the root filesystem on the host.
    public var rootfs: String
    public var rootReadonly: Bool
    public var args: [String]
    /// `process.env` in order, as given.
    public var env: [String]
    public var cwd: String
    public var terminal: Bool
    public var consoleSize: (rows: UInt16, cols: UInt16)?
    public var namespaces: [NamespacePlan]
    public var mounts: [MountPlan]
    /// `linux.devices`, created after the mounts.
    public var devices: [DevicePlan]
    /// Propagation applied to the container's `/` before its mounts (MS_SLAVE|MS_REC by default).
    public var rootPropagation: UInt
    public var hostname: String?
    public var domainname: String?
    public var hooks: HooksPlan
    public var annotations: [String: String]
    /// True for a Kubernetes pod sandbox ("pause") container, which runs runwasm's built-in pause.
    public var isPodSandbox: Bool
    /// Seccomp, capabilities, user, rlimits, paths, sysctls, id mappings, cgroup and resources.
    public var security: SecurityPlan

    /// What runc's process gets as its environment: `process.env` with one entry per name, in
    /// the place of the name's first entry and with its last value, then `HOME` (`home`, the
    /// user's home directory in the image) when the config sets none. (Entries without `=` fail
    /// `create`.)
    public func execEnvironment(home: String) -> [String] {
        var order: [String] = []
        var values: [String: String] = [:]
        for entry in env {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            let name = String(entry[..<eq])
            if values[name] == nil { order.append(name) }
            values[name] = String(entry[entry.index(after: eq)...])
        }
        if values["HOME"] == nil {
            order.append("HOME")
            values["HOME"] = home
        }
        return order.map { "\($0)=\(values[$0]!)" }
    }

    /// `process.env` by name, later duplicates replacing earlier ones, as a shell would leave them.
    public var environment: [String: String] {
        var result: [String: String] = [:]
        for entry in env {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            result[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return result
    }

    public func namespace(_ kind: NamespaceKind) -> NamespacePlan? {
        namespaces.first { $0.kind == kind }
    }
}

extension ContainerPlan {
    /// The oldest and newest runtime-spec versions runwasm accepts as `ociVersion`.
    public static let ociVersionMin = "1.0.0"
    public static let ociVersionMax = "1.2.1"

    public static let podSandboxAnnotations = [
        ("io.kubernetes.cri.container-type", "sandbox"),
        ("io.kubernetes.cri-o.ContainerType", "sandbox"),
    ]

    /// Validates `spec` from the bundle at `bundle` (an absolute path).
    public init(spec: Spec, bundle: String) throws(ConfigError) {
        try Self.refuseNULBytes(spec)
        let version = spec.ociVersion ?? ""
        guard Self.isSupported(ociVersion: version) else {
            throw ConfigError(
                "ociVersion",
                version.isEmpty
                    ? "missing"
                    : "unsupported version \"\(version)\" (runwasm supports \(Self.ociVersionMin) to 1.2.x)")
        }
        ociVersion = version

        guard let rootPath = spec.root?.path, !rootPath.isEmpty else {
            throw ConfigError("root.path", "missing")
        }
        rootfs = Path.clean(rootPath.hasPrefix("/") ? rootPath : bundle + "/" + rootPath)
        rootReadonly = spec.root?.readonly ?? false

        guard let process = spec.process else { throw ConfigError("process", "missing") }
        guard let args = process.args, !args.isEmpty, !args[0].isEmpty else {
            throw ConfigError("process.args", "must name the module to run")
        }
        self.args = args
        let env = process.env ?? []
        for (i, entry) in env.enumerated() where !entry.contains("=") || entry.hasPrefix("=") {
            throw ConfigError("process.env[\(i)]", "\"\(entry)\" is not of the form KEY=VALUE")
        }
        self.env = env
        let cwd = process.cwd ?? "/"
        guard cwd.hasPrefix("/") else { throw ConfigError("process.cwd", "\"\(cwd)\" is not an absolute path") }
        self.cwd = Path.clean(cwd)
        terminal = process.terminal ?? false
        if let size = process.consoleSize {
            for (name, value) in [("height", size.height), ("width", size.width)] where !(0...65535).contains(value) {
                throw ConfigError("process.consoleSize.\(name)", "\(value) is out of range (0 to 65535)")
            }
            consoleSize = (rows: UInt16(size.height), cols: UInt16(size.width))
        } else {
            consoleSize = nil
        }

        namespaces = try Self.namespaces(spec.linux?.namespaces ?? [])
        guard namespaces.contains(where: { $0.kind == .mount }) else {
            throw ConfigError("linux.namespaces", "runwasm needs a mount namespace (type \"mount\") to pivot into the rootfs")
        }
        mounts = try (spec.mounts ?? []).enumerated().map { i, m throws(ConfigError) in try Self.mount(m, index: i, bundle: bundle) }
        rootPropagation = try Self.rootPropagation(spec.linux?.rootfsPropagation)
        devices = try Self.devices(spec.linux?.devices ?? [])
        // No AppArmor or SELinux support: a label is refused, never dropped. On a host without
        // them runc fails these too (Docs/compatibility.md).
        for (field, value) in [
            ("process.apparmorProfile", process.apparmorProfile), ("process.selinuxLabel", process.selinuxLabel),
            ("linux.mountLabel", spec.linux?.mountLabel),
        ] where !(value ?? "").isEmpty {
            throw ConfigError(field, "runwasm applies no AppArmor or SELinux labels")
        }
        let linux = spec.linux
        for (field, value) in [
            ("linux.intelRdt", linux?.intelRdt), ("linux.personality", linux?.personality), ("linux.timeOffsets", linux?.timeOffsets),
            ("linux.netDevices", linux?.netDevices), ("linux.memoryPolicy", linux?.memoryPolicy),
            ("process.ioPriority", process.ioPriority), ("process.scheduler", process.scheduler),
            ("process.execCPUAffinity", process.execCPUAffinity),
        ] {
            if let value, value != .null { throw ConfigError(field, "not supported by runwasm") }
        }

        hostname = spec.hostname.flatMap { $0.isEmpty ? nil : $0 }
        domainname = spec.domainname.flatMap { $0.isEmpty ? nil : $0 }
        for (field, value) in [("hostname", hostname), ("domainname", domainname)] where value != nil {
            let uts = namespaces.first { $0.kind == .uts }
            guard let uts, uts.path == nil else {
                throw ConfigError(field, "setting it needs a new uts namespace in linux.namespaces")
            }
        }

        hooks = try Self.hooks(spec.hooks)
        annotations = spec.annotations ?? [:]
        let annotations = annotations
        isPodSandbox = Self.podSandboxAnnotations.contains { annotations[$0.0] == $0.1 }
        security = try SecurityPlan(spec: spec, namespaces: namespaces)
    }

    /// True for 1.0.x, 1.1.x and 1.2.x, including pre-release suffixes such as `1.0.2-dev`.
    public static func isSupported(ociVersion: String) -> Bool {
        let core = ociVersion.split(separator: "-", maxSplits: 1).first.map(String.init) ?? ""
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let major = Int(parts[0]), let minor = Int(parts[1]), Int(parts[2]) != nil else {
            return false
        }
        return major == 1 && (0...2).contains(minor)
    }

    private static func namespaces(_ list: [Spec.Namespace]) throws(ConfigError) -> [NamespacePlan] {
        var result: [NamespacePlan] = []
        for (i, ns) in list.enumerated() {
            let field = "linux.namespaces[\(i)]"
            guard let type = ns.type else { throw ConfigError(field + ".type", "missing") }
            guard let kind = NamespaceKind(rawValue: type) else {
                throw ConfigError(field + ".type", "unknown namespace \"\(type)\"")
            }
            switch kind {
            case .time:
                throw ConfigError(field + ".type", "time namespaces are not supported")
            default: break
            }
            guard !result.contains(where: { $0.kind == kind }) else {
                throw ConfigError(field + ".type", "namespace \"\(type)\" is listed twice")
            }
            let path = ns.path.flatMap { $0.isEmpty ? nil : $0 }
            if let path, !path.hasPrefix("/") {
                throw ConfigError(field + ".path", "\"\(path)\" is not an absolute path")
            }
            result.append(NamespacePlan(kind: kind, path: path))
        }
        return result
    }

    private static let flagOptions: [String: (set: Bool, flag: UInt)] = [
        "ro": (true, MountFlags.rdonly), "rw": (false, MountFlags.rdonly),
        "nosuid": (true, MountFlags.nosuid), "suid": (false, MountFlags.nosuid),
        "nodev": (true, MountFlags.nodev), "dev": (false, MountFlags.nodev),
        "noexec": (true, MountFlags.noexec), "exec": (false, MountFlags.noexec),
        "sync": (true, MountFlags.synchronous), "async": (false, MountFlags.synchronous),
        "dirsync": (true, MountFlags.dirsync), "remount": (true, MountFlags.remount),
        "mand": (true, MountFlags.mandlock), "nomand": (false, MountFlags.mandlock),
        "atime": (false, MountFlags.noatime), "noatime": (true, MountFlags.noatime),
        "diratime": (false, MountFlags.nodiratime), "nodiratime": (true, MountFlags.nodiratime),
        "relatime": (true, MountFlags.relatime), "norelatime": (false, MountFlags.relatime),
        "strictatime": (true, MountFlags.strictatime), "nostrictatime": (false, MountFlags.strictatime),
        "nosymfollow": (true, MountFlags.nosymfollow), "symfollow": (false, MountFlags.nosymfollow),
        "bind": (true, MountFlags.bind), "rbind": (true, MountFlags.bind | MountFlags.rec),
    ]

    /// Recursive options (mount_setattr): what each sets (true) or clears.
    static let recursiveOptions: [String: (set: Bool, attr: UInt64)] = [
        "rro": (true, MountAttributes.rdonly), "rrw": (false, MountAttributes.rdonly),
        "rnosuid": (true, MountAttributes.nosuid), "rsuid": (false, MountAttributes.nosuid),
        "rnodev": (true, MountAttributes.nodev), "rdev": (false, MountAttributes.nodev),
        "rnoexec": (true, MountAttributes.noexec), "rexec": (false, MountAttributes.noexec),
        "rnosymfollow": (true, MountAttributes.nosymfollow), "rsymfollow": (false, MountAttributes.nosymfollow),
    ]

    static let propagationOptions: [String: UInt] = [
        "private": MountFlags.private, "rprivate": MountFlags.private | MountFlags.rec,
        "shared": MountFlags.shared, "rshared": MountFlags.shared | MountFlags.rec,
        "slave": MountFlags.slave, "rslave": MountFlags.slave | MountFlags.rec,
        "unbindable": MountFlags.unbindable, "runbindable": MountFlags.unbindable | MountFlags.rec,
    ]

    /// The mount options runwasm recognises (for `features`).
    public static var mountOptionNames: [String] {
        (Array(flagOptions.keys) + Array(propagationOptions.keys) + Array(recursiveOptions.keys) + ["tmpcopyup"]).sorted()
    }

    private static func mount(_ m: Spec.Mount, index: Int, bundle: String) throws(ConfigError) -> MountPlan {
        let field = "mounts[\(index)]"
        guard let destination = m.destination, !destination.isEmpty else {
            throw ConfigError(field + ".destination", "missing")
        }
        guard destination.hasPrefix("/") else {
            throw ConfigError(field + ".destination", "\"\(destination)\" is not an absolute path")
        }
        var flags: UInt = 0
        var propagation: UInt = 0
        var data: [String] = []
        var recursiveSet: UInt64 = 0
        var recursiveClear: UInt64 = 0
        var copyUp = false
        for option in m.options ?? [] {
            if let (set, flag) = flagOptions[option] {
                if set { flags |= flag } else { flags &= ~flag }
            } else if let (set, attr) = recursiveOptions[option] {
                if set {
                    recursiveSet |= attr
                    recursiveClear &= ~attr
                } else {
                    recursiveClear |= attr
                    recursiveSet &= ~attr
                }
            } else if let p = propagationOptions[option] {
                propagation |= p
            } else if option.hasPrefix("x-") {
                continue  // userspace-only options (x-systemd.*) are for other tools
            } else if option == "tmpcopyup" {
                copyUp = true
            } else {
                data.append(option)
            }
        }
        var type = m.type ?? ""
        if type == "bind" { flags |= MountFlags.bind }
        if flags & MountFlags.bind != 0 {
            type = "bind"
        } else if type.isEmpty || type == "none" {
            throw ConfigError(field + ".type", "missing (and the options do not say bind)")
        }
        var source = m.source ?? ""
        if flags & MountFlags.bind != 0 {
            guard !source.isEmpty else { throw ConfigError(field + ".source", "a bind mount needs a source") }
            if !source.hasPrefix("/") { source = Path.clean(bundle + "/" + source) }
        }
        var plan = MountPlan(
            destination: Path.clean(destination), type: type, source: source.isEmpty ? type : source,
            flags: flags, propagation: propagation, data: data.joined(separator: ","))
        plan.recursiveSet = recursiveSet
        plan.recursiveClear = recursiveClear
        if copyUp {
            guard type == "tmpfs" else {
                throw ConfigError(field + ".options", "tmpcopyup applies to a tmpfs mount, not to \(type)")
            }
            plan.copyUp = true
        }
        return plan
    }

    private static func devices(_ list: [Spec.Device]) throws(ConfigError) -> [DevicePlan] {
        try list.enumerated().map { i, d throws(ConfigError) in
            let field = "linux.devices[\(i)]"
            guard let path = d.path, !path.isEmpty else { throw ConfigError(field + ".path", "missing") }
            let clean = Path.clean(path)
            guard path.hasPrefix("/"), clean.hasPrefix("/dev/") else {
                throw ConfigError(field + ".path", "\"\(path)\" is not a path under /dev")
            }
            guard let type = d.type, ["c", "b", "u", "p"].contains(type) else {
                throw ConfigError(field + ".type", "\(d.type.map { "\"\($0)\"" } ?? "missing"): must be c, b, u or p")
            }
            func number(_ v: Int64?, _ name: String) throws(ConfigError) -> UInt32 {
                guard let v else {
                    if type == "p" { return 0 }
                    throw ConfigError(field + "." + name, "missing")
                }
                guard let n = UInt32(exactly: v) else { throw ConfigError(field + "." + name, "\(v) is not a device number") }
                return n
            }
            return DevicePlan(
                path: clean, type: type, major: try number(d.major, "major"), minor: try number(d.minor, "minor"),
                mode: (d.fileMode ?? 0o666) & 0o7777, uid: d.uid ?? 0, gid: d.gid ?? 0)
        }
    }

    private static func rootPropagation(_ value: String?) throws(ConfigError) -> UInt {
        guard let value, !value.isEmpty else { return MountFlags.slave | MountFlags.rec }
        guard let flags = propagationOptions[value] else {
            throw ConfigError("linux.rootfsPropagation", "unknown propagation \"\(value)\"")
        }
        return flags
    }

    private static func hooks(_ hooks: Spec.Hooks?) throws(ConfigError) -> HooksPlan {
        var plan = HooksPlan()
        guard let hooks else { return plan }
        func convert(_ list: [Spec.Hook]?, _ name: String) throws(ConfigError) -> [HookPlan] {
            var result: [HookPlan] = []
            for (i, hook) in (list ?? []).enumerated() {
                let field = "hooks.\(name)[\(i)]"
                guard let path = hook.path, path.hasPrefix("/") else {
                    throw ConfigError(field + ".path", hook.path == nil ? "missing" : "\"\(hook.path!)\" is not an absolute path")
                }
                if let timeout = hook.timeout, timeout <= 0 {
                    throw ConfigError(field + ".timeout", "must be greater than zero")
                }
                result.append(HookPlan(path: path, args: hook.args ?? [path], env: hook.env ?? [], timeout: hook.timeout))
            }
            return result
        }
        plan.prestart = try convert(hooks.prestart, "prestart")
        plan.createRuntime = try convert(hooks.createRuntime, "createRuntime")
        plan.createContainer = try convert(hooks.createContainer, "createContainer")
        plan.startContainer = try convert(hooks.startContainer, "startContainer")
        plan.poststart = try convert(hooks.poststart, "poststart")
        plan.poststop = try convert(hooks.poststop, "poststop")
        return plan
    }
}

/// Lexical path helpers (no file system access).
public enum Path {
    /// Collapses `//`, `.` and `..` lexically; the result of an absolute path stays absolute.
    public static func clean(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(part)
                }
                continue
            }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }
}

/// Decodes `config.json` bytes, turning decoding failures into errors that name the field.
public enum ConfigDecoding {
    public static func fieldPath(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let i = key.intValue {
                out += "[\(i)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }

    public static func describe(_ error: DecodingError) -> ConfigError {
        switch error {
        case .typeMismatch(let type, let context):
            return ConfigError(fieldPath(context.codingPath), "expected \(typeName(type))")
        case .valueNotFound(let type, let context):
            return ConfigError(fieldPath(context.codingPath), "expected \(typeName(type)), found null")
        case .keyNotFound(let key, let context):
            return ConfigError(fieldPath(context.codingPath + [key]), "missing")
        case .dataCorrupted(let context):
            let path = fieldPath(context.codingPath)
            return ConfigError(path, path.isEmpty ? "not valid JSON" : "invalid value")
        @unknown default:
            return ConfigError("", "cannot be decoded")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [Any].Type: return "an array"
        case is UInt16.Type, is UInt32.Type, is UInt64.Type: return "a non-negative integer"
        case is Int.Type, is Int64.Type: return "an integer"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
