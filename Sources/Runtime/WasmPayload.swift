// What runs in a runwasm container: a WASI module (found and checked inside the container), or,
// for a Kubernetes pod sandbox, the built-in pause.

import CSandbox
import Glibc
import OCI
import Sandbox
import WasmHost

/// Finds `process.args[0]` inside the container and checks that it is a WebAssembly module.
/// Runs after pivot_root, so `/` is the container's root; paths are also resolved with
/// RESOLVE_IN_ROOT so that nothing is followed out of it.
enum Entrypoint {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// Opening must never wait (a FIFO would block until a writer comes) nor take a terminal:
    /// the type is checked on the open fd, and O_NONBLOCK is cleared before reading.
    static let openFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY
    /// The largest module runwasm reads.
    static let sizeLimit = 1 << 30

    /// The module's path, an open descriptor (the caller closes it) and its size.
    static func load(_ plan: ContainerPlan) throws -> (path: String, fd: Int32, size: Int) {
        let arg0 = plan.args[0]
        let root = try Sys.open("/", O_RDONLY | O_DIRECTORY)
        defer { close(root) }
        func absolute(_ p: String) -> String { Path.clean(p.hasPrefix("/") ? p : plan.cwd + "/" + p) }

        if arg0.contains("/") {
            let path = absolute(arg0)
            let fd = rw_open_in_root(root, path, openFlags)
            guard fd >= 0 else {
                if fd == -ENXIO { throw notRegular(path, "a socket or a device without a driver") }
                throw RuntimeError("\(path): \(Sys.errorString(-fd).lowercased()) in the container (process.args[0])")
            }
            return (path, fd, try check(fd, path: path))
        }
        let search = plan.environment["PATH"] ?? defaultPath
        for dir in search.split(separator: ":", omittingEmptySubsequences: false) {
            let path = absolute((dir.isEmpty ? "." : String(dir)) + "/" + arg0)
            let fd = rw_open_in_root(root, path, openFlags)
            if fd == -ENOENT || fd == -ENOTDIR || fd == -EACCES { continue }
            if fd == -ENXIO { throw notRegular(path, "a socket or a device without a driver") }
            guard fd >= 0 else { throw RuntimeError("\(path): \(Sys.errorString(-fd))") }
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                continue
            }
            return (path, fd, try check(fd, path: path))
        }
        throw RuntimeError("\(arg0): executable file not found in $PATH (\(search)) in the container")
    }

    private static func notRegular(_ path: String, _ kind: String) -> RuntimeError {
        RuntimeError("process.args[0]: \(path) is \(kind), not a regular file; runwasm runs only WebAssembly modules")
    }

    private static func tooLarge(_ path: String) -> RuntimeError {
        RuntimeError("process.args[0]: \(path) is larger than 1 GiB, the largest module runwasm reads")
    }

    /// The size of the file at `fd` if it is a core WebAssembly module (else closes it and throws).
    private static func check(_ fd: Int32, path: String) throws -> Int {
        do {
            return try checkOpen(fd, path: path)
        } catch {
            close(fd)
            throw error
        }
    }

    private static func checkOpen(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat", path) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw RuntimeError("\(path) is a directory, not a WebAssembly module; runwasm runs only WebAssembly")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFIFO: throw notRegular(path, "a FIFO")
        case S_IFCHR: throw notRegular(path, "a character device")
        case S_IFBLK: throw notRegular(path, "a block device")
        case S_IFSOCK: throw notRegular(path, "a socket")
        default: throw notRegular(path, "not a regular file")
        }
        guard st.st_size <= sizeLimit else { throw tooLarge(path) }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw SystemError("fcntl", path) }
        var header = [UInt8](repeating: 0, count: 256)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw SystemError("read", path) }
        let kind = BinaryKind.classify(Array(header.prefix(n)))
        switch kind {
        case .coreModule:
            return Int(st.st_size)
        case .component:
            throw RuntimeError("\(path) is a WebAssembly component; runwasm runs only WebAssembly core modules (WASI preview 1)")
        default:
            throw RuntimeError("\(path) is \(kind.description), not a WebAssembly module; runwasm runs only WebAssembly")
        }
    }
}

