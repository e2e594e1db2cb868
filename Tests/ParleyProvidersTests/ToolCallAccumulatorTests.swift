import ParleyCore
import ParleyProviders
import Testing

@Suite("Assembling streamed tool calls by index")
struct ToolCallAccumulatorTests {
    @Test("pieces join by index, in index order, whatever order they come in")
    func joinsByIndex() throws {
        var accumulator = ToolCallAccumulator()
        try accumulator.add([ToolCallDelta(index: 1, id: "b", name: "get_time", arguments: "")])
        try accumulator.add([ToolCallDelta(index: 0, id: "a", name: "get_weather", arguments: "{\"ci")])
        try accumulator.add([ToolCallDelta(index: 1, arguments: "{}"), ToolCallDelta(index: 0, arguments: "ty\":\"Rome\"}")])
        try accumulator.add(ToolCallDelta(index: 0, id: "ignored", name: "get_weather"))
        #expect(
            try accumulator.calls() == [
                ToolCall(id: "a", name: "get_weather", arguments: #"{"city":"Rome"}"#), ToolCall(id: "b", name: "get_time", arguments: "{}"),
            ])
    }

    @Test("a missing id is synthesised; a call without a name is an error")
    func missingParts() throws {
        var accumulator = ToolCallAccumulator()
        try accumulator.add(ToolCallDelta(index: 0, name: "get_time"))
        #expect(try accumulator.calls().first?.id.hasPrefix("call_0_") == true)
        try accumulator.add(ToolCallDelta(index: 1, arguments: "{}"))
        #expect(throws: ToolCallAccumulator.Failure.self) { try accumulator.calls() }
    }

    @Test("arguments over 64 KiB, a 17th call and a negative index are refused")
    func bounds() throws {
        var accumulator = ToolCallAccumulator()
        let chunk = String(repeating: "x", count: 1024)
        for _ in 0..<64 { try accumulator.add(ToolCallDelta(index: 0, name: "f", arguments: chunk)) }
        #expect(throws: ToolCallAccumulator.Failure.self) { try accumulator.add(ToolCallDelta(index: 0, arguments: "x")) }
        var many = ToolCallAccumulator()
        for index in 0..<16 { try many.add(ToolCallDelta(index: index, name: "f")) }
        #expect(throws: ToolCallAccumulator.Failure.self) { try many.add(ToolCallDelta(index: 16, name: "f")) }
        #expect(throws: ToolCallAccumulator.Failure.self) { try many.add(ToolCallDelta(index: -1, name: "f")) }
    }
}
