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

    /// A starter `config.json`: the module `/app.wasm` in `rootfs`, in its own namespaces.
    public static func starterConfig() -> JSONValue {
        func strings(_ items: [String]) -> JSONValue { .array(items.map { .string($0) }) }
        func mount(_ dest: String, _ type: String, _ source: String, _ options: [String]) -> JSONValue {
            .object([("destination", .string(dest)), ("type", .string(type)), ("source", .string(source)), ("options", strings(options))])
        }
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
                    ("noNewPrivileges", .bool(true)),
                ])
            ),
            ("root", .object([("path", .string("rootfs")), ("readonly", .bool(true))])),
            ("hostname", .string("runwasm")),
            (
                "mounts",
                .array([
                    mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
                    mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                    mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
                    mount("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777", "size=65536k"]),
                ])
            ),
            (
                "linux",
                .object([
                    (
                        "namespaces",
                        .array(["pid", "network", "ipc", "uts", "mount", "cgroup"].map { .object([("type", .string($0))]) })
                    )
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
