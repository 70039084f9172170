import Foundation
import Logging
import RegistryProxy
import ServiceLifecycle

/// Runs ``CacheExpiry`` every `interval` while the registry serves.
struct CacheExpiryService: Service {
    let expiry: CacheExpiry
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                _ = try await expiry.run()
            } catch {
                logger.error("cache expiry failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
