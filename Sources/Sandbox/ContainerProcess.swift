// The container process: cloned from the (single-threaded) runwasm process into its new
// namespaces, it continues as the same program (no re-exec), prepares the rootfs, pivots into it,
// lets the payload load the module, waits for `start`, and then becomes the guest.
//
// Parent and child talk over a SOCK_SEQPACKET pair:
//   child → "ns-ready"                  namespaces joined; the parent runs prestart/createRuntime hooks
//   parent → "go:<state json>"          the child mounts, runs createContainer hooks, pivots
//   child → "console" + fd              (terminal only) the pty master, for --console-socket
//   child → "ready"                     the module is loaded
//   parent → "commit"                   the state is saved; create returns. Without it (end of
//                                       file: the parent died) the child exits
//   child → "error:<message>"           at any step; the child then exits
// `start` then connects to the start socket and sends "start:<state json>"; the child runs the
// startContainer hooks and answers "ok" (then runs the guest) or "error:<message>".

import CSandbox
import Glibc
import OCI

/// What runs in the prepared container: the seam where runc would execve.
public protocol ContainerPayload {
    /// Called inside the container after pivot_root and before `create` returns: load and check
    /// whatever will run, without running any of it.
    func prepare(_ plan: ContainerPlan) throws
    /// Called after `start`; returns the process's exit status.
    func run() -> Int32
    /// Whether what `prepare` loaded makes socket calls, so needs the interpreter filter that
    /// allows them (known only once the module is read, inside the container).
    var usesSockets: Bool { get }
    /// Whether it imports WasmEdge's socket calls, which open, bind and connect sockets
    /// themselves, so needs the wider filter.
    var usesWasmEdgeSockets: Bool { get }
    /// Descriptors the runtime opened for `prepare`, kept open in the cloned process.
    var keptDescriptors: [Int32] { get }
}

extension ContainerPayload {
    public var usesSockets: Bool { false }
    public var usesWasmEdgeSockets: Bool { false }
    public var keptDescriptors: [Int32] { [] }
}

public struct SpawnOptions {
    public var plan: ContainerPlan
    /// The listening socket that `start` connects to.
    public var startSocket: Int32
    /// Make the container process a child of runwasm's caller (CLONE_PARENT), as `create` must.
    public var childOfCaller: Bool
    /// Fds 3…3+N-1 stay open in the container (`--preserve-fds`).
    public var preserveFDs: Int32
    /// Resolved at create, applied just before the guest runs.
    public var capabilities: ResolvedCapabilities
    /// The config's seccomp profile and runwasm's own interpreter filter, compiled at create.
    public var seccomp: [SeccompProgram]
    /// runwasm's interpreter filter with the socket calls allowed, loaded instead of the last of
    /// `seccomp` when the payload uses sockets.
    public var socketFilter: SeccompProgram?
    /// The interpreter filter that also allows WasmEdge's socket calls, loaded instead when the
    /// payload imports them.
    public var wasmEdgeSocketFilter: SeccompProgram?
    /// The container's cgroup, entered as the process starts.
    public var cgroup: CgroupEntry?

    public init(
        plan: ContainerPlan, startSocket: Int32, childOfCaller: Bool, preserveFDs: Int32,
        capabilities: ResolvedCapabilities, seccomp: [SeccompProgram], cgroup: CgroupEntry?
    ) {
        self.plan = plan
        self.startSocket = startSocket
        self.childOfCaller = childOfCaller
        self.preserveFDs = preserveFDs
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.cgroup = cgroup
    }
}

/// The parent's view of a container process being set up.
public struct ContainerHandle {
    public let pid: Int32
    let channel: Channel

    private func expect(_ wanted: String) throws -> Int32 {
        guard let (message, fd) = try channel.receive() else {
            throw RuntimeError("the container process exited during setup")
        }
        if message.hasPrefix("error:") {
            if fd >= 0 { Glibc.close(fd) }
            throw RuntimeError(String(message.dropFirst(6)))
        }
        guard message == wanted else {
            if fd >= 0 { Glibc.close(fd) }
            throw RuntimeError("unexpected message from the container process: \(message)")
        }
        return fd
    }

