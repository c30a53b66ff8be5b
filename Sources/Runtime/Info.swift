// `--version`, `features` and `spec`: what runwasm is and supports, and a starter config.

import Glibc
import OCI
import Sandbox
import WasmHost

public enum Info {
    public static let version = "0.1.0"

    /// runc's layout: callers read the first line (`<name> version X`) and the `commit:` line.
    public static var versionText: String {
        """
        runwasm version \(version)
        commit: none
        spec: \(ContainerState.ociVersion)
        wasmkit: \(PreparedGuest.wasmKitVersion)

        """
    }

    /// The runtime-spec features document, listing only what runwasm honours.
    public static var featuresJSON: String {
        let namespaces = NamespaceKind.allCases.filter { $0 != .time }.map(\.rawValue).sorted()
        func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        let hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
        let doc: JSONValue = .object([
            ("ociVersionMin", .string(ContainerPlan.ociVersionMin)),
            ("ociVersionMax", .string(ContainerPlan.ociVersionMax)),
            ("hooks", .array(hooks.map { .string($0) })),
            ("mountOptions", .array(ContainerPlan.mountOptionNames.map { .string($0) })),
            (
                "linux",
                .object([
                    ("namespaces", .array(namespaces.map { .string($0) })),
                    ("capabilities", strings(Privileges.knownCapabilityNames())),
                    (
                        "cgroup",
                        .object([
                            ("v1", .bool(true)), ("v2", .bool(true)), ("systemd", .bool(false)),
                            ("systemdUser", .bool(false)), ("rdma", .bool(false)),
                        ])
                    ),
                    (
                        "seccomp",
                        .object([
                            ("enabled", .bool(true)),
                            ("actions", strings(SeccompPlan.supportedActions)),
                            ("operators", strings(SeccompPlan.supportedOperators)),
                            ("archs", strings(SeccompPlan.supportedArchitectures)),
                            ("knownFlags", strings(SeccompPlan.supportedFlags)),
                            ("supportedFlags", strings(SeccompPlan.supportedFlags)),
                        ])
                    ),
                    ("apparmor", .object([("enabled", .bool(false))])),
                    ("selinux", .object([("enabled", .bool(false))])),
                    ("intelRdt", .object([("enabled", .bool(false))])),
                    ("mountExtensions", .object([("idmap", .object([("enabled", .bool(false))]))])),
                ])
            ),
            (
                "annotations",
                .object([
                    ("dev.runwasm.version", .string(version)),
                    ("dev.runwasm.wasm", .string("true")),
                    ("dev.runwasm.wasi", .string("preview1")),
                    ("dev.runwasm.wasmkit.version", .string(PreparedGuest.wasmKitVersion)),
                    // Where validated modules are recorded by default (--module-cache, RUNWASM_MODULE_CACHE).
                    ("dev.runwasm.module-cache", .string(ModuleCache.defaultDirectory)),
                    ("org.opencontainers.runc.checkpoint.enabled", .string("false")),
                ])
            ),
            (
                "potentiallyUnsafeConfigAnnotations",
                .array([.string("run.oci.handler"), .string("module.wasm.image/variant")])
            ),
        ])
        return doc.indented() + "\n"
    }

    /// A starter `config.json`: what `runc spec` (1.1.5) writes, confinement included (the
    /// default capabilities, NOFILE 1024, noNewPrivileges, its mounts and namespaces, masked and
    /// read-only paths, among them /proc/sys), with these differences: the module `/app.wasm`
    /// instead of `sh`; no terminal (and so no `TERM`), so that it runs without a console socket;
    /// runwasm's ociVersion and hostname; and no `linux.resources.devices` deny-all rule, which
    /// runwasm cannot apply on cgroup v2 (Docs/security.md).
    public static func starterConfig() -> JSONValue {
        func strings(_ items: [String]) -> JSONValue { .array(items.map { .string($0) }) }
        func mount(_ dest: String, _ type: String, _ source: String, _ options: [String]) -> JSONValue {
            var members: [(String, JSONValue)] = [("destination", .string(dest)), ("type", .string(type)), ("source", .string(source))]
            if !options.isEmpty { members.append(("options", strings(options))) }
            return .object(members)
        }
        let capabilities = strings(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        return .object([
            ("ociVersion", .string(ContainerState.ociVersion)),
            (
                "process",
                .object([
                    ("terminal", .bool(false)),
                    ("user", .object([("uid", .int(0)), ("gid", .int(0))])),
                    ("args", strings(["/app.wasm"])),
                    ("env", strings(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])),
                    ("cwd", .string("/")),
                    (
                        "capabilities",
                        .object([
                            ("bounding", capabilities), ("effective", capabilities), ("permitted", capabilities),
                            ("ambient", capabilities),
                        ])
                    ),
                    ("rlimits", .array([.object([("type", .string("RLIMIT_NOFILE")), ("hard", .int(1024)), ("soft", .int(1024))])])),
                    ("noNewPrivileges", .bool(true)),
                ])
            ),
            ("root", .object([("path", .string("rootfs")), ("readonly", .bool(true))])),
            ("hostname", .string("runwasm")),
            (
                "mounts",
                .array([
                    mount("/proc", "proc", "proc", []),
                    mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                    mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
                    mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                    mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
                    mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
                    mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
                ])
            ),
            (
                "linux",
                .object([
                    ("namespaces", .array(["pid", "network", "ipc", "uts", "mount"].map { .object([("type", .string($0))]) })),
                    (
                        "maskedPaths",
                        strings([
                            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                        ])
                    ),
                    ("readonlyPaths", strings(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])),
                ])
            ),
        ])
    }

    /// Writes the starter config into `bundle`; refuses to overwrite one.
    public static func writeSpec(bundle: String) throws {
        let path = Runtime.absolute(bundle) + "/config.json"
        if Sys.exists(path) { throw RuntimeError("File \(path) exists. Remove it first") }
        try Sys.writeFileAtomically(path, Array((starterConfig().indented() + "\n").utf8), mode: 0o666 & ~currentUmask())
    }

    private static func currentUmask() -> mode_t {
        let mask = umask(0o022)
        umask(mask)
        return mask
    }
}
