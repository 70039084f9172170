import Foundation
import Logging
import RegistryCore

/// Removes untagged manifests nothing needs and blobs no manifest references, safely while the registry serves.
///
/// Safety against a concurrent push rests on two rules. Content pushed, mounted or pulled within the grace
/// period is never a candidate, so a push that uploads layers and then its manifest keeps them. And a blob is
/// deleted only after the metadata store has claimed it in a transaction that re-checks it is unreferenced and
/// not being published; while claimed, publishing the same digest waits, so bytes are never removed under a
/// blob that a push has just recorded.
public struct GarbageCollector: Sendable {
    /// What a collection removed (or, in a dry run, would remove).
    public struct Report: Sendable, CustomStringConvertible {
        public var manifests: [ManifestLocation] = []
        public var blobs: [Digest] = []
        public var orphanedBlobs: [Digest] = []
        public var abandonedUploads: Int = 0

        public var description: String {
            "\(manifests.count) manifests, \(blobs.count) blobs, \(orphanedBlobs.count) orphaned blob files, \(abandonedUploads) abandoned uploads"
        }
    }

    let blobs: any BlobStore
    let metadata: any MetadataStore
    let logger: Logger

    public init(blobs: any BlobStore, metadata: any MetadataStore, logger: Logger = Logger(label: "pier.gc")) {
        self.blobs = blobs
        self.metadata = metadata
        self.logger = logger
    }

    /// Runs one collection.
    /// - Parameters:
    ///   - gracePeriod: content younger than this is kept.
    ///   - uploadAge: upload sessions idle longer than this are purged (`nil`: keep them).
    ///   - keepUntagged: keep untagged manifests (only unreferenced blobs go).
    ///   - dryRun: report without deleting.
    public func collect(gracePeriod: TimeInterval, uploadAge: TimeInterval? = nil, keepUntagged: Bool = false, dryRun: Bool) async throws -> Report {
        var report = Report()
        let cutoff = Date(timeIntervalSinceNow: -gracePeriod)
        if !keepUntagged {
            // Deleting an index can free the manifests it listed, so repeat until nothing changes.
            var seen = Set<ManifestLocation>()
            while true {
                let candidates = try await metadata.collectableManifests(createdBefore: cutoff, limit: 1000).filter { !seen.contains($0) }
                if candidates.isEmpty { break }
                for location in candidates {
                    seen.insert(location)
                    if dryRun {
                        report.manifests.append(location)
                    } else if try await metadata.deleteManifestIfCollectable(location, createdBefore: cutoff) {
                        report.manifests.append(location)
                        logger.debug("deleted manifest", metadata: ["repository": "\(location.repository)", "digest": "\(location.digest)"])
                    }
                }
                if dryRun { break }
            }
        }
        var seenBlobs = Set<Digest>()
        while true {
            let candidates = try await metadata.collectableBlobs(touchedBefore: cutoff, limit: 1000).filter { !seenBlobs.contains($0) }
            if candidates.isEmpty { break }
            for digest in candidates {
                seenBlobs.insert(digest)
                if dryRun {
                    report.blobs.append(digest)
                    continue
                }
                guard try await metadata.beginBlobDeletion(digest, touchedBefore: cutoff) else { continue }
                try await blobs.delete(digest)
                try await metadata.finishBlobDeletion(digest)
                report.blobs.append(digest)
                logger.debug("deleted blob", metadata: ["digest": "\(digest)"])
            }
            if dryRun { break }
        }
        // Bytes with no metadata row at all (left by a crash or by hand) are garbage too. List the files before
        // reading the rows: a publish records its row before its file appears, so a listed file without a row is
        // not a publish in flight. The claim then makes a publish of the same digest wait while it goes.
        let files = try await blobs.listBlobs()
        let known = try await metadata.knownBlobDigests()
        for digest in files where !known.contains(digest) {
            if dryRun {
                report.orphanedBlobs.append(digest)
                continue
            }
            guard try await metadata.beginBlobDeletion(digest, touchedBefore: cutoff) else { continue }
            try await blobs.delete(digest)
            try await metadata.finishBlobDeletion(digest)
            report.orphanedBlobs.append(digest)
        }
        if let uploadAge {
            if dryRun {
                report.abandonedUploads = try await metadata.uploads(updatedBefore: Date(timeIntervalSinceNow: -uploadAge), limit: 10_000).count
            } else {
                report.abandonedUploads = try await purgeUploads(olderThan: uploadAge)
            }
        }
        return report
    }

    /// Removes upload sessions (and their scratch bytes) idle for longer than `age`; returns how many.
    public func purgeUploads(olderThan age: TimeInterval) async throws -> Int {
        var purged = 0
        while true {
            let stale = try await metadata.uploads(updatedBefore: Date(timeIntervalSinceNow: -age), limit: 1000)
            if stale.isEmpty { return purged }
            for session in stale {
                if try await metadata.deleteUpload(session.id) { purged += 1 }
                try await blobs.deleteUpload(session.id)
            }
        }
    }
}
