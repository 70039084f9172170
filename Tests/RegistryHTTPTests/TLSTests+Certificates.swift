import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import RegistryConfig
import RegistryServer
import Testing

extension TLSTests {
    @Test("clientcas: no client certificate is refused, one from the CA works, one from another CA is refused")
    func mutualTLS() async throws {
        try await TestPKI.with { pki in
            try await pki.makeCA("clientca")
            try await pki.makeCertificate("alice", ca: "clientca", client: true, rsa: false)
            try await pki.makeCA("otherca")
            try await pki.makeCertificate("mallory", ca: "otherca", client: true, rsa: false)
            try await withRegistry(live: true, configure: { $0.http.tls = pki.tls(clientCAs: ["clientca"]) }) { testClient in
                let url = "https://127.0.0.1:\(try #require(testClient.port))/v2/"
                for version in [TLSVersion.tlsv12, .tlsv13] {
                    let status = try await withHTTPSClient(pki, clientCertificate: "alice", version: version) { client in
                        try await client.fetch(url).0.status
                    }
                    #expect(status == .ok, "\(version)")
                    for certificate in [nil, "mallory"] {
                        let refusal = await refusalReason(pki, clientCertificate: certificate, version: version, url: url)
                        #expect(refusal.map(isHandshakeRefusal) == true, "\(certificate ?? "no certificate"), \(version): \(refusal ?? "accepted")")
                    }
                }
                let curl = try await runCommand([
                    "curl", "-sS", "--cacert", pki.path("ca.pem"), "--cert", pki.path("alice.pem"), "--key", pki.path("alice.key"),
                    "-o", "/dev/null", "-w", "%{http_code} %{http_version}", url,
                ])
                #expect(curl.output == "200 2", "\(curl.all)")
            }
        }
    }

    @Test("clientauth verify-client-cert-if-given accepts no certificate but refuses a bad one")
    func verifyIfGiven() async throws {
        try await TestPKI.with { pki in
            try await pki.makeCA("clientca")
            try await pki.makeCA("otherca")
            try await pki.makeCertificate("mallory", ca: "otherca", client: true, rsa: false)
            var tls = pki.tls(clientCAs: ["clientca"])
            tls.clientAuth = .verifyClientCertIfGiven
            try await withRegistry(live: true, configure: { $0.http.tls = tls }) { testClient in
                let url = "https://127.0.0.1:\(try #require(testClient.port))/v2/"
                #expect(try await withHTTPSClient(pki) { client in try await client.fetch(url).0.status } == .ok)
                let refusal = await refusalReason(pki, clientCertificate: "mallory", version: .tlsv12, url: url)
                #expect(refusal.map(isHandshakeRefusal) == true, "\(refusal ?? "accepted")")
            }
        }
    }

    @Test("changed certificate files are used for new connections; a broken replacement keeps the last good one")
    func reload() async throws {
        try await TestPKI.with { pki in
            let first = try await pki.fingerprint("server")
            try await pki.makeCertificate("next", ca: "ca")
            let next = try await pki.fingerprint("next")
            try await withTLSRegistryForReload(pki) { port in
                #expect(try await TestPKI.servedFingerprint(port: port) == first)
                try await withHTTPSClient(pki, http1Only: true) { client in
                    // A connection opened before the change keeps working after it.
                    #expect(try await client.fetch("https://127.0.0.1:\(port)/v2/").0.status == .ok)
                    try replace(pki.path("server.pem"), with: pki.path("next.pem"))
                    try replace(pki.path("server.key"), with: pki.path("next.key"))
                    #expect(try await waitFor { try await TestPKI.servedFingerprint(port: port) == next }, "the new certificate was not picked up")
                    #expect(try await client.fetch("https://127.0.0.1:\(port)/v2/").0.status == .ok)
                }
                // Broken replacements: a certificate whose key does not match, then a file that is not PEM.
                try await pki.makeCertificate("third", ca: "ca")
                try replace(pki.path("server.pem"), with: pki.path("third.pem"))
                try await Task.sleep(for: .seconds(1.5))
                #expect(try await TestPKI.servedFingerprint(port: port) == next, "a mismatched key replaced the good certificate")
                try "not a certificate".write(toFile: pki.path("server.pem"), atomically: true, encoding: .utf8)
                try await Task.sleep(for: .seconds(1.5))
                #expect(try await TestPKI.servedFingerprint(port: port) == next)
                #expect(try await withHTTPSClient(pki) { client in try await client.fetch("https://127.0.0.1:\(port)/v2/").0.status } == .ok)
            }
        }
    }

