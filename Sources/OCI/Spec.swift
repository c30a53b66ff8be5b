// Codable types for the OCI runtime-spec `config.json` (1.0.0 to 1.2.x).
//
// Pure data: every field is optional where the spec allows it, unknown fields are ignored by
// `Decodable`, and nothing here touches the system. `ContainerPlan` turns a `Spec` into the
// validated form that the rest of runwasm reads.

public struct Spec: Codable, Sendable {
    public var ociVersion: String?
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var hooks: Hooks?
    public var annotations: [String: String]?
    public var linux: Linux?

    public init(
        ociVersion: String? = nil, process: Process? = nil, root: Root? = nil, hostname: String? = nil,
        domainname: String? = nil, mounts: [Mount]? = nil, hooks: Hooks? = nil,
        annotations: [String: String]? = nil, linux: Linux? = nil
    ) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
    }

    public struct Process: Codable, Sendable {
        public var terminal: Bool?
        public var consoleSize: ConsoleSize?
        public var user: User?
        public var args: [String]?
        public var env: [String]?
        public var cwd: String?
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
        public var oomScoreAdj: Int?
        public var apparmorProfile: String?
        public var selinuxLabel: String?
        /// Fields runwasm does not apply, decoded only to be refused.
        public var ioPriority: JSONValue?
        public var scheduler: JSONValue?
        public var execCPUAffinity: JSONValue?

        public init(
            terminal: Bool? = nil, consoleSize: ConsoleSize? = nil, user: User? = nil, args: [String]? = nil,
            env: [String]? = nil, cwd: String? = nil, capabilities: Capabilities? = nil,
            rlimits: [Rlimit]? = nil, noNewPrivileges: Bool? = nil, oomScoreAdj: Int? = nil
        ) {
            self.terminal = terminal
            self.consoleSize = consoleSize
            self.user = user
            self.args = args
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
            self.oomScoreAdj = oomScoreAdj
        }
    }

    public struct ConsoleSize: Codable, Sendable {
        public var height: Int
        public var width: Int
        public init(height: Int, width: Int) {
            self.height = height
            self.width = width
        }
    }

    public struct User: Codable, Sendable {
        public var uid: Int64?
        public var gid: Int64?
        public var umask: Int64?
        public var additionalGids: [Int64]?
        public init(uid: Int64? = nil, gid: Int64? = nil, umask: Int64? = nil, additionalGids: [Int64]? = nil) {
            self.uid = uid
            self.gid = gid
            self.umask = umask
            self.additionalGids = additionalGids
        }
    }

    public struct Capabilities: Codable, Sendable {
        public var bounding: [String]?
        public var effective: [String]?
        public var inheritable: [String]?
        public var permitted: [String]?
        public var ambient: [String]?
        public init(
            bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
            permitted: [String]? = nil, ambient: [String]? = nil
        ) {
            self.bounding = bounding
            self.effective = effective
            self.inheritable = inheritable
            self.permitted = permitted
            self.ambient = ambient
        }
    }

    public struct Rlimit: Codable, Sendable {
        public var type: String
        public var soft: UInt64
        public var hard: UInt64
        public init(type: String, soft: UInt64, hard: UInt64) {
            self.type = type
            self.soft = soft
            self.hard = hard
        }
    }

    public struct Root: Codable, Sendable {
        public var path: String?
        public var readonly: Bool?
        public init(path: String? = nil, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }
    }

    public struct Mount: Codable, Sendable {
        public var destination: String?
        public var type: String?
        public var source: String?
        public var options: [String]?
        public init(destination: String? = nil, type: String? = nil, source: String? = nil, options: [String]? = nil) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }
    }

    public struct Hook: Codable, Sendable {
        public var path: String?
        public var args: [String]?
        public var env: [String]?
        public var timeout: Int?
        public init(path: String? = nil, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }

    public struct Hooks: Codable, Sendable {
        public var prestart: [Hook]?
        public var createRuntime: [Hook]?
        public var createContainer: [Hook]?
        public var startContainer: [Hook]?
        public var poststart: [Hook]?
        public var poststop: [Hook]?
        public init(
            prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
            startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
        ) {
            self.prestart = prestart
            self.createRuntime = createRuntime
            self.createContainer = createContainer
            self.startContainer = startContainer
            self.poststart = poststart
            self.poststop = poststop
        }
    }

    public struct Linux: Codable, Sendable {
        public var namespaces: [Namespace]?
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var sysctl: [String: String]?
        public var cgroupsPath: String?
        public var rootfsPropagation: String?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var mountLabel: String?
        public var seccomp: Seccomp?
        public var resources: Resources?
        public var devices: [Device]?
        /// Fields runwasm does not apply, decoded only to be refused.
        public var intelRdt: JSONValue?
        public var personality: JSONValue?
        public var timeOffsets: JSONValue?
        public var netDevices: JSONValue?
        public var memoryPolicy: JSONValue?
        public init(
            namespaces: [Namespace]? = nil, uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil,
            sysctl: [String: String]? = nil, cgroupsPath: String? = nil, rootfsPropagation: String? = nil,
            maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil
        ) {
            self.namespaces = namespaces
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.sysctl = sysctl
            self.cgroupsPath = cgroupsPath
            self.rootfsPropagation = rootfsPropagation
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
        }
    }

    /// `linux.devices[]`: a device node to create in the container.
    public struct Device: Codable, Sendable {
        public var path: String?
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var fileMode: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?
    }

    public struct Namespace: Codable, Sendable {
        public var type: String?
        public var path: String?
        public init(type: String? = nil, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }

    public struct IDMapping: Codable, Sendable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }

    public struct Seccomp: Codable, Sendable {
        public var defaultAction: String?
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var flags: [String]?
        public var listenerPath: String?
        public var syscalls: [Syscall]?
        public init(defaultAction: String? = nil, syscalls: [Syscall]? = nil) {
            self.defaultAction = defaultAction
            self.syscalls = syscalls
        }
    }

    public struct Syscall: Codable, Sendable {
        public var names: [String]?
        public var action: String?
        public var errnoRet: UInt32?
        public var args: [SyscallArg]?
    }

    public struct SyscallArg: Codable, Sendable {
        public var index: UInt32?
        public var value: UInt64?
        public var valueTwo: UInt64?
        public var op: String?
    }

    /// `linux.resources`, also the body of `update --resources`.
    public struct Resources: Codable, Sendable {
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public var devices: [DeviceRule]?
        public var blockIO: BlockIO?
        public var hugepageLimits: [HugepageLimit]?
        public var network: Network?
        public var unified: [String: String]?
        public var rdma: JSONValue?
        public init(memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil, devices: [DeviceRule]? = nil) {
            self.memory = memory
            self.cpu = cpu
            self.pids = pids
            self.devices = devices
        }
    }

    public struct Memory: Codable, Sendable {
        public var limit: Int64?
        public var reservation: Int64?
        public var swap: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?
        public var kernel: Int64?
        public var kernelTCP: Int64?
        public init(limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil) {
            self.limit = limit
            self.reservation = reservation
            self.swap = swap
        }
    }

    public struct CPU: Codable, Sendable {
        public var shares: UInt64?
        public var quota: Int64?
        public var period: UInt64?
        public var cpus: String?
        public var mems: String?
        public var realtimeRuntime: Int64?
        public var realtimePeriod: UInt64?
        public var idle: Int64?
        public var burst: UInt64?
        public init(shares: UInt64? = nil, quota: Int64? = nil, period: UInt64? = nil, cpus: String? = nil, mems: String? = nil) {
            self.shares = shares
            self.quota = quota
            self.period = period
            self.cpus = cpus
            self.mems = mems
        }
    }

    public struct Pids: Codable, Sendable {
        public var limit: Int64?
        public init(limit: Int64? = nil) { self.limit = limit }
    }

    public struct BlockIO: Codable, Sendable {
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public var weightDevice: [WeightDevice]?
        public var throttleReadBpsDevice: [ThrottleDevice]?
        public var throttleWriteBpsDevice: [ThrottleDevice]?
        public var throttleReadIOPSDevice: [ThrottleDevice]?
        public var throttleWriteIOPSDevice: [ThrottleDevice]?
    }

    public struct WeightDevice: Codable, Sendable {
        public var major: Int64?
        public var minor: Int64?
        public var weight: UInt16?
        public var leafWeight: UInt16?
    }

    public struct ThrottleDevice: Codable, Sendable {
        public var major: Int64?
        public var minor: Int64?
        public var rate: UInt64?
    }

    public struct HugepageLimit: Codable, Sendable {
        public var pageSize: String?
        public var limit: UInt64?
    }

    public struct Network: Codable, Sendable {
        public var classID: UInt32?
        public var priorities: [InterfacePriority]?
    }

    public struct InterfacePriority: Codable, Sendable {
        public var name: String?
        public var priority: UInt32?
    }

    public struct DeviceRule: Codable, Sendable {
        public var allow: Bool?
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String?
    }
}
