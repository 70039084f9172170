import RegistryCore

/// A failure inside a blob store: code, message and the underlying cause.
public struct BlobStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case notFound, insufficientStorage, io, digestMismatch, sizeExceeded, unsupported
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        public var description: String { value.rawValue }

        /// The blob or upload does not exist.
        public static let notFound = Code(.notFound)
        /// The disk (or bucket quota) is full.
        public static let insufficientStorage = Code(.insufficientStorage)
        /// Any other I/O failure.
        public static let io = Code(.io)
        /// Stored bytes do not hash to the expected digest.
        public static let digestMismatch = Code(.digestMismatch)
        /// The body is longer than the caller allowed.
        public static let sizeExceeded = Code(.sizeExceeded)
        /// The store cannot do this.
        public static let unsupported = Code(.unsupported)
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        "BlobStoreError(\(code)): \(message)" + (cause.map { " (cause: \($0))" } ?? "")
    }
}

/// A failure inside a metadata store.
public struct MetadataStoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case missingReferences, busy, insufficientStorage, database
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        public var description: String { value.rawValue }

        /// A manifest references blobs or manifests the repository does not hold.
        public static let missingReferences = Code(.missingReferences)
        /// The row is being changed by someone else (garbage collection deleting a blob); retry shortly.
        public static let busy = Code(.busy)
        /// The database's disk is full.
        public static let insufficientStorage = Code(.insufficientStorage)
        /// The database failed.
        public static let database = Code(.database)
    }

    public var code: Code
    public var message: String
    /// For `missingReferences`: the digests that are missing.
    public var digests: [Digest]
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, digests: [Digest] = [], cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.digests = digests
        self.cause = cause
    }

    public var description: String {
        "MetadataStoreError(\(code)): \(message)" + (cause.map { " (cause: \($0))" } ?? "")
    }
}
