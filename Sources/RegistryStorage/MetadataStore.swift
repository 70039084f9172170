import Foundation
import RegistryCore

/// The single authority for repositories, manifests, tags, blob links, referrers and upload sessions.
///
/// Every method is one atomic transaction. Implementations hold no process-local state that a second
/// replica sharing the same database would miss.
public protocol MetadataStore: Sendable {
    // MARK: Listing

    /// Repositories in lexical order after `last`, at most `limit`.
    func repositories(after last: String?, limit: Int) async throws -> Page<RepositoryName>

    /// Tags of a repository in lexical order after `last`, at most `limit`; `nil` when the repository is unknown.
    func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> Page<String>?

    /// Manifests in `repository` whose `subject` is `subject`, optionally only of one artifact type.
    func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor]

    // MARK: Blobs

    /// A blob linked to `repository` and fully stored; `nil` otherwise.
    func blob(_ digest: Digest, in repository: RepositoryName) async throws -> BlobInfo?

    /// A fully stored blob, in any repository.
    func blob(_ digest: Digest) async throws -> BlobInfo?

    /// Links a stored blob into `repository` (a cross-repository mount). Returns `nil` when no such blob is stored,
    /// or when `source` is given and does not hold it.
    func mountBlob(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName?) async throws -> BlobInfo?

    /// Removes a blob's link from a repository; the bytes stay until garbage collection. False if there was none.
    func unlinkBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool

    /// Marks a blob as accessed now (throttled by the caller), so garbage collection spares it.
    func touchBlob(_ digest: Digest, in repository: RepositoryName) async throws

    /// Announces that a blob is about to be published, so that garbage collection keeps its hands off.
    /// - Throws: `busy` while garbage collection is deleting the same blob; retry shortly.
    func pinBlob(_ digest: Digest) async throws

    /// Records a published blob: present, linked to `repository`, its pin released and, when `upload` is given, that
    /// session finished — but only if it is still open and sealed with `digest` at `size` (a compare-and-delete, so
    /// that a session finishes once and only into the blob the registry computed from its bytes).
    /// - Returns: false, and nothing changed, when `upload` is given and is not open and sealed so.
    @discardableResult
    func commitBlob(_ digest: Digest, size: Int64, into repository: RepositoryName, finishing upload: String?) async throws -> Bool

    /// Releases a pin taken by ``pinBlob(_:)`` when publishing failed.
    func unpinBlob(_ digest: Digest) async throws

    // MARK: Uploads

    /// Records a new upload session.
    func createUpload(_ session: UploadSession) async throws

    /// Records a new upload session unless its repository already has `perRepository` open sessions, or the registry
    /// `total`; false, and nothing recorded, when a cap is reached. The check and the insert are one atomic step.
    func createUpload(_ session: UploadSession, perRepository: Int, total: Int) async throws -> Bool

    /// An upload session; `nil` when unknown.
    func upload(_ id: String) async throws -> UploadSession?

    /// Claims an upload for one writer until `until`, or extends the claim `writer` already holds. Every request
    /// that writes or finishes an upload holds its claim, in the store rather than in a process, so that two
    /// requests on two replicas never write one upload at once.
    /// - Returns: the session; `nil` when it is unknown.
    /// - Throws: `busy` while another writer holds a claim that has not expired.
    func claimUpload(_ id: String, by writer: String, until: Date) async throws -> UploadSession?

    /// Releases the claim `writer` holds on an upload; nothing happens when it holds none.
    func releaseUpload(_ id: String, by writer: String) async throws

    /// Releases every claim on uploads, for a store that one server uses alone, when that server starts: the claims
    /// of a process that died (kill -9, a power cut) would otherwise hold their uploads until they expire, and a
    /// client resuming its push after the restart would be refused meanwhile.
    func releaseAllUploadClaims() async throws

    /// Moves an upload's offset from `from` to `to`; false (and nothing changed) if the offset was not `from` or the
    /// upload is sealed.
    func advanceUpload(_ id: String, from: Int64, to: Int64) async throws -> Bool

    /// Records `digest`, computed by the registry over an upload's first `offset` bytes, before those bytes are
    /// published; a sealed upload takes no more bytes and can only finish as that digest.
    /// - Returns: true when sealed now or already with `digest` at `offset`; false (nothing changed) when the upload is
    ///   unknown, its offset is not `offset`, or it is sealed with another digest.
    func sealUpload(_ id: String, at offset: Int64, digest: Digest) async throws -> Bool

    /// Forgets an upload session; false if it was unknown.
    func deleteUpload(_ id: String) async throws -> Bool

    /// Upload sessions last updated before `date` (abandoned ones), at most `limit`.
    func uploads(updatedBefore date: Date, limit: Int) async throws -> [UploadSession]

    // MARK: Manifests

    /// Stores a manifest and points `tags` at it, checking in the same transaction that the repository holds
    /// every blob and manifest it references.
    /// - Throws: ``MetadataStoreError`` `missingReferences` naming the missing digests.
    func putManifest(_ record: ManifestRecord, tags: [Tag]) async throws

    /// A manifest by tag or digest; `withContent: false` skips loading the bytes (for HEAD).
    func manifest(_ reference: Reference, in repository: RepositoryName, withContent: Bool) async throws -> StoredManifest?

    /// Deletes a manifest and every tag pointing at it; false if there was none.
    func deleteManifest(_ digest: Digest, in repository: RepositoryName) async throws -> Bool

    /// Deletes a tag (the manifest stays); false if there was none.
    func deleteTag(_ tag: Tag, in repository: RepositoryName) async throws -> Bool

    // MARK: Garbage collection

    /// Manifests created before `date` that nothing needs: untagged, listed by no index in their repository, and
    /// not a referrer of a manifest that exists.
    func collectableManifests(createdBefore date: Date, limit: Int) async throws -> [ManifestLocation]

    /// Deletes a manifest if it is still collectable; false if something started to need it.
    func deleteManifestIfCollectable(_ location: ManifestLocation, createdBefore date: Date) async throws -> Bool

    /// Blobs touched before `date` that no manifest references, at most `limit`.
    func collectableBlobs(touchedBefore date: Date, limit: Int) async throws -> [Digest]

    /// Claims a collectable blob for deletion; false if it is no longer collectable or is being published.
    /// While claimed, the blob is invisible and ``pinBlob(_:)`` on it waits.
    func beginBlobDeletion(_ digest: Digest, touchedBefore date: Date) async throws -> Bool

    /// Forgets a blob claimed by ``beginBlobDeletion(_:touchedBefore:)`` once its bytes are gone.
    func finishBlobDeletion(_ digest: Digest) async throws

    /// Every digest the metadata store records as a blob, whatever its state (for finding orphaned bytes).
    func knownBlobDigests() async throws -> Set<Digest>

    // MARK: Pull-through cache

    /// Marks a manifest as pulled now (throttled by the caller), for the expiry of cached content.
    func touchManifest(_ digest: Digest, in repository: RepositoryName) async throws

    /// Manifests of repositories whose names start with one of `prefixes` followed by `/` (cached content), last
    /// pulled (or stored, if never pulled) before `date`, least recently pulled first, at most `limit`.
    func leastRecentlyPulledManifests(under prefixes: [String], pulledBefore date: Date, limit: Int) async throws -> [ManifestLocation]

    /// The bytes of the stored blobs that manifests under `prefixes` reference and no manifest elsewhere does: what
    /// the cache occupies beyond content it shares with hosted repositories.
    func cachedBytes(under prefixes: [String]) async throws -> Int64

    /// Stored blobs that no manifest references and that are linked only into repositories under `prefixes`, at most
    /// `limit`: cached bytes that expiry has freed.
    func unreferencedBlobs(linkedOnlyUnder prefixes: [String], limit: Int) async throws -> [Digest]

    /// Records the referrers an upstream listed for `subject` in a mirrored `repository`, replacing what was recorded.
    /// The record lives as long as `subject`'s manifest stays in `repository` (it goes with it); false, and nothing
    /// recorded, when that manifest is not there.
    func cacheReferrers(_ referrers: [Descriptor], of subject: Digest, in repository: RepositoryName) async throws -> Bool

    /// The referrers last recorded by ``cacheReferrers(_:of:in:)`` for `subject` in `repository`; `nil` when none are.
    func cachedReferrers(of subject: Digest, in repository: RepositoryName) async throws -> [Descriptor]?
}
