import ArgumentParser
import Runtime

/// Verbs whose implementation has not landed yet: they fail with a clear message.
protocol NotYetBuilt: ParsableCommand {
    var runwasm: Runwasm { get }
    static var failureStatus: Int32 { get }
}

extension NotYetBuilt {
    static var failureStatus: Int32 { 1 }
    func run() throws {
        let name = Self.configuration.commandName ?? "\(Self.self)".lowercased()
        try runwasm.withRuntime(failure: Self.failureStatus) { _ in
            throw NotBuilt(verb: name)
        }
    }
}

struct NotBuilt: Error, CustomStringConvertible {
    var verb: String
    var description: String { "runwasm \(verb) is not implemented yet" }
}
