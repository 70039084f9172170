import Crypto

/// A hash function Pier can verify content with.
public enum DigestAlgorithm: String, Sendable, CaseIterable, Codable {
    case sha256
    case sha512

    /// Length of the hex-encoded hash.
    public var encodedLength: Int {
        switch self {
        case .sha256: 64
        case .sha512: 128
        }
    }

    /// Parses an algorithm name as given in `?digest-algorithm=`.
    /// - Throws: `DIGEST_INVALID` for an algorithm Pier does not support.
    public init(parsing name: String) throws(RegistryError) {
        guard let algorithm = DigestAlgorithm(rawValue: name) else {
            throw RegistryError(.digestInvalid, message: "unsupported digest algorithm", detail: String(name.prefix(64)))
        }
        self = algorithm
    }
}

/// An incremental hasher for one ``DigestAlgorithm``; a value type, so a copy snapshots the state.
// swift-crypto 3's SHA-2 types are not marked Sendable, but they are values: their BoringSSL context is copied on
// write (`isKnownUniquelyReferenced`), so a hasher shared across tasks can never be mutated from two of them.
public struct DigestHasher: @unchecked Sendable {
    private enum State {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State

    /// The algorithm this hasher computes.
    public var algorithm: DigestAlgorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    /// A fresh hasher.
    public init(_ algorithm: DigestAlgorithm) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// Feeds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha256(hash)
        case .sha512(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha512(hash)
        }
    }

    /// Feeds bytes.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far. The hasher itself is unchanged.
    public func finalize() -> Digest {
        switch state {
        case .sha256(let hash): Digest(algorithm: .sha256, hashBytes: hash.finalize())
        case .sha512(let hash): Digest(algorithm: .sha512, hashBytes: hash.finalize())
        }
    }
}
