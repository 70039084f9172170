import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import RegistryProxy
import RegistryStorage

/// Manifests: `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`.
struct ManifestController: Sendable {
    let registry: Registry
    let pullThrough: PullThroughCache?

    /// GET or HEAD a manifest: the stored bytes exactly, with their own media type.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
    /// - Parameter route: the upstream when the repository is mirrored.
    func getManifest(_ request: Request, repository: RepositoryName, reference: Reference, head: Bool, route: MirrorRoute? = nil) async throws -> Response {
        let lookup: @Sendable (Reference, Bool) async throws -> StoredManifest
        if let route, let pullThrough {
            lookup = { try await pullThrough.manifest($0, route: route, withContent: $1) }
        } else {
            let registry = self.registry
            lookup = { try await registry.manifest($0, in: repository, withContent: $1) }
        }
        var stored = try await lookup(reference, !head)
        if !head, let accept = request.headers[values: .accept].nilIfEmpty,
            let fallback = try await legacyFallback(for: stored, accepting: accept, lookup: lookup)
        {
            stored = fallback
        }
        let headers: HTTPFields = [
            .contentType: stored.mediaType,
            .contentLength: String(stored.size),
            .dockerContentDigest: stored.digest.description,
            .eTag: "\"\(stored.digest)\"",
        ]
        guard let content = stored.content else { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content)))
    }

    /// A client that lists manifest types in `Accept` but not the stored index type gets the index's linux/amd64
    /// image instead, as Distribution does for clients that predate manifest lists; `nil` keeps the stored bytes.
    private func legacyFallback(
        for stored: StoredManifest, accepting accept: [String], lookup: @Sendable (Reference, Bool) async throws -> StoredManifest
    ) async throws -> StoredManifest? {
        guard MediaType.isIndex(stored.mediaType), let content = stored.content else { return nil }
        let accepted = Set(accept.flatMap { $0.split(separator: ",") }.map { MediaType.essence(of: $0) })
        let manifestTypes = accepted.intersection(MediaType.manifestTypes)
        guard !manifestTypes.isEmpty, !accepted.contains(stored.mediaType), !accepted.contains("*/*") else { return nil }
        struct Index: Decodable { var manifests: [Descriptor] }
        guard let index = try? JSONDecoder().decode(Index.self, from: Data(content)),
            let entry = index.manifests.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" }),
            manifestTypes.contains(entry.mediaType)
        else { return nil }
        return try? await lookup(.digest(entry.digest), true)
    }

    /// PUT a manifest by tag or digest (with `?tag=` extra tags when by digest).
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests
    func putManifest(_ request: Request, repository: RepositoryName, reference: Reference) async throws -> Response {
        let limit = registry.options.maximumManifestSize
        if let length = try request.contentLength(), length > limit {
            // The body is not read, so end the connection rather than drain megabytes.
            throw RegistryError(.sizeInvalid, status: 413, message: "manifest larger than \(limit) bytes", hints: [.closeConnection])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RegistryError(.sizeInvalid, status: 413, message: "manifest larger than \(limit) bytes")
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError(.manifestInvalid, message: "request body ended early or was malformed")
        }
        let extraTags = request.uri.queryParameters[values: "tag"].map(String.init)
        let pushed = try await registry.putManifest(
            Array(buffer.readableBytesView), contentType: request.headers[.contentType], in: repository, reference: reference,
            extraTags: extraTags
        )
        var headers: HTTPFields = [
            .location: "/v2/\(repository)/manifests/\(pushed.digest)",
            .dockerContentDigest: pushed.digest.description,
        ]
        if let subject = pushed.manifest.subject {
            headers[.ociSubject] = subject.description
        }
        if !extraTags.isEmpty {
            headers[.ociTag] = pushed.tags.map(\.value).joined(separator: ", ")
        }
        return .empty(.created, headers: headers)
    }

    /// DELETE a manifest by digest (and its tags) or a tag alone.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#content-management
    func deleteManifest(repository: RepositoryName, reference: Reference) async throws -> Response {
        try await registry.deleteManifest(reference, in: repository)
        return .empty(.accepted)
    }
}

extension Array {
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
