/// Builds a `multipart/form-data` body (RFC 7578) for file uploads.
public struct MultipartFormData: Sendable {
    /// The boundary between parts.
    public let boundary: String
    private var body: [UInt8] = []

    /// Creates an empty form with a random boundary.
    public init(boundary: String = "parley-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)) {
        self.boundary = boundary
    }

    /// The `Content-Type` header value.
    public var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Adds a text field.
    public mutating func add(name: String, value: String) {
        append("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n")
        append(value)
        append("\r\n")
    }

    /// Adds a file field.
    public mutating func add(name: String, filename: String, contentType: String, data: [UInt8]) {
        append("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\n")
        append("Content-Type: \(contentType)\r\n\r\n")
        body.append(contentsOf: data)
        append("\r\n")
    }

    /// The finished body.
    public func encoded() -> [UInt8] {
        body + Array("--\(boundary)--\r\n".utf8)
    }

    private mutating func append(_ text: String) {
        body.append(contentsOf: text.utf8)
    }
}
