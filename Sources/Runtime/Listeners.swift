// Listening sockets declared for a container: the annotation `io.runwasm.listen`, or, when the
// config has none, `RUNWASM_LISTEN` in process.env. The value is a comma-separated list of
// `tcp:HOST:PORT` (an IPv4 address or `[IPv6]`) and `unix:PATH` (an absolute path inside the
// container). runwasm opens them at create, in the container's network namespace and after
// pivot_root, and the guest finds them at fds 3, 4, … with LISTEN_FDS and LISTEN_FDNAMES.

import CSandbox
import Glibc
import OCI
import Sandbox

struct ListenerSpec: Equatable, Sendable {
    enum Address: Equatable, Sendable {
        /// `bytes` is the address in network order: 4 bytes, or 16 for IPv6.
        case tcp(bytes: [UInt8], port: UInt16)
        case unix(path: String)
    }

    var address: Address
    /// As written in the declaration, for messages.
    var text: String

    /// The name in LISTEN_FDNAMES: the declaration with `:` (which systemd's names cannot hold)
    /// written as `/`: `tcp/0.0.0.0/8080`, `unix//run/app.sock`.
    var name: String { String(text.map { $0 == ":" ? "/" : $0 }) }
}

enum Listeners {
    static let annotation = "io.runwasm.listen"
    static let variable = "RUNWASM_LISTEN"
    /// The most listeners one container may declare.
    static let maximum = 64
    static let backlog: Int32 = 1024

    /// Where the declaration came from and what it says; empty when the config declares none.
    static func declared(_ plan: ContainerPlan) throws -> (source: String, specs: [ListenerSpec]) {
        if let value = plan.annotations[annotation] {
            let source = "annotation \(annotation)"
            return (source, try parse(value, source: source))
        }
        if let value = plan.environment[variable] {
            let source = "process.env \(variable)"
            return (source, try parse(value, source: source))
        }
        return ("", [])
    }

