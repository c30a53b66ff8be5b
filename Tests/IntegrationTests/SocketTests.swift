// Listening sockets: declared in config.json, opened at create, served by real guests (C with
// wasi-libc, Rust std) and reached by real clients (curl, raw sockets).

import CSandbox
import Glibc
import Testing

import Foundation

/// The HTTP server guest of Tests/Guests/httpd.c, built with clang-14 and wasi-libc.
enum HttpdGuest {
    static let sourcePath = #filePath.components(separatedBy: "/Tests/")[0] + "/Tests/Guests/httpd.c"

    static let module: [UInt8] = {
        let dir = Harness.tempDir("httpd")
        defer { Harness.removeTree(dir) }
        let r = Harness.spawn([
            "/usr/bin/clang-14", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-fuse-ld=lld", "-Werror",
            "-o", dir + "/httpd.wasm", sourcePath,
        ])
        guard r.status == 0 else { fatalError("clang-14 could not build \(sourcePath): \(r.stderr)") }
        return CGuest.readBytes(dir + "/httpd.wasm")
    }()
}

/// The Rust server of Tests/Guests/httpd.rs, built with Debian's rustc and its wasm32-wasi std
/// (libstd-rust-dev-wasm32): std's TcpListener::from_raw_fd(3) and accept.
enum RustHttpdGuest {
    static let sourcePath = #filePath.components(separatedBy: "/Tests/")[0] + "/Tests/Guests/httpd.rs"

    static let module: [UInt8] = {
        let dir = Harness.tempDir("httpd-rs")
        defer { Harness.removeTree(dir) }
        let r = Harness.spawn(
            ["/usr/bin/rustc", "--target", "wasm32-wasi", "-O", "-C", "strip=debuginfo", "-o", dir + "/httpd.wasm", sourcePath],
            timeout: 300)
        guard r.status == 0 else {
            fatalError("rustc could not build \(sourcePath) (scripts/setup installs rustc and libstd-rust-dev-wasm32): \(r.stderr)")
        }
        return CGuest.readBytes(dir + "/httpd.wasm")
    }()
}

/// Tests/Guests/seccomp-calls.c built natively: which system call numbers a process's last
/// seccomp filter tests for.
enum SeccompCalls {
    static let binary: String = {
        let dir = Harness.tempDir("seccomp-calls")
        let source = #filePath.components(separatedBy: "/Tests/")[0] + "/Tests/Guests/seccomp-calls.c"
        let r = Harness.spawn(["/usr/bin/gcc", "-O2", "-o", dir + "/seccomp-calls", source])
        guard r.status == 0 else { fatalError("gcc could not build \(source): \(r.stderr)") }
        return dir + "/seccomp-calls"
    }()

    /// The x86_64 numbers of the socket calls, and of read (which every interpreter filter allows).
    static let numbers: [String: Int] = [
        "read": 0, "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47,
        "shutdown": 48, "bind": 49, "listen": 50, "getsockname": 51, "getpeername": 52, "socketpair": 53,
        "setsockopt": 54, "getsockopt": 55, "accept4": 288,
    ]

    /// The names among `numbers` that the filter of `pid` tests for.
    static func tested(by pid: pid_t) -> Set<String> {
        let byNumber = Dictionary(uniqueKeysWithValues: numbers.map { ($0.value, $0.key) })
        let r = Harness.spawn([binary, String(pid)] + numbers.values.map(String.init))
        var names: Set<String> = []
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[1] == "yes", let n = Int(parts[0]), let name = byNumber[n] { names.insert(name) }
        }
        return names
    }
}

