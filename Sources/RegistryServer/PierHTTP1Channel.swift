import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import RegistryHTTP

/// Hummingbird's HTTP/1 child channel, with Pier's handlers in its pipeline: a request decoder that ignores
/// upgrades (``UpgradeIgnoringRequestDecoder``), ``RequestDeadlineHandler`` around it, 431 for oversized heads,
/// ``HTTP10KeepAliveHandler`` in front of the HTTPTypes codec, and sendfile for blobs.
///
/// The pipeline is Hummingbird's `HTTP1Channel.setup` with NIO's request decoder replaced, built here because that
/// decoder cannot be swapped once in place (removing it drops the bytes it holds, and removal completes only later).
/// Keep it in step with Hummingbird's: `configureHTTPServerPipeline` without pipelining assistance, error handling
/// or header validation (a response encoder and the request decoder), the HTTPTypes codec, the configured
/// additional handlers, the connection-state handler.
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
        return channel.eventLoop.makeCompletedFuture {
            // Uploads arrive in reads of up to 256 KiB instead of NIO's default 64 KiB: a quarter of the chunks to
            // pass through the HTTP decoder and the body stream. The buffer only grows while reads fill it.
            try channel.syncOptions?.setOption(
                ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
            )
            let configuration = base.configuration
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let decoder = UpgradeIgnoringRequestDecoder(limits: limits)
            let deadlines = RequestDeadlineHandler(headTimeout: headTimeout, bodyIdleTimeout: bodyIdleTimeout)
            var handlers: [any ChannelHandler] = [
                HTTPResponseEncoder(configuration: .init()),
                RequestStartObserver(deadlines: deadlines),
                ByteToMessageHandler(decoder),
                ProtocolSwitchObserver(decoder: decoder),
                deadlines,
                // Oversized request headers get 431 rather than NIO's generic 400.
                HeaderLimitHandler(),
                HTTP10KeepAliveHandler(),
            ]
            if let fileSends = self.fileSends {
                handlers.append(FileRegionHandler(fileSends: fileSends))
            }
            handlers.append(HTTP1ToHTTPServerCodec(secure: false))
            handlers.append(contentsOf: configuration.additionalChannelHandlers() as [any ChannelHandler])
            handlers.append(HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
            try channel.pipeline.syncOperations.addHandlers(handlers)
            return try HTTP1Channel.Value(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
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
