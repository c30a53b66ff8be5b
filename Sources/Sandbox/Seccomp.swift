// Seccomp, two layers, both compiled to BPF by libseccomp at `create` and loaded just before
// `_start`: the config's profile as given, and runwasm's own filter for the interpreter, which
// is the same whatever the config says.

import CSandbox
import Glibc
import OCI

public struct SeccompProgram: Sendable {
    /// struct sock_filter[], as the kernel takes it.
    public var bpf: [UInt8]
    /// SECCOMP_FILTER_FLAG_* bits.
    public var flags: UInt32

    /// Loads the filter into the calling thread. no_new_privs (or CAP_SYS_ADMIN) must be set.
    public func load() throws {
        try Sys.check(bpf.withUnsafeBytes { rw_seccomp_load($0.baseAddress, $0.count, flags) }, "seccomp", "load filter")
    }
}

public enum Seccomp {
    /// What the WasmKit interpreter and its WASI host call once the guest runs (measured with
    /// strace over file, directory, clock, random, poll, memory-growth and trap probes), plus the
    /// calls of its exit and error paths. Everything else traps, and the SIGSYS handler reports
    /// the call and stops the container with status 159.
    public static let interpreterAllowList = [
        // memory
        "brk", "mmap", "munmap", "mprotect", "madvise", "mremap",
        // files, through WASI's preopened root
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek", "close",
        "openat", "openat2", "newfstatat", "fstatfs", "fstat", "statx", "getdents64", "mkdirat", "unlinkat", "renameat", "renameat2",
        "symlinkat", "readlinkat", "utimensat", "fsync", "fdatasync", "ftruncate", "fcntl", "fadvise64",
        // clocks, sleep, poll, random
        "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep", "nanosleep", "poll", "ppoll",
        "getrandom", "sched_yield",
        // threads' bookkeeping, signals and exit
        "futex", "gettid", "getpid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
        "restart_syscall", "exit", "exit_group",
    ]

