import Foundation
import HummingbirdTesting
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// Paths that can wait (a file open, a locked database) leave the event loops, so one slow disk or lock never
/// stalls the connections a loop serves.
@Suite("Nothing waits on an event loop")
struct EventLoopWaitTests {
    @Test("a blob file whose open blocks (a FIFO in its place) holds no event loop: other connections are answered")
    func blockingOpen() async throws {
        let configured = Box("")
        try await withRegistry(live: true, configure: { configured.value = $0.storage.rootDirectory }) { client in
            let root = configured.value
            let port = try #require(client.port)
            let bytes = TestContent.bytes(5000, seed: 61)
            let digest = try await client.pushBlob("slow/open", bytes)
            // Opening a FIFO for reading blocks until a writer opens it: a stand-in for a disk that does not answer.
            let path = "\(root)/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)"
            try FileManager.default.removeItem(atPath: path)
            #expect(mkfifo(path, 0o600) == 0)
            let stuck = try RawConnection(port: port)
            stuck.send("GET /v2/slow/open/blobs/\(digest) HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(300))
            // New connections are spread over the loops; every one of them must be served while the open waits. (Polled
            // without blocking: a blocking read here would hold a thread the in-process server needs to answer.)
            let others = try (0..<6).map { _ in try RawConnection(port: port) }
            for connection in others { connection.send("GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
            for (attempt, connection) in others.enumerated() {
                let answered = try await connection.waitFor("\r\n\r\n", seconds: 10)
                #expect(answered && connection.text.hasPrefix("HTTP/1.1 200"), "connection \(attempt) got \(connection.text.prefix(40).debugDescription)")
            }
            // Let the open finish (the response then ends early: the FIFO is not the blob).
            let writer = open(path, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            #expect(try await stuck.waitForClose(seconds: 5), "the blob response neither ended nor closed")
        }
    }
}

/// A value set once before a test's concurrent part starts, and only read during it.
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
