// Docker 20.10 (Debian's docker.io) with runwasm as a runtime: a private dockerd with its own
// data-root, exec-root, socket, containerd and cgroup parent, `--bridge none --iptables=false`,
// the runtime declared in a private daemon.json; an image built with `docker build` FROM scratch.

import Foundation
import Glibc
import Testing

/// A dockerd of the test's own. Stopped, with everything it made, by `stop()`.
final class PrivateDocker {
    let dir: String
    let socket: String
    let cgroupParent: String
    private var pid: pid_t = 0

    static let dockerd = "/usr/sbin/dockerd"
    /// Debian's client, of the daemon's version (another `docker` may come first on PATH).
    static let client = "/usr/bin/docker"

    init() throws {
        dir = Harness.tempDir("docker")
        socket = dir + "/docker.sock"
        cgroupParent = "/runwasm-test-docker-\(getpid())"
        try #require(access(Self.dockerd, X_OK) == 0 && access(Self.client, X_OK) == 0,
                     "no dockerd or docker client: scripts/setup installs docker.io")
        Harness.write(dir + "/daemon.json", #"{"runtimes":{"runwasm":{"path":"\#(Harness.binary)"}}}"#)
        pid = Harness.start([
            Self.dockerd, "--data-root", dir + "/data", "--exec-root", dir + "/exec", "--pidfile", dir + "/dockerd.pid",
            "-H", "unix://" + socket, "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--config-file", dir + "/daemon.json", "--cgroup-parent", cgroupParent,
        ], environment: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           stdoutPath: dir + "/dockerd.log", stderrPath: dir + "/dockerd.log")
        let up = Harness.eventually(timeout: 30) { self.docker(["version"]).status == 0 }
        if !up {
            let log = Harness.read(dir + "/dockerd.log") ?? ""
            stop()
            try #require(up, "dockerd did not start within 30 s; its log ends:\n\(log.suffix(2000))")
        }
    }

    @discardableResult
    func docker(_ args: [String], timeout: Double = 60) -> ProcessResult {
        Harness.spawn(
            [Self.client] + args, environment: ["DOCKER_HOST=unix://" + socket, "DOCKER_BUILDKIT=0", "HOME=" + dir],
            timeout: timeout)
    }

    /// Builds `tag` FROM scratch with `module` as /app.wasm, its entrypoint.
    func buildImage(_ tag: String, module: [UInt8]) throws {
        let context = dir + "/context-" + tag
        Harness.mkdirs(context)
        Harness.write(context + "/app.wasm", module, mode: 0o755)
        Harness.write(context + "/Dockerfile", "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n")
        let r = docker(["build", "-q", "-t", tag, context])
        try #require(r.status == 0, "docker build: \(r.stderr)")
    }

    /// Removes every container, stops dockerd (and the containerd it started), unmounts what it
    /// left mounted, removes its cgroups and its directory.
    func stop() {
        let ids = docker(["ps", "-aq"], timeout: 20).stdout.split(separator: "\n").map(String.init)
        if !ids.isEmpty { docker(["rm", "-f"] + ids, timeout: 30) }
        if pid > 0 {
            kill(pid, SIGTERM)
            if Harness.waitFor(pid, timeout: 15) == -2 { kill(pid, SIGKILL) }
            pid = 0
        }
        if let text = Harness.read(dir + "/exec/containerd/containerd.pid"), let containerd = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(containerd, SIGKILL)
        }
        let mounts = (Harness.read("/proc/self/mountinfo") ?? "").split(separator: "\n")
            .compactMap { $0.split(separator: " ").dropFirst(4).first.map(String.init) }
            .filter { $0.hasPrefix(dir) }
        for mount in mounts.reversed() { umount2(mount, Int32(MNT_DETACH)) }
        for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let parent = "/sys/fs/cgroup/\(hierarchy)\(cgroupParent)"
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                rmdir(parent + "/" + child)
            }
            rmdir(parent)
        }
        Harness.removeTree(dir)
    }
}

