import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ParleyCore

/// `POST /twilio/voice`: answers Twilio's incoming-call webhook with TwiML that connects the call
/// to Parley's Media Streams WebSocket, after checking `X-Twilio-Signature` when an auth token is set.
struct TwilioWebhook: Sendable {
    /// The public base URL (`PUBLIC_URL`), e.g. `https://parley.example.com`; nil uses the Host header.
    let publicURL: String?
    /// The account auth token (`TWILIO_AUTH_TOKEN`); nil skips signature validation.
    let authToken: String?

    /// Largest webhook body read, in bytes (Twilio's form posts are about 1 KB).
    static let maximumBodyBytes = 64 * 1024
    /// The path of the Media Streams WebSocket.
    static let streamPath = "/twilio"
    static let signatureHeader = HTTPField.Name("X-Twilio-Signature")!

    func respond(to request: Request, logger: Logger) async throws -> Response {
        if let authToken {
            let body = try await request.body.collect(upTo: Self.maximumBodyBytes)
            let parameters = TwilioSignature.formParameters(String(buffer: body))
            let url = requestURL(request)
            let signature = request.headers[Self.signatureHeader]
            guard TwilioSignature.isValid(signature, authToken: authToken, url: url, parameters: parameters) else {
                logger.warning(
                    "twilio webhook refused: bad signature",
                    metadata: ["parley.twilio.url": "\(url)", "parley.twilio.signed": "\(signature != nil)"])
                let reason =
                    signature == nil
                    ? "Missing X-Twilio-Signature header: this endpoint only answers requests signed by Twilio.\n"
                    : "X-Twilio-Signature does not match this request (check TWILIO_AUTH_TOKEN and PUBLIC_URL).\n"
                return Response(
                    status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: reason)))
            }
        }
        let twiml = Self.twiml(streamURL: streamURL(request))
        return Response(status: .ok, headers: [.contentType: "text/xml"], body: .init(byteBuffer: ByteBuffer(string: twiml)))
    }

    /// Why the Media Streams WebSocket upgrade at `request` is refused, or nil: with an auth token
    /// set, Twilio signs the upgrade as a request to the `wss://` URL (no parameters).
    func socketSignatureProblem(_ request: Request) -> String? {
        guard let authToken else { return nil }
        let signature = request.headers[Self.signatureHeader]
        guard signature != nil else {
            return "Missing X-Twilio-Signature header: this endpoint only accepts Media Streams signed by Twilio."
        }
        let url = ProviderURL.webSocket(requestURL(request))
        guard TwilioSignature.isValid(signature, authToken: authToken, url: url, parameters: []) else {
            return "X-Twilio-Signature does not match this stream (check TWILIO_AUTH_TOKEN and PUBLIC_URL)."
        }
        return nil
    }

    /// The TwiML connecting a call to the stream at `streamURL`.
    static func twiml(streamURL: String) -> String {
        #"<?xml version="1.0" encoding="UTF-8"?>"#
            + #"<Response><Connect><Stream url="\#(xmlEscaped(streamURL))"/></Connect></Response>"#
    }

    /// `wss://HOST/twilio`: from `PUBLIC_URL` (`https` → `wss`, `http` → `ws`, its path kept as a
    /// prefix) or else the request's Host.
    func streamURL(_ request: Request) -> String {
        guard let base = publicBase else { return "wss://\(request.head.authority ?? "localhost")\(Self.streamPath)" }
        return ProviderURL.webSocket(base) + Self.streamPath
    }

    /// The URL Twilio requested, as it signs it: `PUBLIC_URL`'s scheme and host (or `https://` and
    /// the Host header) with the request's path and query.
    func requestURL(_ request: Request) -> String {
        let target = request.head.path ?? "/"
        guard let base = publicBase else { return "https://\(request.head.authority ?? "localhost")\(target)" }
        // PUBLIC_URL's own path is a proxy prefix; the request target here lacks it only if the proxy stripped it.
        if let prefixEnd = base.range(of: "://")?.upperBound, let slash = base[prefixEnd...].firstIndex(of: "/"),
            !target.hasPrefix(String(base[slash...]))
        {
            return base + target
        }
        guard let schemeEnd = base.range(of: "://")?.upperBound else { return base + target }
        let host = base[schemeEnd...].prefix { $0 != "/" }
        return base[..<schemeEnd] + host + target
    }

    private var publicBase: String? {
        guard var base = publicURL?.trimmingCharacters(in: .whitespaces), !base.isEmpty else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    private static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
