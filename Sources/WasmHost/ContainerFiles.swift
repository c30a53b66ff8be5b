// The guest's files: what WASI's path and fd calls reach. runwasm's one implementation of them,
// behind WasmKit's `FileSystemImplementation`, `WASIDir` and `WASIFile` (SPI WASIPlatform).
//
// The rule it enforces: the guest reaches the container's files, never the interpreter's own
// process. The container process *is* the interpreter, so a native view of procfs would hand the
// guest the interpreter's memory (/proc/self/mem), its descriptors (/proc/self/fd), its maps and
// credentials. Paths are therefore resolved as the kernel resolves them inside the container's root
// (absolute symlinks from the container's `/`, the kernel's own errno and permission checks), with
// one exception: procfs. A path that reaches a procfs is walked component by component, and
//   - inside a process directory (`/proc/<pid>`, `self`, `thread-self`, `task/<tid>`) only the
//     read-only entries in `ProcPolicy.processFiles` and the `net/` subtree open; `fd/0..2` of the
//     guest's own process reopen the guest's own stdio; everything else (mem, maps, map_files, fd,
//     environ of no one else's choosing, root, cwd, exe, ns, task dirs…) is EACCES;
//   - no descriptor of a directory inside a process directory is ever handed to the guest, so no
//     later relative path can start there;
//   - procfs is read-only to the guest (writes: EROFS), and `kcore`/`kpage*` stay closed;
//   - a procfs reached below its root (a bind mount of part of one) is refused whole.
// Docs/security.md says why this is complete.

import CSandbox
import Glibc
@_spi(WASIPlatform) import WASI

// MARK: - errno

enum HostErrno {
    /// The WASI errno for a Linux errno.
    static func wasi(_ code: Int32) -> WASIAbi.Errno {
        switch code {
        case E2BIG: return .E2BIG
        case EACCES: return .EACCES
        case EADDRINUSE: return .EADDRINUSE
        case EADDRNOTAVAIL: return .EADDRNOTAVAIL
        case EAFNOSUPPORT: return .EAFNOSUPPORT
        case EAGAIN: return .EAGAIN
        case EALREADY: return .EALREADY
        case EBADF: return .EBADF
        case EBADMSG: return .EBADMSG
        case EBUSY: return .EBUSY
        case ECANCELED: return .ECANCELED
        case ECHILD: return .ECHILD
        case ECONNABORTED: return .ECONNABORTED
        case ECONNREFUSED: return .ECONNREFUSED
        case ECONNRESET: return .ECONNRESET
        case EDEADLK: return .EDEADLK
        case EDESTADDRREQ: return .EDESTADDRREQ
        case EDOM: return .EDOM
        case EDQUOT: return .EDQUOT
        case EEXIST: return .EEXIST
        case EFAULT: return .EFAULT
        case EFBIG: return .EFBIG
        case EHOSTUNREACH: return .EHOSTUNREACH
        case EIDRM: return .EIDRM
        case EILSEQ: return .EILSEQ
        case EINPROGRESS: return .EINPROGRESS
        case EINTR: return .EINTR
        case EINVAL: return .EINVAL
        case EIO: return .EIO
        case EISCONN: return .EISCONN
        case EISDIR: return .EISDIR
        case ELOOP: return .ELOOP
        case EMFILE: return .EMFILE
        case EMLINK: return .EMLINK
        case EMSGSIZE: return .EMSGSIZE
        case EMULTIHOP: return .EMULTIHOP
        case ENAMETOOLONG: return .ENAMETOOLONG
        case ENETDOWN: return .ENETDOWN
        case ENETRESET: return .ENETRESET
        case ENETUNREACH: return .ENETUNREACH
        case ENFILE: return .ENFILE
        case ENOBUFS: return .ENOBUFS
        case ENODEV: return .ENODEV
        case ENOENT: return .ENOENT
        case ENOEXEC: return .ENOEXEC
        case ENOLCK: return .ENOLCK
        case ENOLINK: return .ENOLINK
        case ENOMEM: return .ENOMEM
        case ENOMSG: return .ENOMSG
        case ENOPROTOOPT: return .ENOPROTOOPT
        case ENOSPC: return .ENOSPC
        case ENOSYS: return .ENOSYS
        case ENOTCONN: return .ENOTCONN
        case ENOTDIR: return .ENOTDIR
        case ENOTEMPTY: return .ENOTEMPTY
        case ENOTRECOVERABLE: return .ENOTRECOVERABLE
        case ENOTSOCK: return .ENOTSOCK
        case ENOTSUP: return .ENOTSUP
        case ENOTTY: return .ENOTTY
        case ENXIO: return .ENXIO
        case EOVERFLOW: return .EOVERFLOW
        case EOWNERDEAD: return .EOWNERDEAD
        case EPERM: return .EPERM
        case EPIPE: return .EPIPE
        case EPROTO: return .EPROTO
        case EPROTONOSUPPORT: return .EPROTONOSUPPORT
        case EPROTOTYPE: return .EPROTOTYPE
        case ERANGE: return .ERANGE
        case EROFS: return .EROFS
        case ESPIPE: return .ESPIPE
        case ESRCH: return .ESRCH
        case ESTALE: return .ESTALE
        case ETIMEDOUT: return .ETIMEDOUT
        case ETXTBSY: return .ETXTBSY
        case EXDEV: return .EXDEV
        default: return .EIO
        }
    }

