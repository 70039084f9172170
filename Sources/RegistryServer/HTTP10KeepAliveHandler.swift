import NIOCore
import NIOHTTP1

/// Gives HTTP/1.0 clients the connection handling RFC 9112 §9.3 asks for, which Hummingbird's HTTP/1.1-only
/// path leaves out: a 1.0 request with `Connection: keep-alive` gets that header back (ApacheBench `-k` and
/// old proxies otherwise wait for a close that never comes), and one without it has its connection closed after
/// the response. Sits in front of the HTTPTypes codec, where the request version is still known.
///
/// It also closes the connection after any response that says `Connection: close`: Pier sends that when it
/// refuses a request whose body it will not read (too large, trickling), instead of draining the body. And it closes
/// it after the response to a `CONNECT` (the HTTP/1 parser reads nothing after one) or to an `Upgrade` request that
/// the parser may have taken as a switch of protocols (see ``UpgradeIgnoringRequestDecoder``).
final class HTTP10KeepAliveHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode {
        case http11
        case keepAlive
        case close
    }

    /// One entry per request whose response has not started yet (requests may be pipelined).
    private var pending: [Mode] = []
    private var current: Mode = .http11

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            pending.append(Self.mode(for: head))
        }
        context.fireChannelRead(data)
    }

    private static func mode(for head: HTTPRequestHead) -> Mode {
        switch head.protocolSwitch {
        case .tunnel, .unsure:
            // llhttp parses nothing after a CONNECT head, and may not after this Upgrade: the connection cannot go on.
            return .close
        case .none, .upgrade:
            break
        }
        if head.version.major == 1, head.version.minor == 0 {
            let keepAlive = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "keep-alive" }
            return keepAlive ? .keepAlive : .close
        }
        return .http11
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            current = pending.isEmpty ? .http11 : pending.removeFirst()
            if head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) {
                current = .close
            }
            switch current {
            case .http11: break
            case .keepAlive: head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
            case .close: head.headers.replaceOrAdd(name: "Connection", value: "close")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers) where current == .close:
            let closed = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: closed)
            let channel = context.channel
            closed.futureResult.whenComplete { _ in channel.close(promise: nil) }
            closed.futureResult.cascade(to: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}
