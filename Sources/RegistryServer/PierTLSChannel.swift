import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// The HTTPS child channel: plain-HTTP sniffing, TLS with the context current when the connection arrives (so a
/// reloaded certificate applies to new connections only), then HTTP/2 or HTTP/1.1 by ALPN.
///
/// Hummingbird's `HTTP2UpgradeChannel` builds its `NIOSSLContext` once, so a renewed certificate would need a
/// restart; this channel takes it from a ``TLSContextProvider`` per connection instead. The HTTP/1.1 path is
/// ``PierHTTP1Channel`` (431 for oversized headers, HTTP/1.0 keep-alive), without sendfile, which TLS cannot use.
struct PierTLSChannel: ServerChildChannel {
    enum Negotiated: Sendable {
        case http1(HTTP1Channel.Value)
        case http2(HTTP2Channel.Value)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let contexts: TLSContextProvider
    /// The time a handshake may take (`http.timeouts.readheader`): a client that opens TLS and stalls is closed.
    let handshakeTimeout: TimeAmount
    /// Counts open connections, TLS ones included; one over the cap is closed at once.
    let connections: ConnectionLimiter
    let http1: PierHTTP1Channel
    /// `nil` when `http.http2.disabled` is set (then ALPN offers only `http/1.1`).
    let http2: HTTP2Channel?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Over the cap the channel is closed at once; setting it up as usual lets the accept loop carry on.
        _ = connections.admit(channel, answering: false)
        return channel.eventLoop.makeCompletedFuture {
            let material = contexts.current
            let tlsHandler: NIOSSLServerHandler
            if material.acceptsAnyClientCertificate {
                // request-client-cert / require-any-client-cert: a certificate is asked for, not verified.
                tlsHandler = NIOSSLServerHandler(context: material.context, customVerificationCallback: { _, promise in promise.succeed(.certificateVerified) })
            } else {
                tlsHandler = NIOSSLServerHandler(context: material.context)
            }
            let http1 = self.http1
            let http2 = self.http2
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result, channel in
                switch result {
                case .negotiated("h2"):
                    guard let http2 else { return channel.close().flatMapThrowing { throw UnexpectedApplicationProtocol() } }
                    return http2.setup(channel: channel, logger: logger).map { .http2($0) }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1($0) }
                case .negotiated:
                    // Only h2 and http/1.1 are offered; anything else is a broken client.
                    return channel.close().flatMapThrowing { throw UnexpectedApplicationProtocol() }
                }
            }
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(PlainHTTPOnTLSPortHandler())
            try pipeline.addHandler(tlsHandler)
            try pipeline.addHandler(TLSHandshakeTimeoutHandler(timeout: handshakeTimeout))
            try pipeline.addHandler(negotiation)
            return Value(negotiated: negotiation.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2?.handle(value: connection, logger: logger)
            }
        } catch {
            // Handshake failures (no client certificate, plain HTTP, unsupported version) end here.
            logger.debug("TLS connection ended before HTTP", metadata: ["error": "\(error)"])
        }
    }
}

/// ALPN chose a protocol Pier did not offer.
struct UnexpectedApplicationProtocol: Error {}

extension HTTPServerBuilder {
    /// HTTPS with HTTP/2 (unless `http2` is `false`) and HTTP/1.1 by ALPN, using `contexts`' current certificate per connection.
    static func pierTLS(
        contexts: TLSContextProvider, http1: HTTP1Channel.Configuration, http2: Bool, headTimeout: TimeAmount, bodyIdleTimeout: TimeAmount,
        connections: ConnectionLimiter
    ) -> HTTPServerBuilder {
        .init { responder in
            PierTLSChannel(
                contexts: contexts, handshakeTimeout: headTimeout, connections: connections,
                http1: PierHTTP1Channel(
                    base: HTTP1Channel(responder: responder, configuration: http1), headTimeout: headTimeout, bodyIdleTimeout: bodyIdleTimeout,
                    connections: nil, fileSends: nil
                ),
                http2: http2 ? HTTP2Channel(responder: responder, configuration: .init(idleTimeout: .seconds(300), streamConfiguration: http1)) : nil
            )
        }
    }
}
