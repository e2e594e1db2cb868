import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// One `GET /metrics` answer: the text and its samples by series (name with its labels).
struct MetricsScrape {
    let text: String
    let contentType: String?
    let samples: [String: Double]

    init(text: String, contentType: String?) {
        self.text = text
        self.contentType = contentType
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// The value of `series`, such as `parley_turns_total` or `parley_turn_stage_seconds_count{stage="stt_final"}`.
    func value(_ series: String) -> Double? {
        samples[series]
    }
}

/// Fetches `/metrics` from a test client.
func scrape(_ client: some TestClientProtocol) async throws -> MetricsScrape {
    try await client.execute(uri: "/metrics", method: .get) { response in
        #expect(response.status == .ok)
        return MetricsScrape(text: String(buffer: response.body), contentType: response.headers[.contentType])
    }
}
