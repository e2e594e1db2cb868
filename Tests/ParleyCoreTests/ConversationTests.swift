import ParleyCore
import Testing

@Suite("Conversation memory")
struct ConversationTests {
    @Test("an interrupted reply ends in the marker; the greeting is an assistant message without a user one")
    func messages() {
        var conversation = Conversation(systemPrompt: "Be brief.")
        conversation.addUserTurn(id: 0, text: "")
        conversation.setReply("Hello!", interrupted: false, forTurn: 0)
        conversation.addUserTurn(id: 1, text: "Tell me a story.")
        conversation.setReply("Once upon a time", interrupted: true, forTurn: 1)
        conversation.addUserTurn(id: 2, text: "Stop.")
        conversation.setReply("", interrupted: true, forTurn: 2)
        #expect(
            conversation.messages == [
                .system("Be brief."), .assistant("Hello!"), .user("Tell me a story."), .assistant("Once upon a time…"), .user("Stop."),
            ])
    }

    @Test("the client's report corrects the stored estimate, whichever arrives first")
    func playbackReport() {
        var heard = HeardText(outputRate: 16000)
        heard.addChunk(
            AudioChunk(
                samples: Array(repeating: 0, count: 16000), sampleRate: 16000, alignment: .proportional("one two three four", over: .seconds(1))))
        let store = ConversationStore(Conversation(systemPrompt: ""))
        store.addUserTurn(id: 1, text: "Count.")
        store.setInterruptedReply(heard: heard, estimatedPlayedSamples: 16000, forTurn: 1)
        #expect(store.messages(upTo: 1).last == .assistant("one two three four…"))
        store.playbackCleared(turnID: 1, playedSamples: 8000)  // 9 of 18 characters: "one two t"
        #expect(store.messages(upTo: 1).last == .assistant("one two…"))

        store.addUserTurn(id: 2, text: "Again.")
        store.playbackCleared(turnID: 2, playedSamples: 3000)
        store.setInterruptedReply(heard: heard, estimatedPlayedSamples: 16000, forTurn: 2)
        #expect(store.messages(upTo: 2).last == .assistant("one…"))
    }

    @Test("folding picks the oldest complete turns, keeps the newest, and the summary keeps the history within budget")
    func folding() throws {
        var conversation = Conversation(systemPrompt: "Be brief.", historyTokenBudget: 100)
        for id in 1...6 {
            conversation.addUserTurn(id: id, text: "Fact number \(id): " + String(repeating: "x", count: 40))
            conversation.setReply("Noted " + String(repeating: "y", count: 30), interrupted: false, forTurn: id)
        }
        conversation.addUserTurn(id: 7, text: "What do you know?")
        #expect(conversation.estimatedTokens > 100)
        let job = try #require(conversation.foldJob())
        #expect(job.messages.first == .system(Conversation.summaryInstruction))
        #expect(job.messages.last?.content.contains("User: Fact number 1: ") == true)
        #expect(job.throughTurn < 7)
        // Nothing is lost while the summary is being written.
        #expect(conversation.turns.count == 7)

        conversation.applySummary("The user gave facts one to \(job.throughTurn). " + String(repeating: "z ", count: 200), for: job)
        #expect(conversation.turns.first?.id == job.throughTurn + 1)
        #expect(conversation.turns.last?.id == 7)
        #expect(conversation.estimatedTokens <= 100)
        #expect(conversation.foldJob() == nil)
        let messages = conversation.messages
        #expect(messages[0] == .system("Be brief."))
        #expect(messages[1].role == .system && messages[1].content.hasPrefix(Conversation.summaryPrefix + "The user gave facts"))
        #expect(messages.last == .user("What do you know?"))
    }

    @Test("a turn whose reply is not in yet is never folded, nor is the newest")
    func notFoldedEarly() {
        var conversation = Conversation(systemPrompt: "", historyTokenBudget: 10)
        conversation.addUserTurn(id: 1, text: String(repeating: "long ", count: 40))
        #expect(conversation.foldJob() == nil)
        conversation.setReply("ok", interrupted: false, forTurn: 1)
        #expect(conversation.foldJob() == nil)
        conversation.addUserTurn(id: 2, text: "and?")
        #expect(conversation.foldJob()?.throughTurn == 1)
    }
}
