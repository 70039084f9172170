import Foundation
import NIOCore
import RegistryCore

extension Registry {
    /// Starts an upload session (POST `/v2/<name>/blobs/uploads/`).
    public func startUpload(in repository: RepositoryName, algorithm: DigestAlgorithm = .sha256) async throws -> UploadSession {
        try checkWritable()
        let now = Date()
        let session = UploadSession(
            id: UUID().uuidString.lowercased(), repository: repository, algorithm: algorithm, offset: 0, startedAt: now, updatedAt: now
        )
        try await mapStorageErrors { try await blobs.createUpload(session.id) }
        let created: Bool
        do {
            created = try await metadata.createUpload(
                session, perRepository: options.maximumUploadSessionsPerRepository, total: options.maximumUploadSessions
            )
        } catch {
            try? await blobs.deleteUpload(session.id)
            throw error
        }
        guard created else {
            try? await blobs.deleteUpload(session.id)
            // Finished, cancelled and purged sessions free places; a client retrying in a minute will usually find one.
            throw RegistryError(.tooManyRequests, message: "too many upload sessions open; finish or cancel some, or retry later",
                                hints: [.retryAfter(seconds: 60)])
        }
        return session
    }

    /// The state of an upload session (GET on the upload location).
    public func uploadStatus(_ id: String, in repository: RepositoryName) async throws -> UploadSession {
        guard let session = try await metadata.upload(id), session.repository == repository else {
            throw RegistryError.uploadUnknown(id)
        }
        return session
    }

    /// Cancels an upload session (DELETE on the upload location).
    public func cancelUpload(_ id: String, in repository: RepositoryName) async throws {
        _ = try await uploadStatus(id, in: repository)
        _ = try await metadata.deleteUpload(id)
        await discardScratch(of: id)
    }

    /// Appends a chunk (PATCH on the upload location).
    ///
    /// - Parameters:
    ///   - range: the request's `Content-Range` as (first, last) byte positions, if given.
    ///   - length: the request's `Content-Length`, if given.
    /// - Throws: 416 with the current `Range` when the chunk does not start where the upload ends.
    public func appendChunk<Body: AsyncSequence & Sendable>(
        _ id: String, in repository: RepositoryName, range: (Int64, Int64)?, length: Int64?, body: Body
    ) async throws -> UploadSession where Body.Element == ByteBuffer {
        try checkWritable()
        return try await withUploadClaim(id, in: repository) { session in
            try await append(to: session, range: range, length: length, body: body)
        }
    }

    /// Finishes an upload (PUT on the upload location with `?digest=`), with an optional last chunk in the body.
    public func finishUpload<Body: AsyncSequence & Sendable>(
        _ id: String, in repository: RepositoryName, digest: Digest, range: (Int64, Int64)?, length: Int64?, body: Body
    ) async throws -> BlobInfo where Body.Element == ByteBuffer {
        try checkWritable()
        let info = try await withUploadClaim(id, in: repository, finishing: true) { session in
            var session = session
            if length != 0 || range != nil {
                session = try await append(to: session, range: range, length: length, body: body)
            }
            return try await finish(session, as: digest)
        }
        await discardScratch(of: id)
        return info
    }

    /// Pushes a whole blob in one request (POST `?digest=` with a body).
    public func pushBlob<Body: AsyncSequence & Sendable>(
        _ digest: Digest, into repository: RepositoryName, length: Int64?, body: Body
    ) async throws -> BlobInfo where Body.Element == ByteBuffer {
        let started = try await startUpload(in: repository, algorithm: digest.algorithm)
        do {
            let info = try await withUploadClaim(started.id, in: repository, finishing: true) { session in
                try await finish(try await append(to: session, range: nil, length: length, body: body), as: digest)
            }
            await discardScratch(of: started.id)
            return info
        } catch {
            try? await cancelUpload(started.id, in: repository)
            throw error
        }
    }

    /// Finishes upload `id` (whose bytes are all written) as blob `digest`.
    func complete(_ id: String, in repository: RepositoryName, digest: Digest) async throws -> BlobInfo {
        let info = try await withUploadClaim(id, in: repository, finishing: true) { try await finish($0, as: digest) }
        await discardScratch(of: id)
        return info
    }

    /// Writes a body at the end of a claimed session and records the new offset.
    private func append<Body: AsyncSequence & Sendable>(
        to session: UploadSession, range: (Int64, Int64)?, length: Int64?, body: Body
    ) async throws -> UploadSession where Body.Element == ByteBuffer {
        guard session.digest == nil else {
            throw RegistryError(.blobUploadInvalid, message: "upload is being finished", hints: [Self.uploadState(session)])
        }
        var limit = options.maximumBlobSize - session.offset
        if let (first, last) = range {
            // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks
            // `last - first` cannot overflow (both are non-negative); bounding it keeps `+ 1` from overflowing.
            guard first == session.offset, last >= first, last - first < options.maximumBlobSize else {
                throw rangeNotSatisfiable(session)
            }
            let rangeLength = last - first + 1
            if let length, length != rangeLength {
                throw RegistryError(.sizeInvalid, message: "Content-Length does not match Content-Range", detail: "\(length) != \(rangeLength)")
            }
            limit = min(limit, rangeLength)
        }
        if let length { limit = min(limit, length) }
        guard limit >= 0 else {
            throw RegistryError(.sizeInvalid, status: 413, message: "blob larger than the registry accepts")
        }
        let hasher = hashers.hasher(for: session.id, at: session.offset, algorithm: session.algorithm)
        let result = try await mapStorageErrors {
            try await blobs.writeUpload(session.id, at: session.offset, from: body, limit: limit, hasher: hasher)
        }
        let expected = range.map { $0.1 - $0.0 + 1 } ?? length
        if let expected, result.written != expected {
            throw RegistryError(.sizeInvalid, message: "body length does not match the declared length", detail: "\(result.written) != \(expected)")
        }
        let end = session.offset + result.written
        guard try await metadata.advanceUpload(session.id, from: session.offset, to: end) else {
            hashers.remove(session.id)
            throw RegistryError(.blobUploadInvalid, status: 416, message: "upload changed concurrently")
        }
        hashers.store(result.hasher, for: session.id, at: end)
        var advanced = session
        advanced.offset = end
        advanced.updatedAt = Date()
        return advanced
    }

