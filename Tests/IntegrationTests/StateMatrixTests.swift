import Glibc
import Testing

/// Every verb in every state of the contract's table (created, running, stopped, no such id).
@Suite("verbs in each state", .serialized, .timeLimit(.minutes(2)))
struct StateMatrixTests {
    enum Status: String, CaseIterable { case created, running, stopped, missing }

    /// Brings a container "m" into `status`; returns its pid (0 when missing).
    func prepare(_ box: Sandbox, _ status: Status) throws -> pid_t {
        switch status {
        case .missing:
            return 0
        case .created:
            return try box.create("m")
        case .running:
            let pid = try box.create("m")
            try #require(box.runwasm(["start", "m"]).status == 0)
            return pid
        case .stopped:
            let pid = try box.create("m")
            try #require(box.runwasm(["start", "m"]).status == 0)
            try #require(box.runwasm(["kill", "m", "KILL"]).status == 0)
            _ = Harness.waitFor(pid, timeout: 5)
            return pid
        }
    }

    func cleanup(_ box: Sandbox, _ pid: pid_t) {
        box.runwasm(["delete", "--force", "m"])
        if pid > 0 { _ = Harness.waitFor(pid, timeout: 5) }
    }

    func lastLog(_ box: Sandbox) -> String {
        box.errors.split(separator: "\n").last.map(String.init) ?? ""
    }

    @Test("start", arguments: Status.allCases)
    func start(status: Status) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try prepare(box, status)
        let r = box.runwasm(["start", "m"])
        switch status {
        case .created:
            #expect(r.status == 0)
            #expect(box.state("m")?["status"] as? String == "running")
        case .running:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("cannot start an already running container"))
        case .stopped:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("cannot start a container that has stopped"))
        case .missing:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("container does not exist"))
        }
        cleanup(box, pid)
    }

    @Test("kill", arguments: Status.allCases)
    func kill(status: Status) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try prepare(box, status)
        let r = box.runwasm(["kill", "m", "9"])
        switch status {
        case .created, .running:
            #expect(r.status == 0)
            #expect(Harness.waitFor(pid, timeout: 5) == 137)
        case .stopped:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("container not running"))
            #expect(box.runwasm(["kill", "--all", "m", "9"]).status == 0, "kill --all of a stopped container succeeds")
            #expect(box.runwasm(["kill", "-a", "m", "KILL"]).status == 0)
        case .missing:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("container does not exist"))
        }
        cleanup(box, pid)
    }

    @Test("delete", arguments: Status.allCases)
    func delete(status: Status) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try prepare(box, status)
        let r = box.runwasm(["delete", "m"])
        switch status {
        case .created:
            #expect(r.status == 0, "delete of a created container kills it, as runc does")
            #expect(Harness.waitFor(pid, timeout: 5) == 137)
            #expect(box.leftovers.isEmpty)
        case .running:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("cannot delete container m that is not stopped: running"))
            #expect(Harness.isAlive(pid))
        case .stopped:
            #expect(r.status == 0)
            #expect(box.leftovers.isEmpty)
        case .missing:
            #expect(r.status == 1)
            #expect(lastLog(box).contains("container does not exist"))
        }
        cleanup(box, pid)
    }

    @Test("delete --force", arguments: Status.allCases)
    func deleteForce(status: Status) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try prepare(box, status)
        let r = box.runwasm(["delete", "--force", "m"])
        #expect(r.status == 0)
        #expect(box.leftovers.isEmpty)
        if pid > 0 {
            _ = Harness.waitFor(pid, timeout: 5)
            #expect(!Harness.isAlive(pid))
        }
    }

    @Test("state", arguments: Status.allCases)
    func state(status: Status) throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try prepare(box, status)
        let r = box.runwasmCaptured(["state", "m"])
        if status == .missing {
            #expect(r.status == 1)
            #expect(r.stderr.contains("container does not exist"))
            #expect(r.stdout == "")
        } else {
            #expect(r.status == 0)
            let json = try #require(Harness.json(r.stdout))
            #expect(json["status"] as? String == status.rawValue)
            #expect(json["pid"] as? Int == (status == .stopped ? 0 : Int(pid)))
        }
        cleanup(box, pid)
    }

    @Test("an exited guest not yet reaped (a zombie) is stopped")
    func zombieIsStopped() throws {
        let box = Sandbox(module: Guests.exit(3))
        let pid = try box.create("z")
        #expect(box.runwasm(["start", "z"]).status == 0)
        #expect(Harness.eventually { (try? String(contentsOfFile: "/proc/\(pid)/stat"))?.contains(") Z ") == true })
        #expect(box.state("z")?["status"] as? String == "stopped")
        #expect(box.runwasm(["delete", "z"]).status == 0)
        #expect(Harness.waitFor(pid) == 3)
    }

    @Test("the same id twice: the second create fails and the first is untouched")
    func duplicateID() throws {
        let box = Sandbox(module: Guests.hello())
        let pid = try box.create("dup")
        let r = box.runwasm(["create", "--bundle", box.bundle, "dup"])
        #expect(r.status == 1)
        #expect(box.errors.contains("container with given ID already exists"))
        #expect(box.state("dup")?["status"] as? String == "created")
        #expect(box.state("dup")?["pid"] as? Int == Int(pid))
        #expect(box.runwasm(["start", "dup"]).status == 0)
        #expect(Harness.waitFor(pid) == 0)
        #expect(box.output == "hello from wasm\n")
        box.runwasm(["delete", "dup"])
    }

    @Test("list shows containers in table, json and quiet forms")
    func list() throws {
        let box = Sandbox(module: Guests.spin)
        let pid = try box.create("l1")
        let table = box.runwasmCaptured(["list"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true)
        #expect(lines.count == 2 && lines[1].hasPrefix("l1") && lines[1].contains("created"))
        #expect(box.runwasmCaptured(["list", "-q"]).stdout == "l1\n")
        let json = box.runwasmCaptured(["list", "--format", "json"]).stdout
        #expect(json.hasPrefix("[{\"ociVersion\"") && json.contains("\"id\":\"l1\"") && json.contains("\"pid\":\(pid)"))
        box.runwasm(["delete", "l1"])
        _ = Harness.waitFor(pid)
        #expect(box.runwasmCaptured(["list", "-q"]).stdout == "")
    }
}
