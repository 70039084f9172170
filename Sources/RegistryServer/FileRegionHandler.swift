import NIOCore
import NIOHTTP1
import RegistryHTTP

/// Replaces a blob response's marker body with a `FileRegion`, which NIO writes with `sendfile(2)`: the kernel
/// copies the file to the socket, and the bytes never pass through Pier. See ``FileSendRegistry``.
final class FileRegionHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let fileSends: FileSendRegistry

    init(fileSends: FileSendRegistry) {
        self.fileSends = fileSends
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(.byteBuffer(let buffer)) = unwrapOutboundIn(data), let send = fileSends.claim(buffer) else {
            context.write(data, promise: promise)
            return
        }
        // The file was opened off the event loop when the response was made; the bytes go without blocking.
        let handle = send.handle
        let region = FileRegion(fileHandle: handle, readerIndex: Int(send.range.lowerBound), endIndex: Int(send.range.upperBound))
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: written)
        written.futureResult.whenComplete { _ in try? handle.close() }
        written.futureResult.cascade(to: promise)
    }
}
