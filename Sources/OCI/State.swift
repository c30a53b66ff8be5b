// The runtime-spec state of a container, and its JSON forms.

public enum ContainerStatus: String, Sendable {
    case creating, created, running, paused, stopped

    public var canStart: Bool { self == .created }
    public var canKill: Bool { self == .created || self == .running || self == .paused }
    /// `delete` without `--force`: runc also deletes a created container (it kills it first),
    /// and containerd relies on that.
    public var canDelete: Bool { self == .stopped || self == .created }
}

public struct ContainerState: Sendable, Equatable {
    public static let ociVersion = "1.2.1"

    public var id: String
    public var status: ContainerStatus
    /// 0 when the container has no live process.
    public var pid: Int32
    public var bundle: String
    public var rootfs: String
    /// RFC 3339 with nanoseconds, UTC.
    public var created: String
    public var annotations: [String: String]
    public var owner: String

    public init(
        id: String, status: ContainerStatus, pid: Int32, bundle: String, rootfs: String, created: String,
        annotations: [String: String], owner: String = ""
    ) {
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.annotations = annotations
        self.owner = owner
    }

    private var annotationsJSON: JSONValue {
        .object(annotations.keys.sorted().map { ($0, .string(annotations[$0]!)) })
    }

    /// What `state` and `list --format json` print: runc's field order, `annotations` omitted
    /// when empty, `pid` 0 once stopped.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("ociVersion", .string(Self.ociVersion)),
            ("id", .string(id)),
            ("pid", .int(Int64(status == .stopped ? 0 : pid))),
            ("status", .string(status.rawValue)),
            ("bundle", .string(bundle)),
            ("rootfs", .string(rootfs)),
            ("created", .string(created)),
        ]
        if !annotations.isEmpty { members.append(("annotations", annotationsJSON)) }
        members.append(("owner", .string(owner)))
        return .object(members)
    }

    /// What hooks read on stdin: the runtime-spec state, with `pid` omitted when there is none.
    public var hookJSON: JSONValue {
        var members: [(String, JSONValue)] = [
            ("ociVersion", .string(Self.ociVersion)),
            ("id", .string(id)),
            ("status", .string(status.rawValue)),
        ]
        if pid > 0 && status != .stopped { members.append(("pid", .int(Int64(pid)))) }
        members.append(("bundle", .string(bundle)))
        if !annotations.isEmpty { members.append(("annotations", annotationsJSON)) }
        return .object(members)
    }
}
