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
        /// Other repositories to link the blob into once it is stored: their upstreams confirmed they hold it.
        var linkTargets: Set<RepositoryName> = []
        /// The fetch has taken ``linkTargets``: a repository asking later links the blob itself.
        var linkTargetsTaken = false

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
    /// The repository the fetch was started for, whose upstream serves the bytes.
    public let repository: RepositoryName
    let state = Mutex(State())
    /// The most bytes kept in memory for readers; more than the writer can lag behind, so that a reader that falls
    /// out of the window always finds its bytes on disk.
    static let windowCapacity = 12 * 1024 * 1024

    init(digest: Digest, repository: RepositoryName) {
        self.digest = digest
        self.repository = repository
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

    /// Asks for the blob to be linked into `repository` too once stored (that repository's upstream has confirmed
    /// it holds the blob). False when the fetch has already linked its repositories: the caller links it itself.
    func link(also repository: RepositoryName) -> Bool {
        state.withLock { state in
            guard !state.linkTargetsTaken else { return false }
            state.linkTargets.insert(repository)
            return true
        }
    }

    /// Whether `repository`'s upstream has confirmed the blob: the fetch's own repository, or one that joined it.
    func isConfirmed(for repository: RepositoryName) -> Bool {
        repository == self.repository || state.withLock { $0.linkTargets.contains(repository) }
    }

    /// The repositories to link the blob into besides ``repository``; later askers link it themselves.
    func takeLinkTargets() -> Set<RepositoryName> {
        state.withLock { state in
            state.linkTargetsTaken = true
            return state.linkTargets
        }
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
