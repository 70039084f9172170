import NIOCore
import NIOHTTP1

/// NIO's HTTP/1 request decoder, started afresh after each request that llhttp takes as a switch of protocols, so a
/// kept-alive connection goes on serving HTTP/1.1.
///
/// llhttp stops parsing after a request with an `Upgrade` field and a `Connection: upgrade` token (any method, once
/// its body is read): what follows is taken to be the new protocol, and NIO's decoder holds every later byte for an
/// upgrade handler. Hummingbird installs none, so the next request on the connection was never answered. Pier takes
/// no upgrade, and RFC 9110 §7.8 lets a server ignore one: ``ProtocolSwitchObserver`` (right behind this decoder)
/// sees such a request end, and the bytes already buffered behind it (pipelined requests) go to a fresh decoder.
/// `CONNECT` stops llhttp too; that connection is closed after its response instead (see ``HTTP10KeepAliveHandler``).
///
/// The decoder is not paired with the response encoder (NIO pairs them only inside `configureHTTPServerPipeline`),
/// so the encoder does not drop bodies of responses to `HEAD`: the responder sends none.
final class UpgradeIgnoringRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    private let limits: NIOHTTPDecoderLimitConfiguration
    private var decoder: HTTPRequestDecoder
    /// Set by ``ProtocolSwitchObserver`` when a request after which llhttp stops parsing has ended.
    fileprivate var restartPending = false

    init(limits: NIOHTTPDecoderLimitConfiguration) {
        self.limits = limits
        decoder = HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)
    }

    func decoderAdded(context: ChannelHandlerContext) {
        decoder.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        decoder.decoderRemoved(context: context)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        _ = try decoder.decode(context: context, buffer: &buffer)
        guard restartPending else { return .needMoreData }
        restart(context: context)
        return buffer.readableBytes > 0 ? .continue : .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Requests pipelined behind an upgrade request are answered even when the client half-closes after them.
        _ = try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
        while restartPending {
            restart(context: context)
            _ = try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
        }
        return .needMoreData
    }

    private func restart(context: ChannelHandlerContext) {
        restartPending = false
        decoder.decoderRemoved(context: context)
        decoder = HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)
        decoder.decoderAdded(context: context)
    }
}

/// Sits right behind ``UpgradeIgnoringRequestDecoder`` and tells it when a request after which llhttp stopped
/// parsing has ended (its `.end` part is fired from inside the decoder's parse, before the decoder returns).
final class ProtocolSwitchObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let decoder: UpgradeIgnoringRequestDecoder
    private var upgrading = false

    init(decoder: UpgradeIgnoringRequestDecoder) {
        self.decoder = decoder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // A head behind the last one means llhttp did go on parsing: nothing to restart.
            decoder.restartPending = false
            upgrading = head.protocolSwitch == .upgrade
        case .end where upgrading:
            upgrading = false
            decoder.restartPending = true
        case .body, .end:
            break
        }
        context.fireChannelRead(data)
    }
}

/// How llhttp (NIO's HTTP/1 parser) frames what follows a request.
enum ProtocolSwitch: Equatable {
    /// More HTTP/1 requests.
    case none
    /// `Upgrade` with a `Connection: upgrade` token: llhttp stops after this request's body.
    case upgrade
    /// `CONNECT`: llhttp stops right after the head; any bytes after it are tunnel data.
    case tunnel
    /// `Upgrade` with a `Connection` field that names `upgrade` in a form llhttp may or may not take as the token.
    case unsure
}

extension HTTPRequestHead {
    /// What llhttp makes of this request's framing (`llhttp__before_headers_complete`): an upgrade needs an `Upgrade`
    /// field with a value (llhttp flags it only at the value's first byte) and a `Connection` token `upgrade`, matched
    /// case-insensitively after spaces or tabs and followed by spaces and then a comma or the end of the field.
    var protocolSwitch: ProtocolSwitch {
        if method == .CONNECT { return .tunnel }
        guard headers["upgrade"].contains(where: { !$0.allSatisfy(\.isHTTPWhitespace) }) else { return .none }
        let connection = headers["connection"]
        let tokens = connection.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        if tokens.contains(where: { $0.drop(while: \.isHTTPWhitespace).trimmingTrailingSpaces.lowercased() == "upgrade" }) {
            return .upgrade
        }
        return connection.contains { $0.lowercased().contains("upgrade") } ? .unsure : .none
    }
}

extension Character {
    fileprivate var isHTTPWhitespace: Bool { self == " " || self == "\t" }
}

extension Substring {
    fileprivate var trimmingTrailingSpaces: Substring {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