enum Net {
    /// A TCP port free on the loopback right now.
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// A connected TCP socket to 127.0.0.1:`port`, or -1.
    static func connect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            close(fd)
            return -1
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything the peer sends until it closes (or 10 s pass).
    static func readAll(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// One request on a fresh connection, with `Connection: close`; the whole response.
    static func request(_ port: UInt16, _ request: String) -> String {
        let fd = connect(port)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        send(fd, request)
        return readAll(fd)
    }

    static func curl(_ args: [String]) -> ProcessResult {
        Harness.spawn(["/usr/bin/curl", "-sS", "--max-time", "20"] + args, timeout: 30)
    }

    /// VmRSS of process `pid`, in KiB.
    static func residentKiB(_ pid: pid_t) -> Int {
        guard let status = Harness.read("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return -1 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    /// The number of open fds of process `pid`.
    static func fdCount(_ pid: pid_t) -> Int {
        guard let d = opendir("/proc/\(pid)/fd") else { return -1 }
        defer { closedir(d) }
        var n = 0
        while readdir(d) != nil { n += 1 }
        return n - 2
    }
}

@Suite("listening sockets", .serialized, .timeLimit(.minutes(5)))
struct SocketTests {
    /// A container of the HTTP guest in the host's network namespace, its listeners declared by
    /// `declare` (as annotation or environment), created and started; `body` gets its pid, then
    /// the test asks it to quit and expects exit status 0.
    func serving(
        mode: String, port: UInt16, module: [UInt8] = HttpdGuest.module, annotation: String? = nil, environment: String? = nil, user: (UInt32, UInt32)? = nil,
        files: [String: String] = [:], _ body: (Sandbox, pid_t) throws -> Void
    ) throws {
        let box = Sandbox(module: module, args: ["/app.wasm", mode])
        Harness.mkdirs(box.rootfs + "/run")
        for (path, text) in files {
            Harness.mkdirs(box.rootfs + "/" + path.split(separator: "/").dropLast().joined(separator: "/"))
            Harness.write(box.rootfs + path, text)
        }
        var linux = box.config["linux"] as! [String: Any]
        linux["namespaces"] = ["pid", "ipc", "uts", "mount"].map { ["type": $0] }
        box.config["linux"] = linux
        if let annotation { box.config["annotations"] = ["io.runwasm.listen": annotation] }
        if let environment { box.process["env"] = ["PATH=/usr/bin:/bin", "RUNWASM_LISTEN=" + environment] }
        if let user { box.process["user"] = ["uid": user.0, "gid": user.1] }
        let id = "net-\(mode)-\(port)"
        let pid = try box.create(id)
        defer { _ = box.runwasm(["delete", "--force", id]) }
        try #require(box.runwasm(["start", id]).status == 0, "start: \(box.errors)")
        try body(box, pid)
        _ = Net.request(port, "GET /quit HTTP/1.1\r\nHost: x\r\n\r\n")
        let status = Harness.waitFor(pid, timeout: 30)
        #expect(status == 0, "server exit status \(status): \(box.errors)")
    }

    @Test("a blocking C server (wasi-libc accept, recv, send) answers curl on a listener from RUNWASM_LISTEN")
    func blockingServer() throws {
        let port = Net.freePort()
        try serving(mode: "serve", port: port, environment: "tcp:127.0.0.1:\(port)", files: ["/etc/greeting": "from the rootfs\n"]) { box, _ in
            let get = Net.curl(["http://127.0.0.1:\(port)/"])
            #expect(get.status == 0 && get.stdout == "hello\n", "GET /: \(get.status) \(get.stdout) \(get.stderr)")
            // The "/" preopen still works after the listener at fd 3: wasi-libc found it.
            let file = Net.curl(["http://127.0.0.1:\(port)/file/etc/greeting"])
            #expect(file.stdout == "from the rootfs\n", "GET /file: \(file.stdout) \(file.stderr)")
            let dir = Harness.tempDir("post")
            defer { Harness.removeTree(dir) }
            var body = [UInt8](repeating: 0, count: 60000)
            for i in body.indices { body[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
            Harness.write(dir + "/body", body)
            let post = Net.curl(["--data-binary", "@" + dir + "/body", "-o", dir + "/answer", "http://127.0.0.1:\(port)/echo"])
            #expect(post.status == 0 && CGuest.readBytes(dir + "/answer") == body, "POST /echo: \(post.stderr)")
        }
    }

    @Test("a Rust server (std TcpListener::from_raw_fd(3), accept, read, write) answers GET and POST")
    func rustServer() throws {
        let port = Net.freePort()
        try serving(mode: "serve", port: port, module: RustHttpdGuest.module, annotation: "tcp:127.0.0.1:\(port)") { _, _ in
            let get = Net.curl(["http://127.0.0.1:\(port)/"])
            #expect(get.stdout == "hello from rust\n", "GET: \(get.stdout) \(get.stderr)")
            let post = Net.curl(["-d", "posted to rust", "http://127.0.0.1:\(port)/echo"])
            #expect(post.stdout == "posted to rust", "POST: \(post.stdout) \(post.stderr)")
        }
    }

    @Test("an event-loop server (poll over non-blocking sockets, with a clock) serves IPv4, IPv6 and unix listeners from the annotation")
    func eventLoopServer() throws {
        let port = Net.freePort()
        let port6 = Net.freePort()
        try serving(
            mode: "loop", port: port, annotation: "tcp:127.0.0.1:\(port), tcp:[::1]:\(port6),unix:/run/app.sock",
            environment: "tcp:127.0.0.1:1"
        ) { box, _ in
            #expect(Net.curl(["http://127.0.0.1:\(port)/"]).stdout == "hello\n")
            let v6 = Net.curl(["-g", "http://[::1]:\(port6)/"])
            #expect(v6.stdout == "hello\n", "IPv6: \(v6.stderr)")
            let unix = Net.curl(["--unix-socket", box.rootfs + "/run/app.sock", "-d", "over unix", "http://x/echo"])
            #expect(unix.stdout == "over unix", "unix: \(unix.stderr)")
            // Several clients at once, each with its own connection.
            let clients = (0..<8).map { _ in Net.connect(port) }
            for fd in clients { Net.send(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
            for fd in clients.reversed() {
                #expect(Net.readAll(fd).hasSuffix("\r\n\r\nhello\n"))
                close(fd)
            }
        }
    }

    @Test("the guest sees its listeners at fds 3.. as stream sockets before the root preopen, with LISTEN_FDS, and gets WASI errnos for bad socket calls")
    func guestView() throws {
        let port = Net.freePort()
        let box = Sandbox(module: HttpdGuest.module, args: ["/app.wasm", "probe"])
        Harness.mkdirs(box.rootfs + "/etc")
        Harness.write(box.rootfs + "/etc/hostname-probe", "probe-ok\n")
        var linux = box.config["linux"] as! [String: Any]
        linux["namespaces"] = ["pid", "mount"].map { ["type": $0] }
        box.config["linux"] = linux
        box.config["hostname"] = nil
        box.config["annotations"] = ["io.runwasm.listen": "tcp:127.0.0.1:\(port),unix:/probe.sock"]
        let r = box.runwasm(["run", "--bundle", box.bundle, "net-probe"])
        #expect(r.status == 0, "\(box.errors)")
        let out = box.output
        #expect(out.contains("LISTEN_FDS=2 LISTEN_FDNAMES=tcp/127.0.0.1/\(port):unix//probe.sock\n"), "\(out)")
        // SOCKET_STREAM (6), blocking, with the accept right; fd_prestat_get answers a non-DIR tag.
        #expect(out.contains("fd 3: fdstat errno 0 type 6 flags 0 accept-right 1; prestat errno 0 tag 1\n"), "\(out)")
        #expect(out.contains("fd 4: fdstat errno 0 type 6 flags 0 accept-right 1; prestat errno 0 tag 1\n"), "\(out)")
        // The root directory comes after them.
        #expect(out.contains("fd 5: fdstat errno 0 type 3 flags 0 accept-right 0; prestat errno 0 tag 0\n"), "\(out)")
        #expect(out.contains("getsockopt(3, SO_TYPE): 0 type 6\n"), "\(out)")
        for line in [
            "sock_accept(stdin): errno 57",  // ENOTSOCK
            "sock_accept(99): errno 8",  // EBADF
            "sock_accept(3, bad flags): errno 28",  // EINVAL
            "set_flags(3, NONBLOCK): errno 0", "fd 3 flags now 4",
            "sock_accept(3) idle non-blocking: errno 6",  // EAGAIN
            "set_flags(3, APPEND): errno 28",
            "sock_shutdown(3, 0): errno 28",
            "sock_recv(stdin): errno 57",
            "sock_recv(3, bad flags): errno 58",  // ENOTSUP
            "sock_send(3, flags 1): errno 58",
            "file after listeners: probe-ok",
        ] {
            #expect(out.contains(line + "\n"), "missing \(line) in \(out)")
        }
    }

    @Test("sock_recv with MSG_PEEK and MSG_WAITALL, sock_shutdown of the write side, fd_fdstat_get on a connection")
    func peekWaitallShutdown() throws {
        let port = Net.freePort()
        let box = Sandbox(module: HttpdGuest.module, args: ["/app.wasm", "peek"])
        var linux = box.config["linux"] as! [String: Any]
        linux["namespaces"] = ["pid", "mount"].map { ["type": $0] }
        box.config["linux"] = linux
        box.config["hostname"] = nil
        box.process["env"] = ["RUNWASM_LISTEN=tcp:127.0.0.1:\(port)"]
        let pid = try box.create("net-peek")
        defer { _ = box.runwasm(["delete", "--force", "net-peek"]) }
        try #require(box.runwasm(["start", "net-peek"]).status == 0)
        let fd = Net.connect(port)
        try #require(fd >= 0)
        // Ten bytes in two parts: WAITALL returns only once all ten are there.
        Net.send(fd, "01234")
        usleep(100_000)
        Net.send(fd, "56789")
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        // The guest shut its write side: end of file here, while this side can still write.
        #expect(String(decoding: answer, as: UTF8.self) == "peek 5:01234 waitall 10:0123456789 type 6\n")
        let more = "after".withCString { Glibc.send(fd, $0, 5, Int32(MSG_NOSIGNAL)) }
        #expect(more == 5, "the guest's read side is still open")
        close(fd)
        #expect(Harness.waitFor(pid, timeout: 30) == 0, "\(box.errors)")
        #expect(box.output == "peer closed\n")
    }

    @Test("create fails with a clear message for a bad listener, a port in use, a privileged port or a directory the guest cannot write, and leaves nothing behind")
    func badListeners() throws {
        let busy = Net.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = busy.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        try #require(withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0)
        try #require(listen(holder, 1) == 0)
        let cases: [(annotation: String?, env: String?, user: UInt32, expect: String)] = [
            ("tcp:localhost:8080", nil, 0, "annotation io.runwasm.listen: \"tcp:localhost:8080\": localhost is not an IPv4 address"),
            (nil, "tcp:127.0.0.1:70000", 0, "process.env RUNWASM_LISTEN: \"tcp:127.0.0.1:70000\": the port must be a number from 1 to 65535"),
            ("tcp:::1:80", nil, 0, "an IPv6 address must be written in brackets"),
            ("udp:127.0.0.1:53", nil, 0, "unknown kind"),
            ("unix:run/x.sock", nil, 0, "the path must be absolute"),
            ("tcp:127.0.0.1:\(busy)", nil, 0, "cannot listen on tcp:127.0.0.1:\(busy): bind: address already in use"),
            ("tcp:127.0.0.1:80", nil, 1000, "port 80 is below net.ipv4.ip_unprivileged_port_start"),
            // The socket file is made as the guest: uid 1000 cannot create it in root's 0700 directory.
            ("unix:/private/app.sock", nil, 1000, "cannot listen on unix:/private/app.sock: bind: permission denied"),
        ]
        for c in cases {
            let box = Sandbox(module: HttpdGuest.module, args: ["/app.wasm", "serve"])
            Harness.mkdirs(box.rootfs + "/private")
            chmod(box.rootfs + "/private", 0o700)
            var linux = box.config["linux"] as! [String: Any]
            linux["namespaces"] = ["pid", "mount"].map { ["type": $0] }
            box.config["linux"] = linux
            box.config["hostname"] = nil
            if let a = c.annotation { box.config["annotations"] = ["io.runwasm.listen": a] }
            if let e = c.env { box.process["env"] = ["RUNWASM_LISTEN=" + e] }
            box.process["user"] = ["uid": c.user, "gid": c.user]
            let r = box.runwasm(["create", "--bundle", box.bundle, "net-bad"])
            #expect(r.status != 0 && box.errors.contains(c.expect), "\(c): status \(r.status), \(box.errors)")
            #expect(box.leftovers.isEmpty, "\(c): left \(box.leftovers)")
            if r.status == 0 { _ = box.runwasm(["delete", "--force", "net-bad"]) }
        }
    }

    @Test("the interpreter's seccomp filter allows socket calls to a guest with listeners, only those it needs, and none to other guests")
    func seccompSocketCalls() throws {
        #expect(Harness.exists("/usr/bin/gcc"))
        let socketCalls: Set<String> = ["accept4", "setsockopt", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown"]
        let port = Net.freePort()
        try serving(mode: "loop", port: port, environment: "tcp:127.0.0.1:\(port)") { _, pid in
            let tested = SeccompCalls.tested(by: pid)
            #expect(tested == socketCalls.union(["read"]), "socket container's filter tests \(tested.sorted())")
            // It still serves after the look (ptrace stops and resumes it).
            #expect(Net.request(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").hasSuffix("hello\n"))
        }
        let plain = Sandbox(module: Guests.spin)
        let pid = try plain.startSpinning("net-plain")
        defer {
            _ = plain.runwasm(["delete", "--force", "net-plain"])
            _ = Harness.waitFor(pid, timeout: 10)
        }
        let tested = SeccompCalls.tested(by: pid)
        #expect(tested == ["read"], "a guest without sockets: its filter tests \(tested.sorted())")
    }

    @Test("resets, half-closed connections, slow clients and 10,000 dropped connections: the server keeps answering and its fds do not grow")
    func hostilePeers() throws {
        let port = Net.freePort()
        try serving(mode: "loop", port: port, environment: "tcp:127.0.0.1:\(port)") { _, pid in
            let first = Net.request(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(first.hasSuffix("hello\n"), "first answer: \(first) errno \(errno)")
            let before = Net.fdCount(pid)
            let rssBefore = Net.residentKiB(pid)
            // A peer that resets mid-request (SO_LINGER 0, then close).
            for _ in 0..<50 {
                let fd = Net.connect(port)
                Net.send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                close(fd)
            }
            // A half-closed connection: the request, then no more writes; the answer still comes.
            let half = Net.connect(port)
            Net.send(half, "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nhalf")
            Glibc.shutdown(half, Int32(SHUT_WR))
            #expect(Net.readAll(half).hasSuffix("\r\n\r\nhalf"))
            close(half)
            // A slow client: the request a byte at a time.
            let slow = Net.connect(port)
            for byte in "GET / HTTP/1.1\r\nConnection: close\r\n\r\n" {
                Net.send(slow, String(byte))
                usleep(2000)
            }
            #expect(Net.readAll(slow).hasSuffix("hello\n"))
            close(slow)
            // 10,000 connections opened and dropped without a request.
            var connected = 0
            var failures: [Int32] = []
            for _ in 0..<10_000 {
                let fd = Net.connect(port)
                if fd >= 0 {
                    connected += 1
                    close(fd)
                } else {
                    failures.append(errno)
                }
            }
            #expect(connected == 10_000, "connect failed \(failures.count) times: \(Set(failures))")
            let last = Net.request(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(last.hasSuffix("hello\n"), "last answer: \(last) errno \(errno)")
            // Every dropped connection has been closed by the guest, and so by the host.
            #expect(Harness.eventually { Net.fdCount(pid) == before }, "fds before \(before), after \(Net.fdCount(pid))")
            // Nor does its memory grow with them (a leak of a few hundred bytes a connection would).
            #expect(Net.residentKiB(pid) - rssBefore < 4096, "VmRSS \(rssBefore) KiB before, \(Net.residentKiB(pid)) KiB after")
        }
    }
}
