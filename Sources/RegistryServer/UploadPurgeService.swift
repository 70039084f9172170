import Foundation
import Logging
import RegistryConfig
import RegistryStorage
import ServiceLifecycle

/// Removes upload sessions idle longer than `uploadpurging.age`, every `uploadpurging.interval`
/// (Distribution's `storage.maintenance.uploadpurging`).
struct UploadPurgeService: Service {
    let collector: GarbageCollector
    let metadata: any MetadataStore
    let settings: Configuration.UploadPurging
    let logger: Logger

    func run() async throws {
        // The first pass waits a little, so start-up is not slowed by it.
        var delay = min(settings.interval, 60)
        while !Task.isShuttingDownGracefully {
            do {
                try await gracefulSleep(seconds: delay)
            } catch {
                return
            }
            delay = settings.interval
            do {
                let stale = try await metadata.uploads(updatedBefore: .init(timeIntervalSinceNow: -settings.age), limit: 10_000)
                if stale.isEmpty { continue }
                if settings.dryRun {
                    logger.info("upload purging (dry run) would remove sessions", metadata: ["count": "\(stale.count)"])
                    continue
                }
                let report = try await collector.purgeUploads(olderThan: settings.age)
                logger.info("purged abandoned uploads", metadata: ["count": "\(report)"])
            } catch {
                logger.error("upload purging failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func gracefulSleep(seconds: Double) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .seconds(seconds))
        }
    }
}
