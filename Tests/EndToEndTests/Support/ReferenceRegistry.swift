import Foundation

/// The reference registry (CNCF Distribution 2.8.2, Debian's `docker-registry`) on a free port of
/// 127.0.0.1, with filesystem storage in a temporary directory: a comparison for pier, or a
/// pull-through cache in front of it.
final class ReferenceRegistry: Sendable, DiagnosticLog {
    let host: String
    let directory: TemporaryDirectory
    private let process: BackgroundProcess

    var logName: String { "docker-registry" }

    /// The registry API at this server.
    var api: RegistryAPI { RegistryAPI(host: host) }

    private init(host: String, directory: TemporaryDirectory, process: BackgroundProcess) {
        self.host = host
        self.directory = directory
        self.process = process
    }

    /// How the reference registry authenticates clients.
    enum Authentication: Sendable {
        /// Basic authentication against an htpasswd file of bcrypt hashes (`htpasswd -B`).
        case htpasswd(path: String)
        /// Distribution's bearer tokens: clients fetch a JWT from `realm`, which must be signed by a
        /// certificate of `rootCertificateBundle` and name `issuer` and `service`.
        case token(realm: String, service: String, issuer: String, rootCertificateBundle: String)

        /// The `auth:` block of the config file.
        var configuration: String {
            switch self {
            case let .htpasswd(path):
                return "auth:\n  htpasswd:\n    realm: pier-e2e\n    path: \(path)\n"
            case let .token(realm, service, issuer, bundle):
                return "auth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(bundle)\n"
            }
        }
    }

    /// Starts `docker-registry serve`; with `upstream` it is a pull-through cache of that registry,
    /// with `authentication` it refuses anonymous requests to `/v2/`. Do not send requests that it will
    /// answer with a Basic challenge through ``HTTPClient`` (URLSession on Linux hangs on them): use curl.
    ///
    /// Distribution pings its upstream at start-up and panics if it does not answer, so start the
    /// upstream first.
    static func start(proxying upstream: String? = nil, authentication: Authentication? = nil) async throws -> ReferenceRegistry {
        let executable = try Tools.path("docker-registry", package: "docker-registry")
        let directory = try TemporaryDirectory("distribution")
        let host = "127.0.0.1:\(try FreePort.find())"
        var config = """
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: \(directory.appending("data").path)
              delete:
                enabled: true
            http:
              addr: \(host)

            """
        if let upstream { config += "proxy:\n  remoteurl: http://\(upstream)\n" }
        if let authentication { config += authentication.configuration }
        try Data(config.utf8).write(to: directory.appending("config.yml"))
        let process = try BackgroundProcess(
            name: "docker-registry", executable: executable, arguments: ["serve", directory.appending("config.yml").path],
            logURL: directory.appending("registry.log"))
        let registry = ReferenceRegistry(host: host, directory: directory, process: process)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, process.isRunning {
            // Why `/` with authentication: Foundation's URLSession on Linux never completes a request answered by
            // a 401 with a Basic challenge (it hangs, or crashes when a delegate declines the challenge), and
            // Distribution answers `/` with 200 without authentication.
            if let response = try? await registry.api.send("GET", authentication == nil ? "/v2/" : "/"), response.status == 200 {
                return registry
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = process.logTail(lines: 30)
        await registry.stop()
        throw CommandFailure("docker-registry did not start on \(host):\n\(log)")
    }

    /// Runs `body` with a fresh reference registry and stops it afterwards.
    static func with<T>(proxying upstream: String? = nil, _ body: (ReferenceRegistry) async throws -> T) async throws -> T {
        let registry = try await start(proxying: upstream)
        do {
            let result = try await body(registry)
            await registry.stop()
            return result
        } catch {
            await registry.stop()
            throw error
        }
    }

    /// Stops the registry with SIGTERM (by PID) and removes its directory.
    func stop() async {
        await process.stop()
        directory.remove()
    }

    func logTail(lines: Int) -> String { process.logTail(lines: lines) }

    /// The requests served so far, from the access-log lines Distribution writes at level info.
    func requests() -> [ReferenceRequest] {
        process.logText().split(separator: "\n").compactMap { ReferenceRequest(line: String($0)) }
    }
}

/// One line of Distribution's combined access log:
/// `127.0.0.1 - - [30/Nov/2026:16:01:23 +0000] "GET /v2/x/blobs/sha256:… HTTP/1.1" 200 110 "" "curl/7.88.1"`.
struct ReferenceRequest: Sendable, CustomStringConvertible {
    var method: String
    /// The request path, without the query string.
    var path: String
    var status: Int
    var userAgent: String

    /// Parses a line, or returns nil for the other (logfmt) lines of the log.
    init?(line: String) {
        guard !line.hasPrefix("time="), let open = line.firstIndex(of: "\"") else { return nil }
        let afterOpen = line.index(after: open)
        guard let close = line[afterOpen...].firstIndex(of: "\"") else { return nil }
        let request = line[afterOpen..<close].split(separator: " ")
        let rest = line[line.index(after: close)...].split(separator: " ", maxSplits: 2)
        guard request.count == 3, request[2].hasPrefix("HTTP/"), rest.count >= 1, let status = Int(rest[0]) else { return nil }
        method = String(request[0])
        path = String(request[1].prefix { $0 != "?" })
        self.status = status
        // The last quoted field is the User-Agent.
        let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
        userAgent = quoted.count >= 2 ? String(quoted[quoted.count - 2]) : "-"
    }

    var description: String { "\(method) \(path) → \(status) (\(userAgent))" }
}
