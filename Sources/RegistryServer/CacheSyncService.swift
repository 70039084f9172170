import Foundation
import Logging
import RegistryProxy
import ServiceLifecycle

/// Runs a ``CacheSync`` rule every `interval` (the first run shortly after start-up).
struct CacheSyncService: Service {
    let sync: CacheSync
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var delay: Duration = .seconds(30)
        while !Task.isShuttingDownGracefully {
            let wait = delay
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch {
                return
            }
            delay = interval
            _ = await sync.run()
        }
    }
}
