/// A content descriptor: what a manifest says about a blob or another manifest.
// https://github.com/opencontainers/image-spec/blob/main/descriptor.md
public struct Descriptor: Codable, Hashable, Sendable {
    /// The media type of the referenced content.
    public var mediaType: String
    /// The digest of the referenced content.
    public var digest: Digest
    /// The size in bytes of the referenced content.
    public var size: Int64
    /// Where the content may also be fetched from (foreign layers).
    public var urls: [String]?
    /// Arbitrary metadata.
    public var annotations: [String: String]?
    /// The type of an artifact when the descriptor refers to one.
    public var artifactType: String?
    /// The platform of a manifest listed in an index.
    public var platform: Platform?

    /// A descriptor with the required fields.
    public init(
        mediaType: String,
        digest: Digest,
        size: Int64,
        urls: [String]? = nil,
        annotations: [String: String]? = nil,
        artifactType: String? = nil,
        platform: Platform? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.artifactType = artifactType
        self.platform = platform
    }

    /// True when the content lives outside registries (a foreign or non-distributable layer with `urls`).
    public var isNondistributable: Bool {
        mediaType == MediaType.dockerForeignLayer || mediaType.hasPrefix(MediaType.ociNondistributablePrefix)
    }
}

/// The platform an image in an index runs on.
public struct Platform: Codable, Hashable, Sendable {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?
    public var features: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant, features
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }
}
