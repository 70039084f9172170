/// A request body stopped arriving for longer than the server waits (`http.timeouts.bodyidle`) while the server was
/// ready to read it. Raised into the request's body stream by the connection; ``ClientBody`` answers it with 408.
public struct RequestBodyStalled: Error, Sendable, CustomStringConvertible {
    /// How long no byte arrived.
    public let seconds: Double

    public init(seconds: Double) {
        self.seconds = seconds
    }

    public var description: String { "no request body bytes for \(seconds) s" }
}
