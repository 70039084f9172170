import Foundation
import Logging
import RegistryCore

/// Keeps chosen images of an upstream fresh in the cache: lists each repository's tags upstream, keeps those that
/// match a pattern, and prefetches them (what is already cached and unchanged costs a HEAD per tag).
public struct CacheSync: Sendable {
    /// What one run did.
    public struct Report: Sendable, CustomStringConvertible {
        public var tags = 0
        public var failures = 0
        public var fetchedBytes: Int64 = 0
        public var description: String { "\(tags) tags synced, \(failures) failed, \(fetchedBytes) bytes fetched" }
    }

    public let name: String
    let prefetcher: Prefetcher
    let host: String
    let repositories: [String]
    let tagPattern: String?
    let platforms: [String]
    let maximumTags: Int
    /// Whether each image's referrers (signatures, SBOMs, attestations) are fetched too.
    let referrers: Bool
    let logger: Logger

    public init(
        name: String, cache: PullThroughCache, host: String, repositories: [String], tagPattern: String?, platforms: [String],
        maximumTags: Int, referrers: Bool = false, logger: Logger
    ) {
        self.name = name
        self.prefetcher = Prefetcher(cache: cache)
        self.host = host
        self.repositories = repositories
        self.tagPattern = tagPattern
        self.platforms = platforms
        self.maximumTags = maximumTags
        self.referrers = referrers
        self.logger = logger
    }

    /// Whether a tag is wanted: it contains a match of the pattern (anchor the pattern to match whole tags).
    func wants(_ tag: String) -> Bool {
        guard let tagPattern else { return true }
        return tag.range(of: tagPattern, options: .regularExpression) != nil
    }

    /// Runs the rule once.
    public func run() async -> Report {
        var report = Report()
        for repository in repositories {
            let tags: [String]
            do {
                let route = try prefetcher.cache.route(host: host, name: repository)
                tags = try await route.mirror.client.listTags(repository: route.upstreamRepository, limit: 10_000).filter(wants).sorted()
            } catch {
                logger.warning("sync: listing tags failed", metadata: ["rule": "\(name)", "repository": "\(repository)", "error": "\(error)"])
                report.failures += 1
                continue
            }
            if tags.count > maximumTags {
                logger.warning("sync: more tags match than maxtags; syncing the last ones in lexical order", metadata: [
                    "rule": "\(name)", "repository": "\(repository)", "matching": "\(tags.count)", "maxtags": "\(maximumTags)",
                ])
            }
            for tag in tags.suffix(maximumTags) {
                guard let parsed = Tag(tag) else { continue }
                do {
                    let summary = try await prefetcher.prefetch(
                        ImageReference(host: host, name: repository, reference: .tag(parsed)), platforms: platforms, referrers: referrers)
                    report.tags += 1
                    report.fetchedBytes += summary.fetchedBytes
                } catch {
                    logger.warning("sync: fetching an image failed", metadata: [
                        "rule": "\(name)", "image": "\(host)/\(repository):\(tag)", "error": "\(error)",
                    ])
                    report.failures += 1
                }
            }
        }
        logger.info("sync", metadata: [
            "rule": "\(name)", "tags": "\(report.tags)", "failures": "\(report.failures)", "fetched_bytes": "\(report.fetchedBytes)",
        ])
        return report
    }
}
