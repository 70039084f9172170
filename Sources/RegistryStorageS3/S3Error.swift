/// A failure talking to S3: what went wrong, S3's own error code and message, and the request it answered.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    /// What went wrong. A struct around a private enum, so that adding codes never breaks callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidArgument, noSuchKey, noSuchUpload, noSuchBucket, accessDenied, signatureDoesNotMatch
            case slowDown, preconditionFailed, invalidRange, invalidPart, entityTooSmall, bucketAlreadyExists
            case unavailable, unreachable, invalidResponse, corruptTransfer, other
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The code's name, e.g. `noSuchKey`.
        public var description: String { value.rawValue }

        /// The caller asked for something S3 cannot do (a bad expiry, part number, range), or S3 said so.
        public static let invalidArgument = Code(.invalidArgument)
        /// The object does not exist (`NoSuchKey`, or 404 to a HEAD, which has no body).
        public static let noSuchKey = Code(.noSuchKey)
        /// The multipart upload does not exist: never created, completed or aborted.
        public static let noSuchUpload = Code(.noSuchUpload)
        /// The bucket does not exist.
        public static let noSuchBucket = Code(.noSuchBucket)
        /// The credentials may not do this (`AccessDenied`, `InvalidAccessKeyId`, an expired token or URL).
        public static let accessDenied = Code(.accessDenied)
        /// S3 computed another signature than ours: wrong secret, or a request changed after signing.
        public static let signatureDoesNotMatch = Code(.signatureDoesNotMatch)
        /// S3 asked to slow down (`SlowDown`, 503), after the retries.
        public static let slowDown = Code(.slowDown)
        /// A condition (`If-Match`, `If-None-Match`, a copy source's) did not hold.
        public static let preconditionFailed = Code(.preconditionFailed)
        /// The requested range is not satisfiable (416).
        public static let invalidRange = Code(.invalidRange)
        /// A part named in a completion is missing, or its ETag does not match (`InvalidPart`, `InvalidPartOrder`).
        public static let invalidPart = Code(.invalidPart)
        /// A part other than the last is smaller than 5 MiB.
        public static let entityTooSmall = Code(.entityTooSmall)
        /// The bucket already exists, owned by someone else.
        public static let bucketAlreadyExists = Code(.bucketAlreadyExists)
        /// S3 failed (`InternalError`, 500, 503), after the retries.
        public static let unavailable = Code(.unavailable)
        /// No answer: connection refused or reset, timeout, TLS failure, body cut short.
        public static let unreachable = Code(.unreachable)
        /// An answer that is not what S3 answers (malformed XML, a missing header).
        public static let invalidResponse = Code(.invalidResponse)
        /// The bytes S3 stored or sent are not the bytes sent or expected (MD5 ETag or length mismatch).
        public static let corruptTransfer = Code(.corruptTransfer)
        /// Any other S3 error; ``S3Error/s3Code`` names it.
        public static let other = Code(.other)
    }

    /// What went wrong.
    public var code: Code
    /// S3's `<Code>` (e.g. `NoSuchKey`), when S3 answered with an error document.
    public var s3Code: String?
    /// The HTTP status, when S3 answered.
    public var status: Int?
    /// Human text naming the operation and the key.
    public var message: String
    /// S3's `<RequestId>`, for the operator's support ticket.
    public var requestID: String?
    /// The underlying error, e.g. the HTTP client's connection error.
    public var cause: (any Error)?

    /// An error of `code`.
    public init(
        _ code: Code, _ message: String, s3Code: String? = nil, status: Int? = nil, requestID: String? = nil,
        cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.s3Code = s3Code
        self.status = status
        self.requestID = requestID
        self.cause = cause
    }

    public var description: String {
        var text = "S3Error(\(code)): \(message)"
        if let s3Code { text += " [\(s3Code)" + (status.map { " \($0)" } ?? "") + "]" } else if let status { text += " [\(status)]" }
        if let requestID { text += " request \(requestID)" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
