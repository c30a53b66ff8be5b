#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ContainerPlan {
    /// Decodes and validates the bytes of `config.json` from the bundle at `bundle`.
    public static func load(configJSON bytes: [UInt8], bundle: String) throws(ConfigError) -> ContainerPlan {
        try ContainerPlan(spec: try Spec.load(configJSON: bytes), bundle: bundle)
    }
}

extension JSONValue {
    /// Parses JSON text (for `--process` files, hook input and stored state).
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }
}

extension ResourcesPlan {
    /// Decodes a runtime-spec `LinuxResources` document (the body of `update --resources`).
    public static func load(json bytes: [UInt8]) throws(ConfigError) -> ResourcesPlan {
        do {
            let spec = try JSONDecoder().decode(Spec.Resources.self, from: Data(bytes))
            return try ResourcesPlan(spec, field: "resources")
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            var e = ConfigDecoding.describe(error)
            e.field = e.field.isEmpty ? "resources" : "resources." + e.field
            throw ConfigError(e.field, e.problem)
        } catch {
            throw ConfigError("resources", "cannot be decoded: \(error)")
        }
    }
}

extension Spec {
    /// Decodes `config.json` bytes without validating them.
    public static func load(configJSON bytes: [UInt8]) throws(ConfigError) -> Spec {
        try decode(Spec.self, bytes, prefix: "")
    }
}

extension Spec.Process {
    /// Decodes an `exec --process` file: a runtime-spec `process` object.
    public static func load(json bytes: [UInt8]) throws(ConfigError) -> Spec.Process {
        try decode(Spec.Process.self, bytes, prefix: "process")
    }
}

private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], prefix: String) throws(ConfigError) -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch let error as DecodingError {
        if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, (try? JSONValue.parse(bytes)) != nil {
            throw ConfigError(prefix, "a number is out of range for its field")
        }
        let e = ConfigDecoding.describe(error)
        let field = prefix.isEmpty ? e.field : (e.field.isEmpty ? prefix : prefix + "." + e.field)
        throw ConfigError(field, e.problem)
    } catch {
        throw ConfigError(prefix, "cannot be decoded: \(error)")
    }
}
