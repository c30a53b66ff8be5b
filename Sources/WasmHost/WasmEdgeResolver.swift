// WasmEdge's `sock_getaddrinfo`, answered without the C library's resolver: the interpreter is a
// static binary running inside the container's root, where glibc's NSS cannot load its modules.
// What is resolved, in order:
//   - numeric IPv4 and IPv6 addresses;
//   - an empty node: the wildcard address with AI_PASSIVE, else the loopback address;
//   - names in the container's /etc/hosts (read at each call, as glibc's `files` source does);
//   - `localhost` (and `localhost.localdomain`, `ip6-localhost`) when /etc/hosts does not name it;
//   - DNS: A and AAAA queries over UDP to the nameservers of the container's /etc/resolv.conf;
// and services as decimal ports or names in the container's /etc/services. A name none of these
// knows is EAI_NONAME, WasmEdge's code 84; nameservers that do not answer, EAI_AGAIN (78).

import Glibc

struct WasmEdgeResolver {
    let memory: GuestView
    typealias Failure = WasmEdgeSockets.Failure

    /// One answer: address family (WasmEdge's 1 or 2), socket type (1 dgram, 2 stream), address.
    struct Answer: Equatable {
        var family: UInt16
        var socketType: UInt8
        var ip: [UInt8]
        var port: UInt16
    }

    /// `sock_getaddrinfo(node*, node_len, service*, service_len, hints*, res*, max_res_len, res_len*)`.
    func getaddrinfo(_ a: [UInt32]) throws {
        let node = Self.string(try memory.bytes(a[0], a[1]))
        let service = Self.string(try memory.bytes(a[2], a[3]))
        let hints = a[4]
        let flags = try memory.u16(hints)
        let family = try memory.u8(hints + 2)
        let socketType = try memory.u8(hints + 3)
        let proto = try memory.u8(hints + 4)
        let resultPointer = a[5], maximum = a[6], countPointer = a[7]
        try memory.check(countPointer, 4)

        if node.isEmpty && service.isEmpty { throw WasmEdgeSockets.Failure.eaiNoName }
        if maximum < 1 { throw WasmEdgeSockets.Failure.eaiMemory }
        // AI_PASSIVE 1, CANONNAME 2, NUMERICHOST 4, NUMERICSERV 8, V4MAPPED 16, ALL 32, ADDRCONFIG 64.
        if flags & ~UInt16(0x7f) != 0 || (flags & 2 != 0 && node.isEmpty) { throw WasmEdgeSockets.Failure.eaiBadFlags }
        guard family <= 2 else { throw WasmEdgeSockets.Failure.eaiFamily }
        guard socketType <= 2 else { throw WasmEdgeSockets.Failure.eaiSockType }
        guard proto <= 2 else { throw WasmEdgeSockets.Failure.eaiSockType }

        let port = try Self.port(service, numericOnly: flags & 8 != 0, datagram: socketType == 1 || proto == 2)
        let ips = try Self.addresses(node, passive: flags & 1 != 0, numericOnly: flags & 4 != 0, family: family)
        var types: [UInt8] = socketType != 0 ? [socketType] : proto == 1 ? [2] : proto == 2 ? [1] : [2, 1]
        if proto == 1 { types = types.filter { $0 == 2 } }
        if proto == 2 { types = types.filter { $0 == 1 } }
        guard !types.isEmpty else { throw WasmEdgeSockets.Failure.eaiSockType }
        var answers: [Answer] = []
        for ip in ips {
            for t in types { answers.append(Answer(family: ip.count == 4 ? 1 : 2, socketType: t, ip: ip, port: port)) }
        }
        guard !answers.isEmpty else { throw WasmEdgeSockets.Failure.eaiNoName }

        // The guest's chain of pre-allocated `__wasi_addrinfo_t` (28 bytes each), from `*res`.
        var entry = try memory.u32(resultPointer)
        var written: UInt32 = 0
        for answer in answers.prefix(Int(maximum)) {
            if written > 0 {
                entry = try memory.u32(entry &+ 24)  // ai_next of the previous entry
                if entry == 0 { break }
            }
            try write(answer, flags: flags, at: entry)
            written += 1
        }
        try memory.setU32(countPointer, written)
    }

