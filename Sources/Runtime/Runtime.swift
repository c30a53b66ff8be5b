// The lifecycle verbs. Each one takes the container's lock, refreshes its status from /proc,
// checks that the verb is allowed in that status, and acts. Errors keep runc's wording where
// callers match on it ("container does not exist", "container not running").

import CSandbox
import Glibc
import OCI
import Sandbox

public struct GlobalOptions: Sendable {
    public var root: String?
    public var log: String?
    public var logFormat: LogFormat
    public var debug: Bool
    public var systemdCgroup: Bool
    /// `--module-cache`: the validated-module cache's directory, or `off`.
    public var moduleCache: String?

    public init(root: String?, log: String?, logFormat: LogFormat, debug: Bool, systemdCgroup: Bool, moduleCache: String? = nil) {
        self.moduleCache = moduleCache
        self.root = root
        self.log = log
        self.logFormat = logFormat
        self.debug = debug
        self.systemdCgroup = systemdCgroup
    }
}

public struct CreateOptions: Sendable {
    public var id: String
    public var bundle: String
    public var pidFile: String?
    public var consoleSocket: String?
    public var preserveFDs: Int32

    public init(id: String, bundle: String, pidFile: String?, consoleSocket: String?, preserveFDs: Int32) {
        self.id = id
        self.bundle = bundle
        self.pidFile = pidFile
        self.consoleSocket = consoleSocket
        self.preserveFDs = preserveFDs
    }
}

public final class Runtime {
    public let logger: Logger
    let store: Store
    let systemdCgroup: Bool
    /// Where hooks run: the bundle once this process has created a container (as runc, which
    /// works from the bundle from then on: `run`'s poststart and poststop hooks too), else the
    /// caller's directory (`start` and `delete` on their own).
    var hookDirectory: String?
    /// The validated-module cache's directory; nil when it is off.
    let moduleCacheDirectory: String?

    /// Resolves `--root` (relative to the caller's cwd) and the log settings.
    public init(_ options: GlobalOptions) throws {
        logger = Logger(path: options.log.map(Runtime.absolute), format: options.logFormat, debug: options.debug)
        let root = options.root.map(Runtime.absolute) ?? Runtime.defaultRoot()
        guard root != "/" else { throw RuntimeError("--root cannot be /") }
        store = Store(root: root)
        systemdCgroup = options.systemdCgroup
        moduleCacheDirectory = ModuleCache.directory(flag: options.moduleCache)
    }

    /// A module payload with the cache opened here, outside any container.
    func makeWasmPayload(opensListeners: Bool = true) -> WasmPayload {
        let cache = moduleCacheDirectory.flatMap(ModuleCache.open)
        if let dir = moduleCacheDirectory {
            logger.debug(cache == nil ? "module cache \(dir): not used (missing, or writable by others than root)" : "module cache \(dir)")
        }
        return WasmPayload(cache: cache, opensListeners: opensListeners)
    }

    /// `/run/runwasm` for root; `$XDG_RUNTIME_DIR/runwasm` otherwise, when that is set and non-empty.
    static func defaultRoot() -> String {
        if geteuid() != 0, let xdg = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !xdg.isEmpty {
            return xdg + "/runwasm"
        }
        return "/run/runwasm"
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return Path.clean(path) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "/"
        return Path.clean(cwd + "/" + path)
    }

    // MARK: - create

    /// Creates the container and leaves its process waiting for `start`; writes the pid file.
    public func create(_ options: CreateOptions) throws {
        _ = try createContainer(options, childOfCaller: true, console: nil)
    }

