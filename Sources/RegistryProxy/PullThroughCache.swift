import Foundation
import Logging
import RegistryCore
import RegistryStorage
import Synchronization

/// The pull-through cache: serves mirrored repositories from local storage, fetching from their upstream what is
/// missing (each manifest and blob once, whatever the concurrency) and checking tags with the upstream at most
/// once per interval. Content is stored under the repository's local name (`docker.io/library/alpine`) by the
/// same ``Registry`` that hosts pushed repositories, verified against its digest before anyone sees it.
public final class PullThroughCache: Sendable {
    public let registry: Registry
    let mirrors: [String: Mirror]
    let mirrorsByPrefix: [String: Mirror]
    /// Mirrors by their other host names, and by those names' prefixes (a mirror's own host takes precedence).
    let aliases: [String: Mirror]
    let aliasesByPrefix: [String: Mirror]
    let defaultMirror: Mirror?
    /// A cached tag is checked with its upstream at most this often.
    let revalidateInterval: Duration
    /// How long a tag check may take before the cached manifest is served without it.
    let revalidateDeadline: Duration
    let logger: Logger
    /// When each cached tag was last confirmed by its upstream (`repository:tag`); a cache, so process-local.
    let revalidated = Mutex<[String: ContinuousClock.Instant]>([:])
    /// When a tag's check last failed: while its upstream is down, cached tags are served at once for a while
    /// instead of each request waiting for the revalidation deadline again.
    let failedChecks = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Manifest fetches in flight, by `repository@reference`, so that concurrent misses share one.
    let manifestFetches = Mutex<[String: Task<StoredManifest, any Error>]>([:])
    /// When each cached manifest's pull was last recorded (`repository@digest`), to record it at most once a minute.
    let pullsRecorded = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Blob fetches in flight, by digest.
    let blobFetches = Mutex<[Digest: BlobFetch]>([:])

