import Foundation
import ParleyFuzzing
import Testing

/// The seed corpora in `Fuzz/Corpus/` as regression tests: every seed, including each input that
/// once crashed a decoder, goes through every fuzz target.
@Suite("Fuzz seed corpora")
struct SeedCorpusTests {
    static let corpus = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "Fuzz/Corpus")

    static func seeds(of target: FuzzTarget) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(
            at: corpus.appending(path: target.rawValue), includingPropertiesForKeys: nil
        ).sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("every target has a seed corpus", arguments: FuzzTarget.allCases)
    func corpusExists(target: FuzzTarget) throws {
        #expect(try !Self.seeds(of: target).isEmpty)
    }

    @Test("every seed of every corpus passes the target", arguments: FuzzTarget.allCases)
    func seedsPass(target: FuzzTarget) throws {
        for other in FuzzTarget.allCases {
            for seed in try Self.seeds(of: other) {
                do {
                    try target.run([UInt8](try Data(contentsOf: seed)))
                } catch {
                    Issue.record("\(target.rawValue) on \(other.rawValue)/\(seed.lastPathComponent): \(error)")
                }
            }
        }
    }
}