    /// The work of `create` and `run`; returns the container's record, as saved.
    /// `console`, for a foreground `run` with a terminal and no `--console-socket`: where the pty
    /// master is kept (runwasm then proxies it, as runc does).
    private func createContainer(_ options: CreateOptions, childOfCaller: Bool, console: UnsafeMutablePointer<Int32>?) throws -> ContainerRecord {
        try Store.validate(id: options.id)
        let bundle = Runtime.absolute(options.bundle)
        let pidFile = options.pidFile.map(Runtime.absolute)
        let configPath = bundle + "/config.json"
        let configBytes: [UInt8]
        do {
            configBytes = try Sys.readFile(configPath)
        } catch let e as SystemError {
            throw RuntimeError("cannot read \(configPath): \(Sys.errorString(e.errno))")
        } catch let e as Sys.LimitExceeded {
            throw RuntimeError("config.json: \(configPath) is larger than \(Sys.byteCount(e.limit)), the largest config runwasm reads")
        }
        let plan = try ContainerPlan.load(configJSON: configBytes, bundle: bundle)
        if plan.terminal && options.consoleSocket == nil && console == nil {
            throw RuntimeError("process.terminal is true but no --console-socket was given")
        }
        if !plan.terminal && options.consoleSocket != nil {
            throw RuntimeError("--console-socket was given but process.terminal is false")
        }
        guard Sys.isDirectory(plan.rootfs) else {
            throw RuntimeError("root.path: rootfs \(plan.rootfs) does not exist or is not a directory")
        }
        logger.debug("creating \(options.id) from \(bundle)")
        // Everything that can fail on the config is checked before anything is made.
        let capabilities = try Privileges.resolve(plan.security.capabilities)
        var seccomp = try plan.security.seccomp.map { [try Seccomp.compile($0)] } ?? []
        var socketFilter: SeccompProgram?
        var wasmEdgeSocketFilter: SeccompProgram?
        if !plan.isPodSandbox {
            if let profile = plan.security.seccomp { try Seccomp.checkInterpreterNeeds(profile) }
            seccomp.append(try Seccomp.interpreterFilter())
            socketFilter = try Seccomp.interpreterFilter(sockets: true)
            wasmEdgeSocketFilter = try Seccomp.interpreterFilter(wasmEdgeSockets: true)
            _ = try Listeners.declared(plan)
        }
        let cgroupPath = try Cgroup.resolvePath(plan.security.cgroupsPath, id: options.id, systemd: systemdCgroup)

        // The record is saved before anything is made, with this process as its creator, and again
        // with the container's pid once it exists: a create killed at any instant leaves a record
        // of all it made (see `delete`), and the container process, which waits for the commit
        // below after "ready", ends when this process does.
        var record = ContainerRecord(
            id: options.id, pid: 0, startTime: 0, bundle: bundle, rootfs: plan.rootfs,
            created: Sys.rfc3339(Sys.realtimeNow(), nanoseconds: true), annotations: plan.annotations,
            cgroup: try Cgroup.locate(path: cgroupPath), poststart: plan.hooks.poststart, poststop: plan.hooks.poststop,
            owner: geteuid(), creator: .current())
        let lock = try store.makeDirectory(options.id, record: record)
        defer { close(lock) }
        var pid: Int32 = 0
        var ownsChild = !childOfCaller
        var cgroup: Cgroup?
        do {
            let dir = try Sys.open(store.directory(options.id), O_RDONLY | O_DIRECTORY)
            defer { close(dir) }
            let consoleSocket = try options.consoleSocket.map { try Console.connect(Runtime.absolute($0)) }
            defer { if let consoleSocket { close(consoleSocket) } }
            // The process enters its cgroup as it starts, before anything of the container runs
            // (and before create returns: containerd reads /proc/PID/cgroup).
            let made = try Cgroup.create(path: cgroupPath, resources: plan.security.resources)
            cgroup = made
            // As runc: a cgroup that already holds processes is used, with a warning.
            let already = made.pids()
            if !already.isEmpty { logger.warning("container's cgroup is not empty: \(already.count) process(es) found") }
            let entry = try made.entry()
            defer { entry.close() }
            let startSocket = try StartSocket.listen(in: dir)
            let wasm = plan.isPodSandbox ? nil : makeWasmPayload()
            defer { wasm?.closeCache() }
            let payload: any ContainerPayload = wasm ?? PausePayload()
            var spawnOptions = SpawnOptions(
                plan: plan, startSocket: startSocket, childOfCaller: childOfCaller, preserveFDs: options.preserveFDs,
                capabilities: capabilities, seccomp: seccomp, cgroup: entry)
            spawnOptions.socketFilter = socketFilter
            spawnOptions.wasmEdgeSocketFilter = wasmEdgeSocketFilter
            let handle = try ContainerProcess.spawn(spawnOptions, payload: payload)
            close(startSocket)
            defer { handle.close() }
            pid = handle.pid
            ownsChild = !childOfCaller
            record.pid = pid
            record.startTime = Sys.processInfo(pid)?.startTime ?? 0
            record.cgroup = made
            try store.save(record)

            try handle.waitForNamespaces()
            try handle.writeIDMappings(uid: plan.security.uidMappings, gid: plan.security.gidMappings)
            let creating = record.state(.creating).hookJSON.compact()
            // runc runs the runtime's hooks from the bundle, its working directory from create on.
            hookDirectory = bundle
            try HookRunner.run(plan.hooks.prestart, kind: "prestart", state: creating, in: hookDirectory)
            try HookRunner.run(plan.hooks.createRuntime, kind: "createRuntime", state: creating, in: hookDirectory)
            try handle.proceed(state: creating)
            if let consoleSocket {
                let master = try handle.receiveConsole()
                defer { close(master) }
                try Console.send(master: master, to: consoleSocket)
            } else if plan.terminal, let console {
                console.pointee = try handle.receiveConsole()
            }
            try handle.waitForReady()

            // Commit: the record without its creator, the pid file, then the word that lets the
            // container process go on waiting for start.
            record.creator = nil
            try store.save(record)
            if let pidFile { try Sys.writeFileAtomically(pidFile, Array(String(pid).utf8)) }
            try handle.commit()
            logger.debug("created \(options.id) with pid \(pid)")
            return record
        } catch {
            if pid > 0 {
                Glibc.kill(pid, SIGKILL)
                if ownsChild {
                    var status: Int32 = 0
                    _ = waitpid(pid, &status, 0)
                } else {
                    waitUntilGone(pid, startTime: nil)
                }
            }
            cgroup?.remove()
            store.remove(options.id)
            throw error
        }
    }

