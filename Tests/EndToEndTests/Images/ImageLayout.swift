import Foundation

/// OCI and Docker media types used by the generated images.
enum MediaTypes {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let ociConfig = "application/vnd.oci.image.config.v1+json"
    static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
}

/// An image platform, as written in an index and in a config.
struct Platform: Sendable, Hashable, CustomStringConvertible {
    var os = "linux"
    var architecture: String
    var variant: String?

    static let amd64 = Platform(architecture: "amd64")
    static let arm64 = Platform(architecture: "arm64", variant: "v8")

    /// `os/architecture[/variant]`, the form `--platform` flags take.
    var description: String { [os, architecture, variant].compactMap(\.self).joined(separator: "/") }

    /// The `platform` object of an index entry.
    var json: CanonicalJSON {
        var object: [String: CanonicalJSON] = ["os": .string(os), "architecture": .string(architecture)]
        if let variant { object["variant"] = .string(variant) }
        return .object(object)
    }
}

/// A content descriptor: what a manifest or index says about one blob.
struct BlobDescriptor: Sendable, Equatable, CustomStringConvertible {
    var mediaType: String
    var digest: String
    var size: Int

    /// The descriptor as JSON, for embedding in a manifest.
    var json: CanonicalJSON { ["mediaType": .string(mediaType), "digest": .string(digest), "size": .integer(size)] }

    /// The digest's hex part, which is also the blob's file name in a layout.
    var hex: String { String(digest.dropFirst("sha256:".count)) }

    var description: String { "\(mediaType) \(digest) (\(size) bytes)" }
}

/// One generated single-platform image: its manifest, config and layers.
struct GeneratedManifest: Sendable {
    var platform: Platform
    var manifest: BlobDescriptor
    var config: BlobDescriptor
    var layers: [BlobDescriptor]
    /// The digests of the uncompressed layers, as the config lists them.
    var diffIDs: [String]
}

/// One generated tag: either a single manifest or an index over several.
struct GeneratedImage: Sendable {
    var tag: String
    /// The descriptor the tag points at (a manifest, or an index when there are several platforms).
    var descriptor: BlobDescriptor
    var manifests: [GeneratedManifest]

    /// The image for `platform`.
    func manifest(for platform: Platform) -> GeneratedManifest? {
        manifests.first { $0.platform == platform }
    }

    /// Every blob of the image, top-level descriptor first, without repeats.
    var allBlobs: [BlobDescriptor] {
        var result = [descriptor]
        for image in manifests {
            for blob in [image.manifest, image.config] + image.layers where !result.contains(blob) { result.append(blob) }
        }
        return result
    }
}

/// An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`) and what it holds.
struct ImageLayout: Sendable {
    var directory: URL
    var images: [String: GeneratedImage]

    /// The generated image tagged `tag` (a test bug if absent).
    subscript(tag: String) -> GeneratedImage {
        guard let image = images[tag] else { preconditionFailure("no tag \(tag) in layout \(directory.path)") }
        return image
    }

    /// The path of the blob with this digest.
    func blobURL(_ digest: String) -> URL {
        directory.appending(path: "blobs/sha256/\(digest.dropFirst("sha256:".count))")
    }

    /// The bytes of the blob with this digest.
    func blob(_ digest: String) throws -> Data {
        try Data(contentsOf: blobURL(digest))
    }

    /// The skopeo/podman transport reference to one tag, `oci:<dir>:<tag>`.
    func ociReference(_ tag: String) -> String { "oci:\(directory.path):\(tag)" }
}
