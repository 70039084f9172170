import Foundation
import RegistryCore
import RegistryStorage

/// The semantics every ``MetadataStore`` must have. Each case gets a fresh, empty store.
public enum MetadataStoreConformance {
    static let repo = RepositoryName("team/app")!
    static let other = RepositoryName("team/other")!

    /// Records a blob as published into `repository`, as the registry does after writing its bytes.
    static func addBlob(_ store: any MetadataStore, _ seed: UInt64, into repository: RepositoryName = repo) async throws -> (Digest, Int) {
        let bytes = TestContent.bytes(100 + Int(seed), seed: seed)
        let digest = Digest.of(bytes)
        try await store.pinBlob(digest)
        try await store.commitBlob(digest, size: Int64(bytes.count), into: repository, finishing: nil)
        return (digest, bytes.count)
    }

    /// Stores an image manifest over fresh blobs; returns its digest and size.
    static func addImage(
        _ store: any MetadataStore, seed: UInt64, tags: [String], into repository: RepositoryName = repo,
        subject: (Digest, Int)? = nil, artifactType: String? = nil, annotations: [String: String]? = nil
    ) async throws -> (Digest, Int) {
        let config = try await addBlob(store, seed, into: repository)
        let layer = try await addBlob(store, seed + 1000, into: repository)
        let bytes = TestContent.imageManifest(config: config, layers: [layer], subject: subject, artifactType: artifactType, annotations: annotations)
        let manifest = try Manifest(parsing: bytes, contentType: MediaType.ociManifest)
        let digest = Digest.of(bytes)
        try await store.putManifest(ManifestRecord(repository: repository, digest: digest, manifest: manifest, content: bytes), tags: tags.map { Tag($0)! })
        return (digest, bytes.count)
    }

    static let future = Date(timeIntervalSinceNow: 3600)

    /// Whether claiming an existing upload fails because another writer holds it.
    static func claimIsBusy(_ store: any MetadataStore, _ id: String, by writer: String, until: Date) async throws -> Bool {
        do {
            try check(try await store.claimUpload(id, by: writer, until: until) != nil, "upload \(id) unknown")
            return false
        } catch let error as MetadataStoreError where error.code == .busy {
            return true
        }
    }

    /// Every case: one request at a time, then racing requests (``concurrentCases``).
    public static let cases: [ConformanceCase<any MetadataStore>] = sequentialCases + concurrentCases