    public func waitForNamespaces() throws { _ = try expect("ns-ready") }

    /// Writes the uid and gid maps of a new user namespace (only the parent can).
    public func writeIDMappings(uid: [IDMappingPlan], gid: [IDMappingPlan]) throws {
        for (file, list) in [("uid_map", uid), ("gid_map", gid)] where !list.isEmpty {
            let text = list.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
            let path = "/proc/\(pid)/\(file)"
            let fd = try Sys.open(path, O_WRONLY)
            defer { Glibc.close(fd) }
            guard Glibc.write(fd, text, text.utf8.count) == text.utf8.count else {
                throw SystemError("write", "\(path) (linux.\(file == "uid_map" ? "uidMappings" : "gidMappings"))")
            }
        }
    }

    public func proceed(state: String) throws { try channel.send("go:" + state) }

    /// The pty master; the caller owns it.
    public func receiveConsole() throws -> Int32 {
        let fd = try expect("console")
        guard fd >= 0 else { throw RuntimeError("the container process sent no console fd") }
        return fd
    }

    public func waitForReady() throws { _ = try expect("ready") }

    /// Tells the container process that create has saved it: only then does it wait for start.
    public func commit() throws { try channel.send("commit") }

    public func close() { channel.close() }
}

public enum ContainerProcess {
    static func cloneFlag(_ kind: NamespaceKind) -> UInt {
        switch kind {
        case .pid: return UInt(RW_CLONE_NEWPID)
        case .network: return UInt(RW_CLONE_NEWNET)
        case .mount: return UInt(RW_CLONE_NEWNS)
        case .ipc: return UInt(RW_CLONE_NEWIPC)
        case .uts: return UInt(RW_CLONE_NEWUTS)
        case .user: return UInt(RW_CLONE_NEWUSER)
        case .cgroup: return UInt(RW_CLONE_NEWCGROUP)
        case .time: return UInt(RW_CLONE_NEWTIME)
        }
    }

    /// Clones the container process. Must be called from a single-threaded process (CSandbox
    /// refuses otherwise). In the parent, returns a handle; the child never returns.
    public static func spawn(_ options: SpawnOptions, payload: any ContainerPayload) throws -> ContainerHandle {
        let plan = options.plan
        var flags: UInt = options.childOfCaller ? UInt(RW_CLONE_PARENT) : 0
        // The cgroup namespace is made later, in the child, once it sits in its own cgroup.
        for ns in plan.namespaces where ns.path == nil && ns.kind != .cgroup { flags |= cloneFlag(ns.kind) }

        // A pid namespace is entered by the children of the process that joins it, so the parent
        // joins it (it is about to exit anyway) and the clone lands inside.
        if let pidns = plan.namespace(.pid), let path = pidns.path {
            let fd = try Sys.open(path, O_RDONLY)
            defer { close(fd) }
            try Sys.check(rw_setns(fd, Int32(RW_CLONE_NEWPID)), "setns", path)
        }
        // Open the other namespaces to join now, while their paths are those of the host.
        var joins: [(fd: Int32, kind: NamespaceKind, path: String)] = []
        defer { for j in joins { close(j.fd) } }
        for ns in plan.namespaces where ns.kind != .pid {
            if let path = ns.path { joins.append((try Sys.open(path, O_RDONLY), ns.kind, path)) }
        }
        // A net.* sysctl in a joined network namespace, but never the host's own (runc's rule).
        if let net = joins.first(where: { $0.kind == .network }), let key = plan.security.sysctl.first(where: { $0.key.hasPrefix("net.") })?.key {
            var theirs = stat()
            var mine = stat()
            if fstat(net.fd, &theirs) == 0, stat("/proc/self/ns/net", &mine) == 0, theirs.st_ino == mine.st_ino, theirs.st_dev == mine.st_dev {
                throw RuntimeError("config.json: linux.sysctl.\(key): not allowed in the host's network namespace (\(net.path))")
            }
        }

        // With a new user namespace the child resolves paths as that namespace's root, which may
        // not reach a source only the host's root can: the parent takes a detached copy of each
        // bind source first, as runc opens them before entering the user namespace.
        var bindSources: [Int: Int32] = [:]
        defer { for fd in bindSources.values { close(fd) } }
        if let userns = plan.namespace(.user), userns.path == nil {
            for (index, m) in plan.mounts.enumerated() where m.isBind {
                let fd = rw_open_tree_clone(m.source, m.flags & MountFlags.rec != 0 ? 1 : 0)
                if fd >= 0 { bindSources[index] = fd }  // else the child binds the path itself
            }
        }
        return try cloneChild(flags: flags, cgroup: options.cgroup, what: "container process") { channel, placed in
            childMain(options, payload: payload, channel: channel, joins: joins, bindSources: bindSources, placedInCgroup: placed)
        }
    }

