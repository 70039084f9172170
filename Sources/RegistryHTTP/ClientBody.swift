import NIOCore
import RegistryCore

/// A request body whose read failures (the client hung up, sent a malformed chunk) are the client's fault:
/// they surface as a 400 `BLOB_UPLOAD_INVALID`, never as a server error.
struct ClientBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator

        mutating func next() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch let error as RegistryError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw RegistryError(.blobUploadInvalid, message: "request body ended early or was malformed")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}
