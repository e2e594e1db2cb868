import Testing

@testable import ParleyServer

/// ``TwilioPlayback`` on instants given by the test: mark names and epochs, the position between
/// echoes, the audio kept for a resume, and what an interruption reports.
@Suite("Twilio playback position")
struct TwilioPlaybackTests {
    static let frame = [UInt8](repeating: 0x7F, count: 160)
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    /// Sends `count` frames of `turnID` at `time`; returns the marks due.
    func send(_ playback: TwilioPlayback, turnID: Int = 1, frames count: Int, at time: Int) -> [String] {
        (0..<count).compactMap { _ in playback.sent(turnID: turnID, bytes: Self.frame, at: at(time)) }
    }

    @Test("mark names: progress, end, and after a clear with the epoch; anything else is not Parley's")
    func names() {
        #expect(TwilioPlayback.markName(turnID: 7, samples: 1600, epoch: 0) == "reply-7-1600")
        #expect(TwilioPlayback.markName(turnID: 7, samples: nil, epoch: 0) == "reply-7")
        #expect(TwilioPlayback.markName(turnID: 7, samples: 1600, epoch: 2) == "reply-7-1600-2")
        #expect(TwilioPlayback.markName(turnID: 7, samples: nil, epoch: 2) == "reply-7-end-2")
        for name in ["reply-7-1600", "reply-7", "reply-7-1600-2", "reply-7-end-2"] {
            let mark = TwilioPlayback.parse(name)
            #expect(mark.map { TwilioPlayback.markName(turnID: $0.turnID, samples: $0.samples, epoch: $0.epoch) } == name)
        }
        for name in ["greeting", "reply-", "reply-x", "reply-7-end", "reply-7-end-0", "reply-7--1", "reply-7-1-2-3", "reply--1"] {
            #expect(TwilioPlayback.parse(name) == nil, "\(name)")
        }
    }

    @Test("a mark every 10 frames; echoes say what was heard and drop the audio kept before it")
    func progress() {
        let playback = TwilioPlayback()
        #expect(send(playback, frames: 25, at: 0) == ["reply-1-1600", "reply-1-3200"])
        #expect(playback.ended(turnID: 1) == "reply-1")
        #expect(playback.played(mark: "reply-1-1600", at: at(200))! == (1, 1600))
        #expect(playback.played(mark: "reply-9-1600", at: at(200)) == nil)
        #expect(playback.played(mark: "reply-1", at: at(500))! == (1, 4000))
        // A mark past what was sent counts as the end of what was sent.
        #expect(playback.played(mark: "reply-1-99999", at: at(500))! == (1, 4000))
    }

    @Test("bursts of several frames in one message: a mark after each 200 ms of audio, where the message ends")
    func progressInBursts() {
        let playback = TwilioPlayback()
        // 60 ms messages (480 bytes): 200 ms is crossed by the 4th (at 1920), the 7th (3360), the 10th (4800).
        let burst = [UInt8](repeating: 0x7F, count: 480)
        let marks = (0..<10).compactMap { _ in playback.sent(turnID: 1, bytes: burst, at: at(0)) }
        #expect(marks == ["reply-1-1920", "reply-1-3360", "reply-1-4800"])
        #expect(playback.played(mark: "reply-1-1920", at: at(240))! == (1, 1920))
    }

    @Test("a pause clears at the position reached by real time from the last echo, not past an unechoed mark")
    func pauseAndResume() throws {
        let playback = TwilioPlayback()
        _ = send(playback, frames: 20, at: 0)  // 400 ms of audio sent at once, marks at 1600 and 3200
        _ = playback.played(mark: "reply-1-1600", at: at(200))
        // 50 ms after the echo: 1600 + 400 samples heard.
        #expect(playback.paused(turnID: 1, at: at(250)))
        #expect(!playback.paused(turnID: 1, at: at(260)), "already cleared")
        // Marks of the cleared epoch are ignored, even one that did play.
        #expect(playback.played(mark: "reply-1-3200", at: at(270)) == nil)
        let resume = try #require(playback.resumed(turnID: 1, at: at(2000)))
        #expect(resume.audio.count == 3200 - 2000 && resume.lost == 0)
        #expect(resume.mark == "reply-1-3200-1")
        #expect(playback.resumed(turnID: 1, at: at(2001)) == nil, "resumed once")
        // The new epoch's marks count.
        #expect(send(playback, frames: 10, at: 2100) == ["reply-1-4800-1"])
        #expect(playback.played(mark: "reply-1-3200-1", at: at(2150))! == (1, 3200))
        #expect(playback.ended(turnID: 1) == "reply-1-end-1")
        #expect(playback.played(mark: "reply-1-end-1", at: at(2400))! == (1, 4800))

        // Long after the last echo, the estimate stops at the next mark not yet echoed.
        let stalled = TwilioPlayback()
        _ = send(stalled, turnID: 2, frames: 30, at: 0)
        _ = stalled.played(mark: "reply-2-1600", at: at(200))
        #expect(stalled.paused(turnID: 2, at: at(5000)))
        #expect(try #require(stalled.resumed(turnID: 2, at: at(5100))).audio.count == 4800 - 3200)
    }

