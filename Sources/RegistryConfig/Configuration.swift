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
        /// Connection deadlines (`http.timeouts.*`).
        public var timeouts = Timeouts()
    }

    /// Connection deadlines (`http.timeouts.*`, Pier's own: Distribution sets none), in seconds.
    public struct Timeouts: Sendable, Equatable {
        /// From a connection's accept, or a kept-alive connection's next first byte, to a complete request head
        /// (`http.timeouts.readheader`). A slow-loris client is cut off after this.
        public var readHeader: TimeInterval = 30
        /// Longest wait for more bytes of a request body the server is ready to read (`http.timeouts.bodyidle`).
        public var bodyIdle: TimeInterval = 60
        /// A connection with no request in progress is closed after this long (`http.timeouts.idle`).
        public var idle: TimeInterval = 300

        public init(readHeader: TimeInterval = 30, bodyIdle: TimeInterval = 60, idle: TimeInterval = 300) {
            self.readHeader = readHeader
            self.bodyIdle = bodyIdle
            self.idle = idle
        }
    }

    /// Caps on what clients may hold open (`limits.*`, Pier's own).
    public struct Limits: Sendable, Equatable {
        /// Upload sessions open at once in one repository (`limits.uploadsessions.perrepository`).
        public var uploadSessionsPerRepository = 1000
        /// Upload sessions open at once in the whole registry (`limits.uploadsessions.total`).
        public var uploadSessions = 10_000
        /// Client connections open at once (`limits.connections`); lowered further to fit the open-file limit.
        public var connections = 10_000

        public init(uploadSessionsPerRepository: Int = 1000, uploadSessions: Int = 10_000, connections: Int = 10_000) {
            self.uploadSessionsPerRepository = uploadSessionsPerRepository
            self.uploadSessions = uploadSessions
            self.connections = connections
        }
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
        /// Other registry hosts that name this upstream too (`?ns=` and path prefix), served from the same cache:
        /// the proxy block's own remote host when it stands in for another registry.
        public var aliases: [String]

        public init(
            host: String, remoteURL: String, username: String? = nil, password: String? = nil, ttl: TimeInterval? = nil, aliases: [String] = []
        ) {
            self.host = host
            self.remoteURL = remoteURL
            self.username = username
            self.password = password
            self.ttl = ttl
            self.aliases = aliases
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
        /// Whether each image's referrers (signatures, SBOMs, attestations) are fetched too (`referrers: true`).
        public var referrers: Bool

        public init(name: String, host: String, repositories: [String], tagPattern: String? = nil, interval: TimeInterval = 3600,
                    platforms: [String] = [], maximumTags: Int = 100, referrers: Bool = false) {
            self.name = name
            self.host = host
            self.repositories = repositories
            self.tagPattern = tagPattern
            self.interval = interval
            self.platforms = platforms
            self.maximumTags = maximumTags
            self.referrers = referrers
        }
    }

    /// The pull-through cache (`proxy.*` and `mirrors.*`).
    public struct Proxy: Sendable, Equatable {
        /// Every mirrored upstream, in host order.
        public var mirrors: [Mirror] = []
        /// The host of the mirror that serves names given without a host (`proxy.remoteurl`, as Docker's
        /// `registry-mirrors` sends them), if any: `proxy.namespace`, by default `docker.io`.
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

    /// Docker token authentication (`auth.token`): verify tokens of an external token service, or, with a
    /// `signingkey`, issue them at Pier's own `/token` endpoint.
    public struct TokenAuth: Sendable, Equatable {
        /// Where clients get tokens (`auth.token.realm`); `nil` with a signing key means Pier's own `/token`.
        public var realm: String?
        /// The audience of tokens (`auth.token.service`).
        public var service: String
        /// The issuer tokens must name (`auth.token.issuer`).
        public var issuer: String
        /// PEM certificates whose keys sign tokens (`auth.token.rootcertbundle`).
        public var rootCertBundle: String?
        /// A JSON Web Key Set whose keys sign tokens (`auth.token.jwks`).
        public var jwks: String?
        /// Pier's own token service: the key it signs with (created when missing).
        public var signingKey: String?
        /// How long tokens Pier issues stay valid.
        public var expiration: TimeInterval = 300
        /// Clock skew allowed when checking `exp` and `nbf`.
        public var leeway: TimeInterval = 5

        public init(realm: String? = nil, service: String, issuer: String, rootCertBundle: String? = nil, jwks: String? = nil,
                    signingKey: String? = nil, expiration: TimeInterval = 300, leeway: TimeInterval = 5) {
            self.realm = realm
            self.service = service
            self.issuer = issuer
            self.rootCertBundle = rootCertBundle
            self.jwks = jwks
            self.signingKey = signingKey
            self.expiration = expiration
            self.leeway = leeway
        }
    }

    /// Who may do what to which repositories (`access`, Pier's own).
    public struct Access: Sendable, Equatable {
        /// The actions granted in one repository pattern.
        public struct Rule: Sendable, Equatable {
            /// A repository glob: `*` within one path component, `**` across components (`team-a/**`).
            public var pattern: String
            /// Actions by user name.
            public var users: [String: [String]] = [:]
            /// Actions by group name.
            public var groups: [String: [String]] = [:]
            /// Actions of every authenticated user.
            public var authenticated: [String] = []
            /// Actions of clients without credentials.
            public var anonymous: [String] = []

            public init(pattern: String, users: [String: [String]] = [:], groups: [String: [String]] = [:], authenticated: [String] = [],
                        anonymous: [String] = []) {
                self.pattern = pattern
                self.users = users
                self.groups = groups
                self.authenticated = authenticated
                self.anonymous = anonymous
            }
        }

        /// Members by group name.
        public var groups: [String: [String]] = [:]
        /// Users with every action on every repository.
        public var admins: [String] = []
        /// In file order.
        public var rules: [Rule] = []

        public init(groups: [String: [String]] = [:], admins: [String] = [], rules: [Rule] = []) {
            self.groups = groups
            self.admins = admins
            self.rules = rules
        }
    }

    /// Failed logins tolerated per client address before it is refused for a while (`auth.failedlogins.*`).
    public struct FailedLogins: Sendable, Equatable {
        /// Failures per window; 0 turns the limit off.
        public var limit = 10
        public var window: TimeInterval = 60

        public init(limit: Int = 10, window: TimeInterval = 60) {
            self.limit = limit
            self.window = window
        }
    }

    public var version = "0.1"
    public var log = Log()
    public var storage = Storage()
    public var http = HTTP()
    public var proxy = Proxy()
    public var limits = Limits()
    /// `auth.htpasswd`, when set.
    public var htpasswd: Htpasswd?
    /// `auth.token`, when set.
    public var tokenAuth: TokenAuth?
    /// `access`, when set; without it every authenticated user may do everything.
    public var access: Access?
    public var failedLogins = FailedLogins()
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
            && lhs.tokenAuth == rhs.tokenAuth && lhs.access == rhs.access && lhs.failedLogins == rhs.failedLogins
            && lhs.limits == rhs.limits
    }
}

extension Configuration {
    /// A configured duration (in seconds, as the settings hold it) as a `Duration`, to the millisecond. The loader
    /// keeps durations within ``ConfigurationLoader/maximumDuration``; a value set in code beyond it is clamped to it
    /// (a negative one or NaN to zero), so that converting the result further (to NIO's nanosecond `TimeAmount`, to a
    /// deadline or a date) cannot overflow either.
    public static func duration(_ seconds: TimeInterval) -> Duration {
        let bounded = seconds.isNaN ? 0 : min(max(seconds, 0), ConfigurationLoader.maximumDuration)
        return .milliseconds(Int64(bounded * 1000))
    }
}

/// A configuration that cannot be used; the message names the key and where it came from.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
