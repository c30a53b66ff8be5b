// The verbs that work on the container's cgroup: pause, resume, ps, update, events.

import Glibc
import OCI
import Sandbox

extension Runtime {
    /// The container's record and cgroup, for a verb that needs a live container.
    private func liveCgroup(_ id: String) throws -> (ContainerRecord, Cgroup) {
        try Store.validate(id: id)
        let record = try store.load(id)
        guard let cgroup = record.cgroup else { throw RuntimeError("container \(id) has no cgroup") }
        return (record, cgroup)
    }

    public func pause(id: String) throws {
        let lock = try store.lock(id)
        defer { close(lock) }
        let (record, cgroup) = try liveCgroup(id)
        switch record.status {
        case .created, .running: try cgroup.freeze(true)
        case .paused: throw RuntimeError("container already paused")
        default: throw RuntimeError("container not running")
        }
    }

    public func resume(id: String) throws {
        let lock = try store.lock(id)
        defer { close(lock) }
        let (record, cgroup) = try liveCgroup(id)
        guard record.status == .paused else { throw RuntimeError("container not paused") }
        try cgroup.freeze(false)
    }

    public enum PsFormat: String, Sendable { case table, json }

    /// `ps`: the container's pids as JSON, or the host's `ps` lines for them (default `ps -ef`).
    public func ps(id: String, format: PsFormat, psArguments: [String]) throws -> String {
        let (record, cgroup) = try liveCgroup(id)
        let pids = record.status == .stopped ? [] : cgroup.pids()
        if format == .json { return JSONValue.array(pids.map { .int(Int64($0)) }).compact() + "\n" }
        let psPath = ["/bin/ps", "/usr/bin/ps"].first { Sys.exists($0) } ?? "/bin/ps"
        let arguments = ["ps"] + (psArguments.isEmpty ? ["-ef"] : psArguments)
        let (status, output) = try Command.capture(psPath, arguments)
        guard status == 0 else { throw RuntimeError("ps \(arguments.dropFirst().joined(separator: " ")) failed: \(output)") }
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.first else { return "" }
        let columns = header.split(separator: " ")
        guard let pidColumn = columns.firstIndex(of: "PID") else { throw RuntimeError("ps printed no PID column") }
        lines.removeFirst()
        let wanted = Set(pids)
        let rows = lines.filter { line in
            let fields = line.split(separator: " ")
            return fields.count > pidColumn && Int32(fields[pidColumn]).map(wanted.contains) == true
        }
        return ([header] + rows).joined(separator: "\n") + "\n"
    }

    /// `update`: applies a `LinuxResources` document and/or single values (`overrides`, from
    /// runc's flags) to the cgroup.
    public func update(id: String, resourcesJSON: [UInt8]?, overrides: ResourcesPlan) throws {
        let lock = try store.lock(id)
        defer { close(lock) }
        let (record, cgroup) = try liveCgroup(id)
        guard record.status != .stopped else { throw RuntimeError("container not running") }
        // Everything is checked before anything is written; a write the kernel refuses undoes
        // the ones before it (Cgroup.apply).
        let document = try resourcesJSON.map { try ResourcesPlan.load(json: $0) } ?? ResourcesPlan()
        let resources = document.overridden(by: overrides)
        try resources.validate(field: "resources")
        logger.debug("updating the cgroup of \(id): \(resources)")
        try cgroup.apply(resources)
    }

    /// `events`: with `stats`, one stats event; otherwise stats every `interval` seconds and an
    /// `oom` event whenever the kernel's OOM killer acts in the cgroup, until the container stops.
    public func events(id: String, stats: Bool, interval: Double, emit: (String) -> Void) throws {
        let (record, cgroup) = try liveCgroup(id)
        if stats {
            emit(event("stats", id: id, data: Stats.read(cgroup)))
            return
        }
        var ooms = Stats.oomKills(cgroup)
        var nextStats = Sys.monotonicSeconds()
        while record.status != .stopped {
            let now = Sys.monotonicSeconds()
            if now >= nextStats {
                emit(event("stats", id: id, data: Stats.read(cgroup)))
                nextStats = now + interval
            }
            let count = Stats.oomKills(cgroup)
            if count > ooms { emit(event("oom", id: id, data: .object([]))) }
            ooms = count
            Sys.sleep(seconds: min(0.1, interval))
        }
    }

    private func event(_ type: String, id: String, data: JSONValue) -> String {
        JSONValue.object([("type", .string(type)), ("id", .string(id)), ("data", data)]).compact() + "\n"
    }
}

