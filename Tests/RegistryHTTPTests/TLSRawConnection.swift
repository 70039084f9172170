import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A TLS connection (HTTP/1.1 by ALPN) to a live test server, for sending raw request bytes and reading whatever
/// comes back, as ``RawConnection`` does in plain text.
final class TLSRawConnection: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer

        let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            state.withLock { $0.bytes += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private let channel: any Channel
    private let collector: Collector

    /// Connects and completes the handshake, trusting the CA in `caFile`.
    init(port: Int, caFile: String) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        let collector = Collector()
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        self.collector = collector
    }

    deinit {
        channel.close(promise: nil)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Everything received so far, and whether the server closed the connection.
    var received: (bytes: [UInt8], closed: Bool) { collector.state.withLock { $0 } }

    /// Polls until `done` or `seconds` pass.
    func wait(seconds: Double, until done: ([UInt8], Bool) -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let (bytes, closed) = received
            if done(bytes, closed) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
