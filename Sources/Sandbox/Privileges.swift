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

    /// Just before the guest runs: bounding set, user and groups, capability sets, ambient set,
    /// umask and no_new_privs, in that order (the user change would otherwise clear the sets).
    static func drop(_ security: SecurityPlan, _ caps: ResolvedCapabilities) throws {
        let maxBits = cap_value_t(cap_max_bits())
        for cap in 0..<maxBits where !caps.bounding.contains(cap) {
            guard cap_drop_bound(cap) == 0 else { throw SystemError("cap_drop_bound", "capability \(cap)") }
        }

        let user = security.user
        var groups = user.additionalGids.map { gid_t($0) }
        guard setgroups(groups.count, &groups) == 0 else { throw SystemError("setgroups", "process.user.additionalGids") }
        if user.uid != 0 || user.gid != 0 {
            try Sys.check(rw_set_keep_caps(1), "prctl(PR_SET_KEEPCAPS)")
            // setgid/setuid as root set the real, effective and saved ids alike.
            guard setgid(user.gid) == 0 else { throw SystemError("setgid", "\(user.gid)") }
            guard setuid(user.uid) == 0 else { throw SystemError("setuid", "\(user.uid)") }
            try Sys.check(rw_set_keep_caps(0), "prctl(PR_SET_KEEPCAPS)")
        }

        guard let state = cap_init() else { throw SystemError("cap_init") }
        defer { cap_free(UnsafeMutableRawPointer(state)) }
        for (flag, list) in [(CAP_EFFECTIVE, caps.effective), (CAP_PERMITTED, caps.permitted), (CAP_INHERITABLE, caps.inheritable)] where !list.isEmpty {
            guard list.withUnsafeBufferPointer({ cap_set_flag(state, flag, Int32($0.count), $0.baseAddress, CAP_SET) }) == 0 else {
                throw SystemError("cap_set_flag")
            }
        }
        guard cap_set_proc(state) == 0 else { throw SystemError("cap_set_proc", "process.capabilities") }
        _ = cap_reset_ambient()
        // The kernel raises an ambient capability only when it is permitted and inheritable;
        // like runc, skip the others (runc's own default spec lists ambient ones it cannot raise).
        for cap in caps.ambient where caps.permitted.contains(cap) && caps.inheritable.contains(cap) {
            guard cap_set_ambient(cap, CAP_SET) == 0 else { throw SystemError("cap_set_ambient", "capability \(cap)") }
        }
        if let mask = user.umask { umask(mode_t(mask)) }
        // The interpreter never execs; no_new_privs also lets it load its seccomp filters
        // after giving up CAP_SYS_ADMIN.
        try Sys.check(rw_set_no_new_privs(), "prctl(PR_SET_NO_NEW_PRIVS)")
    }
}
