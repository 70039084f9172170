import struct Foundation.Data
import class Foundation.JSONDecoder

/// What Pier needs to know about a pushed manifest, read from its bytes (which are stored unchanged).
public struct Manifest: Sendable, Equatable {
    /// The manifest's media type, as the client declared it.
    public var mediaType: String
    /// Blobs it references and the registry must hold: config and layers (foreign layers excluded).
    public var blobs: [Digest]
    /// Manifests it references (the entries of an index).
    public var manifests: [Digest]
    /// The manifest this one refers to (`subject`), for the referrers API.
    public var subject: Digest?
    /// The artifact type the referrers API reports: `artifactType`, else the config's media type for an image.
    public var artifactType: String?
    /// The manifest's own annotations.
    public var annotations: [String: String]?

    /// True when this is an index or manifest list.
    public var isIndex: Bool { MediaType.isIndex(mediaType) }

    /// The largest manifest accepted by default (the spec asks registries to take at least 4 MB).
    public static let defaultMaximumSize = 4 * 1024 * 1024

    /// Parses and validates manifest bytes.
    ///
    /// - Parameters:
    ///   - bytes: the request body, exactly as received.
    ///   - contentType: the request's `Content-Type`, if any.
    /// - Throws: `MANIFEST_INVALID` when the bytes are not a manifest Pier accepts.
    public init(parsing bytes: [UInt8], contentType: String?) throws(RegistryError) {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw RegistryError(.manifestInvalid, message: "manifest is not valid JSON of a known shape", detail: Self.describe(error))
        }
        let declared = contentType.map { MediaType.essence(of: $0) }.flatMap { type in
            type.isEmpty || type == MediaType.octetStream || type == MediaType.json ? nil : type
        }
        if document.schemaVersion == 1 || declared == MediaType.dockerManifestV1Signed || declared == MediaType.dockerManifestV1 {
            throw RegistryError(.manifestInvalid, message: "Docker schema 1 manifests are not supported; push schema 2 or OCI")
        }
        guard document.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, message: "schemaVersion must be 2")
        }
        if let declared, let field = document.mediaType, declared != field {
            throw RegistryError(
                .manifestInvalid,
                message: "Content-Type does not match the manifest's mediaType",
                detail: "\(declared.prefix(200)) != \(field.prefix(200))"
            )
        }
        let mediaType: String
        if let type = declared ?? document.mediaType {
            mediaType = type
        } else if document.manifests != nil {
            mediaType = MediaType.ociIndex
        } else {
            mediaType = MediaType.ociManifest
        }
        guard MediaType.manifestTypes.contains(mediaType) else {
            throw RegistryError(.manifestInvalid, message: "unsupported manifest media type", detail: String(mediaType.prefix(200)))
        }
        self.mediaType = mediaType
        for type in [document.artifactType, document.subject?.mediaType, document.subject?.artifactType].compactMap({ $0 }) {
            try Self.validate(mediaType: type)
        }
        self.subject = document.subject?.digest
        self.annotations = document.annotations
        if MediaType.isIndex(mediaType) {
            guard let entries = document.manifests else {
                throw RegistryError(.manifestInvalid, message: "an index needs a manifests array")
            }
            guard document.config == nil, document.layers == nil else {
                throw RegistryError(.manifestInvalid, message: "an index has no config or layers")
            }
            try Self.validate(entries)
            manifests = entries.map(\.digest)
            blobs = []
            artifactType = document.artifactType
        } else {
            guard let config = document.config else {
                throw RegistryError(.manifestInvalid, message: "an image manifest needs a config descriptor")
            }
            guard document.manifests == nil else {
                throw RegistryError(.manifestInvalid, message: "an image manifest has no manifests array")
            }
            let layers = document.layers ?? []
            if mediaType == MediaType.dockerManifest, document.layers == nil {
                throw RegistryError(.manifestInvalid, message: "a Docker image manifest needs a layers array")
            }
            try Self.validate([config] + layers)
            manifests = []
            blobs = [config.digest] + layers.filter { !($0.isNondistributable && !($0.urls ?? []).isEmpty) }.map(\.digest)
            artifactType = document.artifactType ?? config.mediaType
        }
    }

    private static func validate(_ descriptors: [Descriptor]) throws(RegistryError) {
        for descriptor in descriptors {
            guard !descriptor.mediaType.isEmpty, descriptor.size >= 0 else {
                throw RegistryError(.manifestInvalid, message: "descriptor needs a mediaType and a non-negative size",
                                    detail: descriptor.digest.description)
            }
            try validate(mediaType: descriptor.mediaType)
            if let artifactType = descriptor.artifactType { try validate(mediaType: artifactType) }
        }
    }

    /// Media types are stored and repeated (the referrers API lists them): only RFC 6838 names, never arbitrary text.
    private static func validate(mediaType: String) throws(RegistryError) {
        guard MediaType.isValid(mediaType) else {
            throw RegistryError(.manifestInvalid, message: "not a valid media type", detail: String(mediaType.prefix(200)))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
            DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return String((path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)").prefix(300))
        default:
            return "unreadable JSON"
        }
    }

    /// The fields of a manifest or index that Pier reads; everything else is kept only in the stored bytes.
    private struct Document: Decodable {
        var schemaVersion: Int
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }
}
