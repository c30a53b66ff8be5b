import ArgumentParser
import OCI
import Runtime

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Freeze every process of a container.")
    @ParentCommand var runwasm: Runwasm
    @Argument(help: "Container id.") var id: String
    func run() throws { try runwasm.withRuntime { try $0.pause(id: id) } }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Thaw a paused container.")
    @ParentCommand var runwasm: Runwasm
    @Argument(help: "Container id.") var id: String
    func run() throws { try runwasm.withRuntime { try $0.resume(id: id) } }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the processes of a container.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "table or json.") var format: Runtime.PsFormat = .table
    @Argument(help: "Container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "Arguments for ps (default -ef).") var psArguments: [String] = []
    func run() throws {
        let text = try runwasm.withRuntime { try $0.ps(id: id, format: format, psArguments: psArguments) }
        print(text, terminator: "")
    }
}

extension Runtime.PsFormat: ExpressibleByArgument {}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Change the resources of a container's cgroup.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "A LinuxResources JSON file, or - for stdin.") var resources: String?
    @Option(parsing: .unconditional, help: "Memory limit (bytes, or with k, m, g; -1: unlimited).") var memory: ByteCount?
    @Option(name: .customLong("memory-reservation"), parsing: .unconditional, help: "Memory soft limit.") var memoryReservation: ByteCount?
    @Option(name: .customLong("memory-swap"), parsing: .unconditional, help: "Memory plus swap limit (-1: unlimited).") var memorySwap: ByteCount?
    @Option(name: .customLong("kernel-memory"), parsing: .unconditional, help: "Accepted and ignored (no longer in the kernel).") var kernelMemory: String?
    @Option(name: .customLong("pids-limit"), parsing: .unconditional, help: "Maximum number of tasks (-1: unlimited).") var pidsLimit: Int64?
    @Option(name: .customLong("cpu-share"), help: "CPU shares (relative weight).") var cpuShare: UInt64?
    @Option(name: .customLong("cpu-quota"), parsing: .unconditional, help: "CPU CFS quota in µs (-1: unlimited).") var cpuQuota: Int64?
    @Option(name: .customLong("cpu-period"), help: "CPU CFS period in µs.") var cpuPeriod: UInt64?
    @Option(name: .customLong("cpuset-cpus"), help: "CPUs to use (0-3, 0,1).") var cpusetCpus: String?
    @Option(name: .customLong("cpuset-mems"), help: "Memory nodes to use.") var cpusetMems: String?
    @Option(name: .customLong("blkio-weight"), help: "Accepted and ignored.") var blkioWeight: String?
    @Argument(help: "Container id.") var id: String

    func run() throws {
        var overrides = ResourcesPlan()
        overrides.memoryLimit = memory?.bytes
        overrides.memoryReservation = memoryReservation?.bytes
        overrides.memorySwap = memorySwap?.bytes
        overrides.pidsLimit = pidsLimit
        overrides.cpuShares = cpuShare
        overrides.cpuQuota = cpuQuota
        overrides.cpuPeriod = cpuPeriod
        overrides.cpusetCpus = cpusetCpus
        overrides.cpusetMems = cpusetMems
        try runwasm.withRuntime { runtime in
            let json = try resources.map { try Input.read($0) }
            try runtime.update(id: id, resourcesJSON: json, overrides: overrides)
        }
    }
}

/// A byte count as runc's flags take it: `536870912`, `512m`, `1g`, `-1`.
struct ByteCount: ExpressibleByArgument {
    var bytes: Int64
    init?(argument: String) {
        let lower = argument.lowercased()
        let units: [(String, Int64)] = [("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("b", 1)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            guard let n = Int64(lower.dropLast(suffix.count)) else { return nil }
            bytes = n * factor
            return
        }
        guard let n = Int64(lower) else { return nil }
        bytes = n
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Print a container's stats and OOM events as JSON lines.")
    @ParentCommand var runwasm: Runwasm
    @Option(help: "Time between stats events (5s, 500ms, 1m).") var interval: Duration_ = Duration_(seconds: 5)
    @Flag(help: "Print one stats event and exit.") var stats = false
    @Argument(help: "Container id.") var id: String
    func run() throws {
        try runwasm.withRuntime { runtime in
            try runtime.events(id: id, stats: stats, interval: interval.seconds) { line in
                print(line, terminator: "")
                Output.flush()
            }
        }
    }
}

/// A Go-style duration: `5s`, `500ms`, `1m`, `1.5s`.
struct Duration_: ExpressibleByArgument {
    var seconds: Double
    init(seconds: Double) { self.seconds = seconds }
    init?(argument: String) {
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where argument.hasSuffix(suffix) {
            guard let n = Double(argument.dropLast(suffix.count)), n > 0 else { return nil }
            seconds = n * factor
            return
        }
        return nil
    }
}