    /// Clones with `flags` and a channel between parent and child; the child runs `child`,
    /// which never returns. With a cgroup v2 entry the child is cloned into the cgroup
    /// (`placed` is true); otherwise it must enter the cgroup itself, first of all.
    private static func cloneChild(
        flags: UInt, cgroup: CgroupEntry?, what: String, child: (Channel, _ placed: Bool) -> Never
    ) throws -> ContainerHandle {
        let (parentEnd, childEnd) = try Channel.pair()
        var pid: Int32 = -ENOSYS
        if let fd = cgroup?.directoryFD, fd >= 0 { pid = rw_clone_into_cgroup(flags, fd) }
        let placed = pid >= 0
        // Without clone3 (Linux < 5.7) the child enters the cgroup by itself.
        if pid == -ENOSYS || pid == -E2BIG { pid = rw_clone(flags) }
        if pid < 0 {
            parentEnd.close()
            childEnd.close()
            throw SystemError("clone", what, errno: -pid)
        }
        if pid == 0 {
            parentEnd.close()
            child(childEnd, placed)
        }
        childEnd.close()
        return ContainerHandle(pid: pid, channel: parentEnd)
    }

    // MARK: - The child

    /// With `process.terminal`: a pty from the container's devpts as stdio, its master sent to
    /// the parent (which passes it on over --console-socket).
    private static func attachConsole(_ plan: ContainerPlan, _ channel: Channel) throws {
        guard plan.terminal else { return }
        let master = try Console.attach(size: plan.consoleSize)
        defer { close(master) }
        try channel.send("console", passing: master)
    }

    /// The first steps of every cloned child: into its cgroup (unless the clone put it there), its
    /// name, termination signals that end it at once (even as PID 1 of its namespace), and only
    /// stdio, the preserved fds and `keep` left open.
    private static func beginChild(
        name: String, cgroup: CgroupEntry?, placedInCgroup: Bool, keep: [Int32], preserveFDs: Int32
    ) throws {
        try cgroup?.enter(placedByClone: placedInCgroup)
        _ = rw_set_process_name(name)
        // Read while /proc is the host's: the guest's command line replaces it before _start.
        // The caller's environment goes at once (runwasm's own command line stays until then).
        try Sys.check(rw_save_memory_layout(), "read", "/proc/self/stat")
        _ = rw_clear_original_environment()
        // What the caller left ignored stays ignored for the guest, as across execve.
        _ = rw_save_ignored_signals()
        try Sys.check(rw_exit_on_termination_signals(), "sigaction")
        _ = signal(SIGPIPE, SIG_IGN)
        var kept = keep
        if preserveFDs > 0 { kept += Array(3..<(3 + preserveFDs)) }
        try Sys.check(rw_close_fds_from(3, kept, kept.count), "close_range")
    }

