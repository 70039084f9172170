import Foundation

/// A Docker-Hub-like token server (`tools/mirror-test/token-server.py`, Python standard library and the
/// `openssl` CLI) on a free port of 127.0.0.1: it issues the RS256 JWTs that the reference registry's
/// `auth.token` accepts, and logs every token request so a test can count them.
///
/// Policy: with right basic credentials, pull and push on every repository; anonymously, pull on every
/// repository except those under `private/`; wrong credentials are refused with 401.
final class TokenServer: Sendable, DiagnosticLog {
    /// The `service` the tokens are for (the reference registry's `auth.token.service`).
    static let service = "pier-e2e-registry"
    /// The `iss` of the tokens (the reference registry's `auth.token.issuer`).
    static let issuer = "pier-e2e-token-issuer"

    let host: String
    let directory: TemporaryDirectory
    private let process: BackgroundProcess

    var logName: String { "token-server" }

    /// The token endpoint, the `realm` of the registry's challenges.
    var realm: String { "http://\(host)/token" }

    /// The certificate that signs the tokens, to give the registry as `rootcertbundle`.
    var certificate: String { directory.appending("cert.pem").path }

    /// How the reference registry is configured to trust this server.
    var authentication: ReferenceRegistry.Authentication {
        .token(realm: realm, service: Self.service, issuer: Self.issuer, rootCertificateBundle: certificate)
    }

    private init(host: String, directory: TemporaryDirectory, process: BackgroundProcess) {
        self.host = host
        self.directory = directory
        self.process = process
    }

    /// The helper script, found from this file's place in the repository.
    static let script = URL(filePath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "tools/mirror-test/token-server.py")

    /// Starts the server with `users` (`name:password`) and waits until its key and certificate are
    /// written and `GET /health` answers.
    static func start(users: [String]) async throws -> TokenServer {
        let python = try Tools.path("python3", package: "python3")
        _ = try Tools.path("openssl", package: "openssl")
        guard FileManager.default.fileExists(atPath: script.path) else { throw MissingTool("\(script.path) is missing") }
        let directory = try TemporaryDirectory("token")
        let host = "127.0.0.1:\(try FreePort.find())"
        let process = try BackgroundProcess(
            name: "token-server", executable: python,
            arguments: [script.path, "--dir", directory.path, "--addr", host, "--issuer", issuer, "--service", service]
                + users.flatMap { ["--user", $0] },
            logURL: directory.appending("token-server.log"))
        let server = TokenServer(host: host, directory: directory, process: process)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning {
            if let response = try? await HTTPClient.send("GET", URL(string: "http://\(host)/health")!), response.status == 200 {
                return server
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = process.logTail(lines: 30)
        await server.stop()
        throw CommandFailure("the token server did not start on \(host):\n\(log)")
    }

    /// One request for a token, as the server logged it.
    struct TokenRequest: Sendable, CustomStringConvertible {
        /// The requested scopes, space-separated (`repository:private/app:pull`).
        var scope: String
        /// The authenticated user, empty when anonymous.
        var user: String
        var status: Int
        var userAgent: String

        var description: String { "scope=\(scope) user=\(user.isEmpty ? "-" : user) → \(status) (\(userAgent))" }
    }

    /// The token requests so far, in order.
    func requests() -> [TokenRequest] {
        process.logText().split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["event"] as? String == "token"
            else { return nil }
            return TokenRequest(
                scope: object["scope"] as? String ?? "", user: object["user"] as? String ?? "",
                status: object["status"] as? Int ?? 0, userAgent: object["agent"] as? String ?? "")
        }
    }

    /// Stops the server with SIGTERM (by PID) and removes its directory.
    func stop() async {
        await process.stop()
        directory.remove()
    }

    func logTail(lines: Int) -> String { process.logTail(lines: lines) }
}
