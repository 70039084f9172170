import Foundation
import Logging
import RegistryCore
import RegistryStorage
import Synchronization

extension PullThroughCache {
    /// The referrers of `subject` in a mirrored repository (signatures, SBOMs, attestations), as its upstream lists
    /// them: by the referrers API, or by the referrers tag schema when the upstream has no such API.
    ///
    /// Like a tag: the upstream's answer to an unfiltered listing is recorded (while `subject`'s manifest is cached)
    /// and served without asking again for `revalidate`; when the upstream fails, the recorded list is served. The
    /// referrer manifests themselves are cached when pulled (or prefetched), not when listed.
    /// - Parameter artifactType: only referrers of this artifact type; passed to the upstream and applied here too.
    public func referrers(of subject: Digest, route: MirrorRoute, artifactType: String?) async throws -> [Descriptor] {
        // No valid referrer has an artifact type outside the grammar: nothing to ask the upstream.
        if let artifactType, !MediaType.isValid(artifactType) { return [] }
        let key = "\(route.repository)@referrers/\(subject)"
        let mirror = route.mirror
        let upstream = mirror.client.configuration.url
        let cached = try await registry.metadata.cachedReferrers(of: subject, in: route.repository)
        if let cached, isFresh(key) {
            ProxyMetrics.request(mirror, kind: "referrers", result: "hit")
            return Self.only(artifactType, of: cached)
        }
        do {
            let answer = try await withDeadline(revalidateDeadline) {
                try await mirror.client.listReferrers(repository: route.upstreamRepository, subject: subject, artifactType: artifactType)
            }
            if answer.dropped > 0 {
                logger.warning("upstream listed invalid referrers; they were left out", metadata: [
                    "upstream": "\(upstream)", "repository": "\(route.repository)", "subject": "\(subject)", "dropped": "\(answer.dropped)",
                ])
            }
            // Only a whole list is recorded: a filtered one would later pass for all the referrers there are.
            if artifactType == nil {
                do {
                    _ = try await registry.metadata.cacheReferrers(answer.descriptors, of: subject, in: route.repository)
                } catch {
                    logger.warning("recording referrers failed", metadata: ["repository": "\(route.repository)", "error": "\(error)"])
                }
                markFresh(key)
            }
            ProxyMetrics.request(mirror, kind: "referrers", result: "fetched")
            return Self.only(artifactType, of: answer.descriptors)
        } catch {
            ProxyMetrics.upstreamError(mirror, error)
            ProxyMetrics.request(mirror, kind: "referrers", result: cached == nil ? "failed" : "stale")
            if let cached {
                markFailed(key)
                logger.warning("serving cached referrers that their upstream could not confirm", metadata: [
                    "repository": "\(route.repository)", "subject": "\(subject)", "upstream": "\(upstream)", "error": "\(error)",
                ])
                return Self.only(artifactType, of: cached)
            }
            throw Self.clientFacing(error, upstream: upstream, notFound: .manifestUnknown(.digest(subject)))
        }
    }

    /// The descriptors of `artifactType` (all when `nil`).
    private static func only(_ artifactType: String?, of descriptors: [Descriptor]) -> [Descriptor] {
        guard let artifactType else { return descriptors }
        return descriptors.filter { $0.artifactType == artifactType }
    }
}