    /// The media types asked of upstreams: every manifest type Pier stores.
    static let manifestAccept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest]

    /// - Parameters:
    ///   - defaultHost: the mirror that serves names given without a host (Docker's `registry-mirrors`).
    public init(
        registry: Registry, mirrors: [Mirror], defaultHost: String?, revalidateInterval: Duration = .seconds(60),
        revalidateDeadline: Duration = .seconds(3), logger: Logger
    ) {
        self.registry = registry
        var byHost: [String: Mirror] = [:]
        var byPrefix: [String: Mirror] = [:]
        for mirror in mirrors {
            byHost[mirror.host] = mirror
            byPrefix[mirror.prefix] = mirror
        }
        self.mirrors = byHost
        self.mirrorsByPrefix = byPrefix
        var aliases: [String: Mirror] = [:]
        var aliasesByPrefix: [String: Mirror] = [:]
        for mirror in mirrors {
            for alias in mirror.aliases where byHost[alias] == nil {
                aliases[alias] = mirror
                aliasesByPrefix[Mirror.prefix(for: alias)] = mirror
            }
        }
        self.aliases = aliases
        self.aliasesByPrefix = aliasesByPrefix
        self.defaultMirror = defaultHost.flatMap { byHost[$0.lowercased()] }
        self.revalidateInterval = revalidateInterval
        self.revalidateDeadline = revalidateDeadline
        self.logger = logger
    }

    /// Every mirrored upstream.
    public var allMirrors: [Mirror] { mirrors.values.sorted { $0.host < $1.host } }

    // MARK: Routing

    /// The upstream a pull of `name` goes to, if any.
    ///
    /// In order: containerd's `?ns=<host>` naming a mirrored host; a name whose first component is a mirrored
    /// host (`docker.io/library/alpine`); the default upstream, for a name no one has pushed here.
    public func route(name: String, namespace: String?) async throws -> MirrorRoute? {
        if let mirror = mirror(forNamespace: namespace) {
            return try MirrorRoute(mirror: mirror, name: name)
        }
        if let namespace, !namespace.isEmpty {
            // A client asking for another registry's content (containerd names it with ?ns=) must never get the
            // default upstream's image of the same name: only what is hosted here answers.
            return nil
        }
        if let (mirror, rest) = mirror(byPrefixOf: name) {
            return try MirrorRoute(mirror: mirror, name: rest)
        }
        if let defaultMirror, let repository = RepositoryName(name) {
            // A pushed repository of the same name wins: hosted and mirrored names live side by side.
            if try await registry.metadata.tags(in: repository, after: nil, limit: 0) != nil { return nil }
            return try MirrorRoute(mirror: defaultMirror, name: name)
        }
        return nil
    }

    /// The route for `name` at a registry `host` (the default upstream's when `nil`), as a user names an image.
    /// - Throws: `nameUnknown` when no mirror serves that host.
    public func route(host: String?, name: String) throws -> MirrorRoute {
        guard let mirror = host.map({ mirror(forNamespace: $0) }) ?? defaultMirror else {
            let known = mirrors.keys.sorted().joined(separator: ", ")
            throw RegistryError(.nameUnknown, message: "no mirror for \(host ?? "images without a registry host") (mirrored: \(known))")
        }
        return try MirrorRoute(mirror: mirror, name: name)
    }

    /// The mirror that owns `name` for writes: pushes into a mirrored namespace are refused, the default upstream
    /// aside (a push of a name there makes it a hosted repository).
    public func mirror(owningWritesTo name: String, namespace: String?) -> Mirror? {
        mirror(forNamespace: namespace) ?? mirror(byPrefixOf: name)?.0
    }

    private func mirror(forNamespace namespace: String?) -> Mirror? {
        guard let namespace = namespace?.lowercased(), !namespace.isEmpty else { return nil }
        // Why: containerd names Docker Hub by its API host when a mirror is configured for it.
        if ["registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"].contains(namespace) { return mirrors["docker.io"] }
        return mirrors[namespace] ?? aliases[namespace]
    }

    private func mirror(byPrefixOf name: String) -> (Mirror, String)? {
        guard let slash = name.firstIndex(of: "/") else { return nil }
        let first = String(name[..<slash])
        guard let mirror = mirrorsByPrefix[first] ?? aliasesByPrefix[first] else { return nil }
        let rest = String(name[name.index(after: slash)...])
        return rest.isEmpty ? nil : (mirror, rest)
    }

    // MARK: Manifests

    /// A manifest of a mirrored repository: from the cache when it is there (for a tag: and confirmed by the
    /// upstream within the revalidation interval), else fetched, verified and stored. When the upstream fails,
    /// cached content is served as it is.
    public func manifest(_ reference: Reference, route: MirrorRoute, withContent: Bool) async throws -> StoredManifest {
        let cached = try await registry.metadata.manifest(reference, in: route.repository, withContent: withContent)
        if let cached { await recordPull(of: cached.digest, in: route.repository) }
        let upstream = route.mirror.client.configuration.url
        let mirror = route.mirror
        switch reference {
        case .digest(let digest):
            if let cached {
                ProxyMetrics.request(mirror, kind: "manifest", result: "hit")
                return cached
            }
            do {
                let fetched = try await fetchManifest(reference, expected: digest, route: route)
                ProxyMetrics.request(mirror, kind: "manifest", result: "fetched")
                return fetched
            } catch let error as UpstreamError {
                ProxyMetrics.upstreamError(mirror, error)
                ProxyMetrics.request(mirror, kind: "manifest", result: "failed")
                throw error.registryError(notFound: .manifestUnknown(reference))
            }
        case .tag(let tag):
            let key = "\(route.repository):\(tag.value)"
            if let cached, isFresh(key) {
                ProxyMetrics.request(mirror, kind: "manifest", result: "hit")
                return cached
            }
            do {
                if let cached {
                    let head = try await withDeadline(revalidateDeadline) {
                        try await route.mirror.client.headManifest(
                            repository: route.upstreamRepository, reference: tag.value, accept: Self.manifestAccept
                        )
                    }
                    if head.digest == cached.digest {
                        markFresh(key)
                        ProxyMetrics.request(mirror, kind: "manifest", result: "hit")
                        return cached
                    }
                }
                let fetched = try await fetchManifest(reference, expected: nil, route: route)
                markFresh(key)
                ProxyMetrics.request(mirror, kind: "manifest", result: "fetched")
                return fetched
            } catch {
                ProxyMetrics.upstreamError(mirror, error)
                ProxyMetrics.request(mirror, kind: "manifest", result: cached == nil ? "failed" : "stale")
                if let cached {
                    markFailed(key)
                    logger.warning("serving a cached tag that its upstream could not confirm", metadata: [
                        "repository": "\(route.repository)", "tag": "\(tag.value)", "upstream": "\(upstream)", "error": "\(error)",
                    ])
                    return cached
                }
                throw Self.clientFacing(error, upstream: upstream, notFound: .manifestUnknown(reference))
            }
        }
    }

    /// Records that a cached manifest was pulled, for expiry by ttl and by size (least recently pulled first).
    private func recordPull(of digest: Digest, in repository: RepositoryName) async {
        let key = "\(repository)@\(digest)"
        let now = ContinuousClock.now
        let due = pullsRecorded.withLock { recorded -> Bool in
            if let last = recorded[key], now - last < .seconds(60) { return false }
            if recorded.count >= Self.maximumRemembered { recorded = recorded.filter { now - $0.value < .seconds(60) } }
            recorded[key] = now
            return true
        }
        if due, !registry.options.readOnly {
            try? await registry.metadata.touchManifest(digest, in: repository)
        }
    }

    func isFresh(_ key: String) -> Bool {
        let now = ContinuousClock.now
        if let failed = failedChecks.withLock({ $0[key] }), now - failed < Self.failedCheckBackoff { return true }
        guard let checked = revalidated.withLock({ $0[key] }) else { return false }
        return now - checked < revalidateInterval
    }

    /// How long a tag whose check failed is served from the cache without asking its upstream again.
    static let failedCheckBackoff: Duration = .seconds(10)

    func markFresh(_ key: String) {
        let now = ContinuousClock.now
        revalidated.withLock { revalidated in
            if revalidated.count >= Self.maximumRemembered {
                let interval = revalidateInterval
                revalidated = revalidated.filter { now - $0.value < interval }
            }
            revalidated[key] = now
        }
        _ = failedChecks.withLock { $0.removeValue(forKey: key) }
    }

    /// Records that checking `key` with its upstream failed: its cached answer is served without asking again for
    /// ``failedCheckBackoff``.
    func markFailed(_ key: String) {
        let now = ContinuousClock.now
        failedChecks.withLock { failed in
            if failed.count >= Self.maximumRemembered { failed = failed.filter { now - $0.value < Self.failedCheckBackoff } }
            failed[key] = now
        }
    }

    /// The error a client gets when its upstream failed and nothing cached can stand in.
    static func clientFacing(_ error: any Error, upstream: String, notFound: RegistryError) -> any Error {
        if let error = error as? UpstreamError { return error.registryError(notFound: notFound) }
        if error is DeadlineExceeded {
            return RegistryError(.unknown, status: 504, message: "upstream \(upstream) did not answer in time")
        }
        return error
    }

    /// Entries kept in the revalidation and pull records before the expired ones are dropped.
    static let maximumRemembered = 100_000

    /// Fetches a manifest once for all concurrent askers, verifies it and stores it (tagged when asked by tag).
    private func fetchManifest(_ reference: Reference, expected: Digest?, route: MirrorRoute) async throws -> StoredManifest {
        let key = "\(route.repository)@\(reference)"
        let (task, isOwner) = manifestFetches.withLock { fetches -> (Task<StoredManifest, any Error>, Bool) in
            if let running = fetches[key] { return (running, false) }
            let task = Task { try await self.downloadManifest(reference, expected: expected, route: route) }
            fetches[key] = task
            return (task, true)
        }
        defer {
            if isOwner { _ = manifestFetches.withLock { $0.removeValue(forKey: key) } }
        }
        return try await task.value
    }

    private func downloadManifest(_ reference: Reference, expected: Digest?, route: MirrorRoute) async throws -> StoredManifest {
        let client = route.mirror.client
        let upstream = client.configuration.url
        let referenceString: String
        switch reference {
        case .digest(let digest): referenceString = digest.description
        case .tag(let tag): referenceString = tag.value
        }
        let fetched = try await client.getManifest(
            repository: route.upstreamRepository, reference: referenceString, accept: Self.manifestAccept,
            limit: registry.options.maximumManifestSize
        )
        // By digest: the bytes must hash to it. By tag: to the digest the upstream announced, when it did.
        let claimed = expected ?? fetched.digest
        let digest = Digest.of(fetched.bytes, algorithm: claimed?.algorithm ?? .sha256)
        if let claimed, digest != claimed {
            logger.error("upstream sent a manifest that does not match its digest", metadata: [
                "upstream": "\(upstream)", "repository": "\(route.upstreamRepository)", "reference": "\(referenceString)",
                "expected": "\(claimed)", "actual": "\(digest)",
            ])
            throw RegistryError.corruptUpstream(upstream, "a manifest")
        }
        let manifest: Manifest
        do {
            manifest = try Manifest(parsing: fetched.bytes, contentType: fetched.mediaType)
        } catch {
            throw RegistryError(.unknown, status: 502, message: "upstream \(upstream) sent an invalid manifest: \(error.message)")
        }
        var tags: [Tag] = []
        if case .tag(let tag) = reference { tags.append(tag) }
        let record = ManifestRecord(repository: route.repository, digest: digest, manifest: manifest, content: fetched.bytes, referencesRequired: false)
        try await registry.metadata.putManifest(record, tags: tags)
        logger.info("cached a manifest", metadata: ["repository": "\(route.repository)", "reference": "\(referenceString)", "digest": "\(digest)"])
        return StoredManifest(digest: digest, mediaType: manifest.mediaType, size: Int64(fetched.bytes.count), content: fetched.bytes)
    }

    // MARK: Tags

    /// The tags of a mirrored repository: the upstream's list when it answers in time, else the cached tags.
    public func tags(route: MirrorRoute, count: Int?, last: String?) async throws -> Page<String> {
        let limit = min(count ?? registry.options.maximumPageSize, registry.options.maximumPageSize)
        do {
            let all = try await withDeadline(revalidateDeadline) {
                try await route.mirror.client.listTags(repository: route.upstreamRepository, limit: 10_000)
            }
            let after = all.sorted().filter { last == nil || $0 > last! }
            return Page(items: Array(after.prefix(max(limit, 0))), hasMore: after.count > limit)
        } catch {
            logger.notice("listing cached tags: the upstream could not list them", metadata: ["repository": "\(route.repository)", "error": "\(error)"])
            return try await registry.tags(in: route.repository, count: count, last: last)
        }
    }
}

/// A deadline passed before an operation finished.
struct DeadlineExceeded: Error {}

/// Runs `operation`, cancelling it and throwing ``DeadlineExceeded`` once `deadline` has passed.
func withDeadline<T: Sendable>(_ deadline: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: deadline)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw DeadlineExceeded() }
        return first
    }
}
