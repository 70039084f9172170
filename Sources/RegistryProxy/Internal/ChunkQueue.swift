import NIOCore
import Synchronization

/// A bounded hand-over of byte chunks from one producer to one consumer: the producer waits while more than
/// `capacity` bytes are queued, the consumer takes everything queued at once. Lets a cache fill read its upstream
/// while it writes what has arrived, without holding more than `capacity` bytes.
final class ChunkQueue: Sendable {
    private struct State: Sendable {
        var chunks: [ByteBuffer] = []
        var bytes = 0
        var finished = false
        var failure: (any Error)?
        var waitingConsumer: CheckedContinuation<Void, Never>?
        var waitingProducer: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues a chunk, waiting first while the queue is full.
    func push(_ chunk: ByteBuffer) async {
        while true {
            let full = state.withLock { $0.bytes >= capacity && !$0.finished }
            if !full { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { state -> Bool in
                    guard state.bytes >= capacity, !state.finished else { return false }
                    state.waitingProducer = continuation
                    return true
                }
                if !wait { continuation.resume() }
            }
        }
        let consumer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.chunks.append(chunk)
            state.bytes += chunk.readableBytes
            defer { state.waitingConsumer = nil }
            return state.waitingConsumer
        }
        consumer?.resume()
    }

    /// Ends the queue, with the producer's failure if it failed.
    func finish(throwing failure: (any Error)? = nil) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.finished = true
            state.failure = failure
            defer {
                state.waitingConsumer = nil
                state.waitingProducer = nil
            }
            return [state.waitingConsumer, state.waitingProducer].compactMap { $0 }
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Takes every queued chunk, waiting for at least one; `nil` once the producer has finished and all was taken.
    /// - Throws: the producer's failure, once what it queued before failing has been taken.
    func takeAll() async throws -> [ByteBuffer]? {
        while true {
            enum Step { case chunks([ByteBuffer]), end, failed(any Error), wait }
            let step = state.withLock { state -> (Step, CheckedContinuation<Void, Never>?) in
                if !state.chunks.isEmpty {
                    let chunks = state.chunks
                    state.chunks.removeAll()
                    state.bytes = 0
                    defer { state.waitingProducer = nil }
                    return (.chunks(chunks), state.waitingProducer)
                }
                if state.finished { return (state.failure.map { .failed($0) } ?? .end, nil) }
                return (.wait, nil)
            }
            step.1?.resume()
            switch step.0 {
            case .chunks(let chunks): return chunks
            case .end: return nil
            case .failed(let error): throw error
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let wait = state.withLock { state -> Bool in
                        guard state.chunks.isEmpty, !state.finished else { return false }
                        state.waitingConsumer = continuation
                        return true
                    }
                    if !wait { continuation.resume() }
                }
            }
        }
    }
}
