import AsyncHTTPClient
import Logging
import NIOCore
import RegistryCore
import RegistryStorage
import Synchronization

/// One blob on its way from an upstream into the cache, readable by any number of clients while it arrives.
///
/// Readers get the bytes as they arrive — from memory while they keep up (a window of the latest bytes), from the
/// file being written when they fall behind — but never the last one before the whole blob has been verified against
/// its digest: a client can receive a truncated response (and the connection is closed), never a complete one with
/// wrong bytes. Writing to disk does not hold clients back.
public final class BlobFetch: Sendable {
    public enum Outcome: Sendable {
        case running
        case stored(BlobInfo)
        case failed(any Error)
    }

    struct State: Sendable {
        /// The blob's size once the upstream has answered, when it said.
        var size: Int64?
        var fill: BlobFill?
        var written: Int64 = 0
        /// Bytes received from the upstream (and hashed) so far.
        var received: Int64 = 0
        /// The latest bytes received, from `windowStart` to `received`, at most ``BlobFetch/windowCapacity``.
        var window: [ByteBuffer] = []
        var windowStart: Int64 = 0
        var windowBytes = 0
        var headersReceived = false
        /// Every byte has arrived and hashes to the digest (publishing may still be under way).
        var verified = false
        var outcome: Outcome = .running
        var waiters: [CheckedContinuation<Void, Never>] = []

        var isRunning: Bool {
            if case .running = outcome { return true }
            return false
        }

        /// How far readers may read while running: what has arrived, except the last byte until verified.
        var readable: Int64? {
            guard let size else { return nil }
            return verified ? received : min(received, size - 1)
        }

        /// Whether a reader at `position` can make progress: from the window, or from the file behind it.
        func canRead(at position: Int64) -> Bool {
            guard let readable else { return false }
            return position >= windowStart ? readable > position : written > position
        }
    }

    public let digest: Digest
    let state = Mutex(State())
    /// The most bytes kept in memory for readers; more than the writer can lag behind, so that a reader that falls
    /// out of the window always finds its bytes on disk.
    static let windowCapacity = 12 * 1024 * 1024

    init(digest: Digest) {
        self.digest = digest
    }

    /// The blob's size, once the upstream has answered (or the fetch has ended).
    public var size: Int64? { state.withLock { $0.size } }

    // MARK: Progress (the fetching task)

    func started(size: Int64?, fill: BlobFill) {
        update { state in
            state.size = size
            state.fill = fill
            state.headersReceived = true
        }
    }

    func advanced(_ fill: BlobFill) {
        update { state in
            state.fill = fill
            state.written = fill.length
        }
    }

    /// Records bytes as they arrive from the upstream.
    func arrived(_ chunk: ByteBuffer) {
        update { state in
            state.received += Int64(chunk.readableBytes)
            state.window.append(chunk)
            state.windowBytes += chunk.readableBytes
            while state.windowBytes > Self.windowCapacity, let first = state.window.first {
                state.window.removeFirst()
                state.windowBytes -= first.readableBytes
                state.windowStart += Int64(first.readableBytes)
            }
        }
    }

    func verified() {
        update { $0.verified = true }
    }

    func finish(_ outcome: Outcome) {
        update { state in
            state.outcome = outcome
            state.headersReceived = true
            if case .stored(let info) = outcome { state.size = info.size }
        }
    }

