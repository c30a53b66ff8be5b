// `exec`: another WebAssembly module in a running (or created) container, in its namespaces,
// cgroup and confinement. A failure exits 255 and writes no pid file, as callers expect.

import Glibc
import OCI
import Sandbox

public struct ExecOptions: Sendable {
    public var id: String
    /// A runtime-spec `process` JSON file (`--process`); otherwise `args` with the config's process as template.
    public var processFile: String?
    public var args: [String] = []
    public var detach = false
    public var pidFile: String?
    public var consoleSocket: String?
    public var tty = false
    public var env: [String] = []
    public var cwd: String?
    /// `uid[:gid]`.
    public var user: String?
    public var additionalGids: [UInt32] = []
    public var capabilities: [String] = []
    public var noNewPrivs = false
    public var ignorePaused = false
    public var preserveFDs: Int32 = 0
    /// `--cgroup`: a sub-cgroup of the container's to run in (`PATH` or `CONTROLLER:PATH`).
    public var cgroups: [String] = []

    public init(id: String) { self.id = id }
}

extension Runtime {
    public func exec(_ o: ExecOptions) throws -> Int32 {
        try Store.validate(id: o.id)
        let record = try store.load(o.id)
        logger.debug("exec in \(o.id) (\(record.status.rawValue), pid \(record.pid))")
        switch record.status {
        case .created, .running: break
        case .paused where o.ignorePaused: break
        case .paused: throw RuntimeError("cannot exec in a paused container (use --ignore-paused)")
        default: throw RuntimeError("cannot exec in a stopped container")
        }

        // The container's own config gives the namespaces, mounts and seccomp profile; the
        // exec'd process replaces its `process`.
        var spec = try Spec.load(configJSON: try Sys.readFile(record.bundle + "/config.json"))
        var process: Spec.Process
        if let file = o.processFile {
            process = try Spec.Process.load(json: try Input.read(file))
        } else {
            guard !o.args.isEmpty else { throw RuntimeError("exec needs --process or a command after the container id") }
            process = spec.process ?? Spec.Process()
            process.args = o.args
            process.terminal = o.tty
        }
        if !o.env.isEmpty { process.env = (process.env ?? []) + o.env }
        if let cwd = o.cwd { process.cwd = cwd }
        if let user = o.user {
            let parts = user.split(separator: ":", maxSplits: 1)
            guard let uid = Int64(parts[0]), parts.count == 1 || Int64(parts[1]) != nil else {
                throw RuntimeError("--user \(user): expected uid[:gid]")
            }
            process.user = Spec.User(uid: uid, gid: parts.count > 1 ? Int64(parts[1]) : 0, additionalGids: process.user?.additionalGids)
        }
        if !o.additionalGids.isEmpty {
            var user = process.user ?? Spec.User()
            user.additionalGids = (user.additionalGids ?? []) + o.additionalGids.map { Int64($0) }
            process.user = user
        }
        if !o.capabilities.isEmpty {
            var caps = process.capabilities ?? Spec.Capabilities()
            for field in [\Spec.Capabilities.bounding, \.effective, \.permitted] {
                caps[keyPath: field] = (caps[keyPath: field] ?? []) + o.capabilities
            }
            process.capabilities = caps
        }
        if o.noNewPrivs { process.noNewPrivileges = true }
        // A foreground exec with a terminal and no console socket: runwasm holds the pty and
        // proxies it to its own stdio, as runc does.
        if o.consoleSocket == nil {
            if process.terminal == true && o.detach {
                throw RuntimeError("exec --detach with a terminal needs --console-socket")
            }
        } else if process.terminal != true {
            throw RuntimeError("--console-socket was given but the process has no terminal (use --tty)")
        }
        spec.process = process
        let plan = try ContainerPlan(spec: spec, bundle: record.bundle)
        logger.debug("exec process: args \(process.args ?? []), cwd \(plan.cwd), terminal \(plan.terminal)")

        let capabilities = try Privileges.resolve(plan.security.capabilities)
        var seccomp = try plan.security.seccomp.map { [try Seccomp.compile($0)] } ?? []
        if let profile = plan.security.seccomp { try Seccomp.checkInterpreterNeeds(profile) }
        seccomp.append(try Seccomp.interpreterFilter())
        let socketFilter = try Seccomp.interpreterFilter(sockets: true)
        let wasmEdgeSocketFilter = try Seccomp.interpreterFilter(wasmEdgeSockets: true)
        let consoleSocket = try o.consoleSocket.map { try Console.connect(Runtime.absolute($0)) }
        defer { if let consoleSocket { close(consoleSocket) } }
        let pidFile = o.pidFile.map(Runtime.absolute)

        let cgroup = try record.cgroup?.sub(o.cgroups)
        if !o.cgroups.isEmpty {
            guard let cgroup else { throw RuntimeError("exec --cgroup: container \(o.id) has no cgroup") }
            logger.debug("exec into cgroup \(cgroup.directories.values.sorted().joined(separator: ", "))")
        }
        let entry = try cgroup?.entry()
        let handle: ContainerHandle
        do {
            defer { entry?.close() }
            let payload = makeWasmPayload(opensListeners: false)
            defer { payload.closeCache() }
            var execOptions = ExecSpawnOptions(
                plan: plan, childOfCaller: o.detach, preserveFDs: o.preserveFDs, capabilities: capabilities,
                seccomp: seccomp, initPid: record.pid, cgroup: entry)
            execOptions.socketFilter = socketFilter
            execOptions.wasmEdgeSocketFilter = wasmEdgeSocketFilter
            // The container's listeners belong to its first process; an exec'd one opens none.
            handle = try ContainerProcess.spawnExec(execOptions, payload: payload)
        }
        defer { handle.close() }
        var console: Int32 = -1
        defer { if console >= 0 { close(console) } }
        do {
            try handle.waitForNamespaces()
            try handle.proceed(state: "")
            if let consoleSocket {
                let master = try handle.receiveConsole()
                defer { close(master) }
                try Console.send(master: master, to: consoleSocket)
            } else if plan.terminal {
                console = try handle.receiveConsole()
            }
            try handle.waitForReady()
        } catch {
            logger.debug("exec failed: \(error)")
            Glibc.kill(handle.pid, SIGKILL)
            if !o.detach {
                var status: Int32 = 0
                _ = waitpid(handle.pid, &status, 0)
            }
            throw error
        }
        logger.debug("exec'd process runs with pid \(handle.pid)")
        if let pidFile { try Sys.writeFileAtomically(pidFile, Array(String(handle.pid).utf8)) }
        if o.detach { return 0 }
        let status: Int32
        if console >= 0 {
            forwardSignals(to: handle.pid)
            status = TerminalProxy.run(master: console, child: handle.pid)
        } else {
            status = waitForwardingSignals(handle.pid)
        }
        logger.debug("exec'd process \(handle.pid) exited with status \(status)")
        return status
    }
}
