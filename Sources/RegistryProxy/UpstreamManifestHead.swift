import RegistryCore

/// What an upstream says about a manifest in answer to HEAD.
public struct UpstreamManifestHead: Sendable {
    /// The upstream's Docker-Content-Digest, when present and valid.
    public var digest: Digest?
    /// The upstream's Content-Type essence, when present.
    public var mediaType: String?
    /// The upstream's Content-Length, when present.
    public var size: Int64?

    /// A head made of its parts.
    public init(digest: Digest?, mediaType: String?, size: Int64?) {
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
    }
}
