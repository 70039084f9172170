import Foundation
import NIOCore
import RegistryCore
import RegistryMetadataSQLite
import RegistryStorage
import RegistryStorageFileSystem
import RegistryTesting
import Testing

@Suite("Garbage collection")
struct GarbageCollectorTests {
    let repository = RepositoryName("team/app")!

    struct Stack {
        let registry: Registry
        let collector: GarbageCollector
        let blobs: FileSystemBlobStore
    }

    func makeStack(_ root: String) async throws -> Stack {
        let blobs = try await FileSystemBlobStore(root: root)
        let metadata = try SQLiteMetadataStore(path: root + "/metadata.sqlite")
        return Stack(
            registry: Registry(blobs: blobs, metadata: metadata),
            collector: GarbageCollector(blobs: blobs, metadata: metadata),
            blobs: blobs
        )
    }

    /// Pushes config + layer + manifest; returns the manifest digest and the blob digests.
    func pushImage(_ registry: Registry, seed: UInt64, tag: String?) async throws -> (Digest, [Digest]) {
        let config = TestContent.bytes(50, seed: seed)
        let layer = TestContent.bytes(5000, seed: seed + 1_000_000)
        let configDigest = try await registry.pushTestBlob(config, into: repository)
        let layerDigest = try await registry.pushTestBlob(layer, into: repository)
        let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(layerDigest, layer.count)])
        let digest = Digest.of(manifest)
        let reference: Reference = tag.map { .tag(Tag($0)!) } ?? .digest(digest)
        _ = try await registry.putManifest(manifest, contentType: MediaType.ociManifest, in: repository, reference: reference)
        return (digest, [configDigest, layerDigest])
    }

    func fileExists(_ blobs: FileSystemBlobStore, _ digest: Digest) async throws -> Bool {
        guard let reader = try await blobs.open(digest) else { return false }
        try await reader.close()
        return true
    }

    @Test("removes untagged manifests and their blobs from disk, keeps tagged images")
    func collects() async throws {
        try await withTemporaryDirectory { root in
            let stack = try await makeStack(root)
            let (kept, keptBlobs) = try await pushImage(stack.registry, seed: 1, tag: "v1")
            let (dropped, droppedBlobs) = try await pushImage(stack.registry, seed: 2, tag: nil)
            let dry = try await stack.collector.collect(gracePeriod: -1, dryRun: true)
            #expect(dry.manifests.map(\.digest) == [dropped])
            #expect(try await fileExists(stack.blobs, droppedBlobs[1]), "dry run deleted bytes")
            let young = try await stack.collector.collect(gracePeriod: 3600, dryRun: false)
            #expect(young.manifests.isEmpty && young.blobs.isEmpty, "grace period not honoured")
            let report = try await stack.collector.collect(gracePeriod: -1, dryRun: false)
            #expect(report.manifests.map(\.digest) == [dropped])
            #expect(Set(report.blobs) == Set(droppedBlobs))
            for digest in droppedBlobs { #expect(!(try await fileExists(stack.blobs, digest)), "bytes of a collected blob remain") }
            for digest in keptBlobs { #expect(try await fileExists(stack.blobs, digest)) }
            _ = try await stack.registry.manifest(.digest(kept), in: repository, withContent: true)
        }
    }

    @Test("removes blob files that no metadata records, and abandoned uploads")
    func orphansAndUploads() async throws {
        try await withTemporaryDirectory { root in
            let stack = try await makeStack(root)
            let orphan = TestContent.bytes(64, seed: 9)
            try await stack.blobs.createUpload("00000000-0000-0000-0000-0000000000aa")
            _ = try await stack.blobs.writeUpload("00000000-0000-0000-0000-0000000000aa", at: 0, from: TestContent.body(orphan).async, limit: .max, hasher: nil)
            try await stack.blobs.publishUpload("00000000-0000-0000-0000-0000000000aa", length: 64, as: Digest.of(orphan))
            let session = try await stack.registry.startUpload(in: repository)
            let report = try await stack.collector.collect(gracePeriod: 3600, uploadAge: -1, dryRun: false)
            #expect(report.orphanedBlobs == [Digest.of(orphan)])
            #expect(report.abandonedUploads == 1)
            #expect(!(try await fileExists(stack.blobs, Digest.of(orphan))))
            await #expect(throws: RegistryError.self) { try await stack.registry.uploadStatus(session.id, in: repository) }
        }
    }

    /// The race the collector must win: pushes upload blobs and then reference them while collections run back to
    /// back with no grace period at all. A push may be refused (MANIFEST_BLOB_UNKNOWN, a clean error the client
    /// retries), but a manifest the registry accepted must never lose a blob.
    @Test("concurrent pushes never end with an accepted manifest whose blob is gone")
    func raceWithPushes() async throws {
        try await withTemporaryDirectory { root in
            let stack = try await makeStack(root)
            let accepted = try await withThrowingTaskGroup(of: [(Digest, [Digest])].self) { group in
                group.addTask {
                    for _ in 0..<25 {
                        _ = try await stack.collector.collect(gracePeriod: -1, keepUntagged: true, dryRun: false)
                    }
                    return []
                }
                for worker in 0..<4 {
                    group.addTask {
                        var accepted: [(Digest, [Digest])] = []
                        for round in 0..<8 {
                            do {
                                accepted.append(try await pushImage(stack.registry, seed: UInt64(worker * 1000 + round), tag: "w\(worker)-\(round)"))
                            } catch let error as RegistryError where error.code == .manifestBlobUnknown {
                                continue
                            }
                        }
                        return accepted
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(accepted.count > 0)
            for (manifest, blobs) in accepted {
                _ = try await stack.registry.manifest(.digest(manifest), in: repository, withContent: false)
                for digest in blobs {
                    #expect(try await stack.registry.blob(digest, in: repository).digest == digest)
                    #expect(try await fileExists(stack.blobs, digest), "an accepted manifest lost blob \(digest)")
                }
            }
        }
    }

    @Test("with the default grace period, collections during pushes refuse none of them")
    func graceProtectsPushes() async throws {
        try await withTemporaryDirectory { root in
            let stack = try await makeStack(root)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for _ in 0..<10 { _ = try await stack.collector.collect(gracePeriod: 3600, dryRun: false) }
                }
                group.addTask {
                    for round in 0..<10 { _ = try await pushImage(stack.registry, seed: UInt64(round), tag: nil) }
                }
                try await group.waitForAll()
            }
        }
    }
}
