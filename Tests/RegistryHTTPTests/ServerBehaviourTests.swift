import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

@Suite("Server behaviour")
struct ServerBehaviourTests {
    @Test("http.headers are added to every response; http.host makes Location absolute")
    func configuredHeaders() async throws {
        try await withRegistry(configure: {
            $0.http.headers = ["X-Content-Type-Options": ["nosniff"]]
            $0.http.externalURL = "https://registry.example.com"
        }) { client in
            let response = try await client.send(.post, "/v2/h/blobs/uploads/")
            #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(response.headers[.location]?.hasPrefix("https://registry.example.com/v2/h/blobs/uploads/") == true)
        }
    }

    @Test("request headers larger than the parser accepts get 431 with the spec's error body, and the connection closes")
    func oversizedHeaders() async throws {
        try await withRegistry(live: true) { client in
            let port = try #require(client.port)
            let reply = try rawExchange(port: port, head: "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 431"), "got \(reply.prefix(60))")
            #expect(reply.contains(#""code":"SIZE_INVALID""#))
        }
    }

    @Test("Expect: 100-continue is answered before the body is sent")
    func expectContinue() async throws {
        try await withRegistry(live: true) { client in
            let port = try #require(client.port)
            let reply = try rawExchange(port: port, head: "POST /v2/e/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 100 Continue"), "got \(reply.prefix(60))")
        }
    }
}

extension ServerBehaviourTests {
    @Test("blobs sent with sendfile arrive whole and by range, exactly")
    func zeroCopy() async throws {
        try await withRegistry(live: true) { client in
            let bytes = TestContent.bytes(3 * 1024 * 1024 + 5, seed: 21)
            let digest = try await client.pushBlob("z", bytes)
            let whole = try await client.send(.get, "/v2/z/blobs/\(digest)")
            #expect(whole.status == .ok && whole.bytes == bytes)
            let part = try await client.send(.get, "/v2/z/blobs/\(digest)", headers: [.range: "bytes=1000000-2000000"])
            #expect(part.status == .partialContent && part.bytes == Array(bytes[1_000_000...2_000_000]))
            let again = try await client.send(.get, "/v2/z/blobs/\(digest)")
            #expect(again.bytes == bytes, "a second request on the same connection")
        }
    }
}

/// Sends `head` on a fresh TCP connection and returns what arrives within half a second.
func rawExchange(port: Int, head: String) throws -> String {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = head.withCString { send(fd, $0, strlen($0), 0) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = recv(fd, &buffer, buffer.count, 0)
    return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
}
