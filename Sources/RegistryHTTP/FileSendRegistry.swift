import Foundation
import NIOCore
import Synchronization

/// Hands blob files to the connection for `sendfile(2)` instead of copying them through user space.
///
/// Hummingbird's response bodies carry only `ByteBuffer`s, so a blob response writes a small marker buffer that
/// names a registered file range, and a channel handler below the HTTP codec swaps the marker for a `FileRegion`.
/// A marker is a random per-process secret plus a counter, and it is honoured once: blob bytes can never be
/// mistaken for one. Only for plain-HTTP connections (TLS must encrypt every byte in user space).
public final class FileSendRegistry: Sendable {
    /// A file range waiting to be sent.
    public struct Send: Sendable {
        public let path: String
        public let range: Range<Int64>
        let registered: ContinuousClock.Instant
    }

    private let secret: [UInt8]
    private let state = Mutex<(next: UInt64, pending: [UInt64: Send])>((0, [:]))

    /// The length of a marker buffer.
    static let markerLength = 32 + 8

    public init() {
        var generator = SystemRandomNumberGenerator()
        secret = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Registers a file range; returns the marker to write as the response body.
    func register(path: String, range: Range<Int64>) -> ByteBuffer {
        let now = ContinuousClock.now
        let token = state.withLock { state -> UInt64 in
            state.next &+= 1
            // A marker whose response never reached the connection (the client went away) is dropped eventually.
            if state.pending.count > 1024 {
                state.pending = state.pending.filter { now - $0.value.registered < .seconds(60) }
            }
            state.pending[state.next] = Send(path: path, range: range, registered: now)
            return state.next
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.markerLength)
        buffer.writeBytes(secret)
        buffer.writeInteger(token)
        return buffer
    }

    /// The file range a buffer stands for, removing it; `nil` when the buffer is not a live marker.
    public func claim(_ buffer: ByteBuffer) -> Send? {
        guard buffer.readableBytes == Self.markerLength,
            buffer.readableBytesView.prefix(32).elementsEqual(secret),
            let token = buffer.getInteger(at: buffer.readerIndex + 32, as: UInt64.self)
        else { return nil }
        return state.withLock { $0.pending.removeValue(forKey: token) }
    }
}
