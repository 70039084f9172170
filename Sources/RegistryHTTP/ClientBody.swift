import NIOCore
import RegistryCore

/// A request body whose read failures (the client hung up, sent a malformed chunk) are the client's fault:
/// they surface as a 400 `BLOB_UPLOAD_INVALID`, never as a server error.
///
/// It also ends bodies that trickle in: the connection's idle timeout restarts with every byte, so a client
/// sending one byte every few seconds would otherwise hold a connection and an open upload file for ever.
/// A body must average ``minimumRate`` bytes per second over each ``rateWindow``. A body that stops altogether is
/// ended sooner by the connection (``RequestBodyStalled``, `http.timeouts.bodyidle`).
struct ClientBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base

    /// The slowest average rate accepted: far below any real link, far above a slow-loris trickle.
    static var minimumRate: Int { 1024 }
    /// The window the rate is averaged over.
    static var rateWindow: Duration { .seconds(120) }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var windowStart = ContinuousClock.now
        var windowBytes = 0

        mutating func next() async throws -> ByteBuffer? {
            let chunk = try await nextChunk()
            if let chunk {
                windowBytes += chunk.readableBytes
                let now = ContinuousClock.now
                if now - windowStart >= ClientBody.rateWindow {
                    guard windowBytes >= ClientBody.minimumRate * Int(ClientBody.rateWindow.components.seconds) else {
                        throw RegistryError(.blobUploadInvalid, message: "request body too slow; send at least 1 KiB/s",
                                            hints: [.closeConnection])
                    }
                    windowStart = now
                    windowBytes = 0
                }
            }
            return chunk
        }

        private mutating func nextChunk() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch let error as RegistryError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch let stall as RequestBodyStalled {
                // The session keeps the bytes of earlier requests: the client resumes from the `Range` a GET reports.
                throw RegistryError(.blobUploadInvalid, status: 408, message: "request body stalled; the upload can be resumed",
                                    detail: stall.description, hints: [.closeConnection])
            } catch {
                throw RegistryError(.blobUploadInvalid, message: "request body ended early or was malformed")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}
