import RegistryCore

/// A manifest fetched from an upstream, byte for byte as it was served.
public struct UpstreamManifest: Sendable {
    /// The manifest's bytes, exactly as received (never re-encoded).
    public var bytes: [UInt8]
    /// The upstream's Content-Type (essence as given), or the manifest's own `mediaType` field when the
    /// upstream sent none; empty when neither is known.
    public var mediaType: String
    /// The upstream's Docker-Content-Digest, when present and valid (already checked against `bytes`).
    public var digest: Digest?

    /// A manifest made of its parts.
    public init(bytes: [UInt8], mediaType: String, digest: Digest?) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digest = digest
    }
}
