// Capabilities (libcap), the user, no_new_privs, rlimits and the OOM score: what the container
// process gives up before the guest runs.

import CSandbox
import Glibc
import OCI

/// Capability sets resolved to numbers at `create`, so that a bad name fails early.
public struct ResolvedCapabilities: Sendable {
    var bounding: [cap_value_t] = []
    var effective: [cap_value_t] = []
    var inheritable: [cap_value_t] = []
    var permitted: [cap_value_t] = []
    var ambient: [cap_value_t] = []
}

public enum Privileges {
    /// Every capability libcap knows on this kernel, as CAP_* names (for `features`).
    public static func knownCapabilityNames() -> [String] {
        (0..<cap_value_t(cap_max_bits())).compactMap { cap in
            guard let name = cap_to_name(cap) else { return nil }
            defer { cap_free(name) }
            let text = String(cString: name).uppercased()
            return text.hasPrefix("CAP_") ? text : nil
        }
    }

    public static func resolve(_ plan: CapabilitiesPlan) throws -> ResolvedCapabilities {
        func values(_ names: [String], _ field: String) throws -> [cap_value_t] {
            try names.enumerated().map { i, name in
                var value: cap_value_t = 0
                guard cap_from_name(name.lowercased(), &value) == 0 else {
                    throw RuntimeError("config.json: process.capabilities.\(field)[\(i)]: unknown capability \"\(name)\"")
                }
                return value
            }
        }
        var r = ResolvedCapabilities()
        r.bounding = try values(plan.bounding, "bounding")
        r.effective = try values(plan.effective, "effective")
        r.inheritable = try values(plan.inheritable, "inheritable")
        r.permitted = try values(plan.permitted, "permitted")
        r.ambient = try values(plan.ambient, "ambient")
        try checkGrantable(r, plan)
        return r
    }

    /// Refuses, at create, a capability the container is to hold (effective, permitted or
    /// inheritable) that this process's bounding set lacks, or that this kernel does not know:
    /// the kernel would refuse it only at start (cap_set_proc: EPERM), after create reported
    /// success. A bounding set may list such capabilities: dropping them is a no-op, as with runc.
    /// (Ambient capabilities are raised only when permitted and inheritable, so they are covered.)
    static func checkGrantable(_ r: ResolvedCapabilities, _ plan: CapabilitiesPlan) throws {
        for (field, values, names) in [
            ("effective", r.effective, plan.effective), ("permitted", r.permitted, plan.permitted),
            ("inheritable", r.inheritable, plan.inheritable),
        ] {
            for (i, cap) in values.enumerated() {
                let bound = cap_get_bound(cap)
                if bound > 0 { continue }
                let what = "config.json: process.capabilities.\(field)[\(i)]: \(names[i])"
                if bound < 0 {
                    throw RuntimeError("\(what) is not a capability of this kernel (its last is \(lastCapability()))")
                }
                throw RuntimeError("\(what) is not in runwasm's bounding set on this host, so the container cannot have it")
            }
        }
    }

    /// The highest capability number this kernel knows.
    static func lastCapability() -> cap_value_t {
        var cap = cap_value_t(0)
        while cap < 64 && cap_get_bound(cap + 1) >= 0 { cap += 1 }
        return cap
    }

