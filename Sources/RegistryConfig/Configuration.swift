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

    /// TLS settings (`http.tls.*`).
    public struct TLS: Sendable, Equatable {
        public var certificate: String
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
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
        /// How long shutdown waits for in-flight requests (`http.draintimeout`).
        public var drainTimeout: TimeInterval = 60
    }

    public var version = "0.1"
    public var log = Log()
    public var storage = Storage()
    public var http = HTTP()
    /// Page size of `/v2/_catalog` without `n` (`catalog.maxentries`).
    public var catalogMaxEntries = 1000
    /// Keys that were accepted but have no effect in Pier, to be logged at start-up.
    public var warnings: [String] = []

    public init() {}

    public static func == (lhs: Configuration, rhs: Configuration) -> Bool {
        lhs.version == rhs.version && lhs.log == rhs.log && lhs.storage == rhs.storage && lhs.http == rhs.http
            && lhs.catalogMaxEntries == rhs.catalogMaxEntries
    }
}

/// A configuration that cannot be used; the message names the key and where it came from.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