    private static func childMain(
        _ options: SpawnOptions, payload: any ContainerPayload, channel: Channel,
        joins: [(fd: Int32, kind: NamespaceKind, path: String)], bindSources: [Int: Int32], placedInCgroup: Bool
    ) -> Never {
        var plan = options.plan
        do {
            try beginChild(
                name: "runwasm:init", cgroup: options.cgroup, placedInCgroup: placedInCgroup,
                keep: [channel.fd, options.startSocket] + joins.map(\.fd) + Array(bindSources.values) + payload.keptDescriptors, preserveFDs: options.preserveFDs)

            for join in joins {
                try Sys.check(rw_setns(join.fd, Int32(cloneFlag(join.kind))), "setns", join.path)
                close(join.fd)
            }
            try channel.send("ns-ready")
            guard let (go, _) = try channel.receive(), go.hasPrefix("go:") else { _exit(1) }
            let state = String(go.dropFirst(3))
            if plan.namespace(.user)?.path == nil && plan.namespace(.user) != nil {
                // The maps are written: become the namespace's root.
                guard setgid(0) == 0, setuid(0) == 0 else { throw SystemError("setuid", "0 in the new user namespace") }
            }
            if let cgroupns = plan.namespace(.cgroup), cgroupns.path == nil {
                try Sys.check(rw_unshare(Int32(RW_CLONE_NEWCGROUP)), "unshare", "cgroup namespace")
            }

            try Rootfs.prepare(plan, cgroup: options.cgroup?.cgroup, bindSources: bindSources)
            for fd in bindSources.values { close(fd) }
            try Privileges.applyRlimits(plan.security.rlimits)
            try Privileges.applyOOMScoreAdj(plan.security.oomScoreAdj)
            // runc runs them from the rootfs (its host path), before pivot_root.
            guard chdir(plan.rootfs) == 0 else { throw SystemError("chdir", plan.rootfs) }
            try HookRunner.run(plan.hooks.createContainer, kind: "createContainer", state: state)
            try Rootfs.pivot(plan)
            try Rootfs.finish(plan)
            _ = try? Sys.mkdirAll(plan.cwd)
            guard chdir(plan.cwd) == 0 else { throw SystemError("chdir", "process.cwd \(plan.cwd)") }
            plan.env = plan.execEnvironment(home: Privileges.homeDirectory(uid: plan.security.user.uid))
            try attachConsole(plan, channel)
            try payload.prepare(plan)
            try channel.send("ready")
            // A create that dies before it has saved this container must not leave it running
            // unseen: without the parent's commit (end of file once the parent is gone) it ends.
            guard let (commit, _) = try channel.receive(), commit == "commit" else { _exit(1) }
            channel.close()
            // The config's profile comes first in `seccomp`, runwasm's own filter after it.
            let configFilters = plan.security.seccomp == nil ? [] : Array(options.seccomp.prefix(1))
            var ownFilters = Array(options.seccomp.dropFirst(configFilters.count))
            if payload.usesWasmEdgeSockets, let filter = options.wasmEdgeSocketFilter, !ownFilters.isEmpty {
                ownFilters[ownFilters.count - 1] = filter
            } else if payload.usesSockets, let socketFilter = options.socketFilter, !ownFilters.isEmpty {
                ownFilters[ownFilters.count - 1] = socketFilter
            }
            try waitForStart(options.startSocket, hooks: plan.hooks.startContainer) {
                // startContainer hooks run as runc runs them: as the process's user, with its
                // capabilities and the config's seccomp profile, in process.cwd.
                // As runc: without no_new_privs the config's filter is loaded while the process
                // still holds CAP_SYS_ADMIN, before the capabilities go; with it, after.
                if !plan.security.noNewPrivileges { for program in configFilters { try program.load() } }
                try Privileges.drop(plan.security, options.capabilities)
                if plan.security.noNewPrivileges { for program in configFilters { try program.load() } }
            } confine: {
                // The last steps before the guest; runwasm's own filter last of all.
                try Privileges.presentAsGuest(plan)
                try Privileges.setNoNewPrivileges()
                try Sys.check(rw_report_denied_syscalls(), "sigaction", "SIGSYS")
                for program in ownFilters { try program.load() }
            }
            Privileges.restoreSIGPIPE()
            _exit(payload.run())
        } catch {
            try? channel.send("error:\(error)")
            _exit(1)
        }
    }

