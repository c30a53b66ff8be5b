// Listening sockets under the real callers: ctr (a private containerd, its runc v2 shim, and a
// network namespace the test makes with a veth pair, as CNI would) and podman (CNI bridge, -p
// port mapping) and Docker (a private dockerd, host network). curl on the host reaches the Wasm
// server.

import Foundation
import Glibc
import Testing

@Suite("listening sockets under containerd, podman and Docker", .serialized, .timeLimit(.minutes(5)))
struct NetworkEngineTests {
    /// A network namespace joined to the host by a veth pair: the host side has 10.231.N.1, the
    /// namespace side `podIP` (10.231.N.2), as a CNI bridge would give a pod.
    final class PodNetwork {
        let name: String
        let hostSide: String
        let podIP: String

        init() throws {
            let n = getpid() % 250 + 1
            name = "rwnet\(getpid())"
            hostSide = "rwv\(getpid())"
            podIP = "10.231.\(n).2"
            let inside = hostSide + "c"
            let steps: [[String]] = [
                ["/usr/sbin/ip", "netns", "add", name],
                ["/usr/sbin/ip", "link", "add", hostSide, "type", "veth", "peer", "name", inside],
                ["/usr/sbin/ip", "link", "set", inside, "netns", name],
                ["/usr/sbin/ip", "addr", "add", "10.231.\(n).1/30", "dev", hostSide],
                ["/usr/sbin/ip", "link", "set", hostSide, "up"],
                ["/usr/sbin/ip", "-n", name, "addr", "add", podIP + "/30", "dev", inside],
                ["/usr/sbin/ip", "-n", name, "link", "set", inside, "up"],
                ["/usr/sbin/ip", "-n", name, "link", "set", "lo", "up"],
            ]
            for step in steps { try EngineTests.run(step) }
        }

        var path: String { "/var/run/netns/" + name }

        deinit {
            _ = Harness.spawn(["/usr/sbin/ip", "link", "del", hostSide])
            _ = Harness.spawn(["/usr/sbin/ip", "netns", "del", name])
        }
    }

    @Test("ctr run: the server listens on the pod IP of its network namespace (annotation and environment) and curl on the host reaches it")
    func containerd() throws {
        try EngineTests.require(["/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/umoci", "/usr/bin/curl"])
        let dir = Harness.tempDir("ctr-net")
        defer { Harness.removeTree(dir) }
        let daemon = try EngineTests.startContainerd(dir)
        defer { EngineTests.stop(daemon) }
        let net = try PodNetwork()

        let ns = "rwnet\(getpid())"
        let ctr = ["/usr/bin/ctr", "--address", dir + "/containerd.sock", "--namespace", ns]
        let runc = ["--runc-binary", Harness.binary]
        let tar = try EngineTests.image(dir, ref: "httpd", files: ["/httpd.wasm": HttpdGuest.module], entrypoint: ["/httpd.wasm"], cmd: ["serve"])
        try EngineTests.run(ctr + ["images", "import", "--base-name", "example.com/rw/httpd", tar])
        let image = "example.com/rw/httpd:httpd"

        for (id, declaration) in [
            ("annotated", ["--annotation", "io.runwasm.listen=tcp:\(net.podIP):8080"]),
            ("env", ["--env", "RUNWASM_LISTEN=tcp:\(net.podIP):8080"]),
        ] {
            let run = Harness.spawn(ctr + ["run", "-d", "--with-ns", "network:" + net.path] + declaration + runc + [image, id])
            #expect(run.status == 0, "ctr run -d \(id): \(run.stderr)")
            let get = Net.curl(["http://\(net.podIP):8080/"])
            #expect(get.stdout == "hello\n", "\(id): GET from the host: \(get.stdout) \(get.stderr)")
            let post = Net.curl(["-d", "through ctr", "http://\(net.podIP):8080/echo"])
            #expect(post.stdout == "through ctr", "\(id): POST: \(post.stderr)")
            _ = Net.curl(["http://\(net.podIP):8080/quit"])
            #expect(Harness.eventually(timeout: 10) { Harness.spawn(ctr + ["task", "ls"]).stdout.contains("STOPPED") })
            _ = Harness.spawn(ctr + ["task", "rm", "-f", id])
            _ = Harness.spawn(ctr + ["containers", "rm", id])
        }

        // A listener on an address the namespace does not have fails the run with runwasm's message.
        let bad = Harness.spawn(ctr + ["run", "--rm", "--with-ns", "network:" + net.path, "--annotation", "io.runwasm.listen=tcp:192.0.2.1:8080"] + runc + [image, "bad"])
        #expect(bad.status != 0 && bad.stderr.contains("cannot listen on tcp:192.0.2.1:8080: bind: cannot assign requested address"), "\(bad.stderr)")
        _ = Harness.spawn(ctr + ["containers", "rm", "bad"])
        #expect(Harness.spawn(ctr + ["containers", "ls", "-q"]).stdout == "")
        EngineTests.removeNamespaceCgroups(ns)
    }

