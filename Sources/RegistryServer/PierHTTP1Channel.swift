import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import RegistryHTTP

/// Hummingbird's HTTP/1 child channel with ``HTTP10KeepAliveHandler`` inserted in front of its HTTPTypes codec, and
/// ``RequestDeadlineHandler`` around its decoder.
struct PierHTTP1Channel: ServerChildChannel {
    let base: HTTP1Channel
    /// Deadlines for a request head (`http.timeouts.readheader`) and between body bytes (`http.timeouts.bodyidle`).
    let headTimeout: TimeAmount
    let bodyIdleTimeout: TimeAmount
    /// Counts open connections; one over the cap is answered 503 and closed. `nil` when the TLS channel in front
    /// counted the connection already.
    let connections: ConnectionLimiter?
    /// Set when blob bodies may go by `sendfile(2)` (plain HTTP only).
    let fileSends: FileSendRegistry?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        guard connections?.admit(channel) ?? true else {
            // Set up as usual, so the server's accept loop sees an ordinary connection that simply ends.
            return base.setup(channel: channel, logger: logger)
        }
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Uploads arrive in reads of up to 256 KiB instead of NIO's default 64 KiB: a quarter of the chunks to
            // pass through the HTTP decoder and the body stream. The buffer only grows while reads fill it.
            try channel.syncOptions?.setOption(
                ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
            )
            // Oversized request headers get 431 rather than NIO's generic 400.
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HeaderLimitHandler(), position: .after(decoder.handler))
            let deadlines = RequestDeadlineHandler(headTimeout: headTimeout, bodyIdleTimeout: bodyIdleTimeout)
            try channel.pipeline.syncOperations.addHandler(deadlines, position: .after(decoder.handler))
            try channel.pipeline.syncOperations.addHandler(RequestStartObserver(deadlines: deadlines), position: .before(decoder.handler))
            let codec = try channel.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
            try channel.pipeline.syncOperations.addHandler(HTTP10KeepAliveHandler(), position: .before(codec.handler))
            if let fileSends = self.fileSends {
                try channel.pipeline.syncOperations.addHandler(FileRegionHandler(fileSends: fileSends), position: .before(codec.handler))
            }
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1 server that also handles HTTP/1.0 keep-alive correctly, and sends blob files with `sendfile(2)`
    /// when `fileSends` is given.
    static func pierHTTP1(
        configuration: HTTP1Channel.Configuration, headTimeout: TimeAmount, bodyIdleTimeout: TimeAmount,
        connections: ConnectionLimiter?, fileSends: FileSendRegistry?
    ) -> HTTPServerBuilder {
        .init { responder in
            PierHTTP1Channel(
                base: HTTP1Channel(responder: responder, configuration: configuration), headTimeout: headTimeout,
                bodyIdleTimeout: bodyIdleTimeout, connections: connections, fileSends: fileSends
            )
        }
    }
}
