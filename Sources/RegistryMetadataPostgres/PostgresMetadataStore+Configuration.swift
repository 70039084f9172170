import NIOSSL
import PostgresNIO
import RegistryStorage

extension PostgresMetadataStore {
    /// Where the database is and how to reach it: what the `database:` configuration keys carry.
    public struct Configuration: Sendable {
        /// The server's host name or address.
        public var host: String
        /// The server's TCP port.
        public var port: Int
        /// The role to log in as.
        public var user: String
        /// The role's password; `nil` when the server asks for none (trust, peer).
        public var password: String?
        /// The database (`dbname`).
        public var database: String
        /// Whether and how the connection is encrypted, as libpq's `sslmode`.
        public var tls: TLSMode
        /// A PEM file of the certificates that `verify-ca` and `verify-full` trust instead of the system's roots, as
        /// libpq's `sslrootcert`.
        public var rootCertificatesPath: String?
        /// The most connections the store opens at once (a pool's `maxopen`).
        public var maximumConnections: Int
        /// Connections kept open when idle (a pool's `maxidle`).
        public var minimumConnections: Int
        /// How long opening a connection may take.
        public var connectTimeout: Duration
        /// The schema holding Pier's tables, created at start-up if missing: lets several registries (or test runs)
        /// share one database. Lower-case letters, digits and `_`, starting with a letter or `_`.
        public var schema: String

        public init(
            host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
            tls: TLSMode = .prefer, rootCertificatesPath: String? = nil, maximumConnections: Int = 20, minimumConnections: Int = 0,
            connectTimeout: Duration = .seconds(10), schema: String = "public"
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.tls = tls
            self.rootCertificatesPath = rootCertificatesPath
            self.maximumConnections = maximumConnections
            self.minimumConnections = minimumConnections
            self.connectTimeout = connectTimeout
            self.schema = schema
        }

        /// Whether a schema name needs no quoting: then it is safe to write into SQL as it is.
        static func isPlainIdentifier(_ name: String) -> Bool {
            guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first), name.utf8.count <= 63 else {
                return false
            }
            return name.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_")
            }
        }

        func clientConfiguration() throws -> PostgresClient.Configuration {
            guard Self.isPlainIdentifier(schema) else {
                throw MetadataStoreError(.database, "schema name \"\(schema)\" is not lower-case letters, digits and _")
            }
            guard maximumConnections >= 1, minimumConnections >= 0, minimumConnections <= maximumConnections else {
                throw MetadataStoreError(.database, "pool sizes \(minimumConnections)...\(maximumConnections) are not a range of at least one")
            }
            var configuration = PostgresClient.Configuration(
                host: host, port: port, username: user, password: password, database: database,
                tls: tls.clientTLS(rootCertificatesPath: rootCertificatesPath)
            )
            configuration.options.maximumConnections = maximumConnections
            configuration.options.minimumConnections = minimumConnections
            configuration.options.connectTimeout = connectTimeout
            configuration.options.additionalStartupParameters = startupParameters
            return configuration
        }

        /// A single connection's settings, for the migrations at start-up.
        func connectionConfiguration() throws -> PostgresConnection.Configuration {
            var configuration = PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: try tls.connectionTLS(rootCertificatesPath: rootCertificatesPath)
            )
            let (seconds, attoseconds) = connectTimeout.components
            configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            configuration.options.additionalStartupParameters = startupParameters
            return configuration
        }

        /// Every statement names tables unqualified: they are found in the configured schema.
        var startupParameters: [(String, String)] {
            [("search_path", schema), ("application_name", "pier")]
        }
    }

    /// libpq's `sslmode` values that a client without a client certificate can honour.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without verifying its certificate; plain TCP otherwise.
        case prefer
        /// TLS always, without verifying the server's certificate.
        case require
        /// TLS always; the certificate must chain to a trusted root (any host name).
        case verifyCA = "verify-ca"
        /// TLS always; the certificate must chain to a trusted root and name the host.
        case verifyFull = "verify-full"

        /// How the server's certificate is checked; `nil` for plain TCP.
        func tlsConfiguration(rootCertificatesPath: String?) -> TLSConfiguration? {
            var tls = TLSConfiguration.makeClientConfiguration()
            switch self {
            case .disable: return nil
            case .prefer, .require: tls.certificateVerification = .none
            case .verifyCA: tls.certificateVerification = .noHostnameVerification
            case .verifyFull: tls.certificateVerification = .fullVerification
            }
            if let rootCertificatesPath { tls.trustRoots = .file(rootCertificatesPath) }
            return tls
        }

        func clientTLS(rootCertificatesPath: String?) -> PostgresClient.Configuration.TLS {
            guard let tls = tlsConfiguration(rootCertificatesPath: rootCertificatesPath) else { return .disable }
            return self == .prefer ? .prefer(tls) : .require(tls)
        }

        func connectionTLS(rootCertificatesPath: String?) throws -> PostgresConnection.Configuration.TLS {
            guard let tls = tlsConfiguration(rootCertificatesPath: rootCertificatesPath) else { return .disable }
            let context = try NIOSSLContext(configuration: tls)
            return self == .prefer ? .prefer(context) : .require(context)
        }
    }
}
