import Foundation
import RegistryCore
import RegistryStorage

/// An image reference as users write it: `[host/]name[:tag][@digest]`, e.g. `docker.io/library/alpine:3.20` or
/// `ghcr.io/org/app@sha256:…`.
public struct ImageReference: Sendable, Equatable, CustomStringConvertible {
    /// The registry host, if the reference names one.
    public var host: String?
    public var name: String
    public var reference: Reference

    /// Parses a reference; the first component is a host when it has a `.` or `:` or is `localhost`, as Docker reads it.
    public init(parsing text: String) throws(RegistryError) {
        var rest = Substring(text)
        var reference: Reference?
        if let at = rest.firstIndex(of: "@") {
            reference = .digest(try Digest(parsing: String(rest[rest.index(after: at)...])))
            rest = rest[..<at]
        }
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tag = String(rest[rest.index(after: colon)...])
            if reference == nil {
                guard let parsed = Tag(tag) else { throw RegistryError(.nameInvalid, message: "invalid tag in \(text)") }
                reference = .tag(parsed)
            }
            rest = rest[..<colon]
        }
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" {
                host = String(first).lowercased()
                rest = rest[rest.index(after: slash)...]
            }
        }
        guard RepositoryName(String(rest)) != nil else { throw RegistryError(.nameInvalid, message: "invalid repository name in \(text)") }
        name = String(rest)
        self.reference = reference ?? .tag(Tag("latest")!)
    }

    public init(host: String?, name: String, reference: Reference) {
        self.host = host
        self.name = name
        self.reference = reference
    }

    public var description: String {
        let prefix = host.map { $0 + "/" } ?? ""
        switch reference {
        case .tag(let tag): return "\(prefix)\(name):\(tag.value)"
        case .digest(let digest): return "\(prefix)\(name)@\(digest)"
        }
    }
}

/// Fills the cache with whole images, without a client pulling them (`pier prefetch`, sync rules).
public struct Prefetcher: Sendable {
    /// What a prefetch reports as it goes.
    public enum Event: Sendable {
        /// A manifest is in the cache.
        case manifest(Digest, mediaType: String)
        /// A blob is starting to arrive, or was already cached (`cached`).
        case blob(Digest, size: Int64, cached: Bool)
        /// Bytes of a blob so far.
        case progress(Digest, written: Int64, size: Int64)
        /// A blob is stored and verified.
        case blobDone(Digest)
    }

    /// What a prefetch did.
    public struct Summary: Sendable {
        public var manifests = 0
        public var blobs = 0
        public var fetchedBlobs = 0
        public var fetchedBytes: Int64 = 0
        public var cachedBytes: Int64 = 0
        /// Referrer manifests fetched (signatures, SBOMs, attestations), when asked for.
        public var referrers = 0
        /// The top-level manifest's digest.
        public var digest: Digest?
    }

    /// How many levels of referrers a prefetch follows: an image's, theirs (a signature of an SBOM), and one more.
    static let referrerDepth = 3

    public let cache: PullThroughCache

    public init(cache: PullThroughCache) {
        self.cache = cache
    }

    /// Fetches `image` (for an index: every listed manifest, or those of `platforms` such as `linux/amd64`) and all
    /// its blobs into the cache.
    /// - Parameter referrers: also fetch the referrers the upstream lists for each manifest fetched (signatures,
    ///   SBOMs, attestations: whole, whatever `platforms` says), and their referrers, ``referrerDepth`` levels deep.
    public func prefetch(
        _ image: ImageReference, platforms: [String] = [], referrers: Bool = false, progress: @Sendable (Event) -> Void = { _ in }
    ) async throws -> Summary {
        let route = try cache.route(host: image.host, name: image.name)
        var summary = Summary()
        let top = try await cache.manifest(image.reference, route: route, withContent: true)
        summary.digest = top.digest
        var seen: Set<Digest> = [top.digest]
        try await fetch(
            top, route: route, platforms: platforms, referrerDepth: referrers ? Self.referrerDepth : 0, seen: &seen, summary: &summary,
            progress: progress
        )
        return summary
    }

    private func fetch(
        _ stored: StoredManifest, route: MirrorRoute, platforms: [String], referrerDepth: Int, seen: inout Set<Digest>, summary: inout Summary,
        progress: @Sendable (Event) -> Void
    ) async throws {
        summary.manifests += 1
        progress(.manifest(stored.digest, mediaType: stored.mediaType))
        guard let content = stored.content else { return }
        if MediaType.isIndex(stored.mediaType) {
            struct Index: Decodable { var manifests: [Descriptor] }
            let index = try JSONDecoder().decode(Index.self, from: Data(content))
            for entry in index.manifests where Self.matches(entry.platform, platforms) {
                let child = try await cache.manifest(.digest(entry.digest), route: route, withContent: true)
                try await fetch(
                    child, route: route, platforms: platforms, referrerDepth: referrerDepth, seen: &seen, summary: &summary, progress: progress)
            }
        } else {
            try await fetchBlobs(of: content, mediaType: stored.mediaType, route: route, summary: &summary, progress: progress)
        }
        guard referrerDepth > 0 else { return }
        // A referrer of a type Pier cannot store (an artifact manifest of an OCI 1.1 draft) is left where it is.
        let referrers = try await cache.referrers(of: stored.digest, route: route, artifactType: nil)
        for referrer in referrers where MediaType.manifestTypes.contains(referrer.mediaType) && seen.insert(referrer.digest).inserted {
            summary.referrers += 1
            let manifest = try await cache.manifest(.digest(referrer.digest), route: route, withContent: true)
            try await fetch(manifest, route: route, platforms: [], referrerDepth: referrerDepth - 1, seen: &seen, summary: &summary, progress: progress)
        }
    }

    private func fetchBlobs(
        of content: [UInt8], mediaType: String, route: MirrorRoute, summary: inout Summary, progress: @Sendable (Event) -> Void
    ) async throws {
        let manifest = try Manifest(parsing: content, contentType: mediaType)
        for digest in manifest.blobs {
            summary.blobs += 1
            switch try await cache.blob(digest, route: route) {
            case .stored(let info):
                summary.cachedBytes += info.size
                progress(.blob(digest, size: info.size, cached: true))
            case .arriving(let fetch, let size):
                progress(.blob(digest, size: size, cached: false))
                let info = try await fetch.completion { progress(.progress(digest, written: $0, size: size)) }
                summary.fetchedBlobs += 1
                summary.fetchedBytes += info.size
                progress(.blobDone(digest))
            }
        }
    }

    /// Whether an index entry is wanted: every entry without a filter; else `os/architecture[/variant]` matches.
    static func matches(_ platform: Platform?, _ wanted: [String]) -> Bool {
        guard !wanted.isEmpty else { return true }
        guard let platform else { return false }
        let full = [platform.os, platform.architecture, platform.variant].compactMap { $0 }.joined(separator: "/")
        let short = "\(platform.os)/\(platform.architecture)"
        return wanted.contains { $0 == full || $0 == short }
    }
}