    static func parse(_ value: String, source: String) throws -> [ListenerSpec] {
        let items = value.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed }
        if items.count == 1 && items[0].isEmpty { return [] }
        guard items.count <= maximum else {
            throw RuntimeError("\(source): \(items.count) listeners declared; at most \(maximum) are allowed")
        }
        var specs: [ListenerSpec] = []
        for item in items {
            let spec = try parseOne(item, source: source)
            if specs.contains(where: { $0.address == spec.address }) {
                throw RuntimeError("\(source): \(item) is declared twice")
            }
            specs.append(spec)
        }
        return specs
    }

    private static func parseOne(_ item: String, source: String) throws -> ListenerSpec {
        func bad(_ why: String) -> RuntimeError {
            RuntimeError("\(source): \"\(item)\": \(why) (expected tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:/PATH)")
        }
        if item.isEmpty { throw bad("empty entry") }
        if item.hasPrefix("unix:") {
            let path = String(item.dropFirst(5))
            guard path.hasPrefix("/") else { throw bad("the path must be absolute, inside the container") }
            guard !path.utf8.contains(0) else { throw bad("the path contains a NUL byte") }
            // sun_path holds 108 bytes with the terminating NUL.
            guard path.utf8.count < 108 else { throw bad("the path is longer than a unix socket address allows (107 bytes)") }
            return ListenerSpec(address: .unix(path: path), text: item)
        }
        guard item.hasPrefix("tcp:") else { throw bad("unknown kind") }
        let rest = item.dropFirst(4)
        guard let colon = rest.lastIndex(of: ":") else { throw bad("no port") }
        var host = String(rest[..<colon])
        let portText = rest[rest.index(after: colon)...]
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), port >= 1, port <= 65535
        else { throw bad("the port must be a number from 1 to 65535") }
        var bytes: [UInt8]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw bad("an IPv6 address must be written in brackets") }
            host = String(host.dropFirst().dropLast())
            bytes = [UInt8](repeating: 0, count: 16)
            guard inet_pton(AF_INET6, host, &bytes) == 1 else { throw bad("\(host) is not an IPv6 address") }
        } else {
            bytes = [UInt8](repeating: 0, count: 4)
            guard !host.contains(":") else { throw bad("an IPv6 address must be written in brackets") }
            guard inet_pton(AF_INET, host, &bytes) == 1 else {
                throw bad("\(host.isEmpty ? "the host is empty" : "\(host) is not an IPv4 address"); names are not resolved")
            }
        }
        return ListenerSpec(address: .tcp(bytes: bytes, port: UInt16(port)), text: item)
    }

    /// LISTEN_FDS and LISTEN_FDNAMES for `specs`, replacing any the environment has.
    static func environment(_ environment: [String], adding specs: [ListenerSpec]) -> [String] {
        guard !specs.isEmpty else { return environment }
        let kept = environment.filter { !$0.hasPrefix("LISTEN_FDS=") && !$0.hasPrefix("LISTEN_FDNAMES=") }
        return kept + ["LISTEN_FDS=\(specs.count)", "LISTEN_FDNAMES=" + specs.map(\.name).joined(separator: ":")]
    }

    /// Opens, binds and listens on each, in the calling process's network namespace and root,
    /// as the guest could: a port below net.ipv4.ip_unprivileged_port_start needs
    /// CAP_NET_BIND_SERVICE in the guest's effective set, and a unix socket is made with the
    /// guest's uid and gid. Returns the fds in order; on failure closes those made.
    static func open(_ specs: [ListenerSpec], source: String, plan: ContainerPlan) throws -> [Int32] {
        var fds: [Int32] = []
        do {
            for spec in specs { fds.append(try open(spec, source: source, plan: plan)) }
        } catch {
            for fd in fds { close(fd) }
            throw error
        }
        return fds
    }

    private static func open(_ spec: ListenerSpec, source: String, plan: ContainerPlan) throws -> Int32 {
        func failure(_ what: String, _ code: Int32) -> RuntimeError {
            RuntimeError("\(source): cannot listen on \(spec.text): \(what): \(Sys.errorString(code).lowercased())")
        }
        switch spec.address {
        case .tcp(let bytes, let port):
            let start = unprivilegedPortStart()
            if Int(port) < start && !plan.security.capabilities.effective.contains("CAP_NET_BIND_SERVICE") {
                throw RuntimeError(
                    "\(source): cannot listen on \(spec.text): port \(port) is below net.ipv4.ip_unprivileged_port_start (\(start)) "
                        + "and the process has no CAP_NET_BIND_SERVICE in process.capabilities.effective")
            }
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw failure("socket", errno) }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let rc: Int32
            if family == AF_INET {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
                rc = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            } else {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
                rc = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
            if rc != 0 {
                let code = errno
                close(fd)
                throw failure("bind", code)
            }
            guard listen(fd, backlog) == 0 else {
                let code = errno
                close(fd)
                throw failure("listen", code)
            }
            return fd
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw failure("socket", errno) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
            func bindAsGuest() -> Int32 {
                let user = plan.security.user
                return rw_bind_unix_as(fd, path, user.uid, user.gid)
            }
            var rc = bindAsGuest()
            if rc == -EADDRINUSE && isStaleSocket(path, address: address, length: length) {
                // A socket file nobody listens on, left by an earlier run: replaced, as servers do.
                unlink(path)
                rc = bindAsGuest()
            }
            if rc < 0 {
                close(fd)
                throw failure("bind", -rc)
            }
            guard listen(fd, backlog) == 0 else {
                let code = errno
                close(fd)
                throw failure("listen", code)
            }
            return fd
        }
    }

    /// Whether `path` is a unix socket that refuses connections (no one listens on it).
    private static func isStaleSocket(_ path: String, address: sockaddr_un, length: socklen_t) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { return false }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        var address = address
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) }
        }
        return rc != 0 && errno == ECONNREFUSED
    }

    /// net.ipv4.ip_unprivileged_port_start of the calling process's network namespace (1024
    /// when /proc/sys cannot be read).
    static func unprivilegedPortStart() -> Int {
        let fd = Glibc.open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 1024 }
        defer { close(fd) }
        guard let bytes = try? Sys.readAll(fd, limit: 64, what: "ip_unprivileged_port_start"),
            let value = Int(String(decoding: bytes, as: UTF8.self).trimmed)
        else { return 1024 }
        return value
    }
}

extension String {
    fileprivate var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s.removeLast() }
        return String(s)
    }
}
