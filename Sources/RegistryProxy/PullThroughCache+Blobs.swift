import AsyncHTTPClient
import Logging
import NIOCore
import RegistryCore
import RegistryStorage
import Synchronization

extension PullThroughCache {
    /// A blob of a mirrored repository, as it can be served.
    public enum CachedBlob: Sendable {
        /// In the store: serve it like any blob.
        case stored(BlobInfo)
        /// Arriving from the upstream; its size is known.
        case arriving(BlobFetch, size: Int64)
    }

    /// A blob of a mirrored repository: from the store when linked to the repository; stored for another repository
    /// and linked here once this repository's upstream confirms it; or fetched from the upstream (one fetch for all
    /// concurrent askers, streamed to them as it arrives).
    public func blob(_ digest: Digest, route: MirrorRoute) async throws -> CachedBlob {
        if let info = try? await registry.blob(digest, in: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return .stored(info)
        }
        // A fetch this repository's upstream has confirmed links the blob here as it ends: no need to ask again.
        let confirmedFetch = blobFetches.withLock { $0[digest] }.map { $0.isConfirmed(for: route.repository) } ?? false
        if !confirmedFetch, let info = try await linkConfirmed(digest, route: route) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return .stored(info)
        }
        let (fetch, isNew) = blobFetches.withLock { fetches -> (BlobFetch, Bool) in
            if let running = fetches[digest] { return (running, false) }
            let fetch = BlobFetch(digest: digest, repository: route.repository)
            fetches[digest] = fetch
            return (fetch, true)
        }
        if isNew {
            // Not a child of the request: the cache fills even if the client that asked first goes away.
            Task { await self.download(fetch, route: route) }
        } else if !fetch.isConfirmed(for: route.repository) {
            // A fetch for another repository: joined only once this repository's upstream confirms the blob.
            _ = try await confirm(digest, size: nil, route: route)
            if !fetch.link(also: route.repository) { _ = await fetch.wait { !$0.isRunning } }
        }
        let answer = await fetch.waitForResponse()
        if case .failed = answer.outcome {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "failed")
        } else {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "fetched")
        }
        switch answer.outcome {
        case .stored(let info):
            if try await registry.linkStoredBlob(digest, into: route.repository) == nil { throw RegistryError.blobUnknown(digest) }
            return .stored(info)
        case .failed(let error):
            if let error = error as? UpstreamError { throw error.registryError(notFound: .blobUnknown(digest)) }
            throw error
        case .running:
            if let size = answer.size { return .arriving(fetch, size: size) }
            // The upstream did not say the size: serve once it is stored.
            let end = await fetch.wait { !$0.isRunning }
            if case .stored(let info) = end.outcome { return .stored(info) }
            if case .failed(let error) = end.outcome {
                if let error = error as? UpstreamError { throw error.registryError(notFound: .blobUnknown(digest)) }
                throw error
            }
            throw RegistryError.blobUnknown(digest)
        }
    }

    /// The size of a blob of a mirrored repository, for a HEAD: from the store or a fetch under way for the
    /// repository, else from an upstream HEAD — a HEAD does not download the blob (clients check for blobs they may
    /// never pull). A blob stored for another repository is linked here when the upstream HEAD confirms it.
    public func blobSize(_ digest: Digest, route: MirrorRoute) async throws -> Int64 {
        if let info = try? await registry.blob(digest, in: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return info.size
        }
        let running = blobFetches.withLock { $0[digest] }
        if let running, running.isConfirmed(for: route.repository), let size = running.size { return size }
        if let info = try await linkConfirmed(digest, route: route) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return info.size
        }
        do {
            if let size = try await route.mirror.client.headBlob(repository: route.upstreamRepository, digest: digest) {
                // Confirmed: a fetch under way for another repository links the blob here too once stored (or, when
                // it is linking already, this request does once it has).
                if let running, !running.link(also: route.repository), case .stored = await running.wait(until: { !$0.isRunning }).outcome {
                    _ = try? await registry.linkStoredBlob(digest, into: route.repository)
                }
                return size
            }
        } catch {
            ProxyMetrics.upstreamError(route.mirror, error)
            throw error.registryError(notFound: .blobUnknown(digest))
        }
        // The upstream did not say: the size comes with the blob.
        switch try await blob(digest, route: route) {
        case .stored(let info): return info.size
        case .arriving(_, let size): return size
        }
    }

    /// Fetches a blob into the store, writing it in growing batches so that readers get the first bytes quickly.
    private func download(_ fetch: BlobFetch, route: MirrorRoute) async {
        let digest = fetch.digest
        let upstream = route.mirror.client.configuration.url
        var fill: BlobFill?
        do {
            // A fetch that finished just before this one was registered has stored the blob already.
            if let info = try await linkConfirmed(digest, route: route) {
                for repository in fetch.takeLinkTargets() { _ = try? await registry.linkStoredBlob(digest, into: repository) }
                end(fetch, .stored(info))
                return
            }
            let response = try await route.mirror.client.getBlob(repository: route.upstreamRepository, digest: digest)
            let limit = registry.options.maximumBlobSize
            if let size = response.size, size > limit {
                throw RegistryError(.sizeInvalid, status: 502, message: "upstream \(upstream) offers a blob larger than the registry accepts")
            }
            var current = try await registry.beginFill(into: route.repository, algorithm: digest.algorithm)
            fill = current
            fetch.started(size: response.size, fill: current)
            // A receiving task reads the upstream, hashes each chunk, shows it to readers and hands it to the writer
            // (at most 4 MiB queued); the writer takes everything queued at once, so the disk never holds clients
            // back and writes grow with the rate. Readers get the last byte once the hash verifies.
            let queue = ChunkQueue(capacity: 4 * 1024 * 1024)
            let body = response.body
            let expectedSize = response.size
            let receiver = Task { () throws -> DigestHasher in
                var hasher = DigestHasher(digest.algorithm)
                do {
                    var received: Int64 = 0
                    for try await chunk in body {
                        received += Int64(chunk.readableBytes)
                        if let expectedSize, received > expectedSize { throw BlobStoreError(.sizeExceeded, "longer than its Content-Length") }
                        chunk.withUnsafeReadableBytes { hasher.update($0) }
                        fetch.arrived(chunk)
                        await queue.push(chunk)
                    }
                    if hasher.finalize() == digest, expectedSize == nil || received == expectedSize { fetch.verified() }
                    queue.finish()
                    return hasher
                } catch {
                    queue.finish(throwing: error)
                    throw error
                }
            }
            do {
                while let chunks = try await queue.takeAll() {
                    try await registry.appendFill(&current, chunks, limit: response.size ?? limit, hashing: false)
                    fill = current
                    fetch.advanced(current)
                }
            } catch {
                receiver.cancel()
                queue.finish()
                throw error
            }
            let hasher = try await receiver.value
            if let size = response.size, current.length != size {
                throw UpstreamError(.invalidResponse, upstream: upstream, message: "blob \(digest) ended after \(current.length) of \(size) bytes")
            }
            guard hasher.finalize() == digest else {
                logger.error("upstream sent a blob that does not match its digest", metadata: [
                    "upstream": "\(upstream)", "repository": "\(route.upstreamRepository)", "digest": "\(digest)",
                ])
                throw RegistryError.corruptUpstream(upstream, "a blob")
            }
            let info = try await registry.finishFill(current, as: digest, hashedBy: hasher)
            fill = nil
            for repository in fetch.takeLinkTargets() { _ = try? await registry.linkStoredBlob(digest, into: repository) }
            ProxyMetrics.fetched(route.mirror, bytes: info.size)
            logger.info("cached a blob", metadata: ["repository": "\(route.repository)", "digest": "\(digest)", "size": "\(info.size)"])
            end(fetch, .stored(info))
        } catch {
            if let fill { await registry.discardFill(fill) }
            ProxyMetrics.upstreamError(route.mirror, error)
            logger.warning("fetching a blob from its upstream failed", metadata: [
                "upstream": "\(upstream)", "digest": "\(digest)", "error": "\(error)",
            ])
            end(fetch, .failed(error))
        }
    }

    /// A blob stored for other repositories, linked into `route`'s once its upstream confirms it holds the blob;
    /// `nil` when the blob is not stored at all.
    private func linkConfirmed(_ digest: Digest, route: MirrorRoute) async throws -> BlobInfo? {
        guard let stored = try await registry.metadata.blob(digest) else { return nil }
        _ = try await confirm(digest, size: stored.size, route: route)
        return try await registry.linkStoredBlob(digest, into: route.repository)
    }

    /// Asks `route`'s upstream with a HEAD (nothing is downloaded) whether its repository holds `digest`.
    ///
    /// A blob cached from one repository is served under another only after this, as Distribution's proxy links a
    /// blob into a repository only once that repository's upstream has served it: otherwise any name would serve
    /// any cached blob (and, with access rules, a blob of a repository a user may not pull would reach them under
    /// a name they may), and every such name would enter the catalog.
    /// - Parameter size: the stored blob's size, which the upstream's must match when it gives one.
    /// - Returns: the size the upstream gives, if any.
    /// - Throws: `BLOB_UNKNOWN` when the upstream does not have the blob there, else the upstream's failure.
    private func confirm(_ digest: Digest, size: Int64?, route: MirrorRoute) async throws -> Int64? {
        let upstreamSize: Int64?
        do {
            upstreamSize = try await route.mirror.client.headBlob(repository: route.upstreamRepository, digest: digest)
        } catch {
            ProxyMetrics.upstreamError(route.mirror, error)
            ProxyMetrics.request(route.mirror, kind: "blob", result: "failed")
            throw error.registryError(notFound: .blobUnknown(digest))
        }
        if let size, let upstreamSize, size != upstreamSize {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "failed")
            throw RegistryError(.unknown, status: 502, message:
                "upstream \(route.mirror.client.configuration.url) gives blob \(digest) a size of \(upstreamSize) bytes, not \(size)")
        }
        return upstreamSize
    }

    private func end(_ fetch: BlobFetch, _ outcome: BlobFetch.Outcome) {
        // Forget the fetch first: a request arriving after this finds the blob stored (or starts a new attempt).
        _ = blobFetches.withLock { $0.removeValue(forKey: fetch.digest) }
        fetch.finish(outcome)
    }
}
