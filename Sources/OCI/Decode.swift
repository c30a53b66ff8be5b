#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ContainerPlan {
    /// Decodes and validates the bytes of `config.json` from the bundle at `bundle`.
    public static func load(configJSON bytes: [UInt8], bundle: String) throws(ConfigError) -> ContainerPlan {
        let spec: Spec
        do {
            spec = try JSONDecoder().decode(Spec.self, from: Data(bytes))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, (try? JSONValue.parse(bytes)) != nil {
                // Foundation reports a number that does not fit its field as invalid JSON.
                throw ConfigError("", "a number is out of range for its field")
            }
            throw ConfigDecoding.describe(error)
        } catch {
            throw ConfigError("", "cannot be decoded: \(error)")
        }
        return try ContainerPlan(spec: spec, bundle: bundle)
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
