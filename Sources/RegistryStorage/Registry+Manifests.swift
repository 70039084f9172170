import Foundation
import RegistryCore

/// The outcome of a manifest push.
public struct PushedManifest: Sendable {
    public var digest: Digest
    public var manifest: Manifest
    /// Tags that now point at the manifest.
    public var tags: [Tag]
}

extension Registry {
    /// Stores a manifest (PUT `/v2/<name>/manifests/<reference>`), with extra `?tag=` tags when pushed by digest.
    public func putManifest(
        _ bytes: [UInt8], contentType: String?, in repository: RepositoryName, reference: Reference, extraTags: [String] = []
    ) async throws -> PushedManifest {
        try checkWritable()
        guard bytes.count <= options.maximumManifestSize else {
            throw RegistryError(.sizeInvalid, status: 413, message: "manifest larger than \(options.maximumManifestSize) bytes")
        }
        let manifest = try Manifest(parsing: bytes, contentType: contentType)
        let digest: Digest
        var tags: [Tag] = []
        switch reference {
        case .digest(let expected):
            digest = Digest.of(bytes, algorithm: expected.algorithm)
            guard digest == expected else {
                throw RegistryError(.digestInvalid, message: "manifest digest does not match its bytes", detail: expected.description)
            }
        case .tag(let tag):
            digest = Digest.of(bytes)
            tags.append(tag)
        }
        guard extraTags.count <= options.maximumTagsPerPush else {
            throw RegistryError(.sizeInvalid, status: 414, message: "too many tags in one request")
        }
        for string in extraTags {
            guard let tag = Tag(string) else {
                throw RegistryError(.manifestInvalid, message: "invalid tag", detail: String(string.prefix(200)))
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        let record = ManifestRecord(repository: repository, digest: digest, manifest: manifest, content: bytes)
        do {
            try await metadata.putManifest(record, tags: tags)
        } catch let error as MetadataStoreError where error.code == .missingReferences {
            throw RegistryError(
                .manifestBlobUnknown, message: "manifest references content unknown to this repository",
                detail: error.digests.map(\.description).joined(separator: ", ")
            )
        }
        return PushedManifest(digest: digest, manifest: manifest, tags: tags)
    }

    /// A manifest by tag or digest (GET / HEAD).
    public func manifest(_ reference: Reference, in repository: RepositoryName, withContent: Bool) async throws -> StoredManifest {
        guard let stored = try await metadata.manifest(reference, in: repository, withContent: withContent) else {
            throw RegistryError.manifestUnknown(reference)
        }
        return stored
    }

    /// Deletes a manifest by digest (with every tag on it) or a tag alone.
    public func deleteManifest(_ reference: Reference, in repository: RepositoryName) async throws {
        try checkDeletable()
        let deleted: Bool
        switch reference {
        case .digest(let digest): deleted = try await metadata.deleteManifest(digest, in: repository)
        case .tag(let tag): deleted = try await metadata.deleteTag(tag, in: repository)
        }
        guard deleted else { throw RegistryError.manifestUnknown(reference) }
    }
}