    @Test("start-up errors name the files: missing, not PEM, key not matching the certificate, bad client CA file")
    func startupErrors() async throws {
        try await TestPKI.with { pki in
            try await pki.makeCertificate("other", ca: "ca", rsa: false)
            try Data([0x30, 0x82, 0x01, 0x00, 0x02]).write(to: URL(fileURLWithPath: pki.path("binary.der")))
            try "hello\n".write(toFile: pki.path("text.txt"), atomically: true, encoding: .utf8)
            let cases: [(Configuration.TLS, String)] = [
                (.init(certificate: pki.path("absent.pem"), key: pki.path("server.key")), "http.tls.certificate: \(pki.path("absent.pem")) does not exist"),
                (.init(certificate: pki.path("server.pem"), key: pki.path("absent.key")), "http.tls.key: \(pki.path("absent.key")) does not exist"),
                (.init(certificate: pki.path("text.txt"), key: pki.path("server.key")), "http.tls.certificate: \(pki.path("text.txt")) is not a PEM certificate file"),
                (.init(certificate: pki.path("binary.der"), key: pki.path("server.key")), "\(pki.path("binary.der")) is not a PEM"),
                (.init(certificate: pki.path("server.pem"), key: pki.path("server.pem")), "http.tls.key: \(pki.path("server.pem")) is not a PEM private key file"),
                (.init(certificate: pki.path("server.pem"), key: pki.path("other.key")),
                 "http.tls: the private key in \(pki.path("other.key")) does not match the certificate in \(pki.path("server.pem"))"),
                (.init(certificate: pki.path("server.pem"), key: pki.path("server.key"), clientCAs: [pki.path("text.txt")]),
                 "http.tls.clientcas: \(pki.path("text.txt")) is not a PEM certificate file"),
            ]
            for (tls, message) in cases {
                do {
                    _ = try TLSContextProvider(configuration: tls, http2Enabled: true, logger: Logger(label: "test"))
                    Issue.record("accepted \(tls)")
                } catch {
                    #expect("\(error)".contains(message), "\(error)")
                }
            }
        }
    }

    @Test("a certificate expiring within 30 days logs a warning with the file and date; an expired one logs an error")
    func expiryWarnings() async throws {
        try await TestPKI.with { pki in
            try await pki.makeCertificate("soon", ca: "ca", days: 10)
            let (logger, store) = RecordingLogHandler.logger()
            let provider = try TLSContextProvider(configuration: pki.tls("soon"), http2Enabled: true, logger: logger)
            let warning = store.all.first { $0.0 == .warning }
            #expect(warning?.1.contains("TLS certificate \(pki.path("soon.pem")) expires on ") == true, "\(store.all)")
            #expect(warning?.1.contains("(in 9 days)") == true || warning?.1.contains("(in 10 days)") == true, "\(store.all)")
            provider.checkExpiry(now: provider.certificateNotAfter.addingTimeInterval(86400))
            let error = store.all.first { $0.0 == .error }
            #expect(error?.1.contains("TLS certificate \(pki.path("soon.pem")) expired on ") == true, "\(store.all)")

            let (quietLogger, quiet) = RecordingLogHandler.logger()
            _ = try TLSContextProvider(configuration: pki.tls(), http2Enabled: true, logger: quietLogger)
            #expect(!quiet.all.contains { $0.0 >= .warning }, "a certificate valid for a year warned: \(quiet.all)")
        }
    }
}

/// The error a client with `clientCertificate` (or none) gets for `url`, or `nil` when it gets through.
private func refusalReason(_ pki: TestPKI, clientCertificate: String?, version: TLSVersion, url: String) async -> String? {
    do {
        // AsyncHTTPClient retries a failing connection until its connect timeout: keep that short here.
        _ = try await withHTTPSClient(pki, clientCertificate: clientCertificate, version: version, connectTimeout: .seconds(1)) { client in
            try await client.fetch(url)
        }
        return nil
    } catch {
        return String(reflecting: error)
    }
}

/// Whether an error is the server refusing the handshake (an alert, or the connection closed during it), not a timeout.
private func isHandshakeRefusal(_ error: String) -> Bool {
    ["handshake", "alert", "CERTIFICATE", "certificate", "remoteConnectionClosed", "uncleanShutdown"].contains { error.contains($0) }
}

/// Like `withTLSRegistry`, with the files polled every 0.2 s.
private func withTLSRegistryForReload(_ pki: TestPKI, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withRegistry(live: true, configure: { $0.http.tls = pki.tls() }) { client in
        try await body(try #require(client.port))
    }
}

/// Replaces `path` with a copy of `source` by rename, as renewal tools (certbot, cert-manager) do.
private func replace(_ path: String, with source: String) throws {
    let temporary = path + ".new"
    try? FileManager.default.removeItem(atPath: temporary)
    try FileManager.default.copyItem(atPath: source, toPath: temporary)
    guard rename(temporary, path) == 0 else { throw TestFailure("rename failed") }
}

/// Polls `condition` for up to `seconds`.
private func waitFor(seconds: Double = 5, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
