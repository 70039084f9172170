import Foundation

extension Configuration {
    /// TLS settings (`http.tls.*`).
    public struct TLS: Sendable, Equatable {
        /// The lowest protocol version offered (`http.tls.minimumtls`). Pier never offers less than TLS 1.2.
        public enum Version: String, Sendable, Equatable, CaseIterable {
            case tls12 = "tls1.2"
            case tls13 = "tls1.3"
        }

        /// How client certificates are asked for (`http.tls.clientauth`), with Distribution 3's names (Go's
        /// `tls.ClientAuthType`). Only used with `clientCAs`.
        public enum ClientAuth: String, Sendable, Equatable, CaseIterable {
            /// Ask for a certificate; accept the connection with any certificate or none.
            case requestClientCert = "request-client-cert"
            /// Require a certificate, without verifying it.
            case requireAnyClientCert = "require-any-client-cert"
            /// Accept a connection without a certificate; a certificate given must verify against `clientCAs`.
            case verifyClientCertIfGiven = "verify-client-cert-if-given"
            /// Require a certificate that verifies against `clientCAs` (the default, as in Distribution).
            case requireAndVerifyClientCert = "require-and-verify-client-cert"
        }

        /// PEM file with the server certificate, then any intermediates.
        public var certificate: String
        /// PEM file with the certificate's private key.
        public var key: String
        /// PEM files of the CAs that client certificates must chain to (`http.tls.clientcas`); empty for no client certificates.
        public var clientCAs: [String]
        public var clientAuth: ClientAuth
        public var minimumVersion: Version
        /// TLS 1.2 cipher suites by their IANA (Go) names (`http.tls.ciphersuites`); empty for Pier's default set,
        /// ``defaultCipherSuites``. TLS 1.3 suites are always the three AEAD ones and cannot be chosen.
        public var cipherSuites: [String]
        /// Pier's own (`http.tls.reloadinterval`): how often the certificate, key and CA files are checked for
        /// changes; 0 turns polling off (SIGHUP still reloads).
        public var reloadInterval: TimeInterval

        public init(
            certificate: String, key: String, clientCAs: [String] = [], clientAuth: ClientAuth = .requireAndVerifyClientCert,
            minimumVersion: Version = .tls12, cipherSuites: [String] = [], reloadInterval: TimeInterval = 5
        ) {
            self.certificate = certificate
            self.key = key
            self.clientCAs = clientCAs
            self.clientAuth = clientAuth
            self.minimumVersion = minimumVersion
            self.cipherSuites = cipherSuites
            self.reloadInterval = reloadInterval
        }

        /// The TLS 1.2 suites Pier offers: forward secret (ECDHE) and authenticated encryption (AES-GCM,
        /// ChaCha20-Poly1305) only, the same set Go's `crypto/tls` prefers.
        public static let defaultCipherSuites = [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ]

        /// TLS 1.3's suites: accepted in `ciphersuites` (Distribution 3 lists them) but always on.
        public static let tls13CipherSuites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

        /// Suites Go knows that Pier refuses: no forward secrecy or no AEAD.
        static let refusedCipherSuites = [
            "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA",
            "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        ]
    }
}
