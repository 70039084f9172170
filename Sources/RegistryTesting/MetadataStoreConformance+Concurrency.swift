import Foundation
import RegistryCore
import RegistryStorage

/// Cases where several requests (on one replica or many) change the same rows at once: a store that checks and then
/// writes in two steps without holding what it checked fails them.
extension MetadataStoreConformance {
    /// Records an image's blobs and returns its manifest, not yet stored.
    static func imageRecord(_ store: any MetadataStore, seed: UInt64, into repository: RepositoryName = repo) async throws -> ManifestRecord {
        let config = try await addBlob(store, seed, into: repository)
        let layer = try await addBlob(store, seed + 1000, into: repository)
        let bytes = TestContent.imageManifest(config: config, layers: [layer])
        let manifest = try Manifest(parsing: bytes, contentType: MediaType.ociManifest)
        return ManifestRecord(repository: repository, digest: Digest.of(bytes), manifest: manifest, content: bytes)
    }

    /// Stores a manifest tagged `pushed-…`; its digest, or `nil` when the store refused it for missing references.
    static func push(_ store: any MetadataStore, _ content: [UInt8]) async throws -> Digest? {
        let digest = Digest.of(content)
        let record = ManifestRecord(repository: repo, digest: digest, manifest: try Manifest(parsing: content, contentType: nil), content: content)
        do {
            try await store.putManifest(record, tags: [Tag("pushed-\(digest.encoded.prefix(12))")!])
            return digest
        } catch let error as MetadataStoreError where error.code == .missingReferences {
            return nil
        }
    }

