/// The query of a Flux connection as the fake reads it (docs/providers.md, Flux's parameters).
struct FakeDeepgramFluxOptions: Sendable, Equatable {
    /// Why a query is refused.
    struct Failure: Error {
        var message: String
    }

    enum Encoding: String, Sendable {
        case linear16, mulaw
        var bytesPerSample: Int { self == .linear16 ? 2 : 1 }
    }

    var model: String
    var encoding: Encoding
    var sampleRate: Int
    var endOfTurnThreshold = 0.7
    var eagerEndOfTurnThreshold: Double?
    var endOfTurnTimeoutMilliseconds = 5000
    var keyterms: [String] = []

    /// Whether a model end of turn can happen (`eot_threshold` below 1.0).
    var modelEndsTurns: Bool { endOfTurnThreshold < 1.0 }

    static let models: Set = ["flux-general-en", "flux-general-multi"]
    /// Every encoding Flux takes; the fake decodes only linear16 and mulaw.
    static let encodings: Set = ["linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus"]
    static let sampleRates: Set = [8000, 16000, 24000, 44100, 48000]

    static func parse(_ query: [(String, String)], validate: Bool) -> Result<Self, Failure> {
        func value(_ name: String) -> String? { query.last { $0.0 == name }?.1 }
        guard let model = value("model") else { return .failure(Failure(message: "The model parameter is required.")) }
        if validate, !models.contains(model) {
            return .failure(Failure(message: "Unknown model \(model.prefix(40)) for /v2/listen."))
        }
        let encodingName = value("encoding") ?? "linear16"
        if validate, !encodings.contains(encodingName) {
            return .failure(Failure(message: "Unsupported encoding \(encodingName.prefix(40))."))
        }
        guard let encoding = Encoding(rawValue: encodingName) else {
            return .failure(Failure(message: "The fake decodes only linear16 and mulaw, not \(encodingName.prefix(40))."))
        }
        guard let rateText = value("sample_rate") else {
            return .failure(Failure(message: "Raw audio (encoding=\(encodingName)) needs sample_rate."))
        }
        guard let sampleRate = Int(rateText), !validate || sampleRates.contains(sampleRate), sampleRate > 0 else {
            return .failure(Failure(message: "Invalid sample_rate \(rateText.prefix(20))."))
        }
        var options = FakeDeepgramFluxOptions(model: model, encoding: encoding, sampleRate: sampleRate)
        options.keyterms = query.filter { $0.0 == "keyterm" }.map(\.1)
        do {
            if let text = value("eot_threshold") { options.endOfTurnThreshold = try number("eot_threshold", text, 0.5...1.0, validate) }
            if let text = value("eager_eot_threshold") {
                options.eagerEndOfTurnThreshold = try number("eager_eot_threshold", text, 0.3...0.9, validate)
            }
            if let text = value("eot_timeout_ms") {
                options.endOfTurnTimeoutMilliseconds = Int(try number("eot_timeout_ms", text, 500...60000, validate))
            }
        } catch {
            return .failure(error)
        }
        return .success(options)
    }

    /// Checks a threshold or timeout as Flux's `Configure` does too.
    static func number(_ name: String, _ text: String, _ range: ClosedRange<Double>, _ validate: Bool) throws(Failure) -> Double {
        guard let number = Double(text), number.isFinite, !validate || range.contains(number) else {
            throw Failure(message: "\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(text.prefix(20)).")
        }
        return number
    }
}
