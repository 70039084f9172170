import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A long-running process (the registry, a daemon) with its output in a log file. It is stopped by
/// its PID only, never by name.
final class BackgroundProcess: Sendable, DiagnosticLog {
    let logName: String
    /// Standard output and standard error, interleaved.
    let logURL: URL
    let pid: Int32
    private let exitStatus: Locked<Int32?>
    // Held so Foundation keeps watching the child for its exit.
    private let process: Process

    /// Starts `executable`, appending its output to `logURL`.
    init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], logURL: URL) throws {
        logName = name
        self.logURL = logURL
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let status = Locked<Int32?>(nil)
        exitStatus = status
        process.terminationHandler = { finished in status.withLock { $0 = finished.terminationStatus } }
        try process.run()
        self.process = process
        pid = process.processIdentifier
    }

    /// Whether the process is still running.
    var isRunning: Bool { exitStatus.withLock { $0 == nil } }

    /// The exit status, once it has exited.
    var terminationStatus: Int32? { exitStatus.withLock { $0 } }

    /// The whole log.
    func logText() -> String { String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self) }

    func logTail(lines: Int) -> String { ProcessResult.tail(logText(), lines: lines) }

    /// Sends SIGTERM, waits up to `grace` for the exit, then sends SIGKILL and waits again.
    func stop(grace: Duration = .seconds(15)) async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if await waitForExit(within: grace) { return }
        kill(pid, SIGKILL)
        _ = await waitForExit(within: .seconds(5))
    }

    /// Polls until the process exits; returns whether it did within `limit`.
    func waitForExit(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while isRunning {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }
}
