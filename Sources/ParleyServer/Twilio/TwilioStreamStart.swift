import ParleyCore

/// What a `start` message says about the stream.
package struct TwilioStreamStart: Sendable, Equatable {
    /// The stream's id; every message Parley sends carries it.
    package var streamSID: String
    /// The call's id.
    package var callSID: String?
    /// `<Parameter>`s from the TwiML.
    package var customParameters: [String: String]
    /// `audio/x-mulaw`, 8000 Hz, mono is the only format Twilio sends and Parley accepts.
    package var encoding: String
    package var sampleRate: Int?
    package var channels: Int?

    init(streamSID: String, callSID: String? = nil, customParameters: [String: String] = [:]) {
        self.streamSID = streamSID
        self.callSID = callSID
        self.customParameters = customParameters
        encoding = "audio/x-mulaw"
        sampleRate = 8000
        channels = 1
    }

    init(_ message: JSONValue) throws(TwilioInboundEvent.DecodingError) {
        let start = message["start"]
        guard let streamSID = start?["streamSid"]?.stringValue ?? message["streamSid"]?.stringValue, !streamSID.isEmpty,
            streamSID.utf8.count <= 128
        else { throw .init("start without a streamSid") }
        self.streamSID = streamSID
        callSID = start?["callSid"]?.stringValue
        var parameters: [String: String] = [:]
        if case .object(let members) = start?["customParameters"] {
            for (name, value) in members.prefix(32) { parameters[name] = value.stringValue ?? value.serialized }
        }
        customParameters = parameters
        let format = start?["mediaFormat"]
        encoding = format?["encoding"]?.stringValue ?? ""
        sampleRate = TwilioInboundEvent.lenientInt(format?["sampleRate"])
        channels = TwilioInboundEvent.lenientInt(format?["channels"])
    }

    /// Why Parley cannot take this stream's audio, or nil when it can.
    package var formatProblem: String? {
        guard encoding == "audio/x-mulaw", sampleRate == 8000, channels == 1 else {
            return "unsupported media format \(encoding) \(sampleRate.map(String.init) ?? "?") Hz "
                + "\(channels.map(String.init) ?? "?") channel(s); Parley takes audio/x-mulaw 8000 Hz mono"
        }
        return nil
    }
}
