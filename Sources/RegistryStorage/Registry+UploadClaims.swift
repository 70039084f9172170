import Foundation
import RegistryCore

extension Registry {
    /// How long a claim on an upload holds without renewal: a writer that died frees its upload within this.
    static let uploadClaimLifetime: Duration = .seconds(60)
    /// How often a writer renews its claim while it works (a multi-gigabyte PATCH takes minutes).
    static let uploadClaimRenewal: Duration = .seconds(20)

    /// Runs `body` as the single writer of upload `id` in `repository`, with the session as the metadata store had it
    /// when the claim was taken. The claim lives in the metadata store, so it holds across replicas; it is renewed while
    /// `body` runs and released when it ends. Should a renewal fail (the store unreachable for a whole claim lifetime),
    /// `body` is cancelled rather than left writing without the claim.
    ///
    /// - Throws: `BLOB_UPLOAD_UNKNOWN` when there is no such session in `repository`; 416 `BLOB_UPLOAD_INVALID` while
    ///   another request holds the claim.
    /// - Parameter finishing: `body` finishes the session when it succeeds (which ends the claim with it), so there is
    ///   nothing to release then.
    func withUploadClaim<T: Sendable>(
        _ id: String, in repository: RepositoryName, finishing: Bool = false, _ body: @escaping @Sendable (UploadSession) async throws -> T
    ) async throws -> T {
        let writer = UUID().uuidString
        let session: UploadSession
        do {
            guard let claimed = try await metadata.claimUpload(id, by: writer, until: claimExpiry()) else {
                throw RegistryError.uploadUnknown(id)
            }
            guard claimed.repository == repository else {
                try? await metadata.releaseUpload(id, by: writer)
                throw RegistryError.uploadUnknown(id)
            }
            session = claimed
        } catch let error as MetadataStoreError where error.code == .busy {
            let current = try? await metadata.upload(id)
            throw RegistryError(.blobUploadInvalid, status: 416, message: "another request is writing this upload",
                                hints: current.map { [Self.uploadState($0)] } ?? [])
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(session) }
                group.addTask {
                    try await renewUploadClaim(id, by: writer)
                    return nil
                }
                defer { group.cancelAll() }
                // The renewal loop only ever ends by throwing, so the first result is the body's, or the renewal's error.
                guard let value = try await group.next() ?? nil else { throw CancellationError() }
                return value
            })
        } catch {
            result = .failure(error)
        }
        if case .success = result, finishing { return try result.get() }
        try? await metadata.releaseUpload(id, by: writer)
        return try result.get()
    }

    /// Renews a claim every ``uploadClaimRenewal`` until cancelled; throws once the claim is lost.
    private func renewUploadClaim(_ id: String, by writer: String) async throws {
        while true {
            try await Task.sleep(for: Self.uploadClaimRenewal)
            guard try await metadata.claimUpload(id, by: writer, until: claimExpiry()) != nil else {
                throw RegistryError.uploadUnknown(id)
            }
        }
    }

    private func claimExpiry() -> Date {
        Date(timeIntervalSinceNow: Double(Self.uploadClaimLifetime.components.seconds))
    }
}
