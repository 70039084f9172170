import Foundation
import Testing

/// A `pier serve` process on 127.0.0.1 with a fresh data directory, for one suite or one test.
final class PierServer: Sendable, DiagnosticLog {
    /// The server of the suite that is running (set by the ``PierServerTrait``).
    @TaskLocal static var current: PierServer?

    /// `127.0.0.1:<port>`, the registry host clients are given.
    let host: String
    /// The temporary directory holding the data root (`data/`) and the log (`pier.log`).
    let directory: TemporaryDirectory
    private let process: BackgroundProcess

    var logName: String { "pier" }

    /// The data root given as `--root` (for `pier gc --root`).
    var dataRoot: URL { directory.appending("data") }

    /// The registry API at this server, for direct checks.
    var api: RegistryAPI { RegistryAPI(host: host) }

    private init(host: String, directory: TemporaryDirectory, process: BackgroundProcess) {
        self.host = host
        self.directory = directory
        self.process = process
    }

    /// The server of the running suite; a test that runs outside a `.pierServer` suite fails here.
    static func required() throws -> PierServer {
        try #require(current, "this test needs the .pierServer suite trait")
    }

    /// Starts `pier serve --root <tmp>/data --addr 127.0.0.1:<free port>` and waits until
    /// `GET /healthz` answers 200. Retries with another port if the chosen one was taken meanwhile.
    /// - Parameters:
    ///   - config: the text of a `config.yml` to serve with (root and address still come from the flags).
    ///   - httpsCurlOptions: when the config serves TLS, the `curl` options (`--cacert`, `--cert`, …) that reach
    ///     `https://<host>/healthz`; readiness is then checked with curl instead of plain HTTP.
    static func start(label: String, config: String? = nil, httpsCurlOptions: [String]? = nil) async throws -> PierServer {
        let binary = try EndToEnd.pierBinary()
        var failures: [String] = []
        for _ in 0..<3 {
            let directory = try TemporaryDirectory("pier-\(label)")
            let host = "127.0.0.1:\(try FreePort.find())"
            var arguments = ["serve", "--root", directory.appending("data").path, "--addr", host, "--log-level", "info"]
            if let config {
                try Data(config.utf8).write(to: directory.appending("config.yml"))
                arguments.insert(directory.appending("config.yml").path, at: 1)
            }
            let process = try BackgroundProcess(
                name: "pier", executable: binary.path,
                arguments: arguments,
                logURL: directory.appending("pier.log"))
            let server = PierServer(host: host, directory: directory, process: process)
            if try await server.waitUntilReady(timeout: .seconds(30), httpsCurlOptions: httpsCurlOptions) { return server }
            let status = process.terminationStatus.map(String.init) ?? "?"
            failures.append("pier on \(host) exited with status \(status):\n\(process.logTail(lines: 30))")
            await server.stop()
        }
        throw CommandFailure("pier did not start:\n" + failures.joined(separator: "\n"))
    }

    /// Polls `GET /healthz` until it answers 200; false if the process exits first, throws on timeout.
    private func waitUntilReady(timeout: Duration, httpsCurlOptions: [String]?) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { return false }
            if let options = httpsCurlOptions {
                let curl = try Tools.path("curl", package: "curl")
                if try await ProcessRunner.run(curl, ["-sf", "-o", "/dev/null"] + options + ["https://\(host)/healthz"], timeout: .seconds(10)).succeeded {
                    return true
                }
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            // /healthz answers without credentials; URLSession on Linux hangs on the Basic challenge /v2/ gives with auth.
            if let response = try? await api.send("GET", "/healthz"), response.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = logTail(lines: 40)
        await stop()
        throw CommandFailure("pier on \(host) did not answer GET /healthz with 200 within \(timeout):\n\(log)")
    }

    /// Stops the server with SIGTERM (by PID) and removes its directory.
    @discardableResult
    func stop() async -> BackgroundProcess.StopOutcome {
        let outcome = await process.stop()
        directory.remove()
        return outcome
    }

    /// Whether the process is still running (a crash shows up here).
    var isRunning: Bool { process.isRunning }

    func logTail(lines: Int) -> String { process.logTail(lines: lines) }

    /// The access-log lines written so far, one per request.
    func accessLog() -> [AccessLogEntry] {
        process.logText().split(separator: "\n").compactMap { AccessLogEntry(line: String($0)) }
    }
}

/// One line of pier's text access log (`… pier.access: request bytes=… method=… path=… status=… user_agent=…`).
struct AccessLogEntry: Sendable, CustomStringConvertible {
    var method: String
    /// The request path, without the query string.
    var path: String
    var status: Int
    var userAgent: String

    /// Parses a line, or returns nil for lines that are not access-log lines.
    init?(line: String) {
        guard line.contains(" pier.access: request ") else { return nil }
        func field(_ key: String) -> String? {
            guard let range = line.range(of: " \(key)=") else { return nil }
            let rest = line[range.upperBound...]
            return String(rest.prefix { $0 != " " })
        }
        guard let method = field("method"), let path = field("path"), let status = field("status").flatMap({ Int($0) }) else {
            return nil
        }
        self.method = method
        self.path = path
        self.status = status
        userAgent = line.range(of: " user_agent=").map { String(line[$0.upperBound...]) } ?? "-"
    }

    var description: String { "\(method) \(path) → \(status) (\(userAgent))" }
}

/// Runs a whole suite against one ``PierServer``, started before its first test and stopped after
/// its last; tests read it with ``PierServer/required()``.
struct PierServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> PierServerTrait? {
        test.isSuite ? self : nil
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await PierServer.start(label: test.name.lowercased().filter { $0.isLetter || $0.isNumber })
        do {
            try await PierServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        let log = server.logTail(lines: 40)
        // pier must survive the suite, and shut down cleanly on SIGTERM.
        switch await server.stop() {
        case .terminated(0): break
        case let .alreadyExited(status): throw CommandFailure("pier exited during the suite with status \(status):\n\(log)")
        case let .terminated(status): throw CommandFailure("pier exited with status \(status) on SIGTERM:\n\(log)")
        case .killed: throw CommandFailure("pier ignored SIGTERM for 15 s and was killed:\n\(log)")
        }
    }
}

extension Trait where Self == PierServerTrait {
    /// Runs the suite against its own `pier serve` process (see ``PierServerTrait``).
    static var pierServer: Self { PierServerTrait() }
}
