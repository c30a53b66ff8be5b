// runwasm: a runc-compatible OCI runtime that runs only WebAssembly.
// This target only parses arguments; every verb calls one function of the Runtime library.

import ArgumentParser
import Runtime

@main
struct Runwasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runwasm",
        abstract: "Run WebAssembly (WASI preview 1) OCI containers, as runc runs native ones.",
        subcommands: [
            Create.self, Start.self, State.self, Kill.self, Delete.self, Run.self, List.self, Spec.self,
            Features.self, Exec.self, Ps.self, Pause.self, Resume.self, Update.self, Events.self,
        ]
    )

    @Option(help: "Directory for container state.")
    var root: String?

    @Option(help: "File to append log records to.")
    var log: String?

    @Option(name: .customLong("log-format"), help: "Log record format: text or json.")
    var logFormat: LogFormatArgument = .text

    @Option(name: .customLong("log-level"), help: "Accepted for compatibility.")
    var logLevel: String?

    @Flag(help: "Write debug records to the log.")
    var debug = false

    @Flag(name: .customLong("systemd-cgroup"), help: "cgroupsPath is in the systemd slice:prefix:name form.")
    var systemdCgroup = false

    @Option(help: "Accepted for compatibility (true, false or auto).")
    var rootless: String?

    @Option(help: "Accepted and ignored: runwasm does not checkpoint.")
    var criu: String?

    @Option(name: .customLong("cgroup-manager"), help: "Accepted for compatibility.")
    var cgroupManager: String?

    @Option(
        name: .customLong("module-cache"),
        help: "Directory of the validated-module cache, or off (default /var/lib/runwasm/modules, or $RUNWASM_MODULE_CACHE).")
    var moduleCache: String?

    @Flag(name: [.customShort("v"), .long], help: "Print the version.")
    var version = false

    mutating func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(Info.versionText, terminator: "")
    }

    var globals: GlobalOptions {
        GlobalOptions(root: root, log: log, logFormat: logFormat.format, debug: debug, systemdCgroup: systemdCgroup, moduleCache: moduleCache)
    }

    /// Runs `body` with a runtime; a failure is logged once and becomes exit status `failure`.
    func withRuntime<R>(failure: Int32 = 1, _ body: (Runtime) throws -> R) throws -> R {
        let runtime: Runtime
        do {
            runtime = try Runtime(globals)
        } catch {
            Logger(path: log, format: logFormat.format, debug: debug).error("\(error)")
            throw ExitCode(failure)
        }
        do {
            return try body(runtime)
        } catch {
            runtime.logger.error("\(error)")
            throw ExitCode(failure)
        }
    }

    static func main() {
        // podman probes `checkpoint --help` and takes exit 0 as "supported": refuse both verbs
        // before the parser could answer --help.
        if let verb = verb(in: Array(CommandLine.arguments.dropFirst())), verb == "checkpoint" || verb == "restore" {
            Logger(path: nil, format: .text, debug: false).error("\(verb) is not supported: runwasm does not checkpoint containers")
            exit(withError: ExitCode(1))
        }
        // An unknown verb: runc's answer, exit 3 and nothing on stdout (even with -h).
        let verbs = Set(configuration.subcommands.map { $0._commandName } + ["help"])
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let verb = verb(in: arguments) {
            // `help VERB` names its verb after it.
            let after = arguments.drop { $0 != "help" }.dropFirst().first { !$0.hasPrefix("-") }
            let named = verb == "help" ? after : verb
            if let named, !verbs.contains(named) {
                Logger(path: nil, format: .text, debug: false).error("No help topic for '\(named)'")
                Process.exit(3)
            }
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            // A verb's status (its failure already reported): the parser's exit would build the
            // help text only to find it has nothing to print.
            Process.exit(code.rawValue)
        } catch {
            // -h, --help, help VERB, --version: exit 0 with the text on stdout. A usage error (a
            // missing or extra argument, an unknown flag, a bad value): as runc, exit 1 with the
            // error on stderr and the verb's usage on stdout.
            if exitCode(for: error) == .success { exit(withError: error) }
            Logger(path: nil, format: .text, debug: false).error(message(for: error))
            print(usageString(for: Array(CommandLine.arguments.dropFirst())))
            Process.exit(1)
        }
    }

    /// The usage text of the verb that `arguments` name (the whole tool's without one).
    static func usageString(for arguments: [String]) -> String {
        guard let verb = verb(in: arguments),
            let command = configuration.subcommands.first(where: { $0._commandName == verb })
        else { return helpMessage() }
        return helpMessage(for: command)
    }
}

/// The first argument that is neither a global flag nor a global flag's value.
func verb(in arguments: [String]) -> String? {
    let takesValue: Set = ["--root", "--log", "--log-format", "--log-level", "--rootless", "--criu", "--cgroup-manager", "--module-cache"]
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if takesValue.contains(argument) {
            index += 2
        } else if argument.hasPrefix("-") {
            index += 1
        } else {
            return argument
        }
    }
    return nil
}

enum LogFormatArgument: String, ExpressibleByArgument {
    case text, json
    var format: LogFormat { self == .json ? .json : .text }
}
