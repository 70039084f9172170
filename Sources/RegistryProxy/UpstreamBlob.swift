import AsyncHTTPClient

/// A blob being served by an upstream: its length and its streamed body.
///
/// The body must be iterated (or dropped, which closes the connection). Iterating throws
/// ``UpstreamError`` `.unreachable` when the upstream stops sending for longer than the HTTP client's read
/// timeout or closes the connection early. The bytes are not verified here: the caller hashes them.
public struct UpstreamBlob: Sendable {
    /// Content-Length of the 200 response.
    public var size: Int64?
    /// Streamed, never collected in memory.
    public var body: HTTPClientResponse.Body

    /// A blob made of its parts.
    public init(size: Int64?, body: HTTPClientResponse.Body) {
        self.size = size
        self.body = body
    }
}
