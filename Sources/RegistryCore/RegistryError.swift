/// An error a client sees: one of the spec's error codes, the HTTP status to answer with, and a message.
///
/// The mapping from code to status is registered here, once. The HTTP layer renders it as the spec's
/// `{"errors":[{"code","message","detail"}]}` envelope.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    /// An error code. A struct around a private enum, so that adding codes never breaks callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case blobUnknown = "BLOB_UNKNOWN"
            case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
            case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
            case digestInvalid = "DIGEST_INVALID"
            case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
            case manifestInvalid = "MANIFEST_INVALID"
            case manifestUnknown = "MANIFEST_UNKNOWN"
            case nameInvalid = "NAME_INVALID"
            case nameUnknown = "NAME_UNKNOWN"
            case sizeInvalid = "SIZE_INVALID"
            case unauthorized = "UNAUTHORIZED"
            case denied = "DENIED"
            case unsupported = "UNSUPPORTED"
            case tooManyRequests = "TOOMANYREQUESTS"
            case unknown = "UNKNOWN"
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The code as written in the JSON body, e.g. `BLOB_UNKNOWN`.
        public var description: String { value.rawValue }

        /// The HTTP status this code is answered with unless the thrower says otherwise.
        public var defaultStatus: Int {
            switch value {
            case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: 404
            case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid, .sizeInvalid: 400
            case .unauthorized: 401
            case .denied: 403
            case .unsupported: 405
            case .tooManyRequests: 429
            case .unknown: 500
            }
        }

        /// Blob unknown to registry.
        public static let blobUnknown = Code(.blobUnknown)
        /// Blob upload invalid.
        public static let blobUploadInvalid = Code(.blobUploadInvalid)
        /// Blob upload unknown to registry.
        public static let blobUploadUnknown = Code(.blobUploadUnknown)
        /// Provided digest did not match uploaded content.
        public static let digestInvalid = Code(.digestInvalid)
        /// Manifest references a manifest or blob unknown to registry.
        public static let manifestBlobUnknown = Code(.manifestBlobUnknown)
        /// Manifest invalid.
        public static let manifestInvalid = Code(.manifestInvalid)
        /// Manifest unknown to registry.
        public static let manifestUnknown = Code(.manifestUnknown)
        /// Invalid repository name.
        public static let nameInvalid = Code(.nameInvalid)
        /// Repository name not known to registry.
        public static let nameUnknown = Code(.nameUnknown)
        /// Provided length did not match content length.
        public static let sizeInvalid = Code(.sizeInvalid)
        /// Authentication required.
        public static let unauthorized = Code(.unauthorized)
        /// Requested access to the resource is denied.
        public static let denied = Code(.denied)
        /// The operation is unsupported.
        public static let unsupported = Code(.unsupported)
        /// Too many requests.
        public static let tooManyRequests = Code(.tooManyRequests)
        /// A server-side failure (not a spec code; only ever sent with a 5xx status).
        public static let unknown = Code(.unknown)
    }

    /// The spec's error code.
    public let code: Code
    /// The HTTP status to answer with.
    public let status: Int
    /// A human-readable message.
    public let message: String
    /// Unstructured detail (the offending value, say), rendered as a JSON string when present.
    public let detail: String?
    /// What the response says besides the error body, rendered as headers by the HTTP layer.
    public let hints: [Hint]

    /// Facts an error response carries in headers; the HTTP layer owns the header names.
    public enum Hint: Sendable, Equatable {
        /// The state of an upload session, so the client can continue (`Location`, `Range`, `Docker-Upload-UUID`).
        case uploadState(location: String, range: String, id: String)
        /// Retry after this many seconds (`Retry-After`).
        case retryAfter(seconds: Int)
        /// The request body is not read: end the connection instead of draining it (`Connection: close`).
        case closeConnection
        /// How to authenticate (`WWW-Authenticate`).
        case challenge(String)
    }

    /// An error with `code`'s default status unless `status` is given.
    public init(_ code: Code, status: Int? = nil, message: String, detail: String? = nil, hints: [Hint] = []) {
        self.code = code
        self.status = status ?? code.defaultStatus
        self.message = message
        self.detail = detail
        self.hints = hints
    }

    public var description: String {
        "\(status) \(code): \(message)" + (detail.map { " (\($0))" } ?? "")
    }
}

extension RegistryError {
    /// `BLOB_UNKNOWN` for a digest.
    public static func blobUnknown(_ digest: Digest) -> RegistryError {
        RegistryError(.blobUnknown, message: "blob unknown to registry", detail: digest.description)
    }

    /// `MANIFEST_UNKNOWN` for a reference.
    public static func manifestUnknown(_ reference: Reference) -> RegistryError {
        RegistryError(.manifestUnknown, message: "manifest unknown", detail: reference.description)
    }

    /// `NAME_UNKNOWN` for a repository.
    public static func nameUnknown(_ name: RepositoryName) -> RegistryError {
        RegistryError(.nameUnknown, message: "repository name not known to registry", detail: name.value)
    }

    /// `BLOB_UPLOAD_UNKNOWN` for an upload session.
    public static func uploadUnknown(_ id: String) -> RegistryError {
        RegistryError(.blobUploadUnknown, message: "blob upload unknown to registry", detail: String(id.prefix(100)))
    }

    /// `UNSUPPORTED` with 405 for an operation switched off by configuration.
    public static func disabled(_ what: String) -> RegistryError {
        RegistryError(.unsupported, status: 405, message: "\(what) is disabled on this registry")
    }

    /// A server-side failure; the message is safe to show (no paths or internals).
    public static func `internal`(_ message: String) -> RegistryError {
        RegistryError(.unknown, status: 500, message: message)
    }
}
