import NIOCore
import NIOHTTP1
import RegistryHTTP

/// Deadlines for reading requests, which the connection's idle timeout cannot give because every byte restarts it.
///
/// * **Head**: a request head must be complete `headTimeout` after the connection was accepted, or, on a kept-alive
///   connection, after the next request's first byte. Otherwise the connection is closed, with 408 when some of a
///   head had arrived. A slow-loris client that sends nothing, or a header byte every few seconds, holds a
///   connection for `headTimeout` at most.
/// * **Body**: while the server is ready for more of a request body (a read is pending, so back-pressure from a slow
///   disk does not count), a gap of `bodyIdleTimeout` fails the body stream with ``RequestBodyStalled``; the
///   connection closes after the response. An upload that keeps sending, however slowly, is not affected here
///   (``ClientBody`` sets the minimum rate).
///
/// Sits right after the HTTP/1 decoder; ``RequestStartObserver`` in front of the decoder reports raw bytes.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
        /// Kept alive between requests: the idle timeout applies until the next request's first byte.
        case betweenRequests
        /// Reading a request head; `bytesSeen` once any byte of it arrived.
        case head(bytesSeen: Bool)
        /// Reading a request body.
        case body
        /// The body stalled: close once the response is out.
        case stalled
    }

    let headTimeout: TimeAmount
    let bodyIdleTimeout: TimeAmount
    /// The first request's head is due `headTimeout` after the accept.
    private var phase = Phase.head(bytesSeen: false)
    /// Requests whose head was read and whose response has not ended; a head pipelined behind them may wait.
    private var openRequests = 0
    private var headTimer: Scheduled<Void>?
    private var bodyTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(headTimeout: TimeAmount, bodyIdleTimeout: TimeAmount) {
        self.headTimeout = headTimeout
        self.bodyIdleTimeout = bodyIdleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        scheduleHeadTimer(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    /// Raw bytes arrived in front of the decoder: the first byte of a new request starts its head deadline.
    func requestBytesArrived() {
        switch phase {
        case .betweenRequests:
            phase = .head(bytesSeen: true)
            if let context { scheduleHeadTimer(context) }
        case .head(bytesSeen: false):
            phase = .head(bytesSeen: true)
        case .head, .body, .stalled:
            break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            headTimer?.cancel()
            headTimer = nil
            openRequests += 1
            phase = .body
        case .body:
            // More arrived: the gap starts again at the next read.
            cancelBodyTimer()
        case .end:
            cancelBodyTimer()
            if case .body = phase { phase = .betweenRequests }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if case .body = phase, bodyTimer == nil {
            let timeout = bodyIdleTimeout
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                self?.bodyStalled(timeout: timeout)
            }
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        openRequests = max(0, openRequests - 1)
        guard case .stalled = phase else {
            context.write(data, promise: promise)
            return
        }
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        written.futureResult.cascade(to: promise)
        context.writeAndFlush(data, promise: written)
    }

    private func scheduleHeadTimer(_ context: ChannelHandlerContext) {
        headTimer?.cancel()
        headTimer = context.eventLoop.assumeIsolated().scheduleTask(in: headTimeout) { [weak self] in
            self?.headTimedOut()
        }
    }

    private func headTimedOut() {
        headTimer = nil
        guard case .head(let bytesSeen) = phase, let context else { return }
        if openRequests > 0 {
            // Pipelined behind a response still being written, whose back-pressure may have paused reading.
            scheduleHeadTimer(context)
            return
        }
        guard bytesSeen else {
            context.close(promise: nil)
            return
        }
        // RFC 9110 §15.5.9: 408 tells the client the server closes the connection rather than keep waiting.
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Docker-Distribution-API-Version", value: "registry/2.0")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .requestTimeout, headers: headers))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func bodyStalled(timeout: TimeAmount) {
        bodyTimer = nil
        guard case .body = phase, let context else { return }
        phase = .stalled
        // Ends the body stream the handler reads with this error; the response it then writes closes the connection.
        context.fireErrorCaught(RequestBodyStalled(seconds: Double(timeout.nanoseconds) / 1e9))
        // Should no response come (the handler is stuck elsewhere), the connection still goes, after a grace that
        // lets a loaded server write its 408.
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: max(timeout, .seconds(10))) { channel.close(promise: nil) }
    }

    private func cancelBodyTimer() {
        bodyTimer?.cancel()
        bodyTimer = nil
    }

    private func cancelTimers() {
        headTimer?.cancel()
        headTimer = nil
        cancelBodyTimer()
    }
}

/// Tells a ``RequestDeadlineHandler`` when request bytes arrive, before the decoder holds them back until a head is
/// complete. Sits in front of the HTTP/1 decoder.
final class RequestStartObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadlines: RequestDeadlineHandler

    init(deadlines: RequestDeadlineHandler) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadlines.requestBytesArrived()
        context.fireChannelRead(data)
    }
}