    static let sequentialCases: [ConformanceCase<any MetadataStore>] = [
        .init("repositories are listed in lexical order with keyset pages") { store in
            for name in ["b", "a/z", "a", "c/d/e", "a-b"] {
                _ = try await addBlob(store, 1, into: RepositoryName(name)!)
            }
            let first = try await store.repositories(after: nil, limit: 2)
            try check(first.items.map(\.value) == ["a", "a-b"] && first.hasMore, "first page \(first.items)")
            let second = try await store.repositories(after: "a-b", limit: 10)
            try check(second.items.map(\.value) == ["a/z", "b", "c/d/e"] && !second.hasMore, "second page \(second.items)")
        },
        .init("tags are listed in order; unknown repository is nil, a repository without tags is empty") { store in
            try check(try await store.tags(in: repo, after: nil, limit: 10) == nil, "unknown repository listed tags")
            _ = try await addBlob(store, 1)
            try check(try await store.tags(in: repo, after: nil, limit: 10)?.items == [], "tags of an empty repository")
            _ = try await addImage(store, seed: 2, tags: ["v2", "latest", "V1", "v10"])
            let all = try await store.tags(in: repo, after: nil, limit: 10)
            try check(all?.items == ["V1", "latest", "v10", "v2"] && all?.hasMore == false, "tags \(String(describing: all?.items))")
            let page = try await store.tags(in: repo, after: "latest", limit: 1)
            try check(page?.items == ["v10"] && page?.hasMore == true, "page \(String(describing: page?.items))")
        },
        .init("a committed blob is visible in its repository only, until mounted") { store in
            let (digest, size) = try await addBlob(store, 5)
            try check(try await store.blob(digest, in: repo)?.size == Int64(size), "blob not in its repository")
            try check(try await store.blob(digest, in: other) == nil, "blob leaked into another repository")
            try check(try await store.blob(digest)?.size == Int64(size), "blob not known globally")
            try check(try await store.mountBlob(digest, into: other, from: RepositoryName("nowhere")!) == nil, "mounted from a repository without it")
            try check(try await store.mountBlob(digest, into: other, from: repo)?.size == Int64(size), "mount from source failed")
            try check(try await store.blob(digest, in: other) != nil, "mounted blob not visible")
            try check(try await store.unlinkBlob(digest, from: other), "unlink failed")
            try check(!(try await store.unlinkBlob(digest, from: other)), "second unlink succeeded")
            try check(try await store.blob(digest, in: other) == nil, "unlinked blob still visible")
            try check(try await store.mountBlob(digest, into: other, from: nil) != nil, "mount without source failed")
        },
        .init("a pinned but uncommitted blob is invisible, and unpinning forgets it") { store in
            let digest = Digest.of([9, 9, 9])
            try await store.pinBlob(digest)
            try check(try await store.blob(digest) == nil, "pinned blob visible")
            try await store.unpinBlob(digest)
            try check(!(try await store.knownBlobDigests().contains(digest)), "unpinned blob still recorded")
        },
        .init("upload sessions advance only from their current offset") { store in
            let now = Date()
            let session = UploadSession(id: "u1", repository: repo, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now)
            try await store.createUpload(session)
            try check(try await store.upload("u1")?.repository == repo, "session not found")
            try check(try await store.advanceUpload("u1", from: 0, to: 10), "advance failed")
            try check(!(try await store.advanceUpload("u1", from: 0, to: 20)), "stale advance succeeded")
            try check(try await store.upload("u1")?.offset == 10, "offset not 10")
            try check(try await store.uploads(updatedBefore: future, limit: 10).map(\.id) == ["u1"], "stale listing")
            try check(try await store.uploads(updatedBefore: Date(timeIntervalSinceNow: -60), limit: 10).isEmpty, "fresh session listed as stale")
            try check(try await store.deleteUpload("u1"), "delete failed")
            try check(try await store.upload("u1") == nil, "deleted session found")
            try check(!(try await store.deleteUpload("u1")), "second delete succeeded")
        },
        .init("upload sessions are refused beyond the caps per repository and in total") { store in
            let now = Date()
            func session(_ id: String, _ repository: RepositoryName) -> UploadSession {
                UploadSession(id: id, repository: repository, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now)
            }
            let other = RepositoryName("conformance/other")!
            try check(try await store.createUpload(session("c1", repo), perRepository: 2, total: 3), "first session refused")
            try check(try await store.createUpload(session("c2", repo), perRepository: 2, total: 3), "second session refused")
            try check(!(try await store.createUpload(session("c3", repo), perRepository: 2, total: 3)), "third session in one repository accepted")
            try check(try await store.upload("c3") == nil, "refused session recorded")
            try check(try await store.createUpload(session("c4", other), perRepository: 2, total: 3), "another repository refused")
            try check(!(try await store.createUpload(session("c5", other), perRepository: 2, total: 3)), "session beyond the total accepted")
            _ = try await store.deleteUpload("c1")
            try check(try await store.createUpload(session("c6", repo), perRepository: 2, total: 3), "freed place not reusable")
            for id in ["c2", "c4", "c6"] { _ = try await store.deleteUpload(id) }
        },
        .init("committing a blob finishes its upload session, once, and only as the digest it was sealed with") { store in
            let now = Date()
            try await store.createUpload(UploadSession(id: "u2", repository: repo, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now))
            try check(try await store.advanceUpload("u2", from: 0, to: 3), "advance failed")
            let digest = Digest.of([1, 2, 3])
            let foreign = Digest.of([7, 7, 7])
            try check(!(try await store.sealUpload("u2", at: 2, digest: digest)), "sealed at a stale offset")
            try await store.pinBlob(digest)
            try check(!(try await store.commitBlob(digest, size: 3, into: repo, finishing: "u2")), "committed an unsealed session")
            try check(try await store.blob(digest, in: repo) == nil, "a refused commit linked the blob")
            try check(try await store.sealUpload("u2", at: 3, digest: digest), "seal failed")
            try check(try await store.sealUpload("u2", at: 3, digest: digest), "sealing again with the same digest failed")
            try check(!(try await store.sealUpload("u2", at: 3, digest: foreign)), "resealed with another digest")
            try check(try await store.upload("u2")?.digest == digest, "sealed digest not recorded")
            try check(!(try await store.advanceUpload("u2", from: 3, to: 5)), "a sealed upload took more bytes")
            try await store.pinBlob(foreign)
            try check(!(try await store.commitBlob(foreign, size: 3, into: repo, finishing: "u2")), "committed as another digest")
            try check(try await store.blob(foreign, in: repo) == nil, "a refused commit linked the other blob")
            try await store.unpinBlob(foreign)
            try check(!(try await store.commitBlob(digest, size: 4, into: repo, finishing: "u2")), "committed with another size")
            try check(try await store.commitBlob(digest, size: 3, into: repo, finishing: "u2"), "commit failed")
            try check(try await store.upload("u2") == nil, "session survived the commit")
            try check(try await store.blob(digest, in: repo)?.size == 3, "committed blob not linked")
            try await store.pinBlob(digest)
            try check(!(try await store.commitBlob(digest, size: 3, into: other, finishing: "u2")), "a finished session committed again")
            try await store.unpinBlob(digest)
            try check(try await store.blob(digest, in: other) == nil, "a second commit linked the blob elsewhere")
            try check(try await store.blob(digest) != nil, "unpinning after a refused commit forgot a present blob")
        },
        .init("an upload has one writer at a time; a claim expires, is renewed and released") { store in
            let now = Date()
            try await store.createUpload(UploadSession(id: "w1", repository: repo, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now))
            let later = Date(timeIntervalSinceNow: 60)
            try check(try await store.claimUpload("nothing", by: "a", until: later) == nil, "claimed an unknown upload")
            try check(try await store.claimUpload("w1", by: "a", until: later)?.id == "w1", "first claim failed")
            func busy(_ writer: String) async throws -> Bool {
                try await claimIsBusy(store, "w1", by: writer, until: later)
            }
            try check(try await busy("b"), "a second writer took a held claim")
            try check(try await store.claimUpload("w1", by: "a", until: later) != nil, "the holder could not renew")
            try await store.releaseUpload("w1", by: "b")
            try check(try await busy("b"), "another writer released the holder's claim")
            try await store.releaseUpload("w1", by: "a")
            try check(try await store.claimUpload("w1", by: "b", until: Date(timeIntervalSinceNow: -1)) != nil, "a released upload not claimable")
            try check(try await store.claimUpload("w1", by: "c", until: later) != nil, "an expired claim was not taken over")
            try check(try await busy("a"), "the new holder's claim did not hold")
            try await store.releaseAllUploadClaims()
            try check(try await store.claimUpload("w1", by: "a", until: later) != nil, "a claim survived releasing them all")
            try check(try await store.deleteUpload("w1"), "delete failed")
        },
        .init("concurrent claims of one upload: exactly one wins") { store in
            let now = Date()
            try await store.createUpload(UploadSession(id: "w2", repository: repo, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now))
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        !(try await claimIsBusy(store, "w2", by: "writer-\(writer)", until: Date(timeIntervalSinceNow: 60)))
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            try check(winners == 1, "\(winners) writers claimed one upload")
        },
        .init("a manifest needs its blobs in the repository and is found by tag and digest") { store in
            let config = try await addBlob(store, 20)
            let missingLayer = Digest.of([4, 5, 6])
            let bytes = TestContent.imageManifest(config: config, layers: [(missingLayer, 3)])
            let record = ManifestRecord(repository: repo, digest: Digest.of(bytes), manifest: try Manifest(parsing: bytes, contentType: nil), content: bytes)
            do {
                try await store.putManifest(record, tags: [Tag("v1")!])
                try check(false, "manifest with a missing layer accepted")
            } catch let error as MetadataStoreError {
                try check(error.code == .missingReferences && error.digests == [missingLayer], "error \(error)")
            }
            try check(try await store.manifest(.tag(Tag("v1")!), in: repo, withContent: false) == nil, "refused manifest tagged")
            let (digest, size) = try await addImage(store, seed: 21, tags: ["v1"])
            let byTag = try await store.manifest(.tag(Tag("v1")!), in: repo, withContent: true)
            try check(byTag?.digest == digest && byTag?.size == Int64(size) && byTag?.content?.count == size, "by tag \(String(describing: byTag))")
            try check(byTag?.mediaType == MediaType.ociManifest, "media type")
            let head = try await store.manifest(.digest(digest), in: repo, withContent: false)
            try check(head?.digest == digest && head?.content == nil, "head by digest")
            try check(try await store.manifest(.digest(digest), in: other, withContent: false) == nil, "manifest leaked into another repository")
        },
        .init("re-tagging moves the tag; deleting a tag keeps the manifest; deleting a manifest removes its tags") { store in
            let (first, _) = try await addImage(store, seed: 30, tags: ["latest", "v1"])
            let (second, _) = try await addImage(store, seed: 31, tags: ["latest"])
            try check(try await store.manifest(.tag(Tag("latest")!), in: repo, withContent: false)?.digest == second, "tag not moved")
            try check(try await store.deleteTag(Tag("v1")!, in: repo), "tag delete failed")
            try check(try await store.manifest(.digest(first), in: repo, withContent: false) != nil, "tag delete removed the manifest")
            try check(try await store.deleteManifest(second, in: repo), "manifest delete failed")
            try check(try await store.manifest(.tag(Tag("latest")!), in: repo, withContent: false) == nil, "tag outlived its manifest")
            try check(!(try await store.deleteManifest(second, in: repo)), "second delete succeeded")
            try check(try await store.tags(in: repo, after: nil, limit: 10)?.items == [], "tags left")
        },
        .init("an index needs its manifests in the repository") { store in
            let (child, size) = try await addImage(store, seed: 40, tags: [])
            let missing = (Digest.of([7]), 10)
            for (entries, accepted) in [([(child, size), missing], false), ([(child, size)], true)] {
                let bytes = TestContent.index(entries)
                let record = ManifestRecord(repository: repo, digest: Digest.of(bytes), manifest: try Manifest(parsing: bytes, contentType: nil), content: bytes)
                do {
                    try await store.putManifest(record, tags: [Tag("multi")!])
                    try check(accepted, "index with a missing child accepted")
                } catch let error as MetadataStoreError {
                    try check(!accepted && error.digests == [missing.0], "error \(error)")
                }
            }
        },
        .init("referrers are listed by subject, filtered by artifact type, with annotations") { store in
            let subject = (Digest.of([1]), 2)
            let (a, _) = try await addImage(store, seed: 50, tags: [], subject: subject, artifactType: "application/vnd.example.sbom", annotations: ["k": "a"])
            let (b, _) = try await addImage(store, seed: 51, tags: [], subject: subject, annotations: ["k": "b"])
            _ = try await addImage(store, seed: 52, tags: [], into: other, subject: subject)
            let all = try await store.referrers(of: subject.0, in: repo, artifactType: nil)
            try check(Set(all.map(\.digest)) == [a, b], "referrers \(all.map(\.digest))")
            try check(all.first { $0.digest == b }?.artifactType == MediaType.ociConfig, "artifactType from the config")
            try check(all.first { $0.digest == a }?.annotations == ["k": "a"], "annotations")
            let filtered = try await store.referrers(of: subject.0, in: repo, artifactType: "application/vnd.example.sbom")
            try check(filtered.map(\.digest) == [a], "filtered \(filtered.map(\.digest))")
            try check(try await store.referrers(of: subject.0, in: RepositoryName("none")!, artifactType: nil).isEmpty, "unknown repository")
        },
        .init("cached referrers are recorded for a stored manifest, replaced whole, and go with the manifest") { store in
            let cached = RepositoryName("mirror.test/lib/app")!
            let (subject, _) = try await addImage(store, seed: 55, tags: ["v1"], into: cached)
            let signature = Descriptor(mediaType: MediaType.ociManifest, digest: Digest.of([5, 5]), size: 321,
                                       annotations: ["org.example": "a \"quoted\" value"], artifactType: "application/vnd.example.sig")
            try check(try await store.cachedReferrers(of: subject, in: cached) == nil, "referrers before any were recorded")
            try check(!(try await store.cacheReferrers([signature], of: Digest.of([1]), in: cached)), "recorded for a manifest not stored")
            try check(!(try await store.cacheReferrers([signature], of: subject, in: other)), "recorded where the manifest is not")
            try check(try await store.cacheReferrers([signature], of: subject, in: cached), "not recorded")
            try check(try await store.cachedReferrers(of: subject, in: cached) == [signature], "recorded referrers differ")
            try check(try await store.cachedReferrers(of: subject, in: other) == nil, "referrers leaked into another repository")
            try check(try await store.cacheReferrers([], of: subject, in: cached), "replacing failed")
            try check(try await store.cachedReferrers(of: subject, in: cached) == [], "an empty list is not kept as one")
            _ = try await store.cacheReferrers([signature], of: subject, in: cached)
            _ = try await store.deleteManifest(subject, in: cached)
            try check(try await store.cachedReferrers(of: subject, in: cached) == nil, "referrers outlived their manifest")
        },
        .init("garbage: untagged unreferenced manifests and unreferenced blobs only") { store in
            let (tagged, _) = try await addImage(store, seed: 60, tags: ["keep"])
            let (child, childSize) = try await addImage(store, seed: 61, tags: [])
            let indexBytes = TestContent.index([(child, childSize)])
            try await store.putManifest(ManifestRecord(repository: repo, digest: Digest.of(indexBytes),
                                                       manifest: try Manifest(parsing: indexBytes, contentType: nil), content: indexBytes),
                                        tags: [Tag("multi")!])
            let (referrer, _) = try await addImage(store, seed: 62, tags: [], subject: (tagged, 10))
            let (orphan, _) = try await addImage(store, seed: 63, tags: [])
            let loose = try await addBlob(store, 64)
            try check(try await store.collectableManifests(createdBefore: Date(timeIntervalSinceNow: -3600), limit: 100).isEmpty, "young manifests collectable")
            let manifests = try await store.collectableManifests(createdBefore: future, limit: 100)
            try check(manifests.map(\.digest) == [orphan], "collectable manifests \(manifests.map(\.digest)) (tagged \(tagged), child \(child), referrer \(referrer))")
            try check(try await store.deleteManifestIfCollectable(manifests[0], createdBefore: future), "delete collectable failed")
            try check(!(try await store.deleteManifestIfCollectable(ManifestLocation(repository: repo, digest: tagged), createdBefore: future)), "deleted a tagged manifest")
            let blobs = try await store.collectableBlobs(touchedBefore: future, limit: 100)
            let orphanBlobs = Set([Digest.of(TestContent.bytes(163, seed: 63)), Digest.of(TestContent.bytes(1163, seed: 1063)), loose.0])
            try check(Set(blobs) == orphanBlobs, "collectable blobs \(blobs.count)")
            try check(!(try await store.beginBlobDeletion(loose.0, touchedBefore: Date(timeIntervalSinceNow: -3600))), "claimed a young blob")
            try check(try await store.beginBlobDeletion(loose.0, touchedBefore: future), "claim failed")
            try check(try await store.blob(loose.0) == nil, "claimed blob still visible")
            do {
                try await store.pinBlob(loose.0)
                try check(false, "pinned a blob being deleted")
            } catch let error as MetadataStoreError {
                try check(error.code == .busy, "code \(error.code)")
            }
            try await store.finishBlobDeletion(loose.0)
            try check(!(try await store.knownBlobDigests().contains(loose.0)), "deleted blob still recorded")
            try check(try await store.blob(loose.0, in: repo) == nil, "link outlived the blob")
            try await store.pinBlob(loose.0)  // a new push of the same bytes may proceed now
        },
        .init("a pinned blob is never claimed for deletion, nor a referenced one") { store in
            let (digest, _) = try await addBlob(store, 70)
            try await store.pinBlob(digest)
            try check(!(try await store.beginBlobDeletion(digest, touchedBefore: future)), "claimed a pinned blob")
            try await store.unpinBlob(digest)
            let (image, _) = try await addImage(store, seed: 71, tags: [])
            _ = image
            let layer = Digest.of(TestContent.bytes(1171, seed: 1071))
            try check(!(try await store.beginBlobDeletion(layer, touchedBefore: future)), "claimed a referenced blob")
        },
        .init("cached content: least recently pulled under a prefix, bytes not shared with hosted repositories, freed blobs") { store in
            let cachedA = RepositoryName("mirror.test/lib/a")!, cachedB = RepositoryName("mirror.test/lib/b")!
            let lookalike = RepositoryName("mirror.testing/lib/c")!
            let (hosted, _) = try await addImage(store, seed: 80, tags: ["v1"], into: repo)
            let (a, _) = try await addImage(store, seed: 81, tags: ["v1"], into: cachedA)
            let (b, _) = try await addImage(store, seed: 82, tags: ["v1"], into: cachedB)
            _ = try await addImage(store, seed: 83, tags: ["v1"], into: lookalike)
            // A cached manifest that shares the hosted image's layer.
            let hostedLayer = Digest.of(TestContent.bytes(1180, seed: 1080))
            _ = try await store.mountBlob(hostedLayer, into: cachedB, from: repo)
            let shared = TestContent.imageManifest(config: (Digest.of(TestContent.bytes(182, seed: 82)), 182), layers: [(hostedLayer, 1180)])
            try await store.putManifest(ManifestRecord(repository: cachedB, digest: Digest.of(shared),
                                                       manifest: try Manifest(parsing: shared, contentType: nil), content: shared), tags: [])
            // Times are milliseconds: a pull in the millisecond the last manifest was stored would tie with it.
            try await Task.sleep(for: .milliseconds(2))
            try await store.touchManifest(a, in: cachedA)
            let order = try await store.leastRecentlyPulledManifests(under: ["mirror.test"], pulledBefore: future, limit: 10)
            try check(order.map(\.repository) == [cachedB, cachedB, cachedA], "order \(order)")
            try check(order.last?.digest == a && order.first?.digest == b, "the pulled manifest comes last")
            try check(try await store.leastRecentlyPulledManifests(under: ["mirror.test"], pulledBefore: Date(timeIntervalSinceNow: -3600), limit: 10).isEmpty,
                      "nothing was pulled an hour ago")
            // Blobs of a (181 + 1181 bytes) and b (182 + 1182); the hosted layer is shared, so not counted.
            let bytes = try await store.cachedBytes(under: ["mirror.test"])
            try check(bytes == 181 + 1181 + 182 + 1182, "cached bytes \(bytes)")
            try check(try await store.unreferencedBlobs(linkedOnlyUnder: ["mirror.test"], limit: 10).isEmpty, "referenced blobs listed")
            _ = try await store.deleteManifest(a, in: cachedA)
            let freed = try await store.unreferencedBlobs(linkedOnlyUnder: ["mirror.test"], limit: 10)
            try check(Set(freed) == [Digest.of(TestContent.bytes(181, seed: 81)), Digest.of(TestContent.bytes(1181, seed: 1081))], "freed \(freed)")
            try check(try await store.cachedBytes(under: ["mirror.test"]) == 182 + 1182, "cached bytes after expiry")
            _ = hosted
        },
    ]
}