    /// Blocks until `start` connects and asks to start; runs `beforeHooks`, the startContainer
    /// hooks and `confine`, then answers.
    private static func waitForStart(
        _ listener: Int32, hooks: [HookPlan], beforeHooks: () throws -> Void, confine: () throws -> Void
    ) throws {
        // A container left waiting (not started at once, as containerd starts one) gives back
        // the program pages that create touched (argument parsing, config decoding, compiling)
        // and the guest may never need: an idle container's PSS falls from 8 to 3 MiB here.
        // Pages it needs later fault back in from the page cache every runwasm process shares.
        var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        if poll(&ready, 1, 100) == 0 { releaseProgramPages() }
        while true {
            let conn = accept(listener, nil, nil)
            if conn < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                throw SystemError("accept", "start socket")
            }
            let request = Channel(fd: conn)
            guard let (message, _) = try? request.receive(), message.hasPrefix("start:") else {
                request.close()
                continue
            }
            close(listener)
            do {
                try beforeHooks()
                try HookRunner.run(hooks, kind: "startContainer", state: String(message.dropFirst(6)))
                try confine()
            } catch {
                try? request.send("error:\(error)")
                request.close()
                _exit(1)
            }
            // Under seccomp now: write(2), not send(2), which the interpreter filter denies.
            _ = Glibc.write(request.fd, "ok", 2)
            request.close()
            return
        }
    }
}

/// Drops the resident pages of runwasm's own code and read-only data from this process (see
/// `waitForStart`); a process that idles for long calls it.
public func releaseProgramPages() {
    _ = rw_release_program_pages()
}

/// The socket in the container's state directory that `start` connects to. Paths are reached
/// through `/proc/self/fd/<dir>` so that a long `--root` never exceeds sun_path's 108 bytes.
public enum StartSocket {
    public static let name = "start.sock"

    private static func address(_ dirFD: Int32) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array("/proc/self/fd/\(dirFD)/\(name)".utf8CString)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, c) in path.enumerated() where i < buf.count { buf[i] = UInt8(bitPattern: c) }
        }
        return addr
    }

    /// Creates and binds the listening socket in the directory open at `dirFD`.
    public static func listen(in dirFD: Int32) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var addr = try address(dirFD)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let e = SystemError("bind", name)
            close(fd)
            throw e
        }
        // Only the owner of --root may connect (whoever connects can start the container, or
        // hold the connection so that `start` waits): mode 0600 whatever the caller's umask, set
        // before listen, so nobody can have connected in between.
        guard fchmodat(dirFD, name, 0o600, 0) == 0 else {
            let e = SystemError("chmod", name)
            close(fd)
            throw e
        }
        guard Glibc.listen(fd, 4) == 0 else {
            let e = SystemError("listen", name)
            close(fd)
            throw e
        }
        return fd
    }

    /// Asks the container process to start; returns when its startContainer hooks have run and
    /// the guest is about to run.
    public static func requestStart(in dirFD: Int32, state: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let channel = Channel(fd: fd)
        defer { channel.close() }
        var addr = try address(dirFD)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw RuntimeError("container not running (its start socket refused: \(Sys.errorString(errno)))") }
        try channel.send("start:" + state)
        guard let (reply, _) = try channel.receive() else {
            throw RuntimeError("the container process exited before it started")
        }
        if reply.hasPrefix("error:") { throw RuntimeError(String(reply.dropFirst(6))) }
    }
}

// MARK: - exec: another process in an existing container

public struct ExecSpawnOptions {
    public var plan: ContainerPlan
    /// Make the process a child of runwasm's caller (CLONE_PARENT), as `exec --detach` must.
    public var childOfCaller: Bool
    public var preserveFDs: Int32
    public var capabilities: ResolvedCapabilities
    public var seccomp: [SeccompProgram]
    /// As `SpawnOptions.socketFilter`.
    public var socketFilter: SeccompProgram?
    /// As `SpawnOptions.wasmEdgeSocketFilter`.
    public var wasmEdgeSocketFilter: SeccompProgram?
    /// The container's init, whose namespaces the process joins.
    public var initPid: Int32
    /// The container's cgroup, entered as the process starts.
    public var cgroup: CgroupEntry?

    public init(
        plan: ContainerPlan, childOfCaller: Bool, preserveFDs: Int32, capabilities: ResolvedCapabilities,
        seccomp: [SeccompProgram], initPid: Int32, cgroup: CgroupEntry?
    ) {
        self.plan = plan
        self.childOfCaller = childOfCaller
        self.preserveFDs = preserveFDs
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.initPid = initPid
        self.cgroup = cgroup
    }
}