    @Test("podman run -p: the listener from --annotation or -e RUNWASM_LISTEN is reached through the port mapping")
    func podman() throws {
        try EngineTests.require(["/usr/bin/podman", "/usr/bin/conmon", "/usr/bin/curl"])
        let dir = Harness.tempDir("podman-net")
        defer {
            _ = Harness.spawn(["/bin/umount", "-R", dir + "/storage"])
            Harness.removeTree(dir)
        }
        let podman = EngineTests.podman(dir)
        let rootfs = dir + "/rootfs"
        Harness.mkdirs(rootfs)
        Harness.write(rootfs + "/httpd.wasm", HttpdGuest.module)
        for (index, declaration) in [
            ["--annotation", "io.runwasm.listen=tcp:0.0.0.0:8080"],
            ["-e", "RUNWASM_LISTEN=tcp:0.0.0.0:8080"],
        ].enumerated() {
            let name = "rwnet\(getpid())-\(index)"
            let hostPort = Net.freePort()
            let run = Harness.spawn(
                podman + ["run", "-d", "--name", name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "-p", "\(hostPort):8080"]
                    + declaration + ["--rootfs", rootfs, "/httpd.wasm", "serve"])
            #expect(run.status == 0, "podman run \(declaration): \(run.stderr)")
            let get = Net.curl(["http://127.0.0.1:\(hostPort)/"])
            #expect(get.stdout == "hello\n", "\(declaration): GET through -p: \(get.stdout) \(get.stderr)")
            let post = Net.curl(["-d", "through podman", "http://127.0.0.1:\(hostPort)/echo"])
            #expect(post.stdout == "through podman", "\(declaration): POST: \(post.stderr)")
            _ = Net.curl(["http://127.0.0.1:\(hostPort)/quit"])
            let wait = Harness.spawn(podman + ["wait", name], timeout: 30)
            #expect(wait.stdout == "0\n", "exit code: \(wait.stdout) \(wait.stderr)")
            _ = Harness.spawn(podman + ["rm", "-f", name])
        }
    }

    @Test("docker run -e RUNWASM_LISTEN (host network): curl reaches the Wasm server")
    func docker() throws {
        let docker = try PrivateDocker()
        defer { docker.stop() }
        try docker.buildImage("wasm-httpd", module: HttpdGuest.module)
        let port = Net.freePort()
        let run = docker.docker([
            "run", "-d", "--name", "web", "--runtime", "runwasm", "--network", "host", "-e", "RUNWASM_LISTEN=tcp:127.0.0.1:\(port)",
            "wasm-httpd", "loop",
        ])
        #expect(run.status == 0, "docker run: \(run.stderr)")
        let get = Net.curl(["http://127.0.0.1:\(port)/"])
        #expect(get.stdout == "hello\n", "GET: \(get.stdout) \(get.stderr)")
        let post = Net.curl(["-d", "through docker", "http://127.0.0.1:\(port)/echo"])
        #expect(post.stdout == "through docker", "POST: \(post.stderr)")
        _ = Net.curl(["http://127.0.0.1:\(port)/quit"])
        let wait = docker.docker(["wait", "web"], timeout: 30)
        #expect(wait.stdout == "0\n", "exit code: \(wait.stdout) \(wait.stderr)")
    }
}