    /// Runs `body` once per element of `inputs`, all at once, and returns the results in the inputs' order.
    static func race<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], _ body: @escaping @Sendable (Input) async throws -> Output
    ) async throws -> [Output] {
        try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            for (index, input) in inputs.enumerated() {
                group.addTask { (index, try await body(input)) }
            }
            var outputs: [(Int, Output)] = []
            for try await output in group { outputs.append(output) }
            return outputs.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The bytes a blob store would hold, as a publisher and a collector change them: written after a pin, deleted
    /// after a claim.
    actor BlobBytes {
        private var present: Set<Digest> = []
        func write(_ digest: Digest) { present.insert(digest) }
        func delete(_ digest: Digest) { present.remove(digest) }
        func contains(_ digest: Digest) -> Bool { present.contains(digest) }
    }

    static let concurrentCases: [ConformanceCase<any MetadataStore>] = [
        .init("racing pushes of the same tags: every tag ends on one pushed manifest, the same for all") { store in
            for round in 0..<3 {
                var records: [ManifestRecord] = []
                for index in 0..<12 {
                    records.append(try await imageRecord(store, seed: 2000 + UInt64(round * 100 + index)))
                }
                let latest = Tag("latest")!, stable = Tag("stable")!
                // Half the pushes name the tags in the other order, as two clients might.
                _ = try await race(Array(records.enumerated())) { index, record in
                    try await store.putManifest(record, tags: index % 2 == 0 ? [latest, stable] : [stable, latest])
                }
                let byLatest = try await store.manifest(.tag(latest), in: repo, withContent: true)
                let byStable = try await store.manifest(.tag(stable), in: repo, withContent: false)
                let winner = try require(byLatest, "no manifest tagged latest after round \(round)")
                try check(records.contains { $0.digest == winner.digest && $0.content == winner.content }, "latest names no pushed manifest")
                try check(byStable?.digest == winner.digest, "latest is \(winner.digest) but stable is \(String(describing: byStable?.digest))")
                try check(try await store.tags(in: repo, after: nil, limit: 10)?.items == ["latest", "stable"], "tags listed")
                for record in records {
                    try check(try await store.manifest(.digest(record.digest), in: repo, withContent: false) != nil, "a racing push was lost")
                }
            }
        },
        .init("racing completes of one sealed upload: exactly one finishes it, and no pin is left behind") { store in
            let now = Date()
            let bytes: [UInt8] = [1, 2, 3]
            let digest = Digest.of(bytes)
            try await store.createUpload(UploadSession(id: "r1", repository: repo, algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now))
            try check(try await store.advanceUpload("r1", from: 0, to: 3), "advance failed")
            try check(try await store.sealUpload("r1", at: 3, digest: digest), "seal failed")
            let finished = try await race(Array(0..<16)) { _ in
                // As the registry finishes an upload: pin, commit, and unpin when the commit was refused.
                try await store.pinBlob(digest)
                let committed = try await store.commitBlob(digest, size: 3, into: repo, finishing: "r1")
                if !committed { try await store.unpinBlob(digest) }
                return committed
            }
            try check(finished.filter { $0 }.count == 1, "\(finished.filter { $0 }.count) requests finished one upload")
            try check(try await store.upload("r1") == nil, "the session survived")
            try check(try await store.blob(digest, in: repo)?.size == 3, "the blob is not linked")
            try check(try await store.beginBlobDeletion(digest, touchedBefore: future), "a pin was left behind: the blob cannot be collected")
        },
        .init("racing creations at the caps: exactly the free places are taken") { store in
            let now = Date()
            let repositories = [repo, other]
            let attempts = (0..<24).map { index in
                UploadSession(id: "cap\(index)", repository: repositories[index % 2], algorithm: .sha256, offset: 0, startedAt: now, updatedAt: now)
            }
            let accepted = try await race(attempts) { session in
                try await store.createUpload(session, perRepository: 3, total: 5)
            }
            try check(accepted.filter { $0 }.count == 5, "\(accepted.filter { $0 }.count) sessions accepted under a total of 5")
            for repository in repositories {
                let count = zip(attempts, accepted).filter { $0.0.repository == repository && $0.1 }.count
                try check(count <= 3, "\(count) sessions accepted in \(repository) under a cap of 3")
            }
            for (session, wasAccepted) in zip(attempts, accepted) {
                try check((try await store.upload(session.id) != nil) == wasAccepted, "session \(session.id) recorded: \(!wasAccepted)")
            }
        },
        .init("garbage collection racing a publish of the same blob: never a committed blob whose bytes are deleted") { store in
            let bytes = BlobBytes()
            var blobs: [(Digest, Int64)] = []
            for seed in 0..<16 {
                let (digest, size) = try await addBlob(store, 3000 + UInt64(seed))
                await bytes.write(digest)
                blobs.append((digest, Int64(size)))
            }
            // Collectable when the race starts; the publisher's pin touches the blob, after which it is not.
            try await Task.sleep(for: .milliseconds(10))
            let cutoff = Date()
            try await Task.sleep(for: .milliseconds(2))
            _ = try await race(blobs.flatMap { [($0.0, $0.1, true), ($0.0, $0.1, false)] }) { digest, size, collector in
                if collector {
                    guard try await store.beginBlobDeletion(digest, touchedBefore: cutoff) else { return }
                    await bytes.delete(digest)
                    try await store.finishBlobDeletion(digest)
                } else {
                    var pinned = false
                    for _ in 0..<1000 where !pinned {
                        do {
                            try await store.pinBlob(digest)
                            pinned = true
                        } catch let error as MetadataStoreError where error.code == .busy {
                            try await Task.sleep(for: .milliseconds(2))
                        }
                    }
                    try check(pinned, "the blob stayed claimed")
                    await bytes.write(digest)
                    try check(try await store.commitBlob(digest, size: size, into: repo, finishing: nil), "commit refused")
                }
            }
            for (digest, _) in blobs {
                try check(try await store.blob(digest, in: repo) != nil, "a published blob is not visible")
                try check(await bytes.contains(digest), "a committed blob's bytes were deleted")
            }
        },
        .init("garbage collection racing pushes that reference its candidates: nothing pushed references what it deleted") { store in
            // Blobs and untagged manifests that are collectable when the race starts.
            var layers: [(Digest, Int)] = []
            var children: [(Digest, Int)] = []
            for index in 0..<12 {
                layers.append(try await addBlob(store, 5000 + UInt64(index)))
                children.append(try await addImage(store, seed: 5100 + UInt64(index), tags: []))
            }
            try await Task.sleep(for: .milliseconds(10))
            let cutoff = Date()
            try await Task.sleep(for: .milliseconds(2))
            let config = try await addBlob(store, 5200)
            let bytes = BlobBytes()
            for (layer, _) in layers { await bytes.write(layer) }
            enum Racer: Sendable { case collectBlob(Digest), pushImage((Digest, Int)), collectManifest(Digest), pushIndex((Digest, Int)) }
            let racers = zip(layers, children).flatMap { layer, child in
                [Racer.collectBlob(layer.0), .pushImage(layer), .collectManifest(child.0), .pushIndex(child)]
            }
            let pushed = try await race(racers) { racer -> Digest? in
                switch racer {
                case .collectBlob(let digest):
                    guard try await store.beginBlobDeletion(digest, touchedBefore: cutoff) else { return nil }
                    await bytes.delete(digest)
                    try await store.finishBlobDeletion(digest)
                case .collectManifest(let digest):
                    _ = try await store.deleteManifestIfCollectable(ManifestLocation(repository: repo, digest: digest), createdBefore: cutoff)
                case .pushImage(let layer):
                    let content = TestContent.imageManifest(config: config, layers: [layer])
                    return try await push(store, content)
                case .pushIndex(let child):
                    return try await push(store, TestContent.index([child]))
                }
                return nil
            }
            for (racer, digest) in zip(racers, pushed) {
                guard let digest else { continue }
                try check(try await store.manifest(.digest(digest), in: repo, withContent: false) != nil, "a pushed manifest is missing")
                switch racer {
                case .pushImage(let layer):
                    let stored = await bytes.contains(layer.0)
                    try check(try await store.blob(layer.0, in: repo) != nil && stored, "a pushed manifest references a deleted blob")
                case .pushIndex(let child):
                    try check(try await store.manifest(.digest(child.0), in: repo, withContent: false) != nil,
                              "a pushed index lists a deleted manifest")
                default:
                    break
                }
            }
        },
        .init("racing first pushes into a new repository record it once") { store in
            let fresh = RepositoryName("race/fresh")!
            let digests = try await race(Array(0..<16)) { seed in
                try await addBlob(store, 4000 + UInt64(seed), into: fresh).0
            }
            try check(try await store.repositories(after: nil, limit: 10).items == [fresh], "repositories listed")
            for digest in digests {
                try check(try await store.blob(digest, in: fresh) != nil, "a racing push's blob is not linked")
            }
        },
        .init("racing mounts of one blob, into one repository and into many, all succeed") { store in
            let (digest, size) = try await addBlob(store, 4100)
            let targets = (0..<24).map { RepositoryName("mounts/\($0 % 2 == 0 ? "shared" : "own-\($0)")")! }
            let mounted = try await race(targets) { target in
                try await store.mountBlob(digest, into: target, from: repo)
            }
            try check(mounted.allSatisfy { $0?.size == Int64(size) }, "\(mounted.filter { $0 == nil }.count) mounts failed")
            for target in Set(targets) {
                try check(try await store.blob(digest, in: target) != nil, "the blob is not linked into \(target)")
            }
        },
    ]
}

/// The value of an optional, or a failed conformance check.
func require<T>(_ value: T?, _ message: @autoclosure () -> String) throws -> T {
    guard let value else { throw ConformanceFailure(message()) }
    return value
}
