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

    /// Starts `docker-registry serve`; with `upstream` it is a pull-through cache of that registry.
    ///
    /// Distribution pings its upstream at start-up and panics if it does not answer, so start the
    /// upstream first.
    static func start(proxying upstream: String? = nil) async throws -> ReferenceRegistry {
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
        try Data(config.utf8).write(to: directory.appending("config.yml"))
        let process = try BackgroundProcess(
            name: "docker-registry", executable: executable, arguments: ["serve", directory.appending("config.yml").path],
            logURL: directory.appending("registry.log"))
        let registry = ReferenceRegistry(host: host, directory: directory, process: process)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, process.isRunning {
            if let response = try? await registry.api.send("GET", "/v2/"), response.status == 200 { return registry }
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
}
