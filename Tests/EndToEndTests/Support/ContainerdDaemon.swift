import Foundation
import Testing

/// A private containerd daemon (own root, state and socket in a temporary directory, CRI plugin off),
/// driven with `ctr -a <socket>`.
final class ContainerdDaemon: Sendable, DiagnosticLog {
    /// The daemon of the running suite (set by ``SuiteServiceTrait``).
    @TaskLocal static var current: ContainerdDaemon?

    let directory: TemporaryDirectory
    let socket: String
    let ctrExecutable: String
    private let process: BackgroundProcess

    var logName: String { "containerd" }

    private init(directory: TemporaryDirectory, socket: String, ctrExecutable: String, process: BackgroundProcess) {
        self.directory = directory
        self.socket = socket
        self.ctrExecutable = ctrExecutable
        self.process = process
    }

    /// The daemon of the running suite; fails a test outside a `.containerdDaemon` suite.
    static func required() throws -> ContainerdDaemon {
        try #require(current, "this test needs the .containerdDaemon suite trait")
    }

    /// Writes a config and starts `containerd --config`, waiting until `ctr version` reaches it.
    static func start() async throws -> ContainerdDaemon {
        let containerd = try Tools.path("containerd", package: "containerd")
        let ctr = try Tools.path("ctr", package: "containerd")
        _ = try Tools.path("runc", package: "runc")
        let directory = try TemporaryDirectory("containerd")
        let socket = directory.appending("sock").path
        let config = """
            version = 2
            root = "\(directory.appending("root").path)"
            state = "\(directory.appending("state").path)"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [ttrpc]
              address = "\(socket).ttrpc"
            """
        try Data(config.utf8).write(to: directory.appending("config.toml"))
        let process = try BackgroundProcess(
            name: "containerd", executable: containerd, arguments: ["--config", directory.appending("config.toml").path],
            logURL: directory.appending("containerd.log"))
        let daemon = ContainerdDaemon(directory: directory, socket: socket, ctrExecutable: ctr, process: process)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, process.isRunning {
            if try await ProcessRunner.run(ctr, ["-a", socket, "version"], timeout: .seconds(10)).succeeded { return daemon }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = process.logTail(lines: 40)
        await daemon.stop()
        throw CommandFailure("containerd did not come up on \(socket):\n\(log)")
    }

    /// Runs `ctr -a <socket> <arguments>`, quoting this daemon's and `also` logs on failure.
    func ctr(_ arguments: [String], also diagnostics: [any DiagnosticLog] = []) async throws -> ProcessResult {
        try await ProcessRunner.run(ctrExecutable, ["-a", socket] + arguments, timeout: .seconds(300), diagnostics: diagnostics + [self])
    }

    /// Stops the daemon with SIGTERM (by PID) and removes its directory.
    func stop() async {
        await process.stop()
        directory.remove()
    }

    func logTail(lines: Int) -> String { process.logTail(lines: lines) }
}

extension ContainerdDaemon: SuiteService {
    static func withCurrent(_ service: ContainerdDaemon, _ body: () async throws -> Void) async throws {
        try await $current.withValue(service) { try await body() }
    }
}

extension Trait where Self == SuiteServiceTrait<ContainerdDaemon> {
    /// Runs the suite with its own containerd daemon.
    static var containerdDaemon: Self { SuiteServiceTrait() }
}
