import NIOCore

/// Looks at the first byte a client sends to the TLS port: a TLS record (a handshake, 0x16) goes on to the TLS
/// handler, anything else is a plain-HTTP client, which gets a short `400 Bad Request` and a closed connection,
/// as Go's server answers it, instead of an opaque handshake failure.
final class PlainHTTPOnTLSPortHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// RFC 8446 §5.1: `ContentType.handshake`, the first byte of every ClientHello record.
    static let handshakeRecord: UInt8 = 0x16
    // Go's text, so tooling that recognises it (and people who have seen it) know what happened.
    static let message = "Client sent an HTTP request to an HTTPS server.\n"

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == Self.handshakeRecord {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        refused = true
        let response = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            + "Content-Length: \(Self.message.utf8.count)\r\n\r\n" + Self.message
        // This handler is first in the pipeline: the write goes straight to the socket, past the TLS handler.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
