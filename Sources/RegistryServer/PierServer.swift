import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Prometheus
import RegistryConfig
import RegistryCore
import RegistryHTTP
import RegistryAuth
import RegistryProxy
import RegistryStorage
import ServiceLifecycle
import UnixSignals

/// The composition root: builds the stores, the registry and the HTTP server from a ``Configuration`` and runs them.
public struct PierServer: Sendable {
    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The ``RegistryOptions`` a configuration implies.
    public static func options(for configuration: Configuration) -> RegistryOptions {
        RegistryOptions(
            deleteEnabled: configuration.storage.deleteEnabled,
            readOnly: configuration.storage.readOnly,
            defaultCatalogPageSize: configuration.catalogMaxEntries,
            maximumUploadSessionsPerRepository: configuration.limits.uploadSessionsPerRepository,
            maximumUploadSessions: configuration.limits.uploadSessions
        )
    }

    /// Builds the HTTP application over already opened stores (also used by tests).
    ///
    /// - Parameter zeroCopy: send blob files with `sendfile(2)` on plain HTTP. Needs the real channel pipeline,
    ///   so tests that call the responder without a server turn it off.
    ///   - httpClient: the client for upstreams; required when the configuration mirrors any.
    ///   - registry: the registry to serve (built from `storage` when `nil`).
    ///   - pullThrough: the pull-through cache (built with `httpClient` when `nil`).
    public static func makeApplication(
        configuration: Configuration, storage: StorageStack, logger: Logger, services: [any Service] = [], zeroCopy: Bool = true,
        httpClient: HTTPClient? = nil, registry: Registry? = nil, pullThrough: PullThroughCache? = nil,
        metricsExporter: (@Sendable () -> [UInt8])? = nil
    ) throws -> some ApplicationProtocol {
        let registry = registry ?? makeRegistry(configuration: configuration, storage: storage, logger: logger)
        let pullThrough = try pullThrough
            ?? httpClient.flatMap { try makePullThroughCache(configuration: configuration, registry: registry, httpClient: $0, logger: logger) }
        var extraHeaders = HTTPFields()
        for (name, values) in configuration.http.headers.sorted(by: { $0.key < $1.key }) {
            guard let fieldName = HTTPField.Name(name) else { throw ConfigurationError("http.headers: invalid header name '\(name)'") }
            for value in values { extraHeaders.append(HTTPField(name: fieldName, value: value)) }
        }
        var accessLog = Logger(label: "pier.access")
        if !configuration.log.accessLog { accessLog.logLevel = .critical }
        // sendfile(2) moves file bytes inside the kernel, which TLS cannot: only plain HTTP uses it.
        let fileSends = configuration.http.tls == nil && zeroCopy ? FileSendRegistry() : nil
        let accessControl = try makeAccessControl(configuration: configuration, logger: logger)
        let responder = RegistryResponder(
            registry: registry, extraHeaders: extraHeaders, externalURL: configuration.http.externalURL, fileSends: fileSends,
            pullThrough: pullThrough, metricsExporter: metricsExporter, adminToken: configuration.adminToken,
            accessControl: accessControl, accessLog: accessLog, logger: logger
        )
        let timeouts = configuration.http.timeouts
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ContinueHandler()], idleTimeout: timeAmount(timeouts.idle))
        let headTimeout = timeAmount(timeouts.readHeader)
        let bodyIdleTimeout = timeAmount(timeouts.bodyIdle)
        let connections = ConnectionLimiter(maximum: ConnectionLimiter.maximum(configured: configuration.limits.connections))
        logger.debug("connection cap", metadata: ["maximum": "\(connections.maximum)"])
        var server = HTTPServerBuilder.pierHTTP1(
            configuration: http1, headTimeout: headTimeout, bodyIdleTimeout: bodyIdleTimeout, connections: connections,
            fileSends: fileSends
        )
        var services = services
        if let tls = configuration.http.tls {
            let contexts = try TLSContextProvider(configuration: tls, http2Enabled: !configuration.http.http2Disabled, logger: logger)
            server = .pierTLS(
                contexts: contexts, http1: http1, http2: !configuration.http.http2Disabled, headTimeout: headTimeout,
                bodyIdleTimeout: bodyIdleTimeout, connections: connections
            )
            services.append(TLSReloadService(contexts: contexts, interval: tls.reloadInterval > 0 ? Configuration.duration(tls.reloadInterval) : nil, logger: logger))
        }
        return Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port)),
            services: services,
            onServerRunning: { channel in
                logger.notice("Pier is listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
            },
            logger: logger
        )
    }

    private static func timeAmount(_ seconds: TimeInterval) -> TimeAmount {
        TimeAmount(Configuration.duration(seconds))
    }

    /// The registry over opened stores.
    public static func makeRegistry(configuration: Configuration, storage: StorageStack, logger: Logger) -> Registry {
        Registry(blobs: storage.blobs, metadata: storage.metadata, options: options(for: configuration), logger: logger)
    }

    /// The pull-through cache the configuration's `proxy` and `mirrors` describe; `nil` when it mirrors nothing.
    public static func makePullThroughCache(
        configuration: Configuration, registry: Registry, httpClient: HTTPClient, logger: Logger
    ) throws -> PullThroughCache? {
        let proxy = configuration.proxy
        guard proxy.isEnabled else { return nil }
        let mirrors = proxy.mirrors.map { mirror in
            var upstream = UpstreamConfiguration(url: mirror.remoteURL, username: mirror.username, password: mirror.password)
            upstream.retries = 2
            let ttl = mirror.ttl ?? proxy.ttl
            return Mirror(
                host: mirror.host, client: UpstreamClient(configuration: upstream, httpClient: httpClient, logger: logger),
                ttl: Configuration.duration(ttl), aliases: mirror.aliases
            )
        }
        for mirror in mirrors {
            logger.notice("mirroring an upstream", metadata: [
                "host": "\(mirror.host)", "upstream": "\(mirror.client.configuration.url)",
                "default": "\(mirror.host == proxy.defaultHost)", "aliases": "\(mirror.aliases.joined(separator: ","))",
            ])
        }
        return PullThroughCache(
            registry: registry, mirrors: mirrors, defaultHost: proxy.defaultHost,
            revalidateInterval: Configuration.duration(proxy.revalidate), logger: logger
        )
    }

    /// Raises the open-file limit to its hard maximum: every connection and every upload in progress holds a
    /// descriptor, and the usual soft limit of 1024 would refuse clients long before memory or CPU run out.
    static func raiseFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let soft = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            logger.debug("raised the open-file limit", metadata: ["from": "\(soft)", "to": "\(limit.rlim_max)"])
        }
    }

    /// Opens the stores and serves until SIGINT or SIGTERM, letting in-flight requests finish.
    public func run() async throws {
        Self.raiseFileLimit(logger: logger)
        let prometheus = PrometheusCollectorRegistry()
        var metricsFactory = PrometheusMetricsFactory(registry: prometheus)
        // A registry answers in microseconds to seconds: buckets from 0.25 ms up.
        metricsFactory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(metricsFactory)
        for warning in configuration.warnings {
            logger.warning("\(warning)")
        }
        let storage = try await StorageStack.open(configuration, logger: logger)
        logger.notice("Pier data directory", metadata: ["root": "\(storage.root)"])
        // The embedded store belongs to this one server: any claim on an upload is left over from a process that died,
        // and a client resuming that upload must not wait for the claim to expire.
        do {
            try await storage.metadata.releaseAllUploadClaims()
        } catch {
            logger.warning("could not release the upload claims of an earlier process; they expire within a minute", metadata: ["error": "\(error)"])
        }
        var services: [any Service] = []
        if configuration.storage.uploadPurging.enabled, !configuration.storage.readOnly {
            services.append(UploadPurgeService(
                collector: GarbageCollector(blobs: storage.blobs, metadata: storage.metadata, logger: logger),
                metadata: storage.metadata, settings: configuration.storage.uploadPurging, logger: logger
            ))
        }
        let httpClient = configuration.proxy.isEnabled ? UpstreamClient.makeHTTPClient() : nil
        let registry = Self.makeRegistry(configuration: configuration, storage: storage, logger: logger)
        let pullThrough = try httpClient.flatMap {
            try Self.makePullThroughCache(configuration: configuration, registry: registry, httpClient: $0, logger: logger)
        }
        if let pullThrough, !configuration.storage.readOnly {
            let expiry = CacheExpiry(registry: registry, mirrors: pullThrough.allMirrors, maxSize: configuration.proxy.maxSize, logger: logger)
            // With a size cap, check often; ttl expiry alone can wait.
            services.append(CacheExpiryService(expiry: expiry, interval: configuration.proxy.maxSize == nil ? .seconds(600) : .seconds(60), logger: logger))
            for rule in configuration.proxy.syncRules {
                let sync = CacheSync(
                    name: rule.name, cache: pullThrough, host: rule.host, repositories: rule.repositories, tagPattern: rule.tagPattern,
                    platforms: rule.platforms, maximumTags: rule.maximumTags, referrers: rule.referrers, logger: logger
                )
                services.append(CacheSyncService(sync: sync, interval: Configuration.duration(rule.interval), logger: logger))
            }
        }
        let application = try Self.makeApplication(
            configuration: configuration, storage: storage, logger: logger, services: services, httpClient: httpClient,
            registry: registry, pullThrough: pullThrough, metricsExporter: { prometheus.emitToBuffer() }
        )
        // SIGINT/SIGTERM stop accepting connections and let requests in flight finish, for at most
        // `http.draintimeout`.
        var group = ServiceGroupConfiguration(services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = Configuration.duration(configuration.http.drainTimeout)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            try? await httpClient?.shutdown()
            throw error
        }
        try? await httpClient?.shutdown()
        logger.notice("Pier stopped")
    }
}