    /// Finishes a claimed session as blob `digest`, proving it: the digest is computed here from the stored bytes and
    /// recorded in the session (sealed) before the bytes move to their content address, and the session finishes in
    /// the transaction that links the blob, only if it is still open and sealed with that digest. A client's claim is
    /// never taken on trust: not when the session's bytes are gone (a crash after the move), nor when two requests
    /// finish one session at once.
    private func finish(_ session: UploadSession, as digest: Digest) async throws -> BlobInfo {
        let computed = try await sealedDigest(of: session, algorithm: digest.algorithm)
        guard computed == digest else {
            // The bytes are not what the client claims: forget the session, as Distribution does.
            _ = try? await metadata.deleteUpload(session.id)
            await discardScratch(of: session.id)
            throw RegistryError(.digestInvalid, message: "provided digest did not match uploaded content", detail: digest.description)
        }
        try await pin(digest)
        do {
            if try await metadata.blob(digest) == nil {
                try await publish(session, as: digest)
            }
            guard try await metadata.commitBlob(digest, size: session.offset, into: session.repository, finishing: session.id) else {
                throw RegistryError.uploadUnknown(session.id)
            }
        } catch {
            try? await metadata.unpinBlob(digest)
            throw error
        }
        return BlobInfo(digest: digest, size: session.offset, touchedAt: Date())
    }

    /// The digest of a session's bytes in `algorithm`, recorded in the session before anything is published. A
    /// session already sealed (by an earlier attempt, perhaps in a process that crashed) keeps its digest: its bytes
    /// may have moved to their content address since.
    private func sealedDigest(of session: UploadSession, algorithm: DigestAlgorithm) async throws -> Digest {
        if let sealed = session.digest { return sealed }
        let computed: Digest
        if let hasher = hashers.hasher(for: session.id, at: session.offset, algorithm: algorithm) {
            computed = hasher.finalize()
        } else {
            computed = try await mapStorageErrors { try await blobs.hashUpload(session.id, length: session.offset, algorithm: algorithm) }
        }
        guard try await metadata.sealUpload(session.id, at: session.offset, digest: computed) else {
            throw RegistryError(.blobUploadInvalid, status: 416, message: "upload changed concurrently", hints: [Self.uploadState(session)])
        }
        return computed
    }

    /// Moves a sealed session's bytes to their content address. When they are gone, an earlier attempt moved them and
    /// stopped before committing (a crash): the blob must then be stored already, at the sealed digest and size.
    private func publish(_ session: UploadSession, as digest: Digest) async throws {
        do {
            try await blobs.publishUpload(session.id, length: session.offset, as: digest)
        } catch let error as BlobStoreError where error.code == .notFound {
            // Checked under the pin, so garbage collection cannot remove the file between this check and the commit.
            guard let reader = try await blobs.open(digest) else { throw RegistryError.uploadUnknown(session.id) }
            let size = reader.size
            try? await reader.close()
            guard size == session.offset else { throw RegistryError.uploadUnknown(session.id) }
        } catch {
            throw Self.clientFacing(error)
        }
    }

    /// Forgets what this process and the blob store keep of an upload that has finished or failed.
    private func discardScratch(of id: String) async {
        hashers.remove(id)
        try? await blobs.deleteUpload(id)
    }

    /// Pins a blob for publishing, waiting (bounded) while garbage collection finishes deleting it.
    private func pin(_ digest: Digest) async throws {
        for attempt in 0..<200 {
            do {
                try await metadata.pinBlob(digest)
                return
            } catch let error as MetadataStoreError where error.code == .busy && attempt < 199 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    static func uploadState(_ session: UploadSession) -> RegistryError.Hint {
        .uploadState(location: session.location, range: session.range, id: session.id)
    }

    private func rangeNotSatisfiable(_ session: UploadSession) -> RegistryError {
        RegistryError(.blobUploadInvalid, status: 416, message: "chunk does not start where the upload ends",
                      detail: "upload is at offset \(session.offset)", hints: [Self.uploadState(session)])
    }

    /// Turns blob-store failures a client can cause or should see into registry errors.
    func mapStorageErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.clientFacing(error)
        }
    }

    /// The registry error a blob-store failure means to a client; other errors unchanged.
    static func clientFacing(_ error: any Error) -> any Error {
        guard let error = error as? BlobStoreError else { return error }
        switch error.code {
        case .insufficientStorage:
            return RegistryError(.unknown, status: 507, message: "the registry is out of storage space; try again later")
        case .sizeExceeded:
            return RegistryError(.sizeInvalid, message: "body longer than declared or allowed")
        case .notFound:
            return RegistryError(.blobUploadUnknown, message: "upload data missing")
        default:
            return error
        }
    }
}
