import Foundation

/// Pier's configuration: Distribution's `config.yml` keys that apply to Pier, after the `REGISTRY_*` environment
/// overlay and command-line overrides. Defaults make `pier serve` work with no file at all.
public struct Configuration: Sendable, Equatable {
    /// Log settings (`log.*`).
    public struct Log: Sendable, Equatable {
        public enum Level: String, Sendable, CaseIterable { case trace, debug, info, warn, error }
        public enum Formatter: String, Sendable { case text, json }
        public var level: Level = .info
        public var formatter: Formatter = .text
        /// Whether one line per request is logged (`log.accesslog.disabled: false`).
        public var accessLog = true
        /// Fields added to every line (`log.fields`).
        public var fields: [String: String] = [:]
    }

    /// Upload purging (`storage.maintenance.uploadpurging`).
    public struct UploadPurging: Sendable, Equatable {
        public var enabled = true
        /// Sessions idle longer than this are removed.
        public var age: TimeInterval = 168 * 3600
        /// How often purging runs.
        public var interval: TimeInterval = 24 * 3600
        /// Log what would be purged without removing it.
        public var dryRun = false

        public init(enabled: Bool = true, age: TimeInterval = 168 * 3600, interval: TimeInterval = 24 * 3600, dryRun: Bool = false) {
            self.enabled = enabled
            self.age = age
            self.interval = interval
            self.dryRun = dryRun
        }
    }

    /// Storage settings (`storage.*`).
    public struct Storage: Sendable, Equatable {
        /// Where blobs and the metadata database live (`storage.filesystem.rootdirectory`).
        public var rootDirectory = "./pier-data"
        /// `storage.delete.enabled`.
        public var deleteEnabled = true
        /// `storage.maintenance.readonly.enabled`.
        public var readOnly = false
        public var uploadPurging = UploadPurging()
    }

    /// HTTP settings (`http.*`).
    public struct HTTP: Sendable, Equatable {
        /// Listen host; empty means all interfaces.
        public var host = "0.0.0.0"
        public var port = 5000
        /// The externally reachable URL used in `Location` headers (`http.host`), if set.
        public var externalURL: String?
        /// Headers added to every response (`http.headers`).
        public var headers: [String: [String]] = [:]
        public var tls: TLS?
        /// `http.http2.disabled`: offer only HTTP/1.1 over TLS (no `h2` in ALPN).
        public var http2Disabled = false
        /// How long shutdown waits for in-flight requests (`http.draintimeout`).
        public var drainTimeout: TimeInterval = 60
    }

    /// One upstream registry that Pier mirrors (`proxy.remoteurl` or an entry of `mirrors`).
    public struct Mirror: Sendable, Equatable {
        /// The registry host clients name, e.g. `docker.io`, `ghcr.io`, `registry.example.com:5000`.
        public var host: String
        /// The upstream's base URL, e.g. `https://registry-1.docker.io`.
        public var remoteURL: String
        public var username: String?
        public var password: String?
        /// Cached content of this upstream expires this long after its last pull; `nil` takes `proxy.ttl`.
        public var ttl: TimeInterval?

        public init(host: String, remoteURL: String, username: String? = nil, password: String? = nil, ttl: TimeInterval? = nil) {
            self.host = host
            self.remoteURL = remoteURL
            self.username = username
            self.password = password
            self.ttl = ttl
        }
    }

    /// A rule that keeps images of a mirrored upstream fresh in the cache (`sync.<name>.*`).
    public struct SyncRule: Sendable, Equatable {
        public var name: String
        /// The mirrored host the images come from (a `mirrors` key, or the default upstream's host).
        public var host: String
        public var repositories: [String]
        /// A regular expression tags must match (anchored as written); `nil` for every tag.
        public var tagPattern: String?
        public var interval: TimeInterval
        /// Only these platforms of multi-platform images (`linux/amd64`); empty for all.
        public var platforms: [String]
        /// The most tags fetched per repository and run.
        public var maximumTags: Int

        public init(name: String, host: String, repositories: [String], tagPattern: String? = nil, interval: TimeInterval = 3600,
                    platforms: [String] = [], maximumTags: Int = 100) {
            self.name = name
            self.host = host
            self.repositories = repositories
            self.tagPattern = tagPattern
            self.interval = interval
            self.platforms = platforms
            self.maximumTags = maximumTags
        }
    }

    /// The pull-through cache (`proxy.*` and `mirrors.*`).
    public struct Proxy: Sendable, Equatable {
        /// Every mirrored upstream, in host order.
        public var mirrors: [Mirror] = []
        /// The host of the mirror that serves names given without a host (`proxy.remoteurl`, as Docker's
        /// `registry-mirrors` sends them), if any.
        public var defaultHost: String?
        /// Cached content expires this long after its last pull (`proxy.ttl`, Distribution's default 168h).
        public var ttl: TimeInterval = 168 * 3600
        /// A cached tag is checked with its upstream at most this often (`proxy.revalidate`).
        public var revalidate: TimeInterval = 60
        /// The most bytes of cached blobs kept (`proxy.maxsize`); `nil` for no cap.
        public var maxSize: Int64?
        /// Scheduled fetches (`sync`).
        public var syncRules: [SyncRule] = []

        public var isEnabled: Bool { !mirrors.isEmpty }
    }

    /// HTTP Basic authentication against an htpasswd file (`auth.htpasswd`).
    public struct Htpasswd: Sendable, Equatable {
        public var realm: String
        public var path: String

        public init(realm: String, path: String) {
            self.realm = realm
            self.path = path
        }
    }

    public var version = "0.1"
    public var log = Log()
    public var storage = Storage()
    public var http = HTTP()
    public var proxy = Proxy()
    /// `auth.htpasswd`, when set.
    public var htpasswd: Htpasswd?
    /// The bearer token of the admin API (`admin.token`); `nil` turns the API off.
    public var adminToken: String?
    /// Page size of `/v2/_catalog` without `n` (`catalog.maxentries`).
    public var catalogMaxEntries = 1000
    /// Keys that were accepted but have no effect in Pier, to be logged at start-up.
    public var warnings: [String] = []

    public init() {}

    public static func == (lhs: Configuration, rhs: Configuration) -> Bool {
        lhs.version == rhs.version && lhs.log == rhs.log && lhs.storage == rhs.storage && lhs.http == rhs.http
            && lhs.catalogMaxEntries == rhs.catalogMaxEntries && lhs.proxy == rhs.proxy && lhs.adminToken == rhs.adminToken && lhs.htpasswd == rhs.htpasswd
    }
}

/// A configuration that cannot be used; the message names the key and where it came from.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
