import ArgumentParser
import Foundation

extension ParsableCommand {
    /// An environment variable, nil when unset or blank.
    static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }
}