/// runc's stats shape, read from the cgroup's files.
enum Stats {
    static func number(_ text: String?) -> Int64 {
        guard let text else { return 0 }
        return text == "max" ? Int64.max : Int64(text.trimmingSpaces) ?? 0
    }

    /// `key value` lines (memory.stat, cpu.stat…) as a dictionary.
    static func keyed(_ text: String?) -> [(String, Int64)] {
        (text ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let v = Int64(parts[1]) else { return nil }
            return (String(parts[0]), v)
        }
    }

    static func value(_ pairs: [(String, Int64)], _ key: String) -> Int64 { pairs.first { $0.0 == key }?.1 ?? 0 }

    static func oomKills(_ cgroup: Cgroup) -> Int64 {
        switch cgroup.version {
        case .v1: return value(keyed(cgroup.value("memory", "memory.oom_control")), "oom_kill")
        case .v2: return value(keyed(cgroup.value("memory", "memory.events")), "oom_kill")
        }
    }

    static func read(_ cgroup: Cgroup) -> JSONValue {
        let cpu: JSONValue
        let memory: JSONValue
        switch cgroup.version {
        case .v1:
            let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
            let acct = keyed(cgroup.value("cpuacct", "cpuacct.stat"))
            let perCPU = (cgroup.value("cpuacct", "cpuacct.usage_percpu") ?? "").split(separator: " ").compactMap { Int64($0) }
            let throttle = keyed(cgroup.value("cpu", "cpu.stat"))
            cpu = .object([
                ("usage", .object([
                    ("total", .int(number(cgroup.value("cpuacct", "cpuacct.usage")))),
                    ("percpu", .array(perCPU.map { .int($0) })),
                    ("kernel", .int(value(acct, "system") * 1_000_000_000 / max(ticks, 1))),
                    ("user", .int(value(acct, "user") * 1_000_000_000 / max(ticks, 1))),
                ])),
                ("throttling", .object([
                    ("periods", .int(value(throttle, "nr_periods"))),
                    ("throttledPeriods", .int(value(throttle, "nr_throttled"))),
                    ("throttledTime", .int(value(throttle, "throttled_time"))),
                ])),
            ])
            memory = .object([
                ("usage", .object([
                    ("limit", .int(number(cgroup.value("memory", "memory.limit_in_bytes")))),
                    ("usage", .int(number(cgroup.value("memory", "memory.usage_in_bytes")))),
                    ("max", .int(number(cgroup.value("memory", "memory.max_usage_in_bytes")))),
                    ("failcnt", .int(number(cgroup.value("memory", "memory.failcnt")))),
                ])),
                ("raw", .object(keyed(cgroup.value("memory", "memory.stat")).map { ($0.0, .int($0.1)) })),
            ])
        case .v2:
            let stat = keyed(cgroup.value("cpu", "cpu.stat"))
            cpu = .object([
                ("usage", .object([
                    ("total", .int(value(stat, "usage_usec") * 1000)),
                    ("kernel", .int(value(stat, "system_usec") * 1000)),
                    ("user", .int(value(stat, "user_usec") * 1000)),
                ])),
                ("throttling", .object([
                    ("periods", .int(value(stat, "nr_periods"))),
                    ("throttledPeriods", .int(value(stat, "nr_throttled"))),
                    ("throttledTime", .int(value(stat, "throttled_usec") * 1000)),
                ])),
            ])
            memory = .object([
                ("usage", .object([
                    ("limit", .int(number(cgroup.value("memory", "memory.max")))),
                    ("usage", .int(number(cgroup.value("memory", "memory.current")))),
                    ("max", .int(number(cgroup.value("memory", "memory.peak")))),
                    ("failcnt", .int(value(keyed(cgroup.value("memory", "memory.events")), "max"))),
                ])),
                ("raw", .object(keyed(cgroup.value("memory", "memory.stat")).map { ($0.0, .int($0.1)) })),
            ])
        }
        let pids: JSONValue = .object([
            ("current", .int(number(cgroup.value("pids", "pids.current")))),
            ("limit", .int(number(cgroup.value("pids", "pids.max")))),
        ])
        return .object([("cpu", cpu), ("memory", memory), ("pids", pids), ("blkio", .object([])), ("hugetlb", .object([]))])
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\n" { s.removeFirst() }
        while s.last == " " || s.last == "\n" { s.removeLast() }
        return String(s)
    }
}
