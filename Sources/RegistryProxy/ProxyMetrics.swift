import Metrics

/// The pull-through cache's metrics, through swift-metrics (the server exports them at `/metrics`).
enum ProxyMetrics {
    /// A request for cached content, by what happened: `hit` (served from the cache), `fetched` (from the upstream),
    /// `stale` (served from the cache because the upstream failed), `failed`.
    static func request(_ mirror: Mirror, kind: String, result: String) {
        Counter(label: "pier_proxy_requests_total", dimensions: [("upstream", mirror.host), ("kind", kind), ("result", result)]).increment()
    }

    /// An upstream failure, by its code (`unreachable`, `rateLimited`, …).
    static func upstreamError(_ mirror: Mirror, _ error: any Error) {
        let code = (error as? UpstreamError).map { "\($0.code)" } ?? (error is DeadlineExceeded ? "timeout" : "other")
        Counter(label: "pier_proxy_upstream_errors_total", dimensions: [("upstream", mirror.host), ("code", code)]).increment()
    }

    /// Bytes stored from an upstream.
    static func fetched(_ mirror: Mirror, bytes: Int64) {
        Counter(label: "pier_proxy_fetched_bytes_total", dimensions: [("upstream", mirror.host)]).increment(by: bytes)
    }

    /// What an expiry pass did.
    static func expiry(_ report: CacheExpiry.Report) {
        Counter(label: "pier_proxy_expired_manifests_total").increment(by: report.expiredManifests)
        Counter(label: "pier_proxy_evicted_manifests_total").increment(by: report.evictedManifests)
        Counter(label: "pier_proxy_freed_bytes_total").increment(by: report.freedBytes)
        Gauge(label: "pier_proxy_cached_bytes").record(report.cachedBytes)
    }
}
