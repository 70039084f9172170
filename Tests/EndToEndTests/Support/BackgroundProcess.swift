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
        try process.runWithDefaultSignalMask()
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

    /// How a stopped process ended.
    enum StopOutcome: Sendable, Equatable {
        /// It had already exited, with this status, before it was asked to stop.
        case alreadyExited(Int32)
        /// It exited on SIGTERM within the grace period, with this status.
        case terminated(Int32)
        /// It ignored SIGTERM for the whole grace period and was killed.
        case killed
    }

    /// Sends SIGTERM, waits up to `grace` for the exit, then sends SIGKILL and waits again.
    @discardableResult
    func stop(grace: Duration = .seconds(15)) async -> StopOutcome {
        if let status = terminationStatus { return .alreadyExited(status) }
        kill(pid, SIGTERM)
        if await waitForExit(within: grace) { return .terminated(terminationStatus ?? -1) }
        kill(pid, SIGKILL)
        _ = await waitForExit(within: .seconds(5))
        return .killed
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