    // MARK: - start

    public func start(id: String) throws {
        try Store.validate(id: id)
        let lock = try store.lock(id)
        defer { close(lock) }
        try start(try store.load(id))
    }

    /// Starts the container of `record`; the caller holds its lock.
    private func start(_ record: ContainerRecord) throws {
        let id = record.id
        switch record.status {
        case .created: break
        case .running: throw RuntimeError("cannot start an already running container")
        case .stopped: throw RuntimeError("cannot start a container that has stopped")
        case let other: throw RuntimeError("cannot start a container in the \(other.rawValue) state")
        }
        let dir = try Sys.open(store.directory(id), O_RDONLY | O_DIRECTORY)
        defer { close(dir) }
        try StartSocket.requestStart(in: dir, state: record.state(.created).hookJSON.compact())
        // Without its start socket the container counts as started.
        unlinkat(dir, StartSocket.name, 0)

        do {
            try HookRunner.run(record.poststart, kind: "poststart", state: record.state(.running).hookJSON.compact(), in: hookDirectory)
        } catch {
            Glibc.kill(record.pid, SIGKILL)
            throw error
        }
    }

    // MARK: - state, list

    /// The `state` JSON: runc's shape, two-space indented, no trailing newline.
    public func state(id: String) throws -> String {
        try Store.validate(id: id)
        guard store.exists(id) else { throw RuntimeError("container does not exist") }
        let record = try store.load(id)
        return record.state(record.status).json.indented()
    }

    public enum ListFormat: String, Sendable { case table, json }

    public func list(format: ListFormat, quiet: Bool) throws -> String {
        var states: [ContainerState] = []
        for id in store.ids() {
            guard let record = try? store.load(id) else { continue }
            var state = record.state(record.status)
            state.owner = Runtime.userName(record.owner)
            states.append(state)
        }
        if quiet { return states.map { $0.id + "\n" }.joined() }
        switch format {
        case .json:
            return JSONValue.array(states.map(\.json)).compact() + "\n"
        case .table:
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            let rows = states.map {
                [$0.id, String($0.status == .stopped ? 0 : $0.pid), $0.status.rawValue, $0.bundle, $0.created, $0.owner]
            }
            return Runtime.table([header] + rows)
        }
    }

