import Foundation
import Logging
import RegistryCore
import RegistryStorage

/// Frees the disk that cached content occupies: manifests not pulled within their upstream's `ttl` go, then the
/// least recently pulled ones until the cache fits `maxSize`, then the bytes of every cached blob no manifest
/// references any more. Blobs shared with hosted repositories, or with cached manifests that stay, are kept.
public struct CacheExpiry: Sendable {
    /// What one pass removed.
    public struct Report: Sendable, CustomStringConvertible {
        public var expiredManifests = 0
        public var evictedManifests = 0
        public var deletedBlobs = 0
        public var freedBytes: Int64 = 0
        /// What the cache occupies afterwards (blobs it does not share with hosted repositories).
        public var cachedBytes: Int64 = 0

        public var description: String {
            "\(expiredManifests) manifests past their ttl, \(evictedManifests) evicted for the size cap, "
                + "\(deletedBlobs) blobs (\(freedBytes) bytes) removed, \(cachedBytes) bytes cached"
        }
    }

    let registry: Registry
    /// Each mirror's local name prefix and ttl.
    let mirrors: [(prefix: String, ttl: Duration)]
    let maxSize: Int64?
    /// Blobs pushed, fetched or pulled within this long are kept for the next pass (a push of the same content may
    /// be about to reference them).
    let grace: Duration
    let logger: Logger

    public init(registry: Registry, mirrors: [Mirror], maxSize: Int64?, grace: Duration = .seconds(60), logger: Logger) {
        // Content cached under an alias's prefix (the proxy block's name before it stood in for docker.io) expires
        // with its mirror's ttl too, instead of staying for good.
        var prefixes: [(prefix: String, ttl: Duration)] = mirrors.map { ($0.prefix, $0.ttl) }
        for mirror in mirrors {
            for alias in mirror.aliases.map(Mirror.prefix(for:)) where !prefixes.contains(where: { $0.prefix == alias }) {
                prefixes.append((alias, mirror.ttl))
            }
        }
        self.init(registry: registry, prefixes: prefixes, maxSize: maxSize, grace: grace, logger: logger)
    }

    /// - Parameter prefixes: each mirror's local name prefix (its host, `:` written `_`) and ttl.
    public init(registry: Registry, prefixes: [(prefix: String, ttl: Duration)], maxSize: Int64?, grace: Duration = .seconds(60), logger: Logger) {
        self.registry = registry
        self.mirrors = prefixes
        self.maxSize = maxSize
        self.grace = grace
        self.logger = logger
    }

    /// Runs one pass.
    public func run() async throws -> Report {
        var report = Report()
        let metadata = registry.metadata
        let prefixes = mirrors.map(\.prefix)
        for (prefix, ttl) in mirrors {
            let cutoff = Date(timeIntervalSinceNow: -Self.seconds(ttl))
            while true {
                let expired = try await metadata.leastRecentlyPulledManifests(under: [prefix], pulledBefore: cutoff, limit: 500)
                if expired.isEmpty { break }
                for location in expired {
                    if try await metadata.deleteManifest(location.digest, in: location.repository) { report.expiredManifests += 1 }
                }
            }
        }
        if let maxSize {
            evicting: while try await metadata.cachedBytes(under: prefixes) > maxSize {
                let oldest = try await metadata.leastRecentlyPulledManifests(under: prefixes, pulledBefore: .distantFuture, limit: 20)
                if oldest.isEmpty { break }
                for location in oldest {
                    if try await metadata.deleteManifest(location.digest, in: location.repository) { report.evictedManifests += 1 }
                    // One manifest at a time: evict no more than the cap asks for.
                    if try await metadata.cachedBytes(under: prefixes) <= maxSize { break evicting }
                }
            }
        }
        let cutoff = Date(timeIntervalSinceNow: -Self.seconds(grace))
        var seen = Set<Digest>()
        while true {
            let candidates = try await metadata.unreferencedBlobs(linkedOnlyUnder: prefixes, limit: 1000).filter { !seen.contains($0) }
            if candidates.isEmpty { break }
            for digest in candidates {
                seen.insert(digest)
                let size = try await metadata.blob(digest)?.size ?? 0
                // The claim re-checks, in one transaction, that nothing references the blob and nothing is publishing it.
                guard try await metadata.beginBlobDeletion(digest, touchedBefore: cutoff) else { continue }
                try await registry.blobs.delete(digest)
                try await metadata.finishBlobDeletion(digest)
                report.deletedBlobs += 1
                report.freedBytes += size
            }
        }
        report.cachedBytes = try await metadata.cachedBytes(under: prefixes)
        ProxyMetrics.expiry(report)
        if report.expiredManifests + report.evictedManifests + report.deletedBlobs > 0 {
            logger.info("cache expiry", metadata: [
                "expired": "\(report.expiredManifests)", "evicted": "\(report.evictedManifests)", "blobs": "\(report.deletedBlobs)",
                "freed_bytes": "\(report.freedBytes)", "cached_bytes": "\(report.cachedBytes)",
            ])
        }
        return report
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
