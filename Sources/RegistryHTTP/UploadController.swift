import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import RegistryStorage

/// Blob pushes: `POST /v2/<name>/blobs/uploads/` and the upload session's `PATCH`/`PUT`/`GET`/`DELETE`.
struct UploadController: Sendable {
    let registry: Registry
    /// Whether a mount may take the blob from any repository holding it when `from` does not (no access rules);
    /// otherwise only from `from`, which the caller was checked to be allowed to pull.
    let mountsAnywhere: Bool

    /// POST: a cross-repository mount, a single-request push (`?digest=`), or a new session.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs
    func startUpload(_ request: Request, repository: RepositoryName) async throws -> Response {
        if let mount = request.query("mount") {
            let digest = try Digest(parsing: mount)
            // An invalid `from` is only a hint gone wrong: mount from wherever the blob is, as `from` is optional.
            let source = request.query("from").flatMap { RepositoryName($0) }
            if source != nil || mountsAnywhere, let info = try await registry.mountBlob(digest, into: repository, from: source, elsewhere: mountsAnywhere) {
                return created(repository: repository, digest: info.digest)
            }
        } else if let digestValue = request.query("digest") {
            let digest = try Digest(parsing: digestValue)
            let info = try await registry.pushBlob(
                digest, into: repository, length: try request.contentLength(), body: ClientBody(base: request.body)
            )
            return created(repository: repository, digest: info.digest)
        }
        let algorithm = try request.query("digest-algorithm").map { name throws(RegistryError) in try DigestAlgorithm(parsing: name) } ?? .sha256
        let session = try await registry.startUpload(in: repository, algorithm: algorithm)
        return .empty(.accepted, headers: sessionHeaders(session))
    }

    /// PATCH: append a chunk (streamed, or with `Content-Range`).
    func appendChunk(_ request: Request, repository: RepositoryName, id: String) async throws -> Response {
        let range = try contentRange(request)
        let session = try await registry.appendChunk(
            id, in: repository, range: range, length: try request.contentLength(), body: ClientBody(base: request.body)
        )
        return .empty(.accepted, headers: sessionHeaders(session))
    }

    /// PUT `?digest=`: finish the upload, with an optional last chunk.
    func finishUpload(_ request: Request, repository: RepositoryName, id: String) async throws -> Response {
        guard let digestValue = request.query("digest") else {
            throw RegistryError(.digestInvalid, message: "the digest query parameter is required to finish an upload")
        }
        let digest = try Digest(parsing: digestValue)
        let info = try await registry.finishUpload(
            id, in: repository, digest: digest, range: try contentRange(request), length: try request.contentLength(),
            body: ClientBody(base: request.body)
        )
        return created(repository: repository, digest: info.digest)
    }

    /// GET: the session's progress.
    func uploadStatus(repository: RepositoryName, id: String) async throws -> Response {
        let session = try await registry.uploadStatus(id, in: repository)
        return .empty(.noContent, headers: sessionHeaders(session))
    }

    /// DELETE: cancel the session.
    func cancelUpload(repository: RepositoryName, id: String) async throws -> Response {
        try await registry.cancelUpload(id, in: repository)
        return .empty(.noContent)
    }

    private func contentRange(_ request: Request) throws(RegistryError) -> (Int64, Int64)? {
        guard let value = request.headers[.contentRange] else { return nil }
        guard let range = parseContentRange(value) else {
            throw RegistryError(.blobUploadInvalid, status: 416, message: "invalid Content-Range", detail: String(value.prefix(100)))
        }
        return range
    }

    private func created(repository: RepositoryName, digest: Digest) -> Response {
        .empty(.created, headers: [.location: "/v2/\(repository)/blobs/\(digest)", .dockerContentDigest: digest.description])
    }

    private func sessionHeaders(_ session: UploadSession) -> HTTPFields {
        [
            .location: session.location,
            .range: session.range,
            .dockerUploadUUID: session.id,
        ]
    }
}