    /// Retries `body` while it fails with EINTR.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno != EINTR { throw wasi(errno) }
        }
    }
}

// MARK: - where in procfs a directory is

/// Where a directory sits relative to the procfs mounts the guest can reach.
enum ProcPosition: Equatable, Sendable {
    /// Not in a procfs.
    case outside
    /// A procfs root (inode 1).
    case root
    /// Below a procfs root, outside every process directory (`/proc/sys/kernel` is depth 2).
    case global(depth: Int)
    /// In a process directory: `pid` as named there, whether it is this very process, and the
    /// components walked below it (`[]` for the directory itself, `["task", "7"]`, `["net"]`…).
    case process(pid: String, isSelf: Bool, below: [String])

    var isProc: Bool { self != .outside }
}

/// What of procfs the guest may open.
enum ProcPolicy {
    /// Files of a process directory (or of `task/<tid>`) the guest may read: what `ps`, `top`,
    /// `df` and language runtimes read, and nothing that reaches memory, descriptors, registers,
    /// the executable, the root or the namespaces.
    static let processFiles: Set<String> = [
        "cgroup", "cmdline", "comm", "cpuset", "environ", "gid_map", "limits", "loginuid", "mountinfo",
        "mounts", "oom_score", "oom_score_adj", "sessionid", "setgroups", "stat", "statm", "status", "uid_map",
    ]
    /// Files at a procfs root that give access to physical or kernel memory.
    static let closedGlobalFiles: Set<String> = ["kcore", "kpagecgroup", "kpagecount", "kpageflags"]

    static let procfsMagic = 0x9fa0  // PROC_SUPER_MAGIC

    static func isProcfs(_ fd: Int32) throws -> Bool {
        let type = rw_fd_fs_type(fd)
        if type < 0 { throw HostErrno.wasi(Int32(-type)) }
        return type == procfsMagic
    }

    static func isNumber(_ name: String) -> Bool { !name.isEmpty && name.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }

    enum Step {
        /// An ordinary entry: walk or open it as the kernel would.
        case allow
        /// `fd/N` of the guest's own process: reopen the guest's stdio N.
        case ownStdio(Int32)
    }

    /// May the walk pass through (`last == false`) or end at (`last == true`) `name` in a
    /// directory at `position`? Throws EACCES where it may not.
    static func step(from position: ProcPosition, name: String, last: Bool) throws -> Step {
        switch position {
        case .outside, .global:
            return .allow
        case .root:
            if last && closedGlobalFiles.contains(name) { throw WASIAbi.Errno.EACCES }
            return .allow
        case .process(_, let isSelf, let below):
            var rest = below[...]
            // task/<tid> is a process directory of its own.
            if rest.first == "task" {
                if rest.count == 1 {
                    guard isNumber(name) else { throw WASIAbi.Errno.EACCES }
                    return .allow
                }
                rest = rest.dropFirst(2)
            }
            if rest.first == "net" { return .allow }
            if rest.isEmpty {
                if name == "net" || (name == "task" && below.isEmpty) { return .allow }
                if name == "fd" && isSelf { return .allow }
                if last && processFiles.contains(name) { return .allow }
                throw WASIAbi.Errno.EACCES
            }
            if rest == ["fd"], isSelf, last, isNumber(name), let n = Int32(name), (0...2).contains(n) {
                return .ownStdio(n)
            }
            throw WASIAbi.Errno.EACCES
        }
    }

    /// The position of `name`, just opened (as `fd`) in a directory at `parent`.
    static func position(of fd: Int32, name: String, in parent: ProcPosition, parentFD: Int32) throws -> ProcPosition {
        guard try isProcfs(fd) else { return .outside }  // PROC_SUPER_MAGIC
        var st = stat()
        try HostErrno.retrying { fstat(fd, &st) }
        if st.st_ino == 1 { return .root }
        switch parent {
        case .root:
            guard isNumber(name) else { return .global(depth: 1) }
            return .process(pid: name, isSelf: name == selfPid(procRoot: parentFD), below: [])
        case .global(let depth):
            return .global(depth: depth + 1)
        case .process(let pid, let isSelf, let below):
            return .process(pid: pid, isSelf: isSelf, below: below + [name])
        case .outside:
            // Part of a procfs mounted somewhere without its root: nothing says whose it is.
            throw WASIAbi.Errno.EACCES
        }
    }

