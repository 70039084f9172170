import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import RegistryConfig
import RegistryProxy
import RegistryServer
import RegistryStorage

@main
enum PierMain {
    static func main() {
        // Run Swift concurrency on NIO's event loops, so that a request never hops between NIO's threads and the
        // concurrency pool (on two cores those context switches cost more than serving a manifest).
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        Task {
            await Pier.main()
            exit(0)
        }
        // The main actor (where argument parsing runs) is served by the main dispatch queue.
        dispatchMain()
    }
}

struct Pier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pier",
        abstract: "A container image registry: OCI Distribution and Docker Registry HTTP API v2.",
        version: "0.1.0",
        subcommands: [Serve.self, CollectGarbage.self, Prefetch.self],
        defaultSubcommand: Serve.self
    )
}

/// Options shared by the commands that read the configuration.
struct ConfigurationOptions: ParsableArguments {
    @Argument(help: "A Distribution-style config.yml (optional; REGISTRY_* environment variables override it).")
    var configFile: String?

    @Option(help: "The data directory (overrides storage.filesystem.rootdirectory; default ./pier-data).")
    var root: String?

    @Option(help: "The address to listen on, host:port or :port (overrides http.addr; default 0.0.0.0:5000).")
    var addr: String?

    @Option(help: "Log level: error, warn, info, debug (overrides log.level).")
    var logLevel: String?

    func load() throws -> Configuration {
        var yaml: String?
        if let configFile {
            do {
                yaml = try String(contentsOfFile: configFile, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(configFile): \(error.localizedDescription)")
            }
        }
        var configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(yaml: yaml, path: configFile ?? "config.yml", environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        if let root { configuration.storage.rootDirectory = root }
        if let addr {
            guard let (host, port) = ConfigurationLoader.parseAddress(addr) else { throw ValidationError("--addr must be host:port or :port") }
            configuration.http.host = host
            configuration.http.port = port
        }
        if let logLevel {
            guard let level = Configuration.Log.Level(rawValue: logLevel.lowercased()) else {
                throw ValidationError("--log-level must be one of error, warn, info, debug")
            }
            configuration.log.level = level
        }
        return configuration
    }
}

/// Sets up swift-log from the configuration; returns the main logger.
func bootstrapLogging(_ configuration: Configuration) -> Logger {
    let level: Logger.Level = switch configuration.log.level {
    case .trace: .trace
    case .debug: .debug
    case .info: .info
    case .warn: .warning
    case .error: .error
    }
    let format: PierLogHandler.Format = configuration.log.formatter == .json ? .json : .text
    let fields = configuration.log.fields.mapValues { Logger.MetadataValue.string($0) }
    LoggingSystem.bootstrap { label in
        // Hummingbird's own per-connection chatter stays at warning and above.
        let own = label.hasPrefix("pier")
        return PierLogHandler(label: label, level: own ? level : max(level, .warning), format: format, fields: fields)
    }
    return Logger(label: "pier")
}

extension Logger.Level {
    fileprivate static func max(_ a: Logger.Level, _ b: Logger.Level) -> Logger.Level { a > b ? a : b }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the registry (the default command).")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = bootstrapLogging(configuration)
        do {
            try await PierServer(configuration: configuration, logger: logger).run()
        } catch let error as ConfigurationError {
            logger.critical("\(error.message)")
            throw ExitCode(78)
        }
    }
}

struct CollectGarbage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove untagged manifests and unreferenced blobs; safe while the registry runs."
    )

    @OptionGroup var options: ConfigurationOptions

    @Flag(help: "Report what would be removed without removing anything.")
    var dryRun = false

    @Option(help: "Keep anything pushed, mounted or pulled within this long (a duration such as 1h or 30m).")
    var grace = "1h"

    @Flag(help: "Keep untagged manifests; remove only blobs no manifest references.")
    var keepUntagged = false

    func run() async throws {
        let configuration = try options.load()
        guard let grace = ConfigurationLoader.parseDuration(grace), grace <= ConfigurationLoader.maximumDuration else {
            throw ValidationError("--grace must be a duration such as 1h, at most 876000h (100 years)")
        }
        let logger = bootstrapLogging(configuration)
        let storage = try await StorageStack.open(configuration, logger: logger)
        if configuration.proxy.isEnabled, !dryRun {
            // Cached content past its ttl or beyond proxy.maxsize goes first, so that its bytes go with the rest.
            let registry = PierServer.makeRegistry(configuration: configuration, storage: storage, logger: logger)
            let prefixes = configuration.proxy.mirrors.map { mirror in
                (prefix: Mirror.prefix(for: mirror.host), ttl: Configuration.duration(mirror.ttl ?? configuration.proxy.ttl))
            }
            let expiry = CacheExpiry(registry: registry, prefixes: prefixes, maxSize: configuration.proxy.maxSize, logger: logger)
            print("cache: \(try await expiry.run())")
        }
        let collector = GarbageCollector(blobs: storage.blobs, metadata: storage.metadata, logger: logger)
        let report = try await collector.collect(
            gracePeriod: grace, uploadAge: configuration.storage.uploadPurging.age, keepUntagged: keepUntagged, dryRun: dryRun
        )
        let verb = dryRun ? "would remove" : "removed"
        print("\(verb): \(report)")
        if dryRun {
            for location in report.manifests { print("manifest \(location.repository)@\(location.digest)") }
            for digest in report.blobs + report.orphanedBlobs { print("blob \(digest)") }
        }
    }
}
