import Foundation
import HTTPTypes
import HummingbirdTesting
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// Slow clients and resource caps: what a hostile client can hold, and for how long.
@Suite("Connection limits")
struct ConnectionLimitTests {
    @Test("a request head trickled a byte at a time is answered 408 and closed after http.timeouts.readheader")
    func trickledHead() async throws {
        // Timings are generous: CI runs other suites beside this one on two cores. The trickle alone would take
        // 30 s; the 2 s head timeout must end it long before.
        try await withRegistry(live: true, configure: { $0.http.timeouts.readHeader = 2 }) { client in
            let port = try #require(client.port)
            let connection = try RawConnection(port: port)
            let start = ContinuousClock.now
            let head = "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "a", count: 300)
            for byte in head {
                guard connection.send(String(byte)) else { break }
                connection.poll()
                if connection.closed { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await connection.waitForClose(seconds: 10), "the connection stayed open")
            #expect(connection.text.hasPrefix("HTTP/1.1 408"), "got \(connection.text.prefix(60))")
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }

    @Test("a connection that sends nothing is closed after http.timeouts.readheader, while others are served")
    func silentConnection() async throws {
        try await withRegistry(live: true, configure: { $0.http.timeouts.readHeader = 1 }) { client in
            let port = try #require(client.port)
            let silent = try RawConnection(port: port)
            let base = try await client.send(.get, "/v2/")
            #expect(base.status == .ok)
            #expect(try await silent.waitForClose(seconds: 15), "the silent connection stayed open")
            #expect(silent.received.isEmpty, "a connection that never asked got an answer")
        }
    }

    @Test("a kept-alive connection may idle between requests for longer than the head timeout")
    func keepAliveIdle() async throws {
        try await withRegistry(live: true, configure: { $0.http.timeouts.readHeader = 1 }) { client in
            let port = try #require(client.port)
            let connection = try RawConnection(port: port)
            connection.send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await connection.waitFor("{}", seconds: 2))
            try await Task.sleep(for: .milliseconds(1500))
            connection.poll()
            #expect(!connection.closed, "closed while idle between requests")
            connection.send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            try await Task.sleep(for: .milliseconds(500))
            connection.poll()
            #expect(connection.text.components(separatedBy: "HTTP/1.1 200").count == 3, "second request not answered: \(connection.text)")
        }
    }

    @Test("a stalled upload body is answered 408 and closed after http.timeouts.bodyidle; the session resumes")
    func stalledBody() async throws {
        try await withRegistry(live: true, configure: { $0.http.timeouts.bodyIdle = 2 }) { client in
            let port = try #require(client.port)
            let bytes = Array("0123456789".utf8)
            let start = try await client.send(.post, "/v2/stall/blobs/uploads/")
            let location = try #require(start.headers[.location])
            let first = try await client.send(.patch, location, headers: [.contentRange: "0-4"], body: Array(bytes[0..<5]))
            #expect(first.status == .accepted)

            let connection = try RawConnection(port: port)
            connection.send("PATCH \(location) HTTP/1.1\r\nHost: x\r\nContent-Range: 5-9\r\nContent-Length: 5\r\n\r\n56")
            #expect(try await connection.waitForClose(seconds: 30), "the stalled connection stayed open")
            #expect(connection.text.hasPrefix("HTTP/1.1 408"), "got \(connection.text.prefix(80))")
            #expect(connection.text.contains("BLOB_UPLOAD_INVALID"))

            let status = try await client.send(.get, location)
            #expect(status.status == .noContent)
            #expect(status.headers[.range] == "0-4", "the stalled chunk changed the session")
            let rest = try await client.send(.patch, location, headers: [.contentRange: "5-9"], body: Array(bytes[5...]))
            #expect(rest.status == .accepted)
            let digest = Digest.of(bytes)
            let put = try await client.send(.put, location + "?digest=\(digest)")
            #expect(put.status == .created)
            let blob = try await client.send(.get, "/v2/stall/blobs/\(digest)")
            #expect(blob.bytes == bytes)
        }
    }

    @Test("an upload body that keeps arriving slowly is not cut by the body idle timeout")
    func slowButSteadyBody() async throws {
        // 12 bytes a second apart: 12 s in all, longer than the 8 s body idle timeout, but never idle that long,
        // even when CI's load delays a send by a few seconds.
        try await withRegistry(live: true, configure: { $0.http.timeouts.bodyIdle = 8; $0.http.timeouts.readHeader = 8 }) { client in
            let port = try #require(client.port)
            let bytes = Array("abcdefghijkl".utf8)
            let digest = Digest.of(bytes)
            let connection = try RawConnection(port: port)
            connection.send("POST /v2/steady/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
            for byte in bytes {
                try await Task.sleep(for: .milliseconds(1000))
                connection.send(String(UnicodeScalar(byte)))
            }
            #expect(try await connection.waitFor("\r\n\r\n", seconds: 30))
            #expect(connection.text.hasPrefix("HTTP/1.1 201"), "got \(connection.text.prefix(80))")
        }
    }

    @Test("upload sessions beyond the caps per repository and in total get 429 TOOMANYREQUESTS with Retry-After")
    func uploadSessionCap() async throws {
        try await withRegistry(configure: { $0.limits = .init(uploadSessionsPerRepository: 2, uploadSessions: 3) }) { client in
            let first = try await client.send(.post, "/v2/capped/blobs/uploads/")
            let second = try await client.send(.post, "/v2/capped/blobs/uploads/")
            #expect(first.status == .accepted && second.status == .accepted)
            let third = try await client.send(.post, "/v2/capped/blobs/uploads/")
            #expect(third.status == .tooManyRequests)
            #expect(third.errorCode == "TOOMANYREQUESTS")
            #expect(third.headers[.retryAfter] != nil)
            let monolithic = try await client.send(.post, "/v2/capped/blobs/uploads/?digest=\(Digest.of([1]))", body: [1])
            #expect(monolithic.status == .tooManyRequests)

            let other = try await client.send(.post, "/v2/other/blobs/uploads/")
            #expect(other.status == .accepted)
            let overTotal = try await client.send(.post, "/v2/third/blobs/uploads/")
            #expect(overTotal.status == .tooManyRequests)

            let location = try #require(first.headers[.location])
            #expect(try await client.send(.delete, location).status == .noContent)
            #expect(try await client.send(.post, "/v2/capped/blobs/uploads/").status == .accepted, "a cancelled session's place stays taken")
        }
    }

    @Test("the caps and timeouts are read from http.timeouts and limits in the config file")
    func configurationKeys() throws {
        let yaml = """
            version: 0.1
            http:
              timeouts:
                readheader: 10s
                bodyidle: 2m
                idle: 90s
            limits:
              uploadsessions:
                perrepository: 5
                total: 50
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        #expect(configuration.http.timeouts == .init(readHeader: 10, bodyIdle: 120, idle: 90))
        #expect(configuration.limits == .init(uploadSessionsPerRepository: 5, uploadSessions: 50))
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: "http:\n  timeouts:\n    readheader: 0s\n", environment: [:]) }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: "limits:\n  uploadsessions:\n    total: -1\n", environment: [:]) }
    }
}