    /// What the interpreter calls on the guest's sockets (sock_accept and the TCP_NODELAY it sets,
    /// sock_recv, sock_send, sock_shutdown, fd_read and fd_write on a connection): allowed only
    /// for a container whose guest has sockets (listeners declared, or the module imports socket
    /// calls).
    public static let socketCalls = ["accept4", "setsockopt", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown"]

    /// What WasmEdge's socket calls add (sock_open, sock_bind, sock_connect, sock_listen, the
    /// address and option calls, and sock_getaddrinfo's DNS questions): allowed, with
    /// `socketCalls`, only for a guest whose module imports one of them.
    public static let wasmEdgeSocketCalls = ["socket", "bind", "connect", "listen", "getsockname", "getpeername", "getsockopt"]

    /// ioctl is allowed only for these requests on a terminal: TCGETS and TIOCGWINSZ.
    static let allowedIoctls: [UInt64] = [0x5401, 0x5413]

    /// Compiles the config's profile.
    public static func compile(_ plan: SeccompPlan) throws -> SeccompProgram {
        guard let ctx = seccomp_init(action(plan.defaultAction)) else { throw RuntimeError("linux.seccomp: seccomp_init failed") }
        defer { seccomp_release(ctx) }
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for arch in plan.architectures {
            let token = seccomp_arch_resolve_name(arch)
            guard token != 0 else { throw RuntimeError("linux.seccomp.architectures: libseccomp does not know \(arch)") }
            let rc = seccomp_arch_add(ctx, token)
            if rc < 0 && rc != -EEXIST { throw SystemError("seccomp_arch_add", arch, errno: -rc) }
        }
        for (index, rule) in plan.rules.enumerated() where rule.action != plan.defaultAction {
            let ruleAction = action(rule.action)
            for name in rule.names {
                let nr = seccomp_syscall_resolve_name(name)
                // Profiles list calls that some architectures or kernels lack; like runc, skip them.
                if nr == __NR_SCMP_ERROR { continue }
                let comparisons = rule.args.map {
                    scmp_arg_cmp(arg: $0.index, op: compare($0.op), datum_a: $0.value, datum_b: $0.valueTwo)
                }
                // Several conditions on the same argument cannot be ANDed: each becomes its own rule.
                let indices = Set(rule.args.map(\.index))
                let groups = indices.count == comparisons.count ? [comparisons] : comparisons.map { [$0] }
                for group in groups {
                    let rc = group.withUnsafeBufferPointer {
                        seccomp_rule_add_array(ctx, ruleAction, nr, UInt32($0.count), $0.baseAddress)
                    }
                    if rc < 0 {
                        throw RuntimeError("linux.seccomp.syscalls[\(index)]: \(name): libseccomp refused the rule: \(Sys.errorString(-rc))")
                    }
                }
            }
        }
        return SeccompProgram(bpf: try export(ctx), flags: plan.flags)
    }

    /// What the interpreter itself calls to run at all, whatever the guest does: memory, locks,
    /// signals, exit, the `write` and `close` of start's reply, and `seccomp`, which loads
    /// runwasm's own filter after the config's. A subset of `interpreterAllowList`, whose other
    /// calls (files, clocks, poll, random) are made on the guest's behalf through WASI: a profile
    /// may deny those, and the guest then sees the error or is stopped by the SIGSYS report.
    public static let interpreterOwnCalls = [
        "brk", "mmap", "munmap", "mprotect", "madvise", "mremap", "futex", "gettid", "getpid", "rt_sigaction",
        "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall", "write", "close", "exit", "exit_group", "seccomp",
    ]

    /// Refuses a config profile that denies a call of `interpreterOwnCalls` (the interpreter
    /// would otherwise die of the failure, often with SIGSEGV and no message). Only what the
    /// profile decides unconditionally is judged: a call's rule without argument conditions,
    /// else the default action. A call the profile names only in rules with argument conditions
    /// is let through: which arguments the interpreter passes is not known here (none of
    /// Docker's, containerd's or podman's profiles has such a rule for these calls). ALLOW and
    /// LOG let a call run; ERRNO, TRACE (no tracer: ENOSYS), TRAP and KILL do not.
    public static func checkInterpreterNeeds(_ plan: SeccompPlan) throws {
        func lets(_ action: SeccompAction) -> Bool { action == .allow || action == .log }
        for name in interpreterOwnCalls where seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR {
            let rules = plan.rules.filter { $0.names.contains(name) }
            let action: SeccompAction
            if let unconditional = rules.first(where: { $0.args.isEmpty }) {
                action = unconditional.action
            } else if rules.isEmpty {
                action = plan.defaultAction
            } else {
                continue
            }
            guard lets(action) else {
                throw RuntimeError("config.json: linux.seccomp: the profile denies \(name), which the WebAssembly interpreter needs")
            }
        }
    }

    /// runwasm's own filter: default trap, only `interpreterAllowList` and the terminal ioctls,
    /// and `socketCalls` when `sockets`, and also `wasmEdgeSocketCalls` when `wasmEdgeSockets`.
    public static func interpreterFilter(sockets: Bool = false, wasmEdgeSockets: Bool = false) throws -> SeccompProgram {
        guard let ctx = seccomp_init(SCMP_ACT_TRAP) else { throw RuntimeError("seccomp_init failed") }
        defer { seccomp_release(ctx) }
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        for name in interpreterAllowList + (sockets || wasmEdgeSockets ? socketCalls : []) + (wasmEdgeSockets ? wasmEdgeSocketCalls : []) {
            let nr = seccomp_syscall_resolve_name(name)
            if nr == __NR_SCMP_ERROR { continue }
            let rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 0, nil)
            if rc < 0 { throw SystemError("seccomp_rule_add", name, errno: -rc) }
        }
        let ioctl = seccomp_syscall_resolve_name("ioctl")
        for request in allowedIoctls {
            var cmp = scmp_arg_cmp(arg: 1, op: SCMP_CMP_MASKED_EQ, datum_a: 0xffff_ffff, datum_b: request)
            let rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, ioctl, 1, &cmp)
            if rc < 0 { throw SystemError("seccomp_rule_add", "ioctl", errno: -rc) }
        }
        return SeccompProgram(bpf: try export(ctx), flags: 0)
    }

    private static func export(_ ctx: scmp_filter_ctx) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 8 * 4096 + 8)
        let n = buffer.withUnsafeMutableBytes { rw_seccomp_export(ctx, $0.baseAddress, $0.count) }
        try Sys.check(n, "seccomp_export_bpf")
        return Array(buffer[0..<n])
    }

    private static func action(_ a: SeccompAction) -> UInt32 {
        switch a {
        case .killThread: return SCMP_ACT_KILL_THREAD
        case .killProcess: return SCMP_ACT_KILL_PROCESS
        case .trap: return SCMP_ACT_TRAP
        case .errno(let code): return rw_scmp_act_errno(code)
        case .trace(let code): return rw_scmp_act_trace(code)
        case .allow: return SCMP_ACT_ALLOW
        case .log: return SCMP_ACT_LOG
        }
    }

    private static func compare(_ op: SeccompOperator) -> scmp_compare {
        switch op {
        case .notEqual: return SCMP_CMP_NE
        case .lessThan: return SCMP_CMP_LT
        case .lessOrEqual: return SCMP_CMP_LE
        case .equal: return SCMP_CMP_EQ
        case .greaterOrEqual: return SCMP_CMP_GE
        case .greaterThan: return SCMP_CMP_GT
        case .maskedEqual: return SCMP_CMP_MASKED_EQ
        }
    }
}
