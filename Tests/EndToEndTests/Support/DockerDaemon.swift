import Foundation
import Testing

/// A private Docker Engine (`dockerd` from Debian's docker.io) with its data, exec root, socket and
/// client config in a temporary directory; no iptables, no bridge, vfs storage. 127.0.0.0/8 counts
/// as an insecure registry by default, so plain-HTTP pier needs no flag.
final class DockerDaemon: Sendable, DiagnosticLog {
    /// The daemon of the running suite (set by ``SuiteServiceTrait``).
    @TaskLocal static var current: DockerDaemon?

    let directory: TemporaryDirectory
    let dockerExecutable: String
    /// dockerd's `--exec-root` (runtime state and containerd's sockets).
    let execRoot: String
    private let process: BackgroundProcess

    var logName: String { "dockerd" }

    /// The environment that points the docker CLI at this daemon and a private config directory.
    var environment: [String: String] {
        ["DOCKER_HOST": "unix://\(directory.appending("docker.sock").path)", "DOCKER_CONFIG": directory.appending("config").path]
    }

    private init(directory: TemporaryDirectory, dockerExecutable: String, execRoot: String, process: BackgroundProcess) {
        self.directory = directory
        self.dockerExecutable = dockerExecutable
        self.execRoot = execRoot
        self.process = process
    }

    /// The daemon of the running suite; fails a test outside a `.dockerDaemon` suite.
    static func required() throws -> DockerDaemon {
        try #require(current, "this test needs the .dockerDaemon suite trait")
    }

    /// Starts dockerd and waits until `docker version` reaches it (it starts its own containerd).
    static func start() async throws -> DockerDaemon {
        try await start(registryMirrors: [])
    }

    /// Starts dockerd as ``start()`` does; with `registryMirrors` (such as `http://127.0.0.1:5000`) it gets a
    /// private `daemon.json` (`--config-file`) naming them, and pulls of Docker Hub images go to them first.
    static func start(registryMirrors: [String]) async throws -> DockerDaemon {
        let dockerd = try Tools.path("dockerd", package: "docker.io")
        let docker = try Tools.path("docker", package: "docker.io")
        _ = try Tools.path("runc", package: "runc")
        let directory = try TemporaryDirectory("dockerd")
        // The exec root holds a unix socket path, which must stay under 108 bytes: keep it short.
        let execRoot = "/tmp/pier-e2e-dx-\(UUID().uuidString.prefix(8).lowercased())"
        var configuration: [String] = []
        if !registryMirrors.isEmpty {
            let file = directory.appending("daemon.json")
            try JSONSerialization.data(withJSONObject: ["registry-mirrors": registryMirrors]).write(to: file)
            configuration = ["--config-file", file.path]
        }
        let process = try BackgroundProcess(
            name: "dockerd", executable: dockerd,
            arguments: [
                "--data-root", directory.appending("data").path, "--exec-root", execRoot,
                "--pidfile", directory.appending("dockerd.pid").path, "-H", "unix://\(directory.appending("docker.sock").path)",
                "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                "--storage-driver", "vfs",
            ] + configuration,
            logURL: directory.appending("dockerd.log"))
        let daemon = DockerDaemon(directory: directory, dockerExecutable: docker, execRoot: execRoot, process: process)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning {
            if try await daemon.docker(["version"], timeout: .seconds(10)).succeeded { return daemon }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = process.logTail(lines: 40)
        await daemon.stop()
        throw CommandFailure("dockerd did not come up:\n\(log)")
    }

    /// Runs `docker <arguments>` against this daemon, quoting its and `also` logs on failure.
    func docker(_ arguments: [String], also diagnostics: [any DiagnosticLog] = [], timeout: Duration = .seconds(300)) async throws -> ProcessResult {
        try await ProcessRunner.run(dockerExecutable, arguments, environment: environment, timeout: timeout, diagnostics: diagnostics + [self])
    }

    /// Stops dockerd with SIGTERM (by PID; it stops its containerd too) and removes its directories.
    func stop() async {
        await process.stop(grace: .seconds(30))
        directory.remove()
        try? FileManager.default.removeItem(atPath: execRoot)
    }

    func logTail(lines: Int) -> String { process.logTail(lines: lines) }
}

extension DockerDaemon: SuiteService {
    static func withCurrent(_ service: DockerDaemon, _ body: () async throws -> Void) async throws {
        try await $current.withValue(service) { try await body() }
    }
}

extension Trait where Self == SuiteServiceTrait<DockerDaemon> {
    /// Runs the suite with its own dockerd.
    static var dockerDaemon: Self { SuiteServiceTrait() }
}