    @Test("a pacer that fell behind: Twilio's buffer ran dry, so the position counts from the late message, not from the echo")
    func bufferRanDry() throws {
        let playback = TwilioPlayback()
        _ = send(playback, frames: 10, at: 0)  // 200 ms, mark at 1600
        _ = playback.played(mark: "reply-1-1600", at: at(200))  // played out: the buffer is empty
        // The next audio comes 300 ms late and starts playing as it arrives.
        _ = send(playback, frames: 3, at: 500)
        _ = send(playback, frames: 3, at: 560)  // on time again: 60 ms later, 480 samples ahead
        // 100 ms after the late message: 800 samples past 1600, not 700 ms' worth past the echo.
        #expect(playback.paused(turnID: 1, at: at(600)))
        let resume = try #require(playback.resumed(turnID: 1, at: at(700)))
        #expect(resume.audio.count == 1600 + 960 - 2400)
        #expect(resume.lost == 0)

        // While the pacer keeps ahead, the messages bound nothing: the echo's clock decides.
        let steady = TwilioPlayback()
        _ = send(steady, frames: 20, at: 0)  // 400 ms
        _ = steady.played(mark: "reply-1-1600", at: at(200))
        _ = send(steady, frames: 5, at: 250)  // 150 ms still buffered
        #expect(steady.paused(turnID: 1, at: at(300)))
        #expect(try #require(steady.resumed(turnID: 1, at: at(400))).audio.count == 4000 - (1600 + 800))
    }

    @Test("without echoes the position runs from the first frame sent; nothing sent means nothing to clear")
    func noEchoes() throws {
        let playback = TwilioPlayback()
        #expect(!playback.paused(turnID: 1, at: at(0)))
        _ = send(playback, frames: 5, at: 0)  // 100 ms sent at once (the pacer's lead)
        #expect(playback.paused(turnID: 1, at: at(60)))
        #expect(try #require(playback.resumed(turnID: 1, at: at(100))).audio.count == 800 - 480)
    }

    @Test("an interruption reports what was heard: the pause's position, or now's; a clear only if one is needed")
    func interruption() {
        let paused = TwilioPlayback()
        _ = send(paused, frames: 20, at: 0)
        _ = paused.played(mark: "reply-1-1600", at: at(200))
        _ = paused.paused(turnID: 1, at: at(225))
        let afterPause = paused.interrupted(turnID: 1, at: at(900))
        #expect(afterPause.playedSamples == 1800 && !afterPause.needsClear)
        #expect(paused.played(mark: "reply-1-end-1", at: at(950)) == nil)
        #expect(paused.resumed(turnID: 1, at: at(1000)) == nil)

        let playing = TwilioPlayback()
        _ = send(playing, frames: 20, at: 0)
        _ = playing.played(mark: "reply-1-1600", at: at(200))
        let direct = playing.interrupted(turnID: 1, at: at(210))
        #expect(direct.playedSamples == 1680 && direct.needsClear)
        #expect(playing.played(mark: "reply-1-3200", at: at(400)) == nil)
        // A turn never sent: nothing heard, and Twilio is cleared anyway.
        #expect(playing.interrupted(turnID: 5, at: at(400)) == (0, true))
    }

    @Test("audio kept for a resume is bounded; what was dropped is reported as lost")
    func retainedBound() throws {
        let playback = TwilioPlayback()
        let frames = TwilioPlayback.retainedLimit / 160 + 50
        _ = send(playback, frames: frames, at: 0)
        // No echo: the position is the first frame's start plus 10 ms.
        #expect(playback.paused(turnID: 1, at: at(10)))
        let resume = try #require(playback.resumed(turnID: 1, at: at(20)))
        #expect(resume.audio.count == TwilioPlayback.retainedLimit)
        #expect(resume.lost == frames * 160 - TwilioPlayback.retainedLimit - 80)
    }
}