@Suite("Docker", .serialized, .timeLimit(.minutes(5)))
struct DockerTests {
    @Test("docker run with -t, -u, -m, --read-only and -v; exit codes")
    func run() throws {
        let docker = try PrivateDocker()
        defer { docker.stop() }
        try docker.buildImage("wasm-probe", module: Probe.wasm)
        let host = docker.dir + "/hostdir"
        Harness.mkdirs(host)
        Harness.write(host + "/file", "from the host")
        let base = ["run", "--rm", "--runtime", "runwasm", "--network", "none"]

        let plain = docker.docker(base + ["wasm-probe", "env", "open", "/dev/null", "rw", "isatty", "1"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("env HOME=/\n") && plain.stdout.contains("open /dev/null rw: ok\n"), "\(plain.stdout)")
        #expect(plain.stdout.contains("isatty 1: 0"))
        #expect(docker.docker(base + ["wasm-probe", "exit", "3"]).status == 3)

        let tty = docker.docker(base + ["-t", "wasm-probe", "isatty", "0", "isatty", "1"])
        #expect(tty.status == 0, "docker run -t: \(tty.stderr)")
        #expect(tty.stdout.contains("isatty 1: 1"), "\(tty.stdout)")

        let user = docker.docker(base + ["-u", "1000", "wasm-probe", "creat", "/x", "read", "/proc/self/status"])
        #expect(user.stdout.contains("creat /x: EACCES"), "\(user.stdout) \(user.stderr)")
        #expect(user.stdout.contains("Uid:\t1000\t1000\t1000\t1000"), "\(user.stdout)")

        let readOnly = docker.docker(base + ["--read-only", "wasm-probe", "creat", "/x"])
        #expect(readOnly.stdout.contains("creat /x: EROFS"), "\(readOnly.stdout) \(readOnly.stderr)")

        let volume = docker.docker(base + ["-v", host + ":/data:ro", "wasm-probe", "read", "/data/file", "creat", "/data/new"])
        #expect(volume.stdout.contains("read /data/file: ok from the host"), "\(volume.stdout) \(volume.stderr)")
        #expect(volume.stdout.contains("creat /data/new: EROFS"))

        // -m: the limit in the container's cgroup, read from the host while it runs.
        let limited = docker.docker(["run", "-d", "--runtime", "runwasm", "--network", "none", "-m", "64m", "wasm-probe", "sleep", "30"])
        try #require(limited.status == 0, "\(limited.stderr)")
        let id = limited.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let limit = Harness.read("/sys/fs/cgroup/memory\(docker.cgroupParent)/\(id)/memory.limit_in_bytes")
        #expect(limit == "67108864\n", "memory.limit_in_bytes: \(limit ?? "missing")")
        docker.docker(["rm", "-f", id])
    }

    @Test("a running container: exec (plain, -u, -t), update, pause, stats, inspect, stop, rm")
    func lifecycle() throws {
        let docker = try PrivateDocker()
        defer { docker.stop() }
        try docker.buildImage("wasm-probe", module: Probe.wasm)
        let started = docker.docker(["run", "-d", "--name", "svc", "--runtime", "runwasm", "--network", "none", "wasm-probe", "sleep", "60"])
        try #require(started.status == 0, "\(started.stderr)")

        let exec = docker.docker(["exec", "svc", "/app.wasm", "env"])
        #expect(exec.status == 0 && exec.stdout.contains("env HOME=/"), "\(exec.stdout) \(exec.stderr)")
        let execUser = docker.docker(["exec", "-u", "1000", "svc", "/app.wasm", "creat", "/x"])
        #expect(execUser.stdout.contains("creat /x: EACCES"), "\(execUser.stdout) \(execUser.stderr)")
        let execTTY = docker.docker(["exec", "-t", "svc", "/app.wasm", "isatty", "1"])
        #expect(execTTY.stdout.contains("isatty 1: 1"), "docker exec -t: \(execTTY.stdout) \(execTTY.stderr)")

        let update = docker.docker(["update", "--memory", "100m", "--memory-swap", "200m", "svc"])
        #expect(update.status == 0, "docker update: \(update.stderr)")
        let cpuset = docker.docker(["update", "--cpuset-cpus", "0", "svc"])
        #expect(cpuset.status == 0, "docker update --cpuset-cpus: \(cpuset.stderr)")

        #expect(docker.docker(["pause", "svc"]).status == 0)
        #expect(docker.docker(["inspect", "-f", "{{.State.Status}}", "svc"]).stdout == "paused\n")
        #expect(docker.docker(["unpause", "svc"]).status == 0)
        let stats = docker.docker(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "svc"])
        #expect(stats.status == 0 && stats.stdout.hasPrefix("svc "), "\(stats.stdout) \(stats.stderr)")
        #expect(docker.docker(["inspect", "-f", "{{.State.Status}} {{.HostConfig.Runtime}}", "svc"]).stdout == "running runwasm\n")

        // SIGTERM ends the guest at once (143), not after docker's 10 s and a SIGKILL (137).
        let t0 = Harness.now()
        #expect(docker.docker(["stop", "svc"]).status == 0)
        #expect(Harness.now() - t0 < 8)
        #expect(docker.docker(["inspect", "-f", "{{.State.ExitCode}}", "svc"]).stdout == "143\n")
        #expect(docker.docker(["rm", "svc"]).status == 0)
        // Nothing of it is left in the runtime's state (Docker 20.10 gives every runtime runc's root).
        let list = Harness.spawn([Harness.binary, "--root", docker.dir + "/exec/runtime-runc/moby", "list", "-q"])
        #expect(list.stdout.isEmpty, "left in the state root: \(list.stdout)")
    }
}
