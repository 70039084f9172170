import Foundation
import Testing

/// `pier serve` and `pier gc` with numbers too large for any clock: an error naming the setting and a non-zero exit,
/// never a trap (`proxy: {ttl: 9999999999999h}` once stopped the process with SIGILL at start-up).
@Suite("Out-of-range settings", .enabled(if: EndToEnd.isEnabled))
struct ConfigurationErrorTests {
    @Test("a huge ttl in the file or the environment stops pier serve with the key and where it was set")
    func hugeTTL() async throws {
        try await TemporaryDirectory.with("huge-ttl") { directory in
            let config = directory.appending("config.yml")
            try Data("proxy:\n  remoteurl: https://registry.example\n  ttl: 9999999999999h\n".utf8).write(to: config)
            let pier = try EndToEnd.pierBinary().path
            let fromFile = try await ProcessRunner.run(
                pier, ["serve", config.path, "--root", directory.appending("root").path, "--addr", "127.0.0.1:0"], timeout: .seconds(60)
            ).checkFailed()
            #expect(!fromFile.signaled && !fromFile.timedOut, "\(fromFile.summary)")
            #expect(fromFile.standardError.contains("line 3: 'proxy.ttl' must be at most 876000h"), "\(fromFile.summary)")

            let fromEnvironment = try await ProcessRunner.run(
                pier, ["serve", "--root", directory.appending("root").path, "--addr", "127.0.0.1:0"],
                environment: ["REGISTRY_PROXY_REMOTEURL": "https://registry.example", "REGISTRY_HTTP_TIMEOUTS_IDLE": "1" + String(repeating: "0", count: 400) + "s"],
                timeout: .seconds(60)
            ).checkFailed()
            #expect(!fromEnvironment.signaled && !fromEnvironment.timedOut, "\(fromEnvironment.summary)")
            #expect(fromEnvironment.standardError.contains("environment REGISTRY_HTTP_TIMEOUTS_IDLE: 'http.timeouts.idle' must be at most"),
                    "\(fromEnvironment.summary)")

            let gc = try await ProcessRunner.run(
                pier, ["gc", "--root", directory.appending("root").path, "--grace", "9999999999999h"], timeout: .seconds(60)
            ).checkFailed()
            #expect(!gc.signaled && gc.standardError.contains("--grace"), "\(gc.summary)")
        }
    }
}
