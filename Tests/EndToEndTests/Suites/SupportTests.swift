import Foundation
import Testing

/// The helpers the end-to-end suites stand on; these need only `/bin/sh` and run on every `swift test`.
@Suite("End-to-end helpers")
struct SupportTests {
    @Test("a command's exit status, standard output and standard error are captured")
    func capturesOutput() async throws {
        let result = try await ProcessRunner.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.standardOutput == "out\n")
        #expect(result.standardError == "err\n")
        #expect(!result.succeeded)
        #expect(throws: CommandFailure.self) { try result.check() }
    }

    @Test("megabytes of output do not block the command")
    func largeOutput() async throws {
        let result = try await ProcessRunner.run("/bin/sh", ["-c", "head -c 3000000 /dev/zero"], timeout: .seconds(60)).check()
        #expect(result.standardOutputData.count == 3_000_000)
    }

    @Test("a command that outlives its timeout is killed and reported as timed out")
    func timeout() async throws {
        let start = ContinuousClock.now
        let result = try await ProcessRunner.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(result.signaled && result.status == SIGTERM, "SIGTERM ends it (SIGKILL would be \(SIGKILL)): \(result.summary)")
        #expect(ContinuousClock.now - start < .seconds(25))
        #expect(result.summary.contains("timed out"))
    }

    @Test("environment and working directory reach the command")
    func environmentAndDirectory() async throws {
        try await TemporaryDirectory.with("support") { directory in
            let result = try await ProcessRunner.run(
                "/bin/sh", ["-c", "printf '%s %s' \"$PIER_E2E_PROBE\" \"$(pwd -P)\""],
                environment: ["PIER_E2E_PROBE": "probe"], workingDirectory: directory.url
            ).check()
            #expect(result.standardOutput == "probe \(directory.url.resolvingSymlinksInPath().path)")
        }
    }

    @Test("children start with no signals blocked, even from a concurrency worker thread",
          .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status")))
    func signalMask() async throws {
        let result = try await ProcessRunner.run("/bin/sh", ["-c", "exec grep SigBlk /proc/self/status"]).check()
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "SigBlk:\t0000000000000000")
    }

    @Test("a free port can be bound on 127.0.0.1")
    func freePort() throws {
        let port = try FreePort.find()
        #expect((1024...65535).contains(port))
    }

    @Test("access-log lines are parsed; other lines are not")
    func accessLogLines() throws {
        let line = "2026-11-30T13:01:41.098 info pier.access: request bytes=0 duration_ms=1.037 method=POST "
            + "path=/v2/s/copied/blobs/uploads/ remote=127.0.0.1 status=201 user_agent=docker/20.10 go/go1.19.8 (linux)"
        let entry = try #require(AccessLogEntry(line: line))
        #expect(entry.method == "POST")
        #expect(entry.path == "/v2/s/copied/blobs/uploads/")
        #expect(entry.status == 201)
        #expect(entry.userAgent == "docker/20.10 go/go1.19.8 (linux)")
        #expect(AccessLogEntry(line: "2026-11-30T13:01:41.098 info pier: listening on 127.0.0.1:5000") == nil)
    }
}