    /// Columns padded like Go's tabwriter with minwidth 12 and padding 3.
    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = Array(repeating: 0, count: first.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count + 3, 12) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined() + "\n"
        }.joined()
    }

    static func userName(_ uid: UInt32) -> String {
        guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "#\(uid)" }
        return String(cString: name)
    }

    // MARK: - kill

    public func kill(id: String, signal: String, all: Bool) throws {
        try Store.validate(id: id)
        let signo = try Signals.parse(signal)
        let lock = try store.lock(id)
        defer { close(lock) }
        let record = try store.load(id)
        guard record.status.canKill else {
            if all { return }
            throw RuntimeError("container not running")
        }
        if all, let cgroup = record.cgroup {
            // Every process of the container (its exec'd ones too), found in its cgroup, as runc
            // signals them.
            for pid in cgroup.pids() { _ = Glibc.kill(pid, signo) }
        } else if Glibc.kill(record.pid, signo) != 0 {
            if errno == ESRCH { throw RuntimeError("container not running") }
            throw SystemError("kill", "pid \(record.pid)")
        }
        // A frozen process does not die of SIGKILL until it thaws: as runc, thaw a paused
        // container that was killed.
        if signo == SIGKILL, let cgroup = record.cgroup, cgroup.isFrozen { try? cgroup.freeze(false) }
    }

    // MARK: - delete

    public func delete(id: String, force: Bool) throws {
        try Store.validate(id: id)
        guard store.exists(id) else {
            if force { return }
            throw RuntimeError("container does not exist")
        }
        let lock = try store.lock(id)
        defer { close(lock) }
        let record: ContainerRecord
        do {
            record = try store.load(id)
        } catch {
            // A directory without a state file is what a crashed create leaves: --force clears it.
            if force {
                store.remove(id)
                return
            }
            throw error
        }
        if record.creator != nil && !record.creator!.isAlive {
            // What a create killed half-way left (its status is stopped): its process, if it
            // still runs (it ends by itself once it sees its creator gone), cgroup and directory.
            if record.pid > 0, Sys.processInfo(record.pid)?.startTime == record.startTime {
                Glibc.kill(record.pid, SIGKILL)
                waitUntilGone(record.pid, startTime: record.startTime)
            }
            record.cgroup?.remove()
            store.remove(id)
            return
        }
        let status = record.status
        if !status.canDelete && !force {
            throw RuntimeError("cannot delete container \(id) that is not stopped: \(status.rawValue)")
        }
        if status != .stopped {
            if status == .paused { try? record.cgroup?.freeze(false) }
            Glibc.kill(record.pid, SIGKILL)
            waitUntilGone(record.pid, startTime: record.startTime)
        }
        record.cgroup?.remove()
        store.remove(id)
        do {
            try HookRunner.run(record.poststop, kind: "poststop", state: record.state(.stopped).hookJSON.compact(), in: hookDirectory)
        } catch {
            // The runtime-spec makes a failing poststop hook a warning: the container is gone already.
            logger.warning("\(error)")
        }
    }

    /// Polls until `pid` has exited (or is a zombie, or was reused), for at most 10 s.
    func waitUntilGone(_ pid: Int32, startTime: UInt64?) {
        let deadline = Sys.monotonicSeconds() + 10
        var pause = 0.0005
        while Sys.monotonicSeconds() < deadline {
            guard let info = Sys.processInfo(pid), info.alive, startTime == nil || info.startTime == startTime else {
                return
            }
            Sys.sleep(seconds: pause)
            pause = min(pause * 2, 0.02)
        }
    }

    // MARK: - run

    /// `run`: create and start. In the foreground it forwards signals, waits for the container,
    /// deletes it (unless `keep`) and returns its exit status; with `detach` it returns 0.
    public func run(_ options: CreateOptions, detach: Bool, keep: Bool) throws -> Int32 {
        // In the foreground with a terminal and no console socket, runwasm holds the pty master
        // and proxies it to its own stdio, as runc does.
        var console: Int32 = -1
        let record = try withUnsafeMutablePointer(to: &console) {
            try createContainer(options, childOfCaller: detach, console: detach || options.consoleSocket != nil ? nil : $0)
        }
        defer { if console >= 0 { close(console) } }
        let pid = record.pid
        if !detach { forwardSignals(to: pid) }
        do {
            // The record just saved: no need to read it back.
            let lock = try store.lock(options.id)
            defer { close(lock) }
            try start(record)
        } catch {
            try? delete(id: options.id, force: true)
            if !detach {
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
            }
            throw error
        }
        if detach { return 0 }
        let code = console >= 0 ? TerminalProxy.run(master: console, child: pid) : waitForwardingSignals(pid)
        if !keep { try delete(id: options.id, force: true) }
        return code
    }
}

extension Runtime {
    /// Sends the termination and job-control signals runwasm receives on to `pid`.
    func forwardSignals(to pid: Int32) {
        forwardedPid = pid
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH] {
            _ = signal(sig) { received in _ = Glibc.kill(forwardedPid, received) }
            sigaddset(&forwarded, sig)
        }
        // A caller may have left these blocked; they must reach the handlers to be forwarded.
        sigprocmask(SIG_UNBLOCK, &forwarded, nil)
    }

    /// Waits for the child `pid`, forwarding signals to it; returns its status (128+signal if killed).
    func waitForwardingSignals(_ pid: Int32) -> Int32 {
        forwardSignals(to: pid)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// The process that `run` and `exec` forward their signals to (read by a signal handler).
nonisolated(unsafe) private var forwardedPid: pid_t = 0
