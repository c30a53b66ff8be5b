import ArgumentParser
import Runtime

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a container; its module runs at `start`.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "The bundle directory (config.json and rootfs).") var bundle: String = "."
    @Option(name: .customLong("pid-file"), help: "Write the container process's pid here.") var pidFile: String?
    @Option(name: .customLong("console-socket"), help: "AF_UNIX socket that receives the pty master.") var consoleSocket: String?
    @Option(name: .customLong("pidfd-socket"), help: "Accepted for compatibility.") var pidfdSocket: String?
    @Option(name: .customLong("preserve-fds"), help: "Pass fds 3 to 3+N-1 to the container.") var preserveFDs: Int32 = 0
    @Flag(name: .customLong("no-pivot"), help: "Accepted; runwasm always uses pivot_root.") var noPivot = false
    @Flag(name: .customLong("no-new-keyring"), help: "Accepted for compatibility.") var noNewKeyring = false
    @Argument(help: "Container id.") var id: String

    func run() throws {
        let options = CreateOptions(id: id, bundle: bundle, pidFile: pidFile, consoleSocket: consoleSocket, preserveFDs: preserveFDs)
        try runwasm.withRuntime { try $0.create(options) }
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Run the module of a created container.")
    @ParentCommand var runwasm: Runwasm
    @Argument(help: "Container id.") var id: String
    func run() throws { try runwasm.withRuntime { try $0.start(id: id) } }
}

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Print the state of a container as JSON.")
    @ParentCommand var runwasm: Runwasm
    @Argument(help: "Container id.") var id: String
    func run() throws {
        let json = try runwasm.withRuntime { try $0.state(id: id) }
        print(json, terminator: "")
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Send a signal (default SIGTERM) to a container.")
    @ParentCommand var runwasm: Runwasm
    @Flag(name: .shortAndLong, help: "Signal every process of the container.") var all = false
    @Argument(help: "Container id.") var id: String
    @Argument(help: "Signal number or name (9, KILL, SIGKILL).") var signal: String = "SIGTERM"
    func run() throws { try runwasm.withRuntime { try $0.kill(id: id, signal: signal, all: all) } }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a container and what it holds.")
    @ParentCommand var runwasm: Runwasm
    @Flag(name: .shortAndLong, help: "Kill the container first if it is still running.") var force = false
    @Argument(help: "Container id.") var id: String
    func run() throws { try runwasm.withRuntime { try $0.delete(id: id, force: force) } }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Create and start a container; wait for it unless -d.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "The bundle directory (config.json and rootfs).") var bundle: String = "."
    @Flag(name: .shortAndLong, help: "Return once the module runs.") var detach = false
    @Option(name: .customLong("pid-file"), help: "Write the container process's pid here.") var pidFile: String?
    @Option(name: .customLong("console-socket"), help: "AF_UNIX socket that receives the pty master.") var consoleSocket: String?
    @Option(name: .customLong("pidfd-socket"), help: "Accepted for compatibility.") var pidfdSocket: String?
    @Option(name: .customLong("preserve-fds"), help: "Pass fds 3 to 3+N-1 to the container.") var preserveFDs: Int32 = 0
    @Flag(help: "Keep the stopped container instead of deleting it.") var keep = false
    @Flag(name: .customLong("no-subreaper"), help: "Accepted for compatibility.") var noSubreaper = false
    @Flag(name: .customLong("no-pivot"), help: "Accepted; runwasm always uses pivot_root.") var noPivot = false
    @Flag(name: .customLong("no-new-keyring"), help: "Accepted for compatibility.") var noNewKeyring = false
    @Argument(help: "Container id.") var id: String

    func run() throws {
        let options = CreateOptions(id: id, bundle: bundle, pidFile: pidFile, consoleSocket: consoleSocket, preserveFDs: preserveFDs)
        let status = try runwasm.withRuntime { try $0.run(options, detach: detach, keep: keep) }
        if status != 0 { throw ExitCode(status) }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List containers.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "table or json.") var format: Runtime.ListFormat = .table
    @Flag(name: .shortAndLong, help: "Print only the ids.") var quiet = false
    func run() throws {
        let text = try runwasm.withRuntime { try $0.list(format: format, quiet: quiet) }
        print(text, terminator: "")
    }
}

extension Runtime.ListFormat: ExpressibleByArgument {}

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spec", abstract: "Write a starter config.json whose entrypoint is /app.wasm.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "Where to write config.json.") var bundle: String = "."
    @Flag(help: "Accepted for compatibility.") var rootless = false
    func run() throws { try runwasm.withRuntime { _ in try Info.writeSpec(bundle: bundle) } }
}

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "features", abstract: "Print the runtime-spec features runwasm supports.")
    func run() throws { print(Info.featuresJSON, terminator: "") }
}
