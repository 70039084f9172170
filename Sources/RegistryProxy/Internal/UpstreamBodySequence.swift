import AsyncHTTPClient
import NIOCore

/// A response body that fails with ``UpstreamError`` `.unreachable` (naming the upstream) when the upstream
/// goes silent past the read timeout or closes the connection early, instead of the HTTP client's own errors.
///
/// The HTTP client's read timeout also fires when the *reader* pauses longer than it between chunks
/// (backpressure stops reading from the socket): a consumer must keep reading.
///
/// It also checks the byte count against Content-Length: a body cut short must never look complete.
struct UpstreamBodySequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let body: HTTPClientResponse.Body
    let expectedLength: Int64?
    let upstream: String
    let request: String

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: HTTPClientResponse.Body.AsyncIterator
        let expectedLength: Int64?
        let upstream: String
        let request: String
        var received: Int64 = 0
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            guard !finished else { return nil }
            let chunk: ByteBuffer?
            do {
                chunk = try await base.next()
            } catch {
                finished = true
                throw UpstreamError(
                    .unreachable, upstream: upstream,
                    message: "upstream \(upstream) stopped sending the body of \(request) after \(received) bytes"
                        + " (or the reader paused longer than the read timeout)", cause: error)
            }
            guard let chunk else {
                finished = true
                if let expectedLength, received != expectedLength {
                    throw UpstreamError(
                        .unreachable, upstream: upstream,
                        message: "upstream \(upstream) sent \(received) of \(expectedLength) bytes for \(request)")
                }
                return nil
            }
            received += Int64(chunk.readableBytes)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: body.makeAsyncIterator(), expectedLength: expectedLength, upstream: upstream, request: request)
    }
}
