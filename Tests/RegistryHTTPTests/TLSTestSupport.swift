import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import RegistryConfig
import Synchronization

/// A command's exit status and output.
struct CommandResult {
    var status: Int32
    var output: String
    var error: String
    var all: String { output + error }
}

/// Runs a program to completion, its output collected through files (no pipe can fill up and stall it). Waits
/// without blocking a thread: the server under test answers on Swift concurrency's few threads.
@discardableResult
func runCommand(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pier-cmd-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("out"), err = directory.appendingPathComponent("err"), inp = directory.appendingPathComponent("in")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    _ = FileManager.default.createFile(atPath: inp.path, contents: Data((input ?? "").utf8))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = try FileHandle(forReadingFrom: inp)
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        process.terminationHandler = { _ in continuation.resume() }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    return CommandResult(
        status: process.terminationStatus,
        output: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        error: (try? String(contentsOf: err, encoding: .utf8)) ?? ""
    )
}

/// Certificates made with the `openssl` command for one test: a CA, server certificates for 127.0.0.1 signed by
/// it, and client certificates.
struct TestPKI {
    let directory: String

    func path(_ name: String) -> String { directory + "/" + name }

    @discardableResult
    private func openssl(_ arguments: [String]) async throws -> CommandResult {
        let result = try await runCommand(["openssl"] + arguments)
        guard result.status == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")) failed: \(result.error)") }
        return result
    }

    /// A self-signed CA: `<name>.pem`, `<name>.key`.
    func makeCA(_ name: String) async throws {
        try await openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
            "-subj", "/CN=Pier test \(name)", "-keyout", path("\(name).key"), "-out", path("\(name).pem"),
        ])
    }

    /// A certificate signed by `ca`: `<name>.pem`, `<name>.key`. Server certificates name 127.0.0.1 and localhost.
    func makeCertificate(_ name: String, ca: String, client: Bool = false, days: Int = 365, rsa: Bool = true) async throws {
        let keyArguments = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        try await openssl(["req", "-new", "-nodes"] + keyArguments + ["-subj", "/CN=\(name)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        let extensions = client ? "extendedKeyUsage=clientAuth\n" : "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try await openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
            "-set_serial", "\(UInt32.random(in: 1...UInt32.max))", "-days", "\(days)", "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
        ])
    }

    /// The SHA-256 fingerprint of a certificate file, lower-case hex without colons.
    func fingerprint(_ name: String) async throws -> String {
        let output = try await openssl(["x509", "-in", path("\(name).pem"), "-noout", "-fingerprint", "-sha256"]).output
        return Self.normalizeFingerprint(output)
    }

    static func normalizeFingerprint(_ output: String) -> String {
        guard let equals = output.firstIndex(of: "=") else { return "" }
        return output[output.index(after: equals)...].filter { $0 != ":" && !$0.isWhitespace }.lowercased()
    }

    /// The fingerprint of the certificate a server on `port` presents to a new connection.
    static func servedFingerprint(port: Int) async throws -> String {
        let handshake = try await runCommand(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost"], input: "")
        guard let begin = handshake.output.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = handshake.output.range(of: "-----END CERTIFICATE-----") else { return "" }
        let pem = String(handshake.output[begin.lowerBound..<end.upperBound]) + "\n"
        return normalizeFingerprint(try await runCommand(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input: pem).output)
    }

    /// `Configuration.TLS` for the server certificate `name`.
    func tls(_ name: String = "server", clientCAs: [String] = []) -> Configuration.TLS {
        var tls = Configuration.TLS(certificate: path("\(name).pem"), key: path("\(name).key"), clientCAs: clientCAs.map { path("\($0).pem") })
        tls.reloadInterval = 0.2
        return tls
    }

    /// Runs `body` with a fresh directory and a CA named `ca` with a server certificate `server`.
    static func with<T>(_ body: (TestPKI) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pier-pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pki = TestPKI(directory: directory)
        try await pki.makeCA("ca")
        try await pki.makeCertificate("server", ca: "ca")
        return try await body(pki)
    }
}

/// An AsyncHTTPClient that trusts `pki`'s CA, for the length of `body`.
func withHTTPSClient<T>(
    _ pki: TestPKI, clientCertificate: String? = nil, version: TLSVersion? = nil, http1Only: Bool = false,
    connectTimeout: TimeAmount = .seconds(5), _ body: (HTTPClient) async throws -> T
) async throws -> T {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.path("ca.pem")))
    if let version {
        tls.minimumTLSVersion = version
        tls.maximumTLSVersion = version
    }
    if let clientCertificate {
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(pki.path("\(clientCertificate).pem")).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: pki.path("\(clientCertificate).key"), format: .pem))
    }
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    if http1Only { configuration.httpVersion = .http1Only }
    configuration.timeout = .init(connect: connectTimeout, read: .seconds(30))
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

extension HTTPClient {
    /// Sends a request and collects the response body (up to 64 MiB).
    func fetch(_ url: String, method: HTTPMethod = .GET, body: [UInt8]? = nil) async throws -> (HTTPClientResponse, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return (response, Array(bytes.readableBytesView))
    }
}

/// A log handler that keeps every message, for asserting what was logged.
struct RecordingLogHandler: LogHandler {
    final class Store: Sendable {
        let entries = Mutex<[(Logger.Level, String)]>([])
        var all: [(Logger.Level, String)] { entries.withLock { $0 } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.entries.withLock { $0.append((event.level, event.message.description)) }
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "pier.test.recording") { _ in RecordingLogHandler(store: store) }, store)
    }
}

/// Sends `request` on a fresh TCP connection and reads until the server closes it (or `timeout`).
/// - Returns: what arrived, and whether the server closed the connection.
func rawExchangeUntilClose(port: Int, request: String, timeout: TimeInterval = 3) throws -> (String, closed: Bool) {
    let fd = try connectLoopback(port: port)
    defer { close(fd) }
    var timeoutValue = timeval(tv_sec: Int(timeout), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeoutValue, socklen_t(MemoryLayout<timeval>.size))
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count == 0 { return (String(decoding: received, as: UTF8.self), true) }
        if count < 0 { return (String(decoding: received, as: UTF8.self), false) }
        received += buffer[0..<count]
    }
}