    /// The home directory of `uid` in the container's /etc/passwd (read after pivot_root), or
    /// `/` when it has none, as runc sets HOME. A passwd that is not a regular file is not read.
    public static func homeDirectory(uid: UInt32) -> String {
        guard let fd = try? Sys.open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY) else { return "/" }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let bytes = try? Sys.readAll(fd, limit: 16 << 20) else {
            return "/"
        }
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            // name:password:uid:gid:gecos:home:shell
            let fields = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard fields.count >= 6, UInt32(String(decoding: fields[2], as: UTF8.self)) == uid else { continue }
            let home = String(decoding: fields[5], as: UTF8.self)
            return home.isEmpty ? "/" : home
        }
        return "/"
    }

    /// `process.rlimits`, for this process and what it starts.
    static func applyRlimits(_ rlimits: [RlimitPlan]) throws {
        for limit in rlimits {
            var value = rlimit(rlim_cur: rlim_t(limit.soft), rlim_max: rlim_t(limit.hard))
            guard setrlimit(__rlimit_resource_t(UInt32(limit.resource)), &value) == 0 else {
                throw SystemError("setrlimit", "process.rlimits resource \(limit.resource)")
            }
        }
    }

    /// `process.oomScoreAdj`, through /proc/self (the host's /proc, before pivot_root).
    static func applyOOMScoreAdj(_ adj: Int?) throws {
        guard let adj else { return }
        let fd = try Sys.open("/proc/self/oom_score_adj", O_WRONLY)
        defer { close(fd) }
        try Sys.writeAll(fd, Array(String(adj).utf8), what: "/proc/self/oom_score_adj")
    }

    /// Just before the guest runs: the credentials a real execve would leave (see
    /// `CapabilityTransition`): bounding set, user and groups, capability sets, ambient set, umask
    /// and no_new_privs, in that order (the user change would otherwise clear the sets).
    /// As runc does before it changes user: stdio (the pty slave, or whatever the caller passed)
    /// is given to the process's uid, keeping its group (`tty`'s for a devpts slave mounted with
    /// gid=5) and mode; /dev/null is left alone, and so is a file the namespace cannot chown
    /// (EINVAL, EPERM, EROFS).
    static func giveStdioTo(uid: UInt32) throws {
        var null = stat()
        let haveNull = stat("/dev/null", &null) == 0
        for fd: Int32 in [0, 2, 1] {
            var st = stat()
            guard fstat(fd, &st) == 0 else { continue }
            if st.st_uid == uid || (haveNull && st.st_rdev == null.st_rdev) { continue }
            if fchown(fd, uid, st.st_gid) != 0 && ![EINVAL, EPERM, EROFS].contains(errno) {
                throw SystemError("fchown", "stdio fd \(fd) to uid \(uid)")
            }
        }
    }

    static func drop(_ security: SecurityPlan, _ caps: ResolvedCapabilities) throws {
        let maxBits = cap_value_t(cap_max_bits())
        for cap in 0..<maxBits where !caps.bounding.contains(cap) {
            guard cap_drop_bound(cap) == 0 else { throw SystemError("cap_drop_bound", "capability \(cap)") }
        }

        let user = security.user
        try giveStdioTo(uid: user.uid)
        var groups = user.additionalGids.map { gid_t($0) }
        guard setgroups(groups.count, &groups) == 0 else { throw SystemError("setgroups", "process.user.additionalGids") }
        if user.uid != 0 || user.gid != 0 {
            try Sys.check(rw_set_keep_caps(1), "prctl(PR_SET_KEEPCAPS)")
            // setgid/setuid as root set the real, effective and saved ids alike.
            guard setgid(user.gid) == 0 else { throw SystemError("setgid", "\(user.gid)") }
            guard setuid(user.uid) == 0 else { throw SystemError("setuid", "\(user.uid)") }
            try Sys.check(rw_set_keep_caps(0), "prctl(PR_SET_KEEPCAPS)")
        }

        // What runc's process holds just before its execve: the config's sets, set with capset
        // (whose rules the config must meet, as runc's must), the ambient ones the kernel lets
        // it raise (runc skips the others), and the bounding set as it now is.
        guard let current = cap_get_proc() else { throw SystemError("cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        func has(_ flag: cap_flag_t, _ cap: cap_value_t) -> Bool {
            var value = CAP_CLEAR
            return cap_get_flag(current, cap, flag, &value) == 0 && value == CAP_SET
        }
        let all = Array(0..<maxBits)
        var before = CapabilitySets()
        before.bounding = Set(all.filter { cap_get_bound($0) == 1 })
        before.permitted = Set(caps.permitted)
        before.effective = Set(caps.effective)
        before.inheritable = Set(caps.inheritable)
        before.ambient = Set(caps.ambient).intersection(before.permitted).intersection(before.inheritable)
        let held = Set(all.filter { has(CAP_PERMITTED, $0) })
        let heldInheritable = Set(all.filter { has(CAP_INHERITABLE, $0) })
        for (field, ok) in [
            ("effective", before.effective.isSubset(of: before.permitted)),
            ("permitted", before.permitted.isSubset(of: held)),
            ("inheritable", before.inheritable.isSubset(of: heldInheritable.union(before.bounding))),
        ] where !ok {
            throw SystemError("capset", "process.capabilities.\(field)", errno: EPERM)
        }

        let securebits = rw_get_securebits()
        try Sys.check(securebits, "prctl(PR_GET_SECUREBITS)")
        let root = (getuid() == 0 || geteuid() == 0) && securebits & 1 /* SECBIT_NOROOT */ == 0
        var after = CapabilityTransition.execve(before, root: root, noNewPrivileges: security.noNewPrivileges)
        // Never more than this process holds (only possible when runwasm itself runs with fewer
        // permitted capabilities than its bounding set).
        after.permitted.formIntersection(held)
        after.effective.formIntersection(held)

        guard let state = cap_init() else { throw SystemError("cap_init") }
        defer { cap_free(UnsafeMutableRawPointer(state)) }
        for (flag, set) in [(CAP_EFFECTIVE, after.effective), (CAP_PERMITTED, after.permitted), (CAP_INHERITABLE, after.inheritable)] where !set.isEmpty {
            let list = set.sorted()
            guard list.withUnsafeBufferPointer({ cap_set_flag(state, flag, Int32($0.count), $0.baseAddress, CAP_SET) }) == 0 else {
                throw SystemError("cap_set_flag")
            }
        }
        guard cap_set_proc(state) == 0 else { throw SystemError("cap_set_proc", "process.capabilities") }
        _ = cap_reset_ambient()
        for cap in after.ambient.sorted() {
            guard cap_set_ambient(cap, CAP_SET) == 0 else { throw SystemError("cap_set_ambient", "capability \(cap)") }
        }
        // runc sets 0022 when the config has no umask, whatever its caller's was.
        umask(mode_t(user.umask ?? 0o022))
        // As runc: no_new_privs now only when the config asks for it, so that startContainer
        // hooks run with the config's setting; the interpreter sets it before its own filter.
        if security.noNewPrivileges { try setNoNewPrivileges() }
    }

    /// The interpreter never execs; no_new_privs also lets it load its seccomp filters after
    /// giving up CAP_SYS_ADMIN.
    static func setNoNewPrivileges() throws {
        try Sys.check(rw_set_no_new_privs(), "prctl(PR_SET_NO_NEW_PRIVS)")
    }

    /// The rest of the virtual execve, after `drop` and before the seccomp filters: what
    /// /proc/PID/cmdline, environ and comm show, and the signal dispositions and mask, as an
    /// execve of `process.args[0]` would leave them. SIGTERM, SIGINT and SIGHUP keep runwasm's
    /// handlers, and SIGPIPE stays ignored until `restoreSIGPIPE`, once the start handshake is over.
    static func presentAsGuest(_ plan: ContainerPlan) throws {
        // execve names the process after the last component of the file it ran (15 bytes).
        let base = plan.args[0].split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? plan.args[0]
        try Sys.check(rw_set_process_name(base), "prctl(PR_SET_NAME)")

        let args = nulTerminated(plan.args)
        let env = nulTerminated(plan.env)
        let set = rw_set_command_line(args, args.count, env, env.count)
        // Then the caller's command line and environment leave this process's memory too. If the
        // kernel refused the new areas, they are overwritten in place with as much of the
        // guest's as fits (the rest zeros): nothing of the caller's stays either way.
        let scrub = set == 0
            ? rw_overwrite_original_command_line(nil, 0, nil, 0)
            : rw_overwrite_original_command_line(args, args.count, env, env.count)
        try Sys.check(scrub, "clear", "the caller's command line and environment")

        // A change of user made the process non-dumpable (its /proc/PID files root's, not
        // ptraceable by its user); execve of a readable file makes it dumpable again.
        try Sys.check(rw_set_dumpable(1), "prctl(PR_SET_DUMPABLE)")

        let keep = [SIGTERM, SIGINT, SIGHUP, SIGPIPE]
        try Sys.check(rw_default_signals_except(keep, keep.count), "sigaction", "default signal dispositions")
    }

    /// Each string followed by a NUL, as execve lays out argv and envp.
    private static func nulTerminated(_ strings: [String]) -> [CChar] {
        var bytes: [CChar] = []
        for string in strings {
            bytes += string.utf8.map { CChar(bitPattern: $0) }
            bytes.append(0)
        }
        return bytes
    }

    /// The guest's SIGPIPE is the default one (or ignored, if runwasm's caller ignored it), as
    /// after execve: the start handshake (which must
    /// not be ended by a caller that went away) is over. A config's seccomp profile that denies
    /// rt_sigaction leaves it ignored.
    static func restoreSIGPIPE() {
        _ = signal(SIGPIPE, rw_signal_was_ignored(SIGPIPE) == 1 ? SIG_IGN : SIG_DFL)
    }
}

