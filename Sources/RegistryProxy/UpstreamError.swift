/// A failure talking to an upstream registry. Every message names the upstream.
public struct UpstreamError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. A struct around a private enum, so that adding codes never breaks callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case notFound
            case unauthorized
            case rateLimited
            case unavailable
            case unreachable
            case invalidResponse
            case tooLarge
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The code's name, e.g. `notFound`.
        public var description: String { value.rawValue }

        /// The upstream answered 404.
        public static let notFound = Code(.notFound)
        /// The upstream (or its token endpoint) refused the configured credentials, or anonymous access.
        public static let unauthorized = Code(.unauthorized)
        /// The upstream answered 429 (after the retries, or with a Retry-After too long to wait).
        public static let rateLimited = Code(.rateLimited)
        /// The upstream answered 5xx (after the retries for 502, 503 and 504).
        public static let unavailable = Code(.unavailable)
        /// No answer: connection refused or reset, timeout, TLS failure, body cut short, request cancelled.
        public static let unreachable = Code(.unreachable)
        /// An unexpected status or a malformed response (bad JSON, bad redirect, digest mismatch).
        public static let invalidResponse = Code(.invalidResponse)
        /// The response is larger than the caller's limit.
        public static let tooLarge = Code(.tooLarge)
    }

    /// What went wrong.
    public var code: Code
    /// The upstream's base URL, so that every message names the upstream.
    public var upstream: String
    /// The upstream's HTTP status, when it answered.
    public var status: Int?
    /// Seconds from the upstream's Retry-After (429/503), when given.
    public var retryAfter: Int?
    /// Human text naming the upstream, e.g. "upstream https://x answered 503 for GET /v2/a/manifests/b".
    public var message: String
    /// The underlying error, e.g. the HTTP client's connection error.
    public var cause: (any Error)?

    /// An error of `code` about `upstream`.
    public init(
        _ code: Code, upstream: String, status: Int? = nil, retryAfter: Int? = nil, message: String, cause: (any Error)? = nil
    ) {
        self.code = code
        self.upstream = upstream
        self.status = status
        self.retryAfter = retryAfter
        self.message = message
        self.cause = cause
    }

    /// `code: message`, with the cause when there is one.
    public var description: String {
        var text = "\(code): \(message)"
        if let cause { text += " (\(cause))" }
        return text
    }
}

extension UpstreamError {
    /// The error for an upstream status that needs no request-specific wording: 429 rate-limited, 5xx unavailable
    /// (both with the upstream's Retry-After), anything else an invalid response.
    init(status: Int, upstream: String, retryAfter: Int?, message: String) {
        switch status {
        case 429: self.init(.rateLimited, upstream: upstream, status: status, retryAfter: retryAfter, message: message)
        case 500...599: self.init(.unavailable, upstream: upstream, status: status, retryAfter: retryAfter, message: message)
        default: self.init(.invalidResponse, upstream: upstream, status: status, message: message)
        }
    }
}
