package import ParleyCore

/// Assembles the tool calls of a streamed reply from their `delta.tool_calls` pieces.
///
/// Pieces are joined by `index`, never by id: the id comes once, or never (llama.cpp's legacy
/// shape), and a call missing one gets `call_<index>_<random>`. Argument fragments are joined as
/// text and never parsed here (they are JSON only once complete, and perhaps not even then). A
/// broken or hostile server cannot exhaust memory: a turn holds at most ``maximumCalls`` calls of
/// at most ``maximumArgumentBytes`` bytes of arguments each.
package struct ToolCallAccumulator: Sendable {
    /// The most calls one reply may make.
    package static let maximumCalls = 16
    /// The longest arguments text of one call, in UTF-8 bytes.
    package static let maximumArgumentBytes = 64 << 10
    /// The longest tool name, in UTF-8 bytes (OpenAI allows 64 characters).
    package static let maximumNameBytes = 256

    /// A piece broke a bound, or the calls are incomplete; the description says which.
    package struct Failure: Error, Equatable, CustomStringConvertible {
        package var description: String
    }

    private struct Partial: Sendable {
        var id: String?
        var name = ""
        var arguments = ""
        var argumentBytes = 0
    }

    private var partials: [Int: Partial] = [:]

    /// Creates an empty accumulator.
    package init() {}

    /// Whether no piece has arrived.
    package var isEmpty: Bool { partials.isEmpty }

    /// Adds one piece.
    package mutating func add(_ delta: ToolCallDelta) throws(Failure) {
        guard delta.index >= 0, delta.index < 1 << 16 else {
            throw Failure(description: "tool call index \(delta.index) is out of range")
        }
        if partials[delta.index] == nil, partials.count >= Self.maximumCalls {
            throw Failure(description: "the reply made more than \(Self.maximumCalls) tool calls")
        }
        var partial = partials[delta.index] ?? Partial()
        if partial.id == nil, let id = delta.id, !id.isEmpty { partial.id = id }
        // A name comes once; a server that repeats it on every piece is not taken to mean a longer
        // name, one that splits it is.
        if let name = delta.name, !name.isEmpty, name != partial.name {
            partial.name += name
            guard partial.name.utf8.count <= Self.maximumNameBytes else {
                throw Failure(description: "tool call \(delta.index) has a name over \(Self.maximumNameBytes) bytes")
            }
        }
        if let fragment = delta.arguments, !fragment.isEmpty {
            partial.argumentBytes += fragment.utf8.count
            guard partial.argumentBytes <= Self.maximumArgumentBytes else {
                throw Failure(description: "tool call \(delta.index) has arguments over \(Self.maximumArgumentBytes >> 10) KiB")
            }
            partial.arguments += fragment
        }
        partials[delta.index] = partial
    }

    /// Adds every piece of a chunk.
    package mutating func add(_ deltas: [ToolCallDelta]) throws(Failure) {
        for delta in deltas { try add(delta) }
    }

    /// The calls, in index order; a call that never got a name is an error.
    package func calls() throws(Failure) -> [ToolCall] {
        var calls: [ToolCall] = []
        for index in partials.keys.sorted() {
            let partial = partials[index]!
            guard !partial.name.isEmpty else { throw Failure(description: "tool call \(index) has no function name") }
            calls.append(ToolCall(id: partial.id ?? Self.syntheticID(index: index), name: partial.name, arguments: partial.arguments))
        }
        return calls
    }

    /// An id for a call the server sent without one: `call_<index>_<random>`.
    package static func syntheticID(index: Int) -> String {
        "call_\(index)_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
