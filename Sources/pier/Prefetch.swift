import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import RegistryConfig
import RegistryCore
import RegistryProxy
import RegistryServer
import RegistryStorage
import Synchronization

/// `pier prefetch`: fills the pull-through cache with images, without a client pulling them.
struct Prefetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch images from mirrored upstreams into the cache (safe while the registry runs).",
        discussion: """
            Images are named as clients name them: docker.io/library/alpine:3.20, ghcr.io/org/app@sha256:…, or \
            alpine:3.20 for the default upstream (proxy.remoteurl). The configuration's proxy and mirrors sections \
            say which upstreams exist.
            """
    )

    @Option(help: "A Distribution-style config.yml with the proxy/mirrors sections (REGISTRY_* variables override it).")
    var config: String?

    @Option(help: "The data directory (overrides storage.filesystem.rootdirectory; default ./pier-data).")
    var root: String?

    @Option(help: "Only these platforms of a multi-platform image, e.g. linux/amd64 (repeatable; default: all).")
    var platform: [String] = []

    @Flag(help: "Also fetch each image's referrers (signatures, SBOMs, attestations), and theirs.")
    var referrers = false

    @Option(help: "Log level: error, warn, info, debug.")
    var logLevel = "warn"

    @Argument(help: "The images to fetch.")
    var images: [String]

    func run() async throws {
        var options = try ConfigurationOptions.parse([])
        options.configFile = config
        options.root = root
        options.logLevel = logLevel
        let configuration = try options.load()
        guard configuration.proxy.isEnabled else {
            throw ValidationError("nothing is mirrored: give a config with proxy.remoteurl or mirrors (--config)")
        }
        let references = try images.map { text in
            do { return try ImageReference(parsing: text) } catch let error as RegistryError { throw ValidationError("\(text): \(error.message)") }
        }
        let logger = bootstrapLogging(configuration)
        for warning in configuration.warnings { logger.warning("\(warning)") }
        let storage = try await StorageStack.open(configuration, logger: logger)
        let registry = Registry(blobs: storage.blobs, metadata: storage.metadata, options: PierServer.options(for: configuration), logger: logger)
        let httpClient = UpstreamClient.makeHTTPClient()
        var failed = false
        do {
            guard let cache = try PierServer.makePullThroughCache(configuration: configuration, registry: registry, httpClient: httpClient, logger: logger) else {
                throw ValidationError("nothing is mirrored")
            }
            let prefetcher = Prefetcher(cache: cache)
            for reference in references {
                let display = ProgressDisplay(title: reference.description)
                do {
                    let summary = try await prefetcher.prefetch(reference, platforms: platform, referrers: referrers) { display.handle($0) }
                    display.finish(summary)
                } catch {
                    display.fail(error)
                    failed = true
                }
            }
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        if failed { throw ExitCode.failure }
    }
}

/// Progress of one image on standard error: a bar redrawn in place on a terminal, a line per blob otherwise.
final class ProgressDisplay: Sendable {
    struct State {
        var sizes: [Digest: Int64] = [:]
        var written: [Digest: Int64] = [:]
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    let title: String
    let isTerminal = isatty(STDERR_FILENO) == 1
    let state = Mutex(State())

    init(title: String) {
        self.title = title
    }

    func handle(_ event: Prefetcher.Event) {
        switch event {
        case .manifest(let digest, let mediaType):
            if !isTerminal { write("\(title): manifest \(digest) (\(mediaType))\n") }
        case .blob(let digest, let size, let cached):
            state.withLock { $0.sizes[digest] = size; if cached { $0.written[digest] = size } }
            if !isTerminal { write("\(title): blob \(digest) \(Self.format(size))\(cached ? " (cached)" : "")\n") }
            draw(force: true)
        case .progress(let digest, let written, _):
            state.withLock { $0.written[digest] = written }
            draw(force: false)
        case .blobDone(let digest):
            state.withLock { $0.written[digest] = $0.sizes[digest] ?? 0 }
            draw(force: true)
        }
    }

    func finish(_ summary: Prefetcher.Summary) {
        if isTerminal { write("\r\u{1B}[K") }
        let referrers = summary.referrers > 0 ? " (\(summary.referrers) referrers)" : ""
        write("\(title): \(summary.digest.map(\.description) ?? "-"): \(summary.manifests) manifests\(referrers), \(summary.blobs) blobs, "
              + "fetched \(Self.format(summary.fetchedBytes)), already cached \(Self.format(summary.cachedBytes))\n")
    }

    func fail(_ error: any Error) {
        if isTerminal { write("\r\u{1B}[K") }
        write("\(title): failed: \((error as? RegistryError)?.message ?? "\(error)")\n")
    }

    private func draw(force: Bool) {
        guard isTerminal else { return }
        let line: String? = state.withLock { state in
            let now = ContinuousClock.now
            guard force || now - state.lastDraw > .milliseconds(100) else { return nil }
            state.lastDraw = now
            let total = state.sizes.values.reduce(0, +)
            let done = state.written.values.reduce(0, +)
            let width = 30
            let filled = total > 0 ? Int(Double(width) * Double(done) / Double(total)) : 0
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            return "\r\u{1B}[K\(title) [\(bar)] \(Self.format(done)) / \(Self.format(total)), \(state.sizes.count) blobs"
        }
        if let line { write(line) }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
