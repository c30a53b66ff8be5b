import ArgumentParser
import Runtime

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run another WebAssembly module inside a container.",
        discussion: "Either --process FILE (a runtime-spec process JSON) or a command after the id. A failure exits 255.")
    @ParentCommand var runwasm: Runwasm
    @Option(name: .shortAndLong, help: "A runtime-spec process JSON file.") var process: String?
    @Flag(name: .shortAndLong, help: "Return once the module runs.") var detach = false
    @Option(name: .customLong("pid-file"), help: "Write the process's pid here.") var pidFile: String?
    @Option(name: .customLong("console-socket"), help: "AF_UNIX socket that receives the pty master.") var consoleSocket: String?
    @Option(name: .customLong("pidfd-socket"), help: "Accepted for compatibility.") var pidfdSocket: String?
    @Flag(name: .shortAndLong, help: "Give the process a terminal.") var tty = false
    @Option(name: .shortAndLong, help: "KEY=VALUE added to the environment (repeatable).") var env: [String] = []
    @Option(help: "Working directory in the container.") var cwd: String?
    @Option(name: .shortAndLong, help: "uid[:gid] to run as.") var user: String?
    @Option(name: [.customShort("g"), .customLong("additional-gids")], help: "Additional group (repeatable).") var additionalGids: [UInt32] = []
    @Option(name: [.customShort("c"), .customLong("cap")], help: "Capability to add (repeatable).") var cap: [String] = []
    @Flag(name: .customLong("no-new-privs"), help: "Set no_new_privs (always set for WebAssembly).") var noNewPrivs = false
    @Flag(name: .customLong("ignore-paused"), help: "Exec even into a paused container.") var ignorePaused = false
    @Option(name: .customLong("preserve-fds"), help: "Pass fds 3 to 3+N-1.") var preserveFDs: Int32 = 0
    @Option(name: .customLong("process-label"), help: "Accepted; no SELinux.") var processLabel: String?
    @Option(help: "Accepted; no AppArmor.") var apparmor: String?
    @Option(help: "Run in a sub-cgroup of the container's: PATH, or CONTROLLER[,CONTROLLER]:PATH (repeatable).") var cgroup: [String] = []
    @Argument(help: "Container id.") var id: String
    @Argument(parsing: .captureForPassthrough, help: "The module and its arguments.") var command: [String] = []

    func run() throws {
        var options = ExecOptions(id: id)
        options.processFile = process
        options.args = command
        options.detach = detach
        options.pidFile = pidFile
        options.consoleSocket = consoleSocket
        options.tty = tty
        options.env = env
        options.cwd = cwd
        options.user = user
        options.additionalGids = additionalGids
        options.capabilities = cap
        options.noNewPrivs = noNewPrivs
        options.ignorePaused = ignorePaused
        options.preserveFDs = preserveFDs
        options.cgroups = cgroup
        let status = try runwasm.withRuntime(failure: 255) { try $0.exec(options) }
        if status != 0 { throw ExitCode(status) }
    }
}