    /// Fills the `__wasi_addrinfo_t` at `entry` and the sockaddr and sa_data it points to.
    private func write(_ answer: Answer, flags: UInt16, at entry: UInt32) throws {
        try memory.check(entry, 28)
        try memory.setU16(entry, flags)
        try memory.write(entry + 2, [UInt8(answer.family), answer.socketType, answer.socketType == 2 ? 1 : 2])
        let v4 = answer.family == 1
        try memory.setU32(entry + 8, v4 ? 16 : 28)  // ai_addrlen: the host sockaddr's size
        try memory.setU32(entry + 20, 0)  // ai_canonname_len: no canonical names
        let sockaddr = try memory.u32(entry + 12)
        try memory.check(sockaddr, 12)
        try memory.write(sockaddr, [UInt8(answer.family)])
        // sa_data: the host sockaddr from its port on: port (network order), then for IPv4 the
        // address and 8 zero bytes (14), for IPv6 flowinfo, address and scope id (26).
        let port = [UInt8(answer.port >> 8), UInt8(answer.port & 0xff)]
        let data = v4 ? port + answer.ip + [UInt8](repeating: 0, count: 8) : port + [0, 0, 0, 0] + answer.ip + [0, 0, 0, 0]
        try memory.setU32(sockaddr + 4, UInt32(data.count))
        try memory.write(try memory.u32(sockaddr + 8), data)
    }

    /// A guest string given as (pointer, length), up to its first NUL (the crate counts one).
    static func string(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func port(_ service: String, numericOnly: Bool, datagram: Bool) throws -> UInt16 {
        if service.isEmpty { return 0 }
        if service.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let p = Int(service), p <= 0xffff else { throw WasmEdgeSockets.Failure.eaiService }
            return UInt16(p)
        }
        if numericOnly { throw WasmEdgeSockets.Failure.eaiNoName }
        let proto = datagram ? "udp" : "tcp"
        for line in lines(of: "/etc/services") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            let pp = fields[1].split(separator: "/")
            guard pp.count == 2, pp[1] == proto, let p = UInt16(pp[0]) else { continue }
            if fields[0] == service || fields.dropFirst(2).contains(where: { $0 == service }) { return p }
        }
        throw WasmEdgeSockets.Failure.eaiService
    }

    /// The addresses of `node` (4 or 16 bytes each) of the requested family (0 any, 1 IPv4, 2 IPv6).
    static func addresses(_ node: String, passive: Bool, numericOnly: Bool, family: UInt8) throws -> [[UInt8]] {
        func wanted(_ ip: [UInt8]) -> Bool { family == 0 || (family == 1) == (ip.count == 4) }
        if node.isEmpty {
            let v4: [UInt8] = passive ? [0, 0, 0, 0] : [127, 0, 0, 1]
            let v6: [UInt8] = passive ? [UInt8](repeating: 0, count: 16) : [UInt8](repeating: 0, count: 15) + [1]
            return [v4, v6].filter(wanted)
        }
        if let ip = numeric(node) {
            guard wanted(ip) else { throw WasmEdgeSockets.Failure.eaiNoName }
            return [ip]
        }
        if numericOnly { throw WasmEdgeSockets.Failure.eaiNoName }
        let name = node.lowercased()
        var found: [[UInt8]] = []
        for line in lines(of: "/etc/hosts") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let ip = numeric(String(fields[0])) else { continue }
            if fields.dropFirst().contains(where: { $0.lowercased() == name }), wanted(ip), !found.contains(ip) {
                found.append(ip)
            }
        }
        if found.isEmpty && ["localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"].contains(name) {
            found = [[127, 0, 0, 1], [UInt8](repeating: 0, count: 15) + [1]].filter(wanted)
        }
        if found.isEmpty { found = try DNSQuery.addresses(of: name, family: family) }
        guard !found.isEmpty else { throw WasmEdgeSockets.Failure.eaiNoName }
        return found
    }

    static func numeric(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    /// The lines of a file of the container (at most 1 MiB), comments removed; none when it
    /// cannot be read.
    static func lines(of path: String) -> [Substring] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line in
            line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
    }
}

