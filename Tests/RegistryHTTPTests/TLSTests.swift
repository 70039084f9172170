import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOSSL
import RegistryConfig
import RegistryCore
import RegistryServer
import RegistryTesting
import Testing

/// Runs `body` with a live Pier serving HTTPS on a loopback port.
private func withTLSRegistry(
    _ pki: TestPKI, tls: Configuration.TLS? = nil, http2Disabled: Bool = false, _ body: @escaping @Sendable (Int) async throws -> Void
) async throws {
    let tls = tls ?? pki.tls()
    try await withRegistry(live: true, configure: {
        $0.http.tls = tls
        $0.http.http2Disabled = http2Disabled
    }) { client in
        try await body(try #require(client.port))
    }
}

@Suite("TLS")
struct TLSTests {
    @Test("TLS 1.2 and 1.3 handshakes serve /v2/; TLS 1.2 negotiates an ECDHE AEAD suite and refuses CBC")
    func versionsAndCiphers() async throws {
        try await TestPKI.with { pki in
            try await withTLSRegistry(pki) { port in
                for version in [TLSVersion.tlsv12, .tlsv13] {
                    let status = try await withHTTPSClient(pki, version: version) { client in
                        try await client.fetch("https://127.0.0.1:\(port)/v2/").0.status
                    }
                    #expect(status == .ok, "\(version)")
                }
                let tls12 = try await runCommand([
                    "curl", "-sS", "-v", "--cacert", pki.path("ca.pem"), "--tlsv1.2", "--tls-max", "1.2", "https://127.0.0.1:\(port)/v2/",
                ])
                #expect(tls12.status == 0, "\(tls12.error)")
                let aead = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]
                #expect(aead.contains { tls12.error.contains("SSL connection using TLSv1.2 / \($0)") }, "\(tls12.error)")
                let tls13 = try await runCommand(["curl", "-sS", "-v", "--cacert", pki.path("ca.pem"), "https://127.0.0.1:\(port)/v2/"])
                #expect(tls13.error.contains("SSL connection using TLSv1.3 / TLS_AES_"), "\(tls13.error)")
                let cbc = try await runCommand([
                    "curl", "-sS", "--cacert", pki.path("ca.pem"), "--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-SHA:AES128-SHA:AES128-GCM-SHA256",
                    "https://127.0.0.1:\(port)/v2/",
                ])
                #expect(cbc.status != 0, "a CBC or non-ECDHE suite was accepted: \(cbc.all)")
            }
        }
    }

    @Test("TLS 1.1 (and 1.0) are refused by the server with a protocol_version alert")
    func oldVersionsRefused() async throws {
        try await TestPKI.with { pki in
            try await withTLSRegistry(pki) { port in
                for flag in ["-tls1_1", "-tls1"] {
                    // SECLEVEL=0 lets Debian's OpenSSL offer the old version at all, so the refusal is the server's.
                    let result = try await runCommand([
                        "openssl", "s_client", "-connect", "127.0.0.1:\(port)", flag, "-cipher", "DEFAULT@SECLEVEL=0",
                    ], input: "")
                    #expect(result.status != 0)
                    #expect(result.all.contains("alert protocol version"), "\(flag): \(result.all)")
                }
            }
        }
    }

    @Test("minimumtls tls1.3 refuses a TLS 1.2 client")
    func minimumTLS13() async throws {
        try await TestPKI.with { pki in
            var tls = pki.tls()
            tls.minimumVersion = .tls13
            try await withTLSRegistry(pki, tls: tls) { port in
                let tls12 = try await runCommand(["curl", "-sS", "--cacert", pki.path("ca.pem"), "--tls-max", "1.2", "https://127.0.0.1:\(port)/v2/"])
                #expect(tls12.status != 0)
                let tls13 = try await runCommand(["curl", "-sS", "--cacert", pki.path("ca.pem"), "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/v2/"])
                #expect(tls13.output == "200", "\(tls13.all)")
            }
        }
    }

    @Test("plain HTTP sent to the TLS port gets HTTP/1.0 400 with Go's text, and the connection closes")
    func plainHTTPOnTLSPort() async throws {
        try await TestPKI.with { pki in
            try await withTLSRegistry(pki) { port in
                let (reply, closed) = try rawExchangeUntilClose(port: port, request: "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(reply.hasPrefix("HTTP/1.0 400 Bad Request\r\n"), "\(reply)")
                #expect(reply.hasSuffix("\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"), "\(reply)")
                #expect(closed)
                // The TLS port still serves TLS afterwards.
                #expect(try await withHTTPSClient(pki) { client in try await client.fetch("https://127.0.0.1:\(port)/v2/").0.status } == .ok)
            }
        }
    }

    @Test("HTTP/2 is negotiated by ALPN; a blob push and pull and a manifest push and pull work over h2")
    func http2() async throws {
        try await TestPKI.with { pki in
            try await withTLSRegistry(pki) { port in
                let base = "https://127.0.0.1:\(port)"
                try await withHTTPSClient(pki) { client in
                    let (ping, _) = try await client.fetch(base + "/v2/")
                    #expect(ping.version == .http2)
                    let blob = TestContent.bytes(5 * 1024 * 1024 + 7, seed: 3)
                    let digest = Digest.of(blob)
                    let (start, _) = try await client.fetch(base + "/v2/h2/blobs/uploads/", method: .POST)
                    #expect(start.status == .accepted && start.version == .http2)
                    let location = try #require(start.headers.first(name: "Location"))
                    let url = (location.hasPrefix("http") ? location : base + location) + (location.contains("?") ? "&" : "?") + "digest=\(digest)"
                    let (put, _) = try await client.fetch(url, method: .PUT, body: blob)
                    #expect(put.status == .created)
                    let (get, bytes) = try await client.fetch(base + "/v2/h2/blobs/\(digest)")
                    #expect(get.status == .ok && get.version == .http2)
                    #expect(bytes == blob, "the blob read back over h2 differs")

                    let config = TestContent.bytes(40, seed: 4)
                    let configDigest = Digest.of(config)
                    let (configStart, _) = try await client.fetch(base + "/v2/h2/blobs/uploads/", method: .POST)
                    let configLocation = try #require(configStart.headers.first(name: "Location"))
                    _ = try await client.fetch(
                        (configLocation.hasPrefix("http") ? configLocation : base + configLocation) + (configLocation.contains("?") ? "&" : "?")
                            + "digest=\(configDigest)", method: .PUT, body: config)
                    let manifest = TestContent.imageManifest(config: (configDigest, config.count), layers: [(digest, blob.count)])
                    var request = HTTPClientRequest(url: base + "/v2/h2/manifests/v1")
                    request.method = .PUT
                    request.headers.add(name: "Content-Type", value: MediaType.ociManifest)
                    request.body = .bytes(ByteBuffer(bytes: manifest))
                    let manifestPut = try await client.execute(request, timeout: .seconds(30))
                    #expect(manifestPut.status == .created && manifestPut.version == .http2)
                    var pull = HTTPClientRequest(url: base + "/v2/h2/manifests/v1")
                    pull.headers.add(name: "Accept", value: MediaType.ociManifest)
                    let manifestGet = try await client.execute(pull, timeout: .seconds(30))
                    #expect(Array(try await manifestGet.body.collect(upTo: 1 << 20).readableBytesView) == manifest)
                }
                let curl = try await runCommand([
                    "curl", "-sS", "--http2", "--cacert", pki.path("ca.pem"), "-o", "/dev/null", "-w", "%{http_version}", base + "/v2/",
                ])
                #expect(curl.output == "2", "\(curl.all)")
            }
        }
    }

    @Test("http.http2.disabled offers only HTTP/1.1; the HTTP/1.1 path over TLS keeps 431 for oversized headers")
    func http2Disabled() async throws {
        try await TestPKI.with { pki in
            try await withTLSRegistry(pki, http2Disabled: true) { port in
                let curl = try await runCommand([
                    "curl", "-sS", "--http2", "--cacert", pki.path("ca.pem"), "-o", "/dev/null", "-w", "%{http_version}",
                    "https://127.0.0.1:\(port)/v2/",
                ])
                #expect(curl.output == "1.1", "\(curl.all)")
                let big = try await runCommand([
                    "curl", "-sS", "--cacert", pki.path("ca.pem"), "-H", "X-Big: \(String(repeating: "a", count: 100_000))",
                    "-w", "%{http_code}", "-o", "/dev/null", "https://127.0.0.1:\(port)/v2/",
                ])
                #expect(big.output == "431", "\(big.all)")
            }
        }
    }
}
