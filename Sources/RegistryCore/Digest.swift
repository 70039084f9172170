/// A content digest, `algorithm:encoded`, as defined by the OCI image spec.
///
/// Only the algorithms Pier can verify (`sha256`, `sha512`) are representable; their encoded part
/// must be lower-case hex of the right length (the spec forbids upper case).
// https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The hash function, e.g. `sha256`.
    public let algorithm: DigestAlgorithm
    /// `algorithm:encoded`, kept whole: it is written into headers and SQL far more often than it is taken apart.
    public let description: String

    /// The lower-case hex encoding of the hash.
    public var encoded: Substring { description.dropFirst(algorithm.rawValue.utf8.count + 1) }

    /// Parses and validates a digest string.
    /// - Throws: ``RegistryError`` `DIGEST_INVALID` when the string is malformed or the algorithm unsupported.
    public init(parsing string: String) throws(RegistryError) {
        guard let value = Digest(string) else {
            throw RegistryError(.digestInvalid, message: "invalid or unsupported digest", detail: String(string.prefix(256)))
        }
        self = value
    }

    /// Parses a digest string; `nil` if it is malformed or uses an unsupported algorithm.
    // Works on the UTF-8 bytes, not generic over StringProtocol: this runs on every manifest and blob request.
    public init?(_ string: String) {
        let utf8 = string.utf8
        let algorithm: DigestAlgorithm
        if utf8.count == 7 + 64, utf8.starts(with: "sha256:".utf8) {
            algorithm = .sha256
        } else if utf8.count == 7 + 128, utf8.starts(with: "sha512:".utf8) {
            algorithm = .sha512
        } else {
            return nil
        }
        guard utf8.dropFirst(7).allSatisfy(\.isLowerHexDigit) else { return nil }
        self.algorithm = algorithm
        self.description = string
    }

    /// Builds a digest from raw hash bytes.
    public init(algorithm: DigestAlgorithm, hashBytes: some Sequence<UInt8>) {
        self.algorithm = algorithm
        var hex = ""
        hex.reserveCapacity(algorithm.encodedLength)
        for byte in hashBytes {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0x0F)])
        }
        self.description = algorithm.rawValue + ":" + hex
    }

    /// The digest of `bytes` with `algorithm` (SHA-256 by default).
    public static func of(_ bytes: some Sequence<UInt8>, algorithm: DigestAlgorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }


    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }
}

private let hexDigits: [Character] = Array("0123456789abcdef")

extension UInt8 {
    var isLowerHexDigit: Bool {
        (self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")) || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
    }
}

extension Digest: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let digest = Digest(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid digest \(string.prefix(100))")
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