    private func update(_ change: (inout State) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            change(&state)
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Reading

    /// Waits until `ready` holds, and returns the state then.
    func wait(until ready: @Sendable (State) -> Bool) async -> State {
        while true {
            if let now = state.withLock({ ready($0) ? $0 : nil }) { return now }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if ready(state) { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Waits until the blob is stored and verified, reporting bytes written as they grow.
    /// - Throws: the fetch's failure.
    public func completion(progress: @Sendable (Int64) -> Void = { _ in }) async throws -> BlobInfo {
        var reported: Int64 = -1
        while true {
            let seen = reported
            let now = await wait { !$0.isRunning || $0.written != seen }
            switch now.outcome {
            case .stored(let info): return info
            case .failed(let error):
                if let error = error as? UpstreamError { throw error.registryError(notFound: .blobUnknown(digest)) }
                throw error
            case .running:
                reported = now.written
                progress(now.written)
            }
        }
    }

    /// Waits for the upstream's answer: the outcome if the fetch has already ended, else `.running` with a size.
    func waitForResponse() async -> State {
        await wait { $0.headersReceived }
    }

    /// Streams `range` of the blob as it arrives, then from the store once verified.
    /// - Throws: the fetch's failure, which aborts a response under way.
    public func stream(_ range: Range<Int64>, registry: Registry, to consumer: (ByteBuffer) async throws -> Void) async throws {
        var position = range.lowerBound
        while position < range.upperBound {
            let from = position
            let now = await wait { state in state.isRunning ? state.canRead(at: from) : true }
            switch now.outcome {
            case .failed(let error):
                throw error
            case .stored:
                try await registry.streamBlob(digest, range: position..<range.upperBound, to: consumer)
                return
            case .running:
                guard let fill = now.fill, let readable = now.readable else { continue }
                if position >= now.windowStart {
                    // From memory: the slices of the window between here and what may be sent.
                    let end = min(readable, range.upperBound)
                    var offset = now.windowStart
                    for chunk in now.window {
                        let chunkEnd = offset + Int64(chunk.readableBytes)
                        defer { offset = chunkEnd }
                        guard chunkEnd > position, offset < end else { continue }
                        let start = Int(position - offset), stop = Int(min(chunkEnd, end) - offset)
                        guard let slice = chunk.getSlice(at: chunk.readerIndex + start, length: stop - start) else { continue }
                        position += Int64(slice.readableBytes)
                        try await consumer(slice)
                    }
                    continue
                }
                let end = min(now.written, now.windowStart, range.upperBound)
                do {
                    try await registry.readFill(fill, range: position..<end) { chunk in
                        position += Int64(chunk.readableBytes)
                        try await consumer(chunk)
                    }
                } catch let error as BlobStoreError where error.code == .notFound {
                    // Published (or discarded) meanwhile: the fetch is about to end; continue from its outcome.
                    _ = await wait { !$0.isRunning }
                }
            }
        }
    }
}

extension PullThroughCache {
    /// A blob of a mirrored repository, as it can be served.
    public enum CachedBlob: Sendable {
        /// In the store: serve it like any blob.
        case stored(BlobInfo)
        /// Arriving from the upstream; its size is known.
        case arriving(BlobFetch, size: Int64)
    }

    /// A blob of a mirrored repository: from the store, linked from anywhere in the registry, or fetched from the
    /// upstream (one fetch for all concurrent askers, streamed to them as it arrives).
    public func blob(_ digest: Digest, route: MirrorRoute) async throws -> CachedBlob {
        if let info = try? await registry.blob(digest, in: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return .stored(info)
        }
        if let info = try await registry.linkStoredBlob(digest, into: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return .stored(info)
        }
        let (fetch, isNew) = blobFetches.withLock { fetches -> (BlobFetch, Bool) in
            if let running = fetches[digest] { return (running, false) }
            let fetch = BlobFetch(digest: digest)
            fetches[digest] = fetch
            return (fetch, true)
        }
        if isNew {
            // Not a child of the request: the cache fills even if the client that asked first goes away.
            Task { await self.download(fetch, route: route) }
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

    /// The size of a blob of a mirrored repository, for a HEAD: from the store or a fetch under way, else from an
    /// upstream HEAD — a HEAD does not download the blob (clients check for blobs they may never pull).
    public func blobSize(_ digest: Digest, route: MirrorRoute) async throws -> Int64 {
        if let info = try? await registry.blob(digest, in: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return info.size
        }
        if let info = try await registry.linkStoredBlob(digest, into: route.repository) {
            ProxyMetrics.request(route.mirror, kind: "blob", result: "hit")
            return info.size
        }
        if let size = blobFetches.withLock({ $0[digest] })?.size { return size }
        do {
            if let size = try await route.mirror.client.headBlob(repository: route.upstreamRepository, digest: digest) { return size }
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
            if let info = try await registry.linkStoredBlob(digest, into: route.repository) {
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

    private func end(_ fetch: BlobFetch, _ outcome: BlobFetch.Outcome) {
        // Forget the fetch first: a request arriving after this finds the blob stored (or starts a new attempt).
        _ = blobFetches.withLock { $0.removeValue(forKey: fetch.digest) }
        fetch.finish(outcome)
    }
}
