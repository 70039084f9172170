import Foundation
import Logging
import RegistryCore
import ServiceLifecycle
import UnixSignals

/// Watches the TLS files while the registry serves: polls them every `http.tls.reloadinterval`, reloads on SIGHUP,
/// and repeats the expiry check once a day, so a certificate nobody renews is not noticed only when clients fail.
struct TLSReloadService: Service {
    let contexts: TLSContextProvider
    /// `nil` turns polling off.
    let interval: Duration?
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        logger.notice("SIGHUP: reloading the TLS certificate")
                        await runBlocking { contexts.reload() }
                    }
                }
                group.addTask { await poll() }
            }
        }
    }

    private func poll() async {
        let clock = ContinuousClock()
        var lastExpiryCheck = clock.now
        let tick = interval ?? .seconds(3600)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: tick)
            } catch {
                return
            }
            // Reading and parsing the files blocks; the service's task runs on an event loop.
            if interval != nil { await runBlocking { contexts.reloadIfChanged() } }
            if clock.now - lastExpiryCheck >= .seconds(86400) {
                lastExpiryCheck = clock.now
                await runBlocking { contexts.checkExpiry() }
            }
        }
    }
}
