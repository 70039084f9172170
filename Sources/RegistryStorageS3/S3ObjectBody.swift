import AsyncHTTPClient
import NIOCore

/// The bytes of an object being read, chunk by chunk as they arrive; never collected.
///
/// A body that ends before its announced length, or runs past it, fails with `corruptTransfer`; a lost connection with
/// `unreachable`. Either way the caller has not received the whole range, and must not treat what it got as complete.
public struct S3ObjectBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let body: HTTPClientResponse.Body
    private let expectedLength: Int64
    private let subject: String

    init(_ body: HTTPClientResponse.Body, expectedLength: Int64, subject: String) {
        self.body = body
        self.expectedLength = expectedLength
        self.subject = subject
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: body.makeAsyncIterator(), expectedLength: expectedLength, subject: subject)
    }

    /// Yields the body's chunks and checks their total.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: HTTPClientResponse.Body.AsyncIterator
        let expectedLength: Int64
        let subject: String
        var received: Int64 = 0

        public mutating func next() async throws -> ByteBuffer? {
            let chunk: ByteBuffer?
            do {
                chunk = try await base.next()
            } catch {
                throw S3Error(.unreachable, "\(subject): the body was cut after \(received) of \(expectedLength) bytes", cause: error)
            }
            guard let chunk else {
                guard received == expectedLength else {
                    throw S3Error(.corruptTransfer, "\(subject): the body ended after \(received) of \(expectedLength) bytes")
                }
                return nil
            }
            received += Int64(chunk.readableBytes)
            guard received <= expectedLength else {
                throw S3Error(.corruptTransfer, "\(subject): the body runs past its \(expectedLength) bytes")
            }
            return chunk
        }
    }
}
