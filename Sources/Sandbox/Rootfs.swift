// The container's file system: mount propagation, the rootfs bound onto itself, the config's
// mounts (targets resolved inside the rootfs, so a symlink in the image cannot redirect a mount
// onto the host), default devices, pivot_root, a read-only root and the hostname.

import CSandbox
import Glibc
import OCI

enum Rootfs {
    /// Everything before pivot_root, run in the container's new mount namespace. `cgroup` is the
    /// container's own cgroup, the only one a cgroup mount shows.
    /// `bindSources`: detached copies of bind sources (by mount index) the parent made.
    static func prepare(_ plan: ContainerPlan, cgroup: Cgroup?, bindSources: [Int: Int32] = [:]) throws {
        // linux.rootfsPropagation (rslave by default) on the whole tree, as runc applies it: with
        // the default nothing mounted from here on propagates back to the host; `rshared` keeps
        // the host's shared mounts shared (CRI's Bidirectional mounts).
        try mount(nil, "/", nil, plan.rootPropagation, what: "/ (linux.rootfsPropagation)")
        // pivot_root refuses a new root whose parent mount is shared: make the mount that holds
        // the rootfs private (in this namespace only), as runc does.
        try makeParentMountPrivate(of: plan.rootfs)
        // pivot_root needs the new root to be a mount point.
        try mount(plan.rootfs, plan.rootfs, nil, MountFlags.bind | MountFlags.rec, what: plan.rootfs)

        let root = try Sys.open(plan.rootfs, Int32(RW_O_PATH) | O_DIRECTORY)
        defer { close(root) }
        for (index, m) in plan.mounts.enumerated() {
            do {
                if m.type == "cgroup" || m.type == "cgroup2" {
                    try mountCgroup(m, root: root, cgroup: cgroup, newNamespace: plan.namespace(.cgroup) != nil)
                } else {
                    try mountOne(m, root: root, sourceFD: bindSources[index], treePropagation: plan.rootPropagation)
                }
            } catch {
                throw RuntimeError("mounts[\(index)] (\(m.destination)): \(error)")
            }
        }
        if plan.mounts.contains(where: { $0.destination == "/dev" }) {
            try makeDefaultDevices(root: root, hasDevpts: plan.mounts.contains { $0.destination == "/dev/pts" })
        }
        // runc makes no device nodes when /dev is a bind mount of the host's.
        if !plan.mounts.contains(where: { $0.destination == "/dev" && $0.isBind }) {
            for (index, device) in plan.devices.enumerated() {
                do { try makeDevice(device, root: root) } catch { throw RuntimeError("linux.devices[\(index)] (\(device.path)): \(error)") }
            }
        }
        for path in plan.security.readonlyPaths { try makeReadOnly(path, root: root) }
        for path in plan.security.maskedPaths { try mask(path, root: root) }
        // Namespaced sysctls: /proc/sys resolves to this process's namespaces.
        for (key, value) in plan.security.sysctl {
            let path = "/proc/sys/" + String(key.map { $0 == "." ? "/" : $0 })
            let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError("open", "linux.sysctl \(key)") }
            defer { close(fd) }
            try Sys.writeAll(fd, Array(value.utf8), what: "linux.sysctl \(key)")
        }
    }

    /// linux.readonlyPaths: the path bound onto itself, read-only. Missing paths are skipped.
    private static func makeReadOnly(_ path: String, root: Int32) throws {
        let fd = rw_open_in_root(root, path, Int32(RW_O_PATH))
        if fd == -ENOENT { return }
        try Sys.check(fd, "open", "linux.readonlyPaths \(path)")
        defer { close(fd) }
        try mount(fdPath(fd), fdPath(fd), nil, MountFlags.bind | MountFlags.rec, what: "\(path) (read-only path)")
        let mounted = try resolve(path, in: root)
        defer { close(mounted) }
        var vfs = statvfs()
        let kept = fstatvfs(mounted, &vfs) == 0 ? lockedFlags(vfs.f_flag) : 0
        try mount(nil, fdPath(mounted), nil, MountFlags.bind | MountFlags.remount | MountFlags.rdonly | kept, what: "\(path) (read-only path)")
    }

    /// linux.maskedPaths: a directory gets an empty read-only tmpfs, a file /dev/null bound on it.
    private static func mask(_ path: String, root: Int32) throws {
        let fd = rw_open_in_root(root, path, Int32(RW_O_PATH))
        if fd == -ENOENT { return }
        try Sys.check(fd, "open", "linux.maskedPaths \(path)")
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat", path) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try mount("tmpfs", fdPath(fd), "tmpfs", MountFlags.rdonly, data: "size=0", what: "\(path) (masked)")
        } else {
            // The container's own /dev/null, as runc binds it (its /dev is set up by now); the
            // host's where the container has none.
            let null = rw_open_in_root(root, "/dev/null", Int32(RW_O_PATH))
            defer { if null >= 0 { close(null) } }
            var nst = stat()
            let own = null >= 0 && fstat(null, &nst) == 0 && (nst.st_mode & S_IFMT) == S_IFCHR && nst.st_rdev == deviceNumber(1, 3)
            try mount(own ? fdPath(null) : "/dev/null", fdPath(fd), nil, MountFlags.bind, what: "\(path) (masked)")
        }
    }

    /// pivot_root into the rootfs and detach the old root, leaving nothing of the host visible.
    static func pivot(_ plan: ContainerPlan) throws {
        let oldRoot = try Sys.open("/", O_RDONLY | O_DIRECTORY)
        defer { close(oldRoot) }
        let fd = try Sys.open(plan.rootfs, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        guard fchdir(fd) == 0 else { throw SystemError("fchdir", plan.rootfs) }
        try Sys.check(rw_pivot_root(".", "."), "pivot_root", plan.rootfs)
        // The old root now sits on top of the new one. It may hold shared mounts (rootfsPropagation
        // shared): made a slave (it alone, through its own descriptor, not the new root under
        // it), its unmount does not propagate to the host.
        guard fchdir(oldRoot) == 0 else { throw SystemError("fchdir", "old root") }
        try mount(nil, ".", nil, MountFlags.slave | MountFlags.rec, what: "old root (make it a slave)")
        guard umount2(".", Int32(MNT_DETACH)) == 0 else { throw SystemError("umount2", "old root") }
        guard chdir("/") == 0 else { throw SystemError("chdir", "/") }
    }

    /// After pivot_root: a read-only root and the hostname.
    static func finish(_ plan: ContainerPlan) throws {
        if let dev = plan.mounts.last(where: { $0.destination == "/dev" }), !dev.isBind, dev.flags & MountFlags.rdonly != 0 {
            try mount(nil, "/dev", nil, dev.flags | MountFlags.remount, what: "/dev (read-only)")
        }
        if plan.rootReadonly {
            var vfs = statvfs()
            let kept = statvfs("/", &vfs) == 0 ? lockedFlags(vfs.f_flag) : 0
            try mount(nil, "/", nil, MountFlags.bind | MountFlags.remount | MountFlags.rdonly | kept, what: "/ (read-only)")
        }
        if let hostname = plan.hostname {
            guard sethostname(hostname, hostname.utf8.count) == 0 else { throw SystemError("sethostname", hostname) }
        }
        if let domainname = plan.domainname {
            guard setdomainname(domainname, domainname.utf8.count) == 0 else {
                throw SystemError("setdomainname", domainname)
            }
        }
    }

    // MARK: - Mounts

    private static func mount(_ source: String?, _ target: String, _ type: String?, _ flags: UInt, data: String? = nil, what: String) throws {
        let r = Glibc.mount(source, target, type, flags, data)
        if r != 0 { throw SystemError("mount", what) }
    }

    /// `/proc/self/fd/N` of an Int32(RW_O_PATH) fd for `path` resolved inside `root`.
    private static func resolve(_ path: String, in root: Int32) throws -> Int32 {
        try Sys.check(rw_open_in_root(root, path, Int32(RW_O_PATH)), "open", path)
    }

    private static func fdPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    private static func mountOne(_ m: MountPlan, root: Int32, sourceFD: Int32? = nil, treePropagation: UInt = 0) throws {
        let source = m.source
        let type = m.type
        let flags = m.flags
        let isBind = flags & MountFlags.bind != 0
        var sourceIsDirectory = true
        if isBind {
            var st = stat()
            let found = sourceFD.map { fstat($0, &st) } ?? stat(source, &st)
            guard found == 0 else { throw SystemError("stat", "source \(source)") }
            sourceIsDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        }
        if type == "proc" || type == "sysfs" { try requireOrdinaryDirectory(m.destination, type: type, root: root) }
        // The mode of the directory the image has at a tmpfs's destination goes onto the tmpfs,
        // as runc does (a destination runwasm creates keeps the tmpfs's own mode).
        var coveredMode: mode_t?
        if !isBind && type == "tmpfs" {
            let existing = rw_open_in_root(root, m.destination, Int32(RW_O_PATH))
            if existing >= 0 {
                var st = stat()
                if fstat(existing, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { coveredMode = st.st_mode & 0o7777 }
                close(existing)
            }
        }
        try makeTarget(m.destination, directory: sourceIsDirectory, root: root)
        let target = try resolve(m.destination, in: root)
        defer { close(target) }
        if isBind {
            if let sourceFD {
                try Sys.check(rw_move_mount(sourceFD, target), "move_mount", "\(source) on \(m.destination)")
                // The copy was taken from the host's tree, which linux.rootfsPropagation (rslave by
                // default) never reached: give it that propagation, as a bind from the container's
                // own tree would have.
                let moved = try resolve(m.destination, in: root)
                defer { close(moved) }
                try mount(nil, fdPath(moved), nil, treePropagation, what: "\(m.destination) (linux.rootfsPropagation)")
            } else {
                try mount(source, fdPath(target), nil, flags & (MountFlags.bind | MountFlags.rec), what: "\(source) on \(m.destination)")
            }
            let extra = flags & ~(MountFlags.bind | MountFlags.rec | MountFlags.remount)
            if extra != 0 {
                // Bind mounts take their flags on a remount of the new mount, not the target below it.
                let mounted = try resolve(m.destination, in: root)
                defer { close(mounted) }
                var vfs = statvfs()
                let kept = fstatvfs(mounted, &vfs) == 0 ? lockedFlags(vfs.f_flag) : 0
                try mount(nil, fdPath(mounted), nil, MountFlags.bind | MountFlags.remount | extra | kept, what: "\(m.destination) (remount)")
            }
        } else {
            // A read-only tmpfs (and /dev) is mounted writable first, as runc mounts it: /dev
            // gets its devices and submount points and becomes read-only after pivot_root
            // (`finish`); any other tmpfs right away.
            let later = flags & MountFlags.rdonly != 0 && (type == "tmpfs" || m.destination == "/dev")
            // With tmpcopyup, the image's contents at the destination are read through a
            // descriptor taken before the tmpfs covers them.
            let under = m.copyUp && coveredMode != nil
                ? try Sys.check(open(fdPath(target), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open", "\(m.destination) (tmpcopyup)") : -1
            defer { if under >= 0 { close(under) } }
            try mount(
                source, fdPath(target), type, later ? flags & ~MountFlags.rdonly : flags, data: m.data.isEmpty ? nil : m.data,
                what: "\(type) on \(m.destination)")
            if let coveredMode {
                let mounted = try Sys.check(rw_open_in_root(root, m.destination, O_RDONLY | O_DIRECTORY), "open", m.destination)
                defer { close(mounted) }
                if under >= 0 { try TreeCopy.contents(of: under, into: mounted, what: "\(m.destination) (tmpcopyup)") }
                guard fchmod(mounted, coveredMode) == 0 else { throw SystemError("chmod", "\(m.destination) (tmpfs)") }
            }
            if later && m.destination != "/dev" {
                let mounted = try resolve(m.destination, in: root)
                defer { close(mounted) }
                try mount(nil, fdPath(mounted), nil, flags | MountFlags.remount, what: "\(m.destination) (read-only)")
            }
        }
        if m.recursiveSet != 0 || m.recursiveClear != 0 {
            let mounted = try resolve(m.destination, in: root)
            defer { close(mounted) }
            let r = rw_mount_setattr_recursive(mounted, m.recursiveSet, m.recursiveClear)
            if r == -ENOSYS {
                throw RuntimeError("recursive mount options (rro, rnosuid…) need mount_setattr (Linux 5.12 or later)")
            }
            try Sys.check(r, "mount_setattr", "\(m.destination) (recursive options)")
        }
        if m.propagation != 0 {
            let mounted = try resolve(m.destination, in: root)
            defer { close(mounted) }
            try mount(nil, fdPath(mounted), nil, m.propagation, what: "\(m.destination) (propagation)")
        }
    }

    /// runc mounts proc and sysfs only on a real directory (or a missing one it creates), never
    /// through a symlink or onto a file in the image.
    private static func requireOrdinaryDirectory(_ destination: String, type: String, root: Int32) throws {
        let parentPath = destination.split(separator: "/").dropLast().joined(separator: "/")
        let parent = rw_open_in_root(root, "/" + parentPath, Int32(RW_O_PATH))
        if parent == -ENOENT { return }
        try Sys.check(parent, "open", "/" + parentPath)
        defer { close(parent) }
        let name = String(destination.split(separator: "/").last ?? "")
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return }
            throw SystemError("stat", destination)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw RuntimeError("filesystem \"\(type)\" must be mounted on ordinary directory (\(destination) is not one)")
        }
    }

    /// The mount that holds `path` (the longest mount point above it, or itself), made private if
    /// it is shared.
    private static func makeParentMountPrivate(of path: String) throws {
        guard let info = try? Sys.readFile("/proc/self/mountinfo") else { return }
        var best: (point: String, shared: Bool)?
        for line in String(decoding: info, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 6, let dash = fields.firstIndex(of: "-") else { continue }
            let point = unescapeMountPath(String(fields[4]))
            guard point == "/" || path == point || path.hasPrefix(point + "/") else { continue }
            if let b = best, b.point.count >= point.count { continue }
            best = (point, fields[6..<dash].contains { $0.hasPrefix("shared:") })
        }
        if let best, best.shared {
            try mount(nil, best.point, nil, MountFlags.private, what: "\(best.point) (private, the rootfs's parent mount)")
        }
    }

    /// mountinfo's octal escapes (`\040` for a space).
    private static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A `linux.devices` node: mknod with the config's type, numbers and mode, then its owner;
    /// where mknod is refused (a user namespace) the host's node at the same path is bound on
    /// an empty file, as runc does.
    private static func makeDevice(_ d: DevicePlan, root: Int32) throws {
        let parts = d.path.split(separator: "/").map(String.init)
        let parentPath = "/" + parts.dropLast().joined(separator: "/")
        try makeTarget(parentPath, directory: true, root: root)
        let parent = try resolve(parentPath, in: root)
        defer { close(parent) }
        let name = parts.last!
        let kind: mode_t
        switch d.type {
        case "b": kind = mode_t(S_IFBLK)
        case "p": kind = mode_t(S_IFIFO)
        default: kind = mode_t(S_IFCHR)
        }
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            // Something of the image's is there: replace it (a directory cannot be).
            guard (st.st_mode & S_IFMT) != S_IFDIR else { throw RuntimeError("\(d.path) is a directory") }
            guard unlinkat(parent, name, 0) == 0 else { throw SystemError("unlink", d.path) }
        }
        if mknodat(parent, name, kind | mode_t(d.mode), deviceNumber(d.major, d.minor)) == 0 {
            guard fchmodat(parent, name, mode_t(d.mode), 0) == 0 else { throw SystemError("chmod", d.path) }
            guard fchownat(parent, name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw SystemError("chown", d.path) }
        } else if errno == EPERM {
            let file = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard file >= 0 else { throw SystemError("create", d.path) }
            defer { close(file) }
            try mount(d.path, fdPath(file), nil, MountFlags.bind, what: d.path)
        } else {
            throw SystemError("mknod", d.path)
        }
    }

    /// A `cgroup`/`cgroup2` mount shows the container its own cgroup and nothing of the host's
    /// tree, as runc does. cgroup v2: a fresh cgroup2 mount in a new cgroup namespace (rooted at
    /// the container's cgroup), else the container's cgroup directory bound on the target. v1: a
    /// tmpfs holding, per hierarchy, the container's cgroup directory bound under the hierarchy's
    /// name (`memory`, `cpu,cpuacct` with `cpu` and `cpuacct` links, `systemd`). Every bind is
    /// remounted with the mount's flags, so `ro` holds for each hierarchy, not just the top.
    private static func mountCgroup(_ m: MountPlan, root: Int32, cgroup: Cgroup?, newNamespace: Bool) throws {
        try makeTarget(m.destination, directory: true, root: root)
        let target = try resolve(m.destination, in: root)
        defer { close(target) }
        let flags = m.flags & ~(MountFlags.bind | MountFlags.rec | MountFlags.remount)
        guard let cgroup else {
            // No cgroup of its own (cannot happen for a created container): show an empty tree.
            try mount("tmpfs", fdPath(target), "tmpfs", flags, data: "size=0", what: "tmpfs on \(m.destination)")
            return
        }
        func bindReadOnly(_ dir: String, on fd: Int32, what: String) throws {
            try mount(dir, fdPath(fd), nil, MountFlags.bind, what: "\(dir) on \(what)")
            let mounted = try resolve(what, in: root)
            defer { close(mounted) }
            try mount(nil, fdPath(mounted), nil, MountFlags.bind | MountFlags.remount | flags, what: "\(what) (remount)")
        }
        switch cgroup.version {
        case .v2:
            if newNamespace {
                try mount("cgroup2", fdPath(target), "cgroup2", flags, what: "cgroup2 on \(m.destination)")
            } else {
                try bindReadOnly(cgroup.directories[""]!, on: target, what: m.destination)
            }
        case .v1:
            try mount("tmpfs", fdPath(target), "tmpfs", MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec, data: "mode=755", what: "tmpfs on \(m.destination)")
            let top = try resolve(m.destination, in: root)
            defer { close(top) }
            // The unified hierarchy of a hybrid host ("") is not shown, as runc shows none.
            for (controllers, dir) in cgroup.directories.sorted(by: { $0.key < $1.key }) where !controllers.isEmpty {
                // The hierarchy's mount point on the host ends in its name; the cgroup is below it.
                let hierarchyRoot = cgroup.path == "/" ? dir : String(dir.dropLast(cgroup.path.count))
                let name = String(hierarchyRoot.split(separator: "/").last ?? Substring(controllers))
                guard mkdirat(top, name, 0o755) == 0 || errno == EEXIST else { throw SystemError("mkdir", "\(m.destination)/\(name)") }
                let sub = try resolve(m.destination + "/" + name, in: root)
                defer { close(sub) }
                try bindReadOnly(dir, on: sub, what: m.destination + "/" + name)
                for controller in controllers.split(separator: ",") where controller != Substring(name) && !controller.hasPrefix("name=") {
                    _ = symlinkat(name, top, String(controller))
                }
            }
            if flags & MountFlags.rdonly != 0 {
                try mount(nil, fdPath(top), nil, MountFlags.remount | MountFlags.rdonly | MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec, what: "\(m.destination) (read-only)")
            }
        }
    }

    /// Flags a bind remount must keep or the kernel refuses it (they may be locked).
    private static func lockedFlags(_ vfsFlags: UInt) -> UInt {
        var flags: UInt = 0
        if vfsFlags & UInt(RW_ST_NOSUID) != 0 { flags |= MountFlags.nosuid }
        if vfsFlags & UInt(RW_ST_NODEV) != 0 { flags |= MountFlags.nodev }
        if vfsFlags & UInt(RW_ST_NOEXEC) != 0 { flags |= MountFlags.noexec }
        if vfsFlags & UInt(RW_ST_RDONLY) != 0 { flags |= MountFlags.rdonly }
        return flags
    }

    /// Creates the mount point (a directory, or an empty file for a file bind mount) and its
    /// parents inside `root`, each step resolved inside it.
    private static func makeTarget(_ destination: String, directory: Bool, root: Int32) throws {
        let parts = destination.split(separator: "/").map(String.init)
        var current = ""
        for (i, part) in parts.enumerated() {
            let path = current + "/" + part
            let fd = rw_open_in_root(root, path, Int32(RW_O_PATH))
            if fd >= 0 {
                close(fd)
            } else if fd == -ENOENT {
                let parent = try resolve(current.isEmpty ? "/" : current, in: root)
                defer { close(parent) }
                let last = i == parts.count - 1
                if last && !directory {
                    let created = openat(parent, part, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    guard created >= 0 else { throw SystemError("create", path) }
                    close(created)
                } else if mkdirat(parent, part, 0o755) != 0 && errno != EEXIST {
                    throw SystemError("mkdir", path)
                }
            } else {
                throw SystemError("open", path, errno: -fd)
            }
            current = path
        }
    }

    private static func makeDefaultDevices(root: Int32, hasDevpts: Bool) throws {
        let dev = try resolve("/dev", in: root)
        defer { close(dev) }
        let devices: [(String, UInt32, UInt32)] = [
            ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
        ]
        for (name, major, minor) in devices {
            if mknodat(dev, name, mode_t(S_IFCHR) | mode_t(0o666), deviceNumber(major, minor)) == 0 {
                _ = fchmodat(dev, name, 0o666, 0)
            } else if errno == EPERM {
                // In a user namespace device nodes cannot be made: bind the host's instead.
                let file = openat(dev, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard file >= 0 else { throw SystemError("create", "/dev/\(name)") }
                defer { close(file) }
                try mount("/dev/\(name)", fdPath(file), nil, MountFlags.bind, what: "/dev/\(name)")
            } else if errno != EEXIST {
                throw SystemError("mknod", "/dev/\(name)")
            }
        }
        var links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]
        if hasDevpts { links.append(("ptmx", "pts/ptmx")) }
        for (name, target) in links {
            if symlinkat(target, dev, name) != 0 && errno != EEXIST { throw SystemError("symlink", "/dev/\(name)") }
        }
    }

    /// The kernel's encoding of a device number (glibc's makedev, a macro Swift cannot call).
    private static func deviceNumber(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = UInt64(major), mi = UInt64(minor)
        return dev_t(((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff))
    }
}
