import Foundation
import HummingbirdTesting
import RegistryConfig
import Testing

/// A request whose framing may make the HTTP/1 parser stop (llhttp stops after an `Upgrade` with a
/// `Connection: upgrade` token, and after `CONNECT`), and what must follow it on the same connection.
struct SwitchCase: Sendable {
    enum Outcome: Sendable {
        /// The next request on the connection is answered.
        case keepsServing
        /// The response says `Connection: close` and the connection closes.
        case closes
        /// Either of the two; never a stall.
        case either
    }

    let name: String
    let request: String
    var head = false
    let outcome: Outcome

    static let followUp = "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n"

    static let all: [SwitchCase] = [
        .init(name: "h2c upgrade", request: get("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"), outcome: .keepsServing),
        .init(name: "websocket upgrade", request: get("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"), outcome: .keepsServing),
        .init(name: "upgrade token after keep-alive, lower case", request: get("Connection: keep-alive, upgrade\r\nUpgrade: foo/2"), outcome: .keepsServing),
        .init(name: "upgrade in a second Connection field", request: get("Connection: keep-alive\r\nConnection: UPGRADE\r\nUpgrade: x"), outcome: .keepsServing),
        .init(name: "upgrade token among blanks", request: get("Connection: \t upgrade  ,\r\nUpgrade: x"), outcome: .keepsServing),
        .init(name: "TLS upgrade (RFC 2817)", request: get("Connection: Upgrade\r\nUpgrade: TLS/1.0"), outcome: .keepsServing),
        .init(name: "HEAD with upgrade", request: "HEAD /v2/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", head: true, outcome: .keepsServing),
        .init(name: "upgrade of a 404", request: "GET /v2/no/such/manifests/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", outcome: .keepsServing),
        .init(name: "OPTIONS * with h2c upgrade", request: "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", outcome: .keepsServing),
        .init(name: "upgrade with a Content-Length body", request: post("Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5", body: "hello"), outcome: .keepsServing),
        .init(name: "upgrade with a chunked body", request: post("Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked", body: "5\r\nhello\r\n0\r\n\r\n"), outcome: .keepsServing),
        .init(name: "upgrade with gzip, chunked", request: post("Connection: Upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: gzip, chunked", body: "5\r\nhello\r\n0\r\n\r\n"), outcome: .keepsServing),
        .init(name: "upgrade with Expect: 100-continue", request: post("Connection: Upgrade\r\nUpgrade: h2c\r\nExpect: 100-continue\r\nContent-Length: 3", body: "abc"), outcome: .keepsServing),
        .init(name: "upgrade on a GET with an unread body", request: get("Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 10", body: "0123456789"), outcome: .keepsServing),
        .init(name: "HTTP/1.0 upgrade with keep-alive", request: "GET /v2/ HTTP/1.0\r\nHost: x\r\nConnection: Upgrade, keep-alive\r\nUpgrade: h2c\r\n\r\n", outcome: .keepsServing),
        .init(name: "HTTP/1.0 upgrade without keep-alive", request: "GET /v2/ HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", outcome: .closes),
        .init(name: "Upgrade without a Connection token", request: get("Upgrade: h2c"), outcome: .keepsServing),
        .init(name: "Connection: upgrade without Upgrade", request: get("Connection: upgrade"), outcome: .keepsServing),
        .init(name: "empty Upgrade value", request: get("Upgrade: \r\nConnection: upgrade"), outcome: .keepsServing),
        .init(name: "upgrade as part of a token", request: get("Connection: upgrade-insecure\r\nUpgrade: h2c"), outcome: .either),
        .init(name: "upgrade after another word", request: get("Connection: x upgrade\r\nUpgrade: h2c"), outcome: .either),
        .init(name: "upgrade followed by a tab", request: get("Connection: upgrade\t\r\nUpgrade: h2c"), outcome: .either),
        .init(name: "CONNECT", request: "CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\n\r\n", outcome: .closes),
        .init(name: "CONNECT with a body", request: "CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\nContent-Length: 5\r\n\r\nhello", outcome: .closes),
        .init(name: "CONNECT with upgrade", request: "CONNECT registry.example:443 HTTP/1.1\r\nHost: registry.example:443\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", outcome: .closes),
        .init(name: "HTTP/2 prior-knowledge preface", request: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u{0}\u{0}\u{0}\u{4}\u{0}\u{0}\u{0}\u{0}\u{0}", outcome: .closes),
        .init(name: "odd Expect value", request: post("Expect: 100-continue-please\r\nContent-Length: 3", body: "abc"), outcome: .keepsServing),
        .init(name: "Expect in capitals", request: post("Expect: 100-CONTINUE\r\nContent-Length: 3", body: "abc"), outcome: .keepsServing),
        .init(name: "empty Expect", request: post("Expect: \r\nContent-Length: 3", body: "abc"), outcome: .keepsServing),
        .init(name: "gzip, chunked without upgrade", request: post("Transfer-Encoding: gzip, chunked", body: "3\r\nabc\r\n0\r\n\r\n"), outcome: .keepsServing),
        .init(name: "HEAD of a route that writes a body", request: "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", head: true, outcome: .keepsServing),
        .init(name: "GET with an unread body", request: get("Content-Length: 10", body: "0123456789"), outcome: .keepsServing),
        .init(name: "both Content-Length and chunked", request: post("Content-Length: 3\r\nTransfer-Encoding: chunked", body: "3\r\nabc\r\n0\r\n\r\n"), outcome: .either),
    ]

    private static func get(_ fields: String, body: String = "") -> String {
        "GET /v2/ HTTP/1.1\r\nHost: x\r\n\(fields)\r\n\r\n\(body)"
    }

    private static func post(_ fields: String, body: String) -> String {
        "POST /v2/switch/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n\(fields)\r\n\r\n\(body)"
    }

    /// Why what arrived in answer to this request (and, unless it said close, ``followUp``) is wrong; `nil` when right.
    func judge(_ bytes: [UInt8], closed: Bool) -> String? {
        let responses = parseResponses(bytes, closed: closed, bodyless: { $0 == 0 && head })
        guard let first = responses.first else { return closed ? "closed without a response" : "no response" }
        if first.saysClose {
            if outcome == .keepsServing { return "answered \(first.status) with Connection: close" }
            return closed ? nil : "answered \(first.status) with Connection: close but the connection stayed open"
        }
        if outcome == .closes { return "answered \(first.status) without Connection: close" }
        guard responses.count >= 2 else { return "the next request was not answered (\(first.status) first)" }
        let next = responses[1]
        // `GET /v2/` answers `{}` (with a final newline, as Distribution's JSON encoder writes it).
        guard next.status == 200, next.body == Array("{}\n".utf8) else {
            return "the next request got \(next.status) \(String(decoding: next.body.prefix(80), as: UTF8.self))"
        }
        return nil
    }

    /// Whether `judge` has seen enough: a response that said close and the close, or two responses.
    func settled(_ bytes: [UInt8], closed: Bool) -> Bool {
        let responses = parseResponses(bytes, closed: closed, bodyless: { $0 == 0 && head })
        return closed || responses.count >= 2
    }
}

extension RawConnection {
    /// Polls until `done` or `seconds` pass.
    func wait(seconds: Double, until done: ([UInt8], Bool) -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            poll()
            if done(received, closed) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The connections of each test run at once, so a wedged server costs one wait, not one per case. A wedged
/// connection used to wait for `http.timeouts.readheader` (30 s) or `idle` (300 s); an answer takes milliseconds,
/// and the 15 s allowed leave room for a loaded CI machine while staying well below the head timeout. The three
/// tests run one after another: together they open a hundred connections, a third of them TLS.
@Suite("Protocol switches (Upgrade, CONNECT) on HTTP/1", .serialized)
struct ProtocolSwitchTests {
    static let patience = 15.0

    /// Runs `check` for every case at once; expects each to return `nil` (no failure).
    private func forEachCase(_ check: @escaping @Sendable (SwitchCase) async throws -> String?) async throws {
        try await withThrowingTaskGroup(of: (String, String?).self) { group in
            for switchCase in SwitchCase.all {
                group.addTask { (switchCase.name, try await check(switchCase)) }
            }
            for try await (name, failure) in group {
                #expect(failure == nil, "\(name): \(failure ?? "")")
            }
        }
    }

    @Test("each request is followed on its connection by an answered request, or by a close its response announced")
    func sequential() async throws {
        try await withRegistry(live: true) { client in
            let port = try #require(client.port)
            try await forEachCase { switchCase in
                let connection = try RawConnection(port: port)
                connection.send(switchCase.request)
                try await connection.wait(seconds: Self.patience) { bytes, closed in closed || !parseResponses(bytes, closed: closed).isEmpty }
                let first = parseResponses(connection.received, closed: connection.closed, bodyless: { _ in switchCase.head }).first
                if !connection.closed, first?.saysClose == false {
                    connection.send(SwitchCase.followUp)
                }
                try await connection.wait(seconds: Self.patience, until: switchCase.settled)
                return switchCase.judge(connection.received, closed: connection.closed)
            }
        }
    }

    @Test("the same with the next request sent in the same write, so it is already buffered behind the first")
    func pipelined() async throws {
        try await withRegistry(live: true) { client in
            let port = try #require(client.port)
            try await forEachCase { switchCase in
                let connection = try RawConnection(port: port)
                connection.send(switchCase.request + SwitchCase.followUp)
                try await connection.wait(seconds: Self.patience, until: switchCase.settled)
                return switchCase.judge(connection.received, closed: connection.closed)
            }
        }
    }

    @Test("over TLS (HTTP/1.1 by ALPN) too, with the next request pipelined")
    func overTLS() async throws {
        try await TestPKI.with { pki in
            let ca = pki.path("ca.pem")
            try await withRegistry(live: true, configure: { $0.http.tls = pki.tls() }) { client in
                let port = try #require(client.port)
                try await forEachCase { switchCase in
                    let connection = try await TLSRawConnection(port: port, caFile: ca)
                    try await connection.send(switchCase.request + SwitchCase.followUp)
                    try await connection.wait(seconds: Self.patience, until: switchCase.settled)
                    let (bytes, closed) = connection.received
                    return switchCase.judge(bytes, closed: closed)
                }
            }
        }
    }

    @Test("requests pipelined behind an upgrade are all answered, in order, also after a client half-close")
    func manyPipelined() async throws {
        try await withRegistry(live: true) { client in
            let port = try #require(client.port)
            let upgrade = "GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            let missing = "GET /v2/none/manifests/x HTTP/1.1\r\nHost: x\r\n\r\n"
            let connection = try RawConnection(port: port)
            connection.send(upgrade + SwitchCase.followUp + upgrade + missing + upgrade)
            connection.shutdownWrite()
            try await connection.wait(seconds: Self.patience) { bytes, closed in parseResponses(bytes, closed: closed).count >= 5 }
            let statuses = parseResponses(connection.received, closed: connection.closed).map(\.status)
            #expect(statuses == [200, 200, 200, 404, 200], "\(connection.text)")
        }
    }
}