    /// This process's pid as the procfs open at `procRoot` names it.
    static func selfPid(procRoot: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlinkat(procRoot, "self", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The position of the directory above one at `position`, reached by the kernel's `..`.
    static func parent(of position: ProcPosition, reached fd: Int32) throws -> ProcPosition {
        switch position {
        case .global(let depth):
            return depth <= 1 ? .root : .global(depth: depth - 1)
        case .process:
            throw WASIAbi.Errno.EACCES
        case .root, .outside:
            return try unrelated(fd)
        }
    }

    /// The position of a directory reached other than from its parent: outside procfs, or a
    /// procfs root; any other part of a procfs is refused, since nothing says whose it is.
    static func unrelated(_ fd: Int32) throws -> ProcPosition {
        guard try isProcfs(fd) else { return .outside }
        var st = stat()
        try HostErrno.retrying { fstat(fd, &st) }
        guard st.st_ino == 1 else { throw WASIAbi.Errno.EACCES }
        return .root
    }
}

// MARK: - path resolution

/// A guest path split into components; a trailing `/` asks for a directory.
struct GuestPathSplit {
    var components: [String]
    var isAbsolute: Bool
    var trailingSlash: Bool

    init(_ path: String) {
        isAbsolute = path.hasPrefix("/")
        trailingSlash = path.count > 1 && path.hasSuffix("/")
        components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
    }
}

/// Walks a guest path one component at a time from a guest directory, following symlinks as the
/// kernel would inside the container's root and applying `ProcPolicy` on the way. Used for every
/// path that touches a procfs (and when openat2 is unavailable); every other path goes to the
/// kernel in one openat2 call.
struct PathWalk: ~Copyable {
    private(set) var dir: Int32
    private(set) var position: ProcPosition
    /// Directories walked through, for `..`.
    private var stack: [(fd: Int32, position: ProcPosition)] = []
    private var owned: [Int32] = []
    private var pending: [String]
    private var links = 0

    init(from start: ContainerDir, path: GuestPathSplit) throws {
        dir = start.fd
        position = start.position
        pending = path.components.reversed()
        if path.isAbsolute { try restartAtRoot() }
    }

    deinit {
        for fd in owned { close(fd) }
    }

    private mutating func restartAtRoot() throws {
        let root = try HostErrno.retrying { Glibc.open("/", Int32(RW_O_PATH) | O_DIRECTORY | O_CLOEXEC) }
        owned.append(root)
        stack = []
        dir = root
        position = try ProcPolicy.unrelated(root)
    }

    private mutating func descend(into fd: Int32, name: String) throws {
        owned.append(fd)
        let next = try ProcPolicy.position(of: fd, name: name, in: position, parentFD: dir)
        stack.append((dir, position))
        dir = fd
        position = next
    }

    private mutating func ascend() throws {
        if let (fd, pos) = stack.popLast() {
            dir = fd
            position = pos
            return
        }
        let up = try HostErrno.retrying { openat(dir, "..", Int32(RW_O_PATH) | O_DIRECTORY | O_CLOEXEC) }
        owned.append(up)
        position = try ProcPolicy.parent(of: position, reached: up)
        dir = up
    }

    /// Splices a symlink's target (read from `fd`, an O_PATH descriptor of the link) into the walk.
    private mutating func follow(link fd: Int32) throws {
        links += 1
        guard links <= 40 else { throw WASIAbi.Errno.ELOOP }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try HostErrno.retrying { readlinkat(fd, "", &buffer, buffer.count - 1) }
        let target = GuestPathSplit(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        pending.append(contentsOf: target.components.reversed())
        if target.isAbsolute { try restartAtRoot() }
    }

    private func isSymlink(_ fd: Int32) throws -> Bool { try fileType(fd) == S_IFLNK }
    private func isDirectory(_ fd: Int32) throws -> Bool { try fileType(fd) == S_IFDIR }

    private func fileType(_ fd: Int32) throws -> mode_t {
        var st = stat()
        do {
            try HostErrno.retrying { fstat(fd, &st) }
        } catch {
            close(fd)
            throw error
        }
        return st.st_mode & S_IFMT
    }

    /// Walks every component but the last; returns the last (nil when the path ends in a
    /// directory reached by `..` or names the start itself).
    mutating func walkToParent() throws -> String? {
        while let name = pending.popLast() {
            if name == ".." {
                try ascend()
                continue
            }
            if pending.isEmpty { return name }
            _ = try ProcPolicy.step(from: position, name: name, last: false)
            let fd = try HostErrno.retrying { openat(dir, name, Int32(RW_O_PATH) | O_NOFOLLOW | O_CLOEXEC) }
            if try isSymlink(fd) {
                defer { close(fd) }
                try follow(link: fd)
                continue
            }
            try descend(into: fd, name: name)
        }
        return nil
    }

    /// Resolves the whole path and opens what it names with `flags` (O_PATH included, for a
    /// lookup). Returns the new descriptor (owned by the caller) and its position.
    mutating func open(flags: Int32, mode: mode_t, followLast: Bool, stdio: [Int32]) throws -> (fd: Int32, position: ProcPosition) {
        while true {
            guard let name = try walkToParent() else {
                // The path names a directory already walked to (".", "a/..").
                if position.isProc && ProcPosition.wantsWrite(flags) { throw WASIAbi.Errno.EROFS }
                if case .process = position { throw WASIAbi.Errno.EACCES }
                let fd = try HostErrno.retrying { openat(dir, ".", flags | O_CLOEXEC, mode) }
                return (fd, position)
            }
            let step = try ProcPolicy.step(from: position, name: name, last: true)
            if case .ownStdio(let n) = step {
                // Opening /proc/self/fd/N reopens what N is, as for a native process.
                let fd = try HostErrno.retrying { openat(dir, String(stdio[Int(n)]), (flags & ~O_NOFOLLOW) | O_CLOEXEC, mode) }
                return (fd, .outside)
            }
            let probe = openat(dir, name, Int32(RW_O_PATH) | O_NOFOLLOW | O_CLOEXEC)
            if probe < 0 {
                let e = errno
                guard e == ENOENT, flags & O_CREAT != 0, !position.isProc else { throw HostErrno.wasi(e) }
                let fd = try HostErrno.retrying { openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
                return (fd, .outside)
            }
            if followLast, try isSymlink(probe) {
                defer { close(probe) }
                try follow(link: probe)
                continue
            }
            var next: ProcPosition
            do {
                next = try ProcPolicy.position(of: probe, name: name, in: position, parentFD: dir)
            } catch {
                close(probe)
                throw error
            }
            if next.isProc || position.isProc {
                if ProcPosition.wantsWrite(flags) {
                    close(probe)
                    throw WASIAbi.Errno.EROFS
                }
                if case .process(_, _, let below) = next, !below.contains("net"), flags & Int32(RW_O_PATH) == 0,
                    try isDirectory(probe)
                {
                    // A process directory itself, or task/<tid>: its entries are reached by path only.
                    close(probe)
                    throw WASIAbi.Errno.EACCES
                }
            }
            if flags & Int32(RW_O_PATH) != 0 {
                // A lookup: the probe is what the path names (the link itself when not following).
                return (probe, next)
            }
            close(probe)
            let fd = try HostErrno.retrying { openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
            return (fd, next)
        }
    }
}

extension ProcPosition {
    static func wantsWrite(_ flags: Int32) -> Bool {
        flags & O_ACCMODE != O_RDONLY || flags & (O_CREAT | O_TRUNC) != 0
    }
}

// MARK: - the file system

final class ContainerFileSystem: FileSystemImplementation, @unchecked Sendable {
    /// The host fds behind the guest's stdio, for `/proc/self/fd/0..2`.
    let stdio: [Int32]
    /// False once openat2 was found missing (Linux < 5.6).
    private var useOpenat2 = true
    /// The guest's sockets, whose anchors this file system creates and opens through.
    var sockets: SocketTable?

    init(stdio: [Int32]) { self.stdio = stdio }

    func preopenDirectory(guestPath: String, hostPath: String) throws -> any WASIDir {
        if hostPath == SocketAnchor.hostPath { return SocketAnchor(table: sockets) }
        let fd = try HostErrno.retrying { Glibc.open(hostPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        let position: ProcPosition
        do {
            position = try ProcPolicy.unrelated(fd)
        } catch {
            close(fd)
            throw error
        }
        return ContainerDir(fd: fd, position: position, preopenPath: guestPath, fileSystem: self)
    }

    func openAt(
        dirFd: any WASIDir, path: String, oflags: WASIAbi.Oflags, fsRightsBase: WASIAbi.Rights,
        fsRightsInheriting: WASIAbi.Rights, fdflags: WASIAbi.Fdflags, symlinkFollow: Bool
    ) throws -> FdEntry {
        if let anchor = dirFd as? SocketAnchor { return try anchor.open() }
        guard let dir = dirFd as? ContainerDir else { throw WASIAbi.Errno.EBADF }
        var access: FileAccessMode = []
        if fsRightsBase.contains(.FD_READ) { access.insert(.read) }
        if fsRightsBase.contains(.FD_WRITE) { access.insert(.write) }

        var flags = O_NOCTTY
        switch (access.contains(.read), access.contains(.write)) {
        case (_, false): flags |= O_RDONLY
        case (false, true): flags |= O_WRONLY
        case (true, true): flags |= O_RDWR
        }
        let split = GuestPathSplit(path)
        if oflags.contains(.DIRECTORY) || split.trailingSlash {
            flags |= O_DIRECTORY
        }
        if oflags.contains(.CREAT) { flags |= O_CREAT }
        if oflags.contains(.EXCL) { flags |= O_EXCL }
        if oflags.contains(.TRUNC) { flags |= O_TRUNC }
        if fdflags.contains(.APPEND) { flags |= O_APPEND }
        if fdflags.contains(.NONBLOCK) { flags |= O_NONBLOCK }
        if fdflags.contains(.DSYNC) { flags |= O_DSYNC }
        if fdflags.contains(.SYNC) || fdflags.contains(.RSYNC) { flags |= O_SYNC }
        if !symlinkFollow { flags |= O_NOFOLLOW }

        // A directory opened for writing fails with EISDIR in the kernel; WASI asks for rights
        // that imply write on directories too, so open those read-only as WasmKit does.
        let (fd, position) = try open(dir, split, path: path, flags: flags, mode: 0o666, followLast: symlinkFollow)
        var st = stat()
        do {
            try HostErrno.retrying { fstat(fd, &st) }
            try Self.refuseMemoryDevice(st)
        } catch {
            close(fd)
            throw error
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            return .directory(ContainerDir(fd: fd, position: position, preopenPath: nil, fileSystem: self))
        }
        return .file(ContainerFile(fd: fd, access: access, borrowed: false))
    }

    /// /dev/mem, /dev/kmem and /dev/port reach physical memory, the interpreter's included.
    static func refuseMemoryDevice(_ st: stat) throws {
        guard (st.st_mode & S_IFMT) == S_IFCHR else { return }
        let major = (st.st_rdev >> 8) & 0xfff
        let minor = (st.st_rdev & 0xff) | ((st.st_rdev >> 12) & 0xfff00)
        if major == 1 && (minor == 1 || minor == 2 || minor == 4) { throw WASIAbi.Errno.EACCES }
    }

    /// Opens `path` from `dir`: one openat2 for a path that stays out of procfs, the walk otherwise.
    func open(
        _ dir: ContainerDir, _ split: GuestPathSplit, path: String, flags: Int32, mode: mode_t, followLast: Bool
    ) throws -> (fd: Int32, position: ProcPosition) {
        guard !path.isEmpty else { throw WASIAbi.Errno.ENOENT }
        if useOpenat2 && dir.position == .outside {
            let fd = rw_openat2(dir.fd, path, flags, UInt32(mode), RW_RESOLVE_NO_MAGICLINKS)
            if fd >= 0 {
                if rw_fd_fs_type(fd) != ProcPolicy.procfsMagic { return (fd, .outside) }
                close(fd)
            } else if fd == -ENOSYS {
                useOpenat2 = false
            } else if fd != -ELOOP && fd != -EPERM && fd != -EXDEV {
                // ELOOP: a magic link (or a real loop) on the way; EPERM: perhaps a seccomp
                // profile without openat2. The walk finds out which.
                throw HostErrno.wasi(-fd)
            }
        }
        var walk = try PathWalk(from: dir, path: split)
        return try walk.open(flags: flags, mode: mode, followLast: followLast, stdio: stdio)
    }

    /// The directory that holds the last component of `path`, and that component, for the `*at`
    /// calls; `owned` when the caller must close it.
    func parent(of dir: ContainerDir, _ path: String) throws -> (dir: Int32, position: ProcPosition, name: String, owned: Bool) {
        let split = GuestPathSplit(path)
        guard var name = split.components.last else {
            // "." or "/": the directory itself.
            if split.isAbsolute {
                let fd = try HostErrno.retrying { Glibc.open("/", Int32(RW_O_PATH) | O_DIRECTORY | O_CLOEXEC) }
                return (fd, try ProcPolicy.unrelated(fd), ".", true)
            }
            return (dir.fd, dir.position, ".", false)
        }
        if split.trailingSlash { name += "/" }
        var parentSplit = split
        parentSplit.components.removeLast()
        parentSplit.trailingSlash = false
        if parentSplit.components.isEmpty && !split.isAbsolute {
            return (dir.fd, dir.position, name, false)
        }
        let parentPath = (split.isAbsolute ? "/" : "") + parentSplit.components.joined(separator: "/")
        let (fd, position) = try open(
            dir, parentSplit, path: parentPath, flags: Int32(RW_O_PATH) | O_DIRECTORY, mode: 0, followLast: true)
        return (fd, position, name, true)
    }

    /// Runs `body` with the parent of `path` and its last component; `mutates` refuses procfs.
    @discardableResult
    func withParent<R>(
        of dir: ContainerDir, _ path: String, mutates: Bool, _ body: (Int32, ProcPosition, String) throws -> R
    ) throws -> R {
        let (fd, position, name, owned) = try parent(of: dir, path)
        defer { if owned { close(fd) } }
        if position.isProc {
            if mutates { throw WASIAbi.Errno.EACCES }
            let bare = name.hasSuffix("/") ? String(name.dropLast()) : name
            if bare != "." && bare != ".." {
                if case .ownStdio(let n) = try ProcPolicy.step(from: position, name: bare, last: true) {
                    return try body(fd, position, String(stdio[Int(n)]))
                }
            }
            if case .process(_, _, let below) = position, below.isEmpty, bare == ".." || bare == "." {
                throw WASIAbi.Errno.EACCES
            }
        }
        return try body(fd, position, name)
    }
}

// MARK: - directories

final class ContainerDir: WASIDir, @unchecked Sendable {
    let fd: Int32
    let position: ProcPosition
    let preopenPath: String?
    private let fileSystem: ContainerFileSystem

    init(fd: Int32, position: ProcPosition, preopenPath: String?, fileSystem: ContainerFileSystem) {
        self.fd = fd
        self.position = position
        self.preopenPath = preopenPath
        self.fileSystem = fileSystem
    }

    var hostFileDescriptor: CInt? { fd }

    func close() throws { Glibc.close(fd) }

    func attributes() throws -> WASIAbi.Filestat { try ContainerFile.filestat(fd) }
    func fileType() throws -> WASIAbi.FileType { .DIRECTORY }
    func status() throws -> WASIAbi.Fdflags { [] }

    func setTimes(atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags) throws {
        if position.isProc { throw WASIAbi.Errno.EACCES }
        var times = try ContainerFile.timespecs(atim: atim, mtim: mtim, fstFlags: fstFlags)
        try HostErrno.retrying { futimens(fd, &times) }
    }

    func advise(offset: WASIAbi.FileSize, length: WASIAbi.FileSize, advice: WASIAbi.Advice) throws {}

    func readlink(atPath path: String) throws -> [UInt8] {
        try fileSystem.withParent(of: self, path, mutates: false) { dir, _, name in
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = try HostErrno.retrying { readlinkat(dir, name, &buffer, buffer.count) }
            return buffer[0..<n].map { UInt8(bitPattern: $0) }
        }
    }

    func createDirectory(atPath path: String) throws {
        try fileSystem.withParent(of: self, path, mutates: true) { dir, _, name in
            try HostErrno.retrying { mkdirat(dir, name, 0o777) }
        }
    }

    func removeDirectory(atPath path: String) throws {
        try fileSystem.withParent(of: self, path, mutates: true) { dir, _, name in
            try HostErrno.retrying { unlinkat(dir, name, AT_REMOVEDIR) }
        }
    }

    func removeFile(atPath path: String) throws {
        try fileSystem.withParent(of: self, path, mutates: true) { dir, _, name in
            if name.hasSuffix("/") { throw WASIAbi.Errno.ENOTDIR }
            try HostErrno.retrying { unlinkat(dir, name, 0) }
        }
    }

    func symlink(from sourcePath: String, to destPath: String) throws {
        try fileSystem.withParent(of: self, destPath, mutates: true) { dir, _, name in
            try HostErrno.retrying { symlinkat(sourcePath, dir, name) }
        }
    }

    func rename(from sourcePath: String, toDir newDir: any WASIDir, to destPath: String) throws {
        guard let newDir = newDir as? ContainerDir else { throw WASIAbi.Errno.EBADF }
        try fileSystem.withParent(of: self, sourcePath, mutates: true) { from, _, fromName in
            try fileSystem.withParent(of: newDir, destPath, mutates: true) { to, _, toName in
                try HostErrno.retrying { renameat(from, fromName, to, toName) }
            }
        }
    }

    func attributes(path: String, symlinkFollow: Bool) throws -> WASIAbi.Filestat {
        if symlinkFollow {
            let split = GuestPathSplit(path)
            let (fd, _) = try fileSystem.open(self, split, path: path, flags: Int32(RW_O_PATH), mode: 0, followLast: true)
            defer { Glibc.close(fd) }
            return try ContainerFile.filestat(fd)
        }
        return try fileSystem.withParent(of: self, path, mutates: false) { dir, _, name in
            var st = stat()
            try HostErrno.retrying { fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) }
            return ContainerFile.filestat(st)
        }
    }

    func setFilestatTimes(
        path: String, atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags, symlinkFollow: Bool
    ) throws {
        var times = try ContainerFile.timespecs(atim: atim, mtim: mtim, fstFlags: fstFlags)
        if symlinkFollow {
            let split = GuestPathSplit(path)
            let (fd, position) = try fileSystem.open(self, split, path: path, flags: Int32(RW_O_PATH), mode: 0, followLast: true)
            defer { Glibc.close(fd) }
            if position.isProc { throw WASIAbi.Errno.EACCES }
            try HostErrno.retrying { utimensat(fd, "", &times, Int32(RW_AT_EMPTY_PATH)) }
            return
        }
        try fileSystem.withParent(of: self, path, mutates: true) { dir, _, name in
            try HostErrno.retrying { utimensat(dir, name, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }

    func readEntries(cookie: WASIAbi.DirCookie) throws -> WASIReaddirEntries {
        WASIReaddirEntries(try Entries(directory: fd, cookie: cookie))
    }

    /// The entries of a directory, from a descriptor of its own so that the guest's stays put.
    struct Entries: WASIReaddirIterator {
        private var stream: OpaquePointer?
        private var index: UInt64 = 0

        init(directory fd: Int32, cookie: WASIAbi.DirCookie) throws {
            let own = try HostErrno.retrying { openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            guard let stream = fdopendir(own) else {
                let e = errno
                Glibc.close(own)
                throw HostErrno.wasi(e)
            }
            self.stream = stream
            while index < cookie, next() != nil {}
        }

        mutating func next() -> Result<WASIReaddirElement, any Error>? {
            guard let stream else { return nil }
            errno = 0
            guard let entry = readdir(stream) else {
                return errno == 0 ? nil : .failure(HostErrno.wasi(errno))
            }
            index += 1
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            let type: WASIAbi.FileType
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_REG): type = .REGULAR_FILE
            case Int32(DT_DIR): type = .DIRECTORY
            case Int32(DT_LNK): type = .SYMBOLIC_LINK
            case Int32(DT_CHR): type = .CHARACTER_DEVICE
            case Int32(DT_BLK): type = .BLOCK_DEVICE
            case Int32(DT_SOCK): type = .SOCKET_STREAM
            default: type = .UNKNOWN
            }
            let dirent = WASIAbi.Dirent(
                dNext: index, dIno: UInt64(entry.pointee.d_ino), dirNameLen: UInt32(name.utf8.count), dType: type)
            return .success((dirent, name))
        }

        mutating func close() {
            if let stream { closedir(stream) }
            stream = nil
        }
    }
}

// MARK: - files

/// A file, device, pipe, socket or terminal the guest holds: its stdio, or what it opened.
final class ContainerFile: WASIFile, @unchecked Sendable {
    let fd: Int32
    let access: FileAccessMode
    let isBorrowed: Bool

    init(fd: Int32, access: FileAccessMode, borrowed: Bool) {
        self.fd = fd
        self.access = access
        self.isBorrowed = borrowed
    }

    var hostFileDescriptor: CInt? { fd }

    func close() throws {
        if !isBorrowed { Glibc.close(fd) }
    }

    static func fileType(_ mode: mode_t) -> WASIAbi.FileType {
        switch mode & S_IFMT {
        case S_IFREG: return .REGULAR_FILE
        case S_IFDIR: return .DIRECTORY
        case S_IFCHR: return .CHARACTER_DEVICE
        case S_IFBLK: return .BLOCK_DEVICE
        case S_IFLNK: return .SYMBOLIC_LINK
        case S_IFSOCK: return .SOCKET_STREAM
        default: return .UNKNOWN
        }
    }

    static func nanoseconds(_ t: timespec) -> UInt64 {
        UInt64(max(0, t.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, t.tv_nsec))
    }

    static func filestat(_ st: stat) -> WASIAbi.Filestat {
        WASIAbi.Filestat(
            dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), filetype: fileType(st.st_mode), nlink: UInt64(st.st_nlink),
            size: UInt64(max(0, st.st_size)), atim: nanoseconds(st.st_atim), mtim: nanoseconds(st.st_mtim),
            ctim: nanoseconds(st.st_ctim))
    }

    static func filestat(_ fd: Int32) throws -> WASIAbi.Filestat {
        var st = stat()
        try HostErrno.retrying { fstat(fd, &st) }
        return filestat(st)
    }

    static func timespecs(atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags) throws -> [timespec] {
        func one(_ value: WASIAbi.Timestamp, set: Bool, now: Bool) throws -> timespec {
            if set && now { throw WASIAbi.Errno.EINVAL }
            if now { return timespec(tv_sec: 0, tv_nsec: Int(RW_UTIME_NOW)) }
            if set { return timespec(tv_sec: Int(value / 1_000_000_000), tv_nsec: Int(value % 1_000_000_000)) }
            return timespec(tv_sec: 0, tv_nsec: Int(RW_UTIME_OMIT))
        }
        return [
            try one(atim, set: fstFlags.contains(.ATIM), now: fstFlags.contains(.ATIM_NOW)),
            try one(mtim, set: fstFlags.contains(.MTIM), now: fstFlags.contains(.MTIM_NOW)),
        ]
    }

    func attributes() throws -> WASIAbi.Filestat { try Self.filestat(fd) }

    func fileType() throws -> WASIAbi.FileType {
        var st = stat()
        try HostErrno.retrying { fstat(fd, &st) }
        return Self.fileType(st.st_mode)
    }

    func status() throws -> WASIAbi.Fdflags {
        let flags = try HostErrno.retrying { fcntl(fd, F_GETFL) }
        var out: WASIAbi.Fdflags = []
        if flags & O_APPEND != 0 { out.insert(.APPEND) }
        if flags & O_NONBLOCK != 0 { out.insert(.NONBLOCK) }
        if flags & O_DSYNC != 0 { out.insert(.DSYNC) }
        if flags & O_SYNC == O_SYNC { out.insert(.SYNC) }
        return out
    }

    /// The rights tell wasi-libc's `isatty` what this is: a character device without seek and
    /// tell rights is a terminal. Only a real terminal is reported so (not /dev/null).
    func fdStat() throws -> WASIAbi.FdStat {
        var rights: WASIAbi.Rights = [.FD_FDSTAT_SET_FLAGS, .FD_FILESTAT_GET, .POLL_FD_READWRITE, .FD_ADVISE]
        if access.contains(.read) { rights.insert(.FD_READ) }
        if access.contains(.write) {
            rights.formUnion([.FD_WRITE, .FD_DATASYNC, .FD_SYNC, .FD_ALLOCATE, .FD_FILESTAT_SET_SIZE, .FD_FILESTAT_SET_TIMES])
        }
        if isatty(fd) == 0 { rights.formUnion([.FD_SEEK, .FD_TELL]) }
        return WASIAbi.FdStat(fsFileType: try fileType(), fsFlags: try status(), fsRightsBase: rights, fsRightsInheriting: [])
    }

    func setFdStatFlags(_ flags: WASIAbi.Fdflags) throws {
        var current = try HostErrno.retrying { fcntl(fd, F_GETFL) }
        current &= ~(O_APPEND | O_NONBLOCK)
        if flags.contains(.APPEND) { current |= O_APPEND }
        if flags.contains(.NONBLOCK) { current |= O_NONBLOCK }
        try HostErrno.retrying { fcntl(fd, F_SETFL, current) }
    }

    func setFilestatSize(_ size: WASIAbi.FileSize) throws {
        guard size <= UInt64(Int64.max) else { throw WASIAbi.Errno.EFBIG }
        try HostErrno.retrying { ftruncate(fd, off_t(size)) }
    }

    func setTimes(atim: WASIAbi.Timestamp, mtim: WASIAbi.Timestamp, fstFlags: WASIAbi.FstFlags) throws {
        var times = try Self.timespecs(atim: atim, mtim: mtim, fstFlags: fstFlags)
        try HostErrno.retrying { futimens(fd, &times) }
    }

    func advise(offset: WASIAbi.FileSize, length: WASIAbi.FileSize, advice: WASIAbi.Advice) throws {}

    func sync() throws { try HostErrno.retrying { fsync(fd) } }
    func datasync() throws { try HostErrno.retrying { fdatasync(fd) } }

    func tell() throws -> WASIAbi.FileSize {
        WASIAbi.FileSize(try HostErrno.retrying { lseek(fd, 0, SEEK_CUR) })
    }

    func seek(offset: WASIAbi.FileDelta, whence: WASIAbi.Whence) throws -> WASIAbi.FileSize {
        let how: Int32
        switch whence {
        case .SET: how = SEEK_SET
        case .CUR: how = SEEK_CUR
        case .END: how = SEEK_END
        }
        return WASIAbi.FileSize(try HostErrno.retrying { lseek(fd, off_t(offset), how) })
    }

    /// Moves bytes through each buffer in turn with `io` (one read or write at the position,
    /// which advances; ignored by read and write), stopping at the first short transfer, as
    /// readv and writev do.
    private func transfer(
        _ buffers: GuestBuffers, at offset: WASIAbi.FileSize?, _ io: (UnsafeMutableRawBufferPointer, off_t) -> Int
    ) throws -> WASIAbi.Size {
        var position = off_t(try offset.map(Self.offset) ?? 0)
        var total = 0
        for index in 0..<buffers.count {
            var short = false
            let n = try buffers.withHostBuffer(at: index) { buffer in
                guard buffer.count > 0 else { return 0 }
                let n = try HostErrno.retrying { io(buffer, position) }
                short = n < buffer.count
                return n
            }
            total += n
            position += off_t(n)
            if short { break }
        }
        return WASIAbi.Size(total)
    }

    func read(into buffers: GuestBuffers) throws -> WASIAbi.Size {
        guard access.contains(.read) else { throw WASIAbi.Errno.EBADF }
        return try transfer(buffers, at: nil) { buffer, _ in Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    func pread(into buffers: GuestBuffers, offset: WASIAbi.FileSize) throws -> WASIAbi.Size {
        guard access.contains(.read) else { throw WASIAbi.Errno.EBADF }
        return try transfer(buffers, at: offset) { buffer, at in Glibc.pread(fd, buffer.baseAddress, buffer.count, at) }
    }

    func write(vectored buffers: GuestBuffers) throws -> WASIAbi.Size {
        guard access.contains(.write) else { throw WASIAbi.Errno.EBADF }
        return try transfer(buffers, at: nil) { buffer, _ in Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    func pwrite(vectored buffers: GuestBuffers, offset: WASIAbi.FileSize) throws -> WASIAbi.Size {
        guard access.contains(.write) else { throw WASIAbi.Errno.EBADF }
        return try transfer(buffers, at: offset) { buffer, at in Glibc.pwrite(fd, buffer.baseAddress, buffer.count, at) }
    }

    private static func offset(_ value: WASIAbi.FileSize) throws -> Int64 {
        guard value <= UInt64(Int64.max) else { throw WASIAbi.Errno.EINVAL }
        return Int64(value)
    }
}
