import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A log that a failure message should quote, such as the registry's or a daemon's.
protocol DiagnosticLog: Sendable {
    /// A short name for the log ("pier", "dockerd").
    var logName: String { get }
    /// The last `lines` lines of the log.
    func logTail(lines: Int) -> String
}

/// What a finished command did: its exit status and everything it printed.
struct ProcessResult: Sendable {
    var command: [String]
    /// The exit status, or the signal number when ``signaled`` is true.
    var status: Int32
    /// Whether a signal ended the command (then ``status`` is the signal's number).
    var signaled: Bool
    var timedOut: Bool
    var standardOutputData: Data
    var standardError: String
    var seconds: Double
    /// Logs to quote when this result is reported as a failure.
    var diagnostics: [any DiagnosticLog]

    /// Standard output as UTF-8 text.
    var standardOutput: String { String(decoding: standardOutputData, as: UTF8.self) }

    /// Whether the command exited with status 0 in time.
    var succeeded: Bool { status == 0 && !signaled && !timedOut }

    /// A report for a failure message: the command, its status, its output and the diagnostic logs.
    var summary: String {
        var text = "$ \(command.joined(separator: " "))\n"
        let ending = signaled ? "killed by signal \(status)" : "exit status \(status)"
        text += (timedOut ? "timed out, then " : "") + "\(ending) after \(String(format: "%.1f", seconds)) s\n"
        text += "--- stdout ---\n\(Self.tail(standardOutput, lines: 60))\n--- stderr ---\n\(Self.tail(standardError, lines: 60))"
        for log in diagnostics { text += "\n--- \(log.logName) log (last 40 lines) ---\n\(log.logTail(lines: 40))" }
        return text
    }

    /// Returns self if the command succeeded, and throws a ``CommandFailure`` with the ``summary`` otherwise.
    @discardableResult
    func check() throws -> ProcessResult {
        guard succeeded else { throw CommandFailure(summary) }
        return self
    }

    /// Returns self if the command failed (as a test expects), and throws if it unexpectedly succeeded.
    @discardableResult
    func checkFailed() throws -> ProcessResult {
        guard !succeeded else { throw CommandFailure("expected this command to fail, but it succeeded:\n" + summary) }
        return self
    }

    /// The last `lines` lines of `text`.
    static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// A command exited non-zero or timed out; the description says what it printed.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs commands to completion with a timeout, capturing their output in files (so a chatty command
/// can never block on a full pipe).
enum ProcessRunner {
    /// Runs `executable` with `arguments` and returns what it did; a non-zero exit is not an error here
    /// (call ``ProcessResult/check()``).
    ///
    /// - Parameters:
    ///   - environment: variables added to (or replacing) this process's environment.
    ///   - workingDirectory: the directory to run in (default: this process's).
    ///   - standardInput: a file to read standard input from (default: `/dev/null`).
    ///   - timeout: after this the command gets SIGTERM, and SIGKILL 5 s later.
    ///   - diagnostics: logs that ``ProcessResult/summary`` quotes.
    static func run(
        _ executable: String, _ arguments: [String],
        environment: [String: String] = [:], workingDirectory: URL? = nil, standardInput: URL? = nil,
        timeout: Duration = .seconds(180), diagnostics: [any DiagnosticLog] = []
    ) async throws -> ProcessResult {
        let scratch = FileManager.default.temporaryDirectory.appending(path: "pier-e2e-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let stdoutURL = scratch.appending(path: "stdout"), stderrURL = scratch.appending(path: "stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdoutHandle = try FileHandle(forWritingTo: stdoutURL), stderrHandle = try FileHandle(forWritingTo: stderrURL)
        let stdinHandle = try FileHandle(forReadingFrom: standardInput ?? URL(filePath: "/dev/null"))
        defer { try? stdoutHandle.close(); try? stderrHandle.close(); try? stdinHandle.close() }

        let process = Process()
        process.executableURL = URL(filePath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        process.standardInput = stdinHandle

        let state = Locked(RunState())
        let watchdog = Locked<Task<Void, Never>?>(nil)
        let start = ContinuousClock.now
        let (status, signaled): (Int32, Bool) = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                state.withLock { $0.exited = true }
                continuation.resume(returning: (finished.terminationStatus, finished.terminationReason == .uncaughtSignal))
            }
            do {
                try process.runWithDefaultSignalMask()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: CommandFailure("cannot start \(executable): \(error)"))
                return
            }
            let pid = process.processIdentifier
            watchdog.withLock {
                $0 = Task {
                    // Cancelled when the command ends; then `exited` is set and nothing is killed.
                    try? await Task.sleep(for: timeout)
                    let expired = state.withLock { state in
                        if !state.exited { state.timedOut = true }
                        return !state.exited
                    }
                    guard expired else { return }
                    kill(pid, SIGTERM)
                    try? await Task.sleep(for: .seconds(5))
                    if !state.withLock({ $0.exited }) { kill(pid, SIGKILL) }
                }
            }
        }
        watchdog.withLock { $0?.cancel() }
        let elapsed = ContinuousClock.now - start
        return ProcessResult(
            command: [executable] + arguments, status: status, signaled: signaled, timedOut: state.withLock { $0.timedOut },
            standardOutputData: (try? Data(contentsOf: stdoutURL)) ?? Data(),
            standardError: String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            diagnostics: diagnostics)
    }

    private struct RunState: Sendable {
        var exited = false
        var timedOut = false
    }
}

extension Process {
    /// Starts the process with no signals blocked.
    ///
    /// A child inherits the signal mask of the thread that spawns it, and Swift concurrency runs on
    /// libdispatch worker threads, which block nearly every signal (SIGTERM included). Started from
    /// such a thread, `sleep 30` ignored our SIGTERM and a daemon would ignore its stop signal; so the
    /// mask is cleared for the moment of the spawn and restored right after, on the same thread.
    func runWithDefaultSignalMask() throws {
        var empty = sigset_t(), saved = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try run()
    }
}