extension ContainerProcess {
    /// /proc/PID/ns names, in the order nsenter joins them (user first: it grants the rest).
    static let joinOrder: [(NamespaceKind, String)] = [
        (.user, "user"), (.cgroup, "cgroup"), (.ipc, "ipc"), (.uts, "uts"), (.network, "net"), (.pid, "pid"), (.mount, "mnt"),
    ]

    /// Clones a process into the namespaces of the container's init. Protocol as for create,
    /// but "ready" comes once the module is loaded and the process confined, and it then runs
    /// the guest at once.
    public static func spawnExec(_ options: ExecSpawnOptions, payload: any ContainerPayload) throws -> ContainerHandle {
        let plan = options.plan
        var joins: [(fd: Int32, kind: NamespaceKind, path: String)] = []
        defer { for j in joins { close(j.fd) } }
        for (kind, name) in joinOrder where plan.namespace(kind) != nil {
            let path = "/proc/\(options.initPid)/ns/\(name)"
            let fd = try Sys.open(path, O_RDONLY)
            // Entering a namespace the process is already in is a no-op, and for a user
            // namespace an error (EINVAL): skip those.
            var mine = stat()
            var theirs = stat()
            if stat("/proc/self/ns/\(name)", &mine) == 0, fstat(fd, &theirs) == 0, mine.st_ino == theirs.st_ino {
                close(fd)
                continue
            }
            if kind == .pid {
                defer { close(fd) }
                try Sys.check(rw_setns(fd, Int32(RW_CLONE_NEWPID)), "setns", path)
            } else {
                joins.append((fd, kind, path))
            }
        }
        return try cloneChild(
            flags: options.childOfCaller ? UInt(RW_CLONE_PARENT) : 0, cgroup: options.cgroup, what: "exec process") { channel, placed in
            execMain(options, payload: payload, channel: channel, joins: joins, placedInCgroup: placed)
        }
    }

    private static func execMain(
        _ options: ExecSpawnOptions, payload: any ContainerPayload, channel: Channel,
        joins: [(fd: Int32, kind: NamespaceKind, path: String)], placedInCgroup: Bool
    ) -> Never {
        var plan = options.plan
        do {
            try beginChild(
                name: "runwasm:exec", cgroup: options.cgroup, placedInCgroup: placedInCgroup,
                keep: [channel.fd] + joins.map(\.fd) + payload.keptDescriptors, preserveFDs: options.preserveFDs)
            for join in joins {
                try Sys.check(rw_setns(join.fd, Int32(cloneFlag(join.kind))), "setns", join.path)
                close(join.fd)
                if join.kind == .user {
                    guard setgid(0) == 0, setuid(0) == 0 else { throw SystemError("setuid", "0 in the container's user namespace") }
                }
            }
            try channel.send("ns-ready")
            guard let (go, _) = try channel.receive(), go.hasPrefix("go:") else { _exit(1) }
            guard chdir(plan.cwd) == 0 else { throw SystemError("chdir", "process.cwd \(plan.cwd)") }
            plan.env = plan.execEnvironment(home: Privileges.homeDirectory(uid: plan.security.user.uid))
            try attachConsole(plan, channel)
            try payload.prepare(plan)
            try Privileges.applyRlimits(plan.security.rlimits)
            try Privileges.drop(plan.security, options.capabilities)
            try Privileges.presentAsGuest(plan)
            try Privileges.setNoNewPrivileges()
            try Sys.check(rw_report_denied_syscalls(), "sigaction", "SIGSYS")
            var filters = options.seccomp
            if payload.usesWasmEdgeSockets, let filter = options.wasmEdgeSocketFilter, !filters.isEmpty {
                filters[filters.count - 1] = filter
            } else if payload.usesSockets, let socketFilter = options.socketFilter, !filters.isEmpty {
                filters[filters.count - 1] = socketFilter
            }
            for program in filters { try program.load() }
            // Under seccomp now: write(2), which the interpreter filter allows.
            _ = Glibc.write(channel.fd, "ready", 5)
            channel.close()
            Privileges.restoreSIGPIPE()
            _exit(payload.run())
        } catch {
            try? channel.send("error:\(error)")
            _exit(1)
        }
    }
}
