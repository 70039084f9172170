import Foundation
import NIOCore
import Synchronization

/// Caps the connections open at once, below the process's open-file limit.
///
/// At the limit `accept(2)` fails with EMFILE (NIO backs off and retries, which is fine), but so does every other
/// `open(2)` in the process: a blob read, an upload file, SQLite, and libdispatch's worker monitor, which reads
/// `/proc` once a second and crashes the process (SIGILL) when it cannot. Slow clients holding sockets must never
/// get there, so a connection beyond the cap is answered 503 and closed at once.
final class ConnectionLimiter: Sendable {
    /// The most connections served at once.
    let maximum: Int
    private let open = Mutex(0)

    init(maximum: Int) {
        self.maximum = max(1, maximum)
    }

    /// The cap: `configured`, lowered to what the open-file limit leaves after a reserve for files, the database and
    /// the runtime (each connection may hold a socket and a file).
    static func maximum(configured: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < 1 << 40 else { return configured }
        let available = (Int(clamping: limit.rlim_cur) - 256) / 2
        return max(16, min(configured, available))
    }

    /// Counts `channel` until it closes; false (and the channel answered 503 and closed) when the cap is reached.
    /// - Parameter answering: whether to write the 503 in plain HTTP; a TLS connection is closed without a word.
    func admit(_ channel: any Channel, answering: Bool = true) -> Bool {
        let admitted = open.withLock { count in
            count += 1
            return count <= maximum
        }
        channel.closeFuture.whenComplete { _ in self.open.withLock { $0 -= 1 } }
        if !admitted, !answering {
            channel.close(promise: nil)
        } else if !admitted {
            let response = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            channel.writeAndFlush(ByteBuffer(string: response)).whenComplete { _ in channel.close(promise: nil) }
        }
        return admitted
    }
}
