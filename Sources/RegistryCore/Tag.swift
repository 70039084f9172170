/// A tag, validated against the spec's grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
public struct Tag: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Longest tag the spec allows.
    public static let maximumLength = 128

    /// The tag as a string.
    public let value: String

    /// Validates `string`; `nil` when it does not match the grammar.
    public init?(_ string: String) {
        let bytes = string.utf8
        guard let first = bytes.first, bytes.count <= Self.maximumLength else { return nil }
        guard Self.isWordCharacter(first) else { return nil }
        for byte in bytes.dropFirst() where !(Self.isWordCharacter(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")) {
            return nil
        }
        value = string
    }

    private static func isWordCharacter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }

    public var description: String { value }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.value < rhs.value }
}

/// The `<tag-or-digest>` part of a manifest URL.
public enum Reference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    /// Parses a reference: a digest when it contains `:`, a tag otherwise.
    /// - Throws: `DIGEST_INVALID` for a malformed digest, `MANIFEST_INVALID` for a malformed tag.
    public init(parsing string: String) throws(RegistryError) {
        if string.contains(":") {
            self = .digest(try Digest(parsing: string))
        } else if let tag = Tag(string) {
            self = .tag(tag)
        } else {
            // Distribution answers TAG_INVALID, a code the OCI spec does not list; MANIFEST_INVALID is the nearest.
            throw RegistryError(.manifestInvalid, message: "invalid tag", detail: String(string.prefix(200)))
        }
    }

    public var description: String {
        switch self {
        case .tag(let tag): tag.value
        case .digest(let digest): digest.description
        }
    }
}