/// A DNS client of the smallest kind: one question (A or AAAA) a datagram, to each nameserver of
/// the container's /etc/resolv.conf in turn, two tries of two seconds each; the addresses of the
/// answer section. No search domains, no TCP fallback (a truncated answer gives what it holds).
enum DNSQuery {
    typealias Failure = WasmEdgeSockets.Failure

    static func addresses(of name: String, family: UInt8) throws -> [[UInt8]] {
        let servers = WasmEdgeResolver.lines(of: "/etc/resolv.conf").compactMap { line -> [UInt8]? in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0] == "nameserver" else { return nil }
            return WasmEdgeResolver.numeric(String(f[1]))
        }.prefix(3)
        guard !servers.isEmpty, let question = encode(name) else { return [] }
        let types: [UInt16] = family == 1 ? [1] : family == 2 ? [28] : [1, 28]
        var answered = false
        for server in servers {
            var found: [[UInt8]] = []
            answered = false
            for type in types {
                guard let addresses = ask(server, question: question, type: type) else { continue }
                answered = true
                found += addresses
            }
            if answered { return found }
        }
        throw Failure(code: 78)  // EAI_AGAIN: no nameserver answered
    }

    /// The question's name in DNS labels; nil for a name DNS cannot carry.
    static func encode(_ name: String) -> [UInt8]? {
        var out: [UInt8] = []
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count < 64 else { return nil }
            out += [UInt8(bytes.count)] + bytes
        }
        out.append(0)
        return out.count <= 255 ? out : nil
    }

    /// One query of `type` to `server`: the addresses answered (none for NXDOMAIN or no such
    /// record), or nil when the server does not answer.
    static func ask(_ server: [UInt8], question: [UInt8], type: UInt16) -> [[UInt8]]? {
        let address = SocketAddress(family: server.count == 4 ? SocketAddress.inet4 : SocketAddress.inet6, ip: server, port: 53)
        let fd = Glibc.socket(server.count == 4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        guard address.withSockaddr({ Glibc.connect(fd, $0, $1) }) == 0 else { return nil }
        var id: UInt16
        id = UInt16.random(in: 0...UInt16.max)
        let query = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0] + question + [UInt8(type >> 8), UInt8(type & 0xff), 0, 1]
        for _ in 0..<2 {
            _ = query.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + 2
            while true {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
                if left <= 0 { break }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, Int32(left * 1000) + 1)
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { break }
                var reply = [UInt8](repeating: 0, count: 4096)
                let n = reply.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
                // Nothing listens there (the kernel's ICMP port unreachable): the next server.
                if n < 0 && errno == ECONNREFUSED { return nil }
                if n < 12 { continue }
                if let addresses = parse(Array(reply[0..<n]), id: id, type: type) { return addresses }
            }
        }
        return nil
    }

    /// The addresses of `type` in a reply to query `id`; nil when it is not such a reply.
    static func parse(_ m: [UInt8], id: UInt16, type: UInt16) -> [[UInt8]]? {
        func u16(_ i: Int) -> Int? { i + 1 < m.count ? Int(m[i]) << 8 | Int(m[i + 1]) : nil }
        /// The offset after a name at `i` (labels, ending in 0 or a compression pointer).
        func skipName(_ i: Int) -> Int? {
            var i = i
            while i < m.count {
                let len = Int(m[i])
                if len == 0 { return i + 1 }
                if len & 0xc0 == 0xc0 { return i + 2 }
                i += 1 + len
            }
            return nil
        }
        guard u16(0) == Int(id), m[2] & 0x80 != 0, let qd = u16(4), let an = u16(6) else { return nil }
        let rcode = m[3] & 0x0f
        if rcode == 3 { return [] }  // NXDOMAIN
        if rcode != 0 { return nil }
        var i = 12
        for _ in 0..<qd {
            guard let after = skipName(i) else { return nil }
            i = after + 4
        }
        var out: [[UInt8]] = []
        for _ in 0..<an {
            guard let after = skipName(i), let t = u16(after), let c = u16(after + 2), let length = u16(after + 8) else { break }
            let data = after + 10
            guard data + length <= m.count else { break }
            if t == Int(type) && c == 1 && length == (type == 1 ? 4 : 16) { out.append(Array(m[data..<data + length])) }
            i = data + length
        }
        return out
    }
}