/// The capability sets of a process, as numbers.
struct CapabilitySets: Equatable {
    var bounding: Set<cap_value_t> = []
    var effective: Set<cap_value_t> = []
    var permitted: Set<cap_value_t> = []
    var inheritable: Set<cap_value_t> = []
    var ambient: Set<cap_value_t> = []
}

/// runc sets the config's capability sets with capset and then calls execve; the kernel then
/// transforms them (security/commoncap.c, man 7 capabilities, "Transformation of capabilities
/// during execve()"). runwasm never execs, so it sets the result itself. For a file with no file
/// capabilities and no set-user-ID or set-group-ID bit:
/// - ambient, inheritable and bounding sets are kept (ambient ⊆ permitted ∩ inheritable already);
/// - a non-root process (and root under SECBIT_NOROOT): permitted = effective = ambient;
/// - root (real or effective uid 0 in its user namespace): the file counts as having every
///   capability permitted and inheritable, and effective: permitted = bounding ∪ inheritable ∪
///   ambient, effective = permitted. Under no_new_privs a gain is refused: permitted is first
///   limited to what the process held (the kernel's "downgrade"), then ambient is added.
enum CapabilityTransition {
    static func execve(_ before: CapabilitySets, root: Bool, noNewPrivileges: Bool) -> CapabilitySets {
        var after = before
        if root {
            var permitted = before.bounding.union(before.inheritable)
            if noNewPrivileges && !permitted.isSubset(of: before.permitted) {
                permitted.formIntersection(before.permitted)
            }
            after.permitted = permitted.union(before.ambient)
            after.effective = after.permitted
        } else {
            after.permitted = before.ambient
            after.effective = before.ambient
        }
        return after
    }
}