final class WasmPayload: ContainerPayload {
    private var guest: PreparedGuest?
    /// Whether this process opens the listeners the config declares (a container's first
    /// process does; an exec'd one does not).
    private let opensListeners: Bool
    /// The validated-module cache, opened by the runtime outside the container; closed once the
    /// module is prepared, before anything of the guest runs.
    private var cache: ModuleCache?

    init(cache: ModuleCache? = nil, opensListeners: Bool = true) {
        self.cache = cache
        self.opensListeners = opensListeners
    }

    var usesSockets: Bool { guest?.usesSockets ?? false }
    var usesWasmEdgeSockets: Bool { guest?.usesWasmEdgeSockets ?? false }
    var keptDescriptors: [Int32] { cache.map { [$0.fd] } ?? [] }

    /// Closes the cache's descriptor (in the runtime, once the container process has its copy).
    func closeCache() {
        cache?.close()
        cache = nil
    }

    func prepare(_ plan: ContainerPlan) throws {
        defer { closeCache() }
        let (path, fd, size) = try Entrypoint.load(plan)
        let file: ModuleFile
        do {
            defer { close(fd) }
            file = try ModuleFile.read(fd, size: size, hash: cache != nil, path: path)
        } catch is ModuleFile.Changed {
            throw RuntimeError("\(path): the module changed while it was read")
        }
        // The hash runs on a second thread while WasmKit parses; the cache is consulted once
        // both are done, to choose between validating everything now and translating lazily.
        var key: String?
        var validated = false
        func lookUp() -> Bool {
            key = file.digest.map(ModuleCache.key(forDigest:))
            validated = key.map { cache?.contains($0) ?? false } ?? false
            return validated
        }
        var environment = plan.env
        // WASI preview 1 has no working directory; PWD is the convention guests use to learn it.
        if !environment.contains(where: { $0.hasPrefix("PWD=") }) { environment.append("PWD=" + plan.cwd) }
        let (source, listeners) = opensListeners ? try Listeners.declared(plan) : ("", [])
        environment = Listeners.environment(environment, adding: listeners)
        var options = GuestOptions(args: plan.args, environment: environment, preopens: [(guest: "/", host: "/")])
        options.memoryLimit = plan.security.resources.memoryLimit.flatMap(WasmPayload.linearMemoryCap)
        // In the container's network namespace and root, before `create` returns.
        options.listeners = try Listeners.open(listeners, source: source, plan: plan)
        do {
            guest = try PreparedGuest(moduleBytes: file.bytes, options: options, validated: lookUp)
        } catch {
            _ = file.digest  // the hashing thread ends before the error is reported
            throw RuntimeError("\(path): \(error)")
        }
        if let key, !validated { cache?.record(key) }
    }

    /// The linear-memory cap for a cgroup memory limit: the limit less what the interpreter itself
    /// needs (16 MiB, or half the limit when that is smaller), so that the guest's allocations
    /// fail inside the guest before the cgroup's OOM killer would end the whole container.
    static func linearMemoryCap(forLimit limit: Int64) -> Int? {
        guard limit > 0 else { return nil }
        let reserve = min(Int64(16 << 20), limit / 2)
        return Int(limit - reserve)
    }

    func run() -> Int32 {
        guard let guest else { return GuestExit.trapStatus }
        let exit = guest.run()
        if case .trapped(let reason) = exit {
            try? Sys.writeAll(2, Array("runwasm: guest \(reason)\n".utf8), what: "stderr")
        }
        return exit.status
    }
}

/// Kubernetes' pod sandbox: holds the pod's namespaces and does nothing until told to stop.
final class PausePayload: ContainerPayload {
    func prepare(_ plan: ContainerPlan) throws {}

    func run() -> Int32 {
        // It does nothing from here on: keep none of the program's pages resident.
        releaseProgramPages()
        // SIGTERM and SIGINT end the process through the handler installed at clone time.
        while true { pause() }
    }
}
