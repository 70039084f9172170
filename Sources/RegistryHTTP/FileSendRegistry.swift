import Foundation
import NIOCore
import RegistryCore
import Synchronization

/// Hands blob files to the connection for `sendfile(2)` instead of copying them through user space.
///
/// Hummingbird's response bodies carry only `ByteBuffer`s, so a blob response writes a small marker buffer that
/// names a registered file range, and a channel handler below the HTTP codec swaps the marker for a `FileRegion`.
/// A marker is a random per-process secret plus a counter, and it is honoured once: blob bytes can never be
/// mistaken for one. Only for plain-HTTP connections (TLS must encrypt every byte in user space).
public final class FileSendRegistry: Sendable {
    /// A file range waiting to be sent, from a file already open (opening can block, so it happens off the event loop
    /// that sends). Whoever claims it closes the handle.
    public struct Send: Sendable {
        public let handle: NIOFileHandle
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

    /// Opens `path` off the event loops and registers a range of it; returns the marker to write as the response body.
    func register(path: String, range: Range<Int64>) async throws -> ByteBuffer {
        // Not on NIO's blocking pool either: the blob store's file I/O runs there, and an open that hangs (a stuck
        // disk or network file system) must not take one of its few threads.
        let handle = try await runBlocking { try NIOFileHandle(_deprecatedPath: path) }
        let now = ContinuousClock.now
        let (token, abandoned) = state.withLock { state -> (UInt64, [Send]) in
            state.next &+= 1
            // A marker whose response never reached the connection (the client went away) is dropped eventually.
            var abandoned: [Send] = []
            if state.pending.count > 1024 {
                for (token, send) in state.pending where now - send.registered >= .seconds(60) {
                    abandoned.append(send)
                    state.pending[token] = nil
                }
            }
            state.pending[state.next] = Send(handle: handle, range: range, registered: now)
            return (state.next, abandoned)
        }
        for send in abandoned { try? send.handle.close() }
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
