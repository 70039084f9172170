import Foundation
import NIOSSL
import RegistryConfig
import RegistryCore
import SwiftASN1
import X509

/// The certificate, key and client CA files of `http.tls`, read, checked and turned into a `NIOSSLContext`.
/// Every failure is a ``ConfigurationError`` naming the file(s) at fault.
struct TLSMaterial: Sendable {
    let context: NIOSSLContext
    /// The server certificate (the first in the certificate file).
    let leaf: NIOSSLCertificate
    let notAfter: Date
    /// SHA-256 of the server certificate's DER bytes, lower-case hex (what `openssl x509 -fingerprint -sha256` shows).
    let fingerprint: String
    /// `request-client-cert` and `require-any-client-cert` ask for a certificate without verifying it.
    let acceptsAnyClientCertificate: Bool

    /// Reads and checks the files of `tls`.
    /// - Parameter http2: offer `h2` in ALPN ahead of `http/1.1`.
    static func load(_ tls: Configuration.TLS, http2: Bool) throws -> TLSMaterial {
        let certificatePEM = try readPEM(tls.certificate, key: "http.tls.certificate")
        guard certificatePEM.contains("-----BEGIN CERTIFICATE-----") else {
            throw ConfigurationError("http.tls.certificate: \(tls.certificate) is not a PEM certificate file (no BEGIN CERTIFICATE block)")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        } catch {
            throw ConfigurationError("http.tls.certificate: \(tls.certificate) holds a PEM block that is not a valid certificate: \(error)")
        }
        guard let leaf = chain.first else {
            throw ConfigurationError("http.tls.certificate: no certificate in \(tls.certificate)")
        }

        let keyPEM = try readPEM(tls.key, key: "http.tls.key")
        guard keyPEM.contains("-----BEGIN"), keyPEM.contains("PRIVATE KEY-----") else {
            throw ConfigurationError("http.tls.key: \(tls.key) is not a PEM private key file (no BEGIN PRIVATE KEY block)")
        }
        if keyPEM.contains("ENCRYPTED") {
            throw ConfigurationError("http.tls.key: \(tls.key) is encrypted; Pier needs an unencrypted private key")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw ConfigurationError("http.tls.key: \(tls.key) holds a PEM block that is not a valid private key: \(error)")
        }
        try checkKeyMatches(keyPEM: keyPEM, leaf: leaf, tls: tls)

        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = tls.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuiteValues = (tls.cipherSuites.isEmpty ? Configuration.TLS.defaultCipherSuites : tls.cipherSuites)
            .compactMap(Self.cipher(named:))
        configuration.applicationProtocols = http2 ? ["h2", "http/1.1"] : ["http/1.1"]
        var acceptsAny = false
        if !tls.clientCAs.isEmpty {
            var authorities: [NIOSSLCertificate] = []
            for file in tls.clientCAs {
                authorities += try readCertificates(file, key: "http.tls.clientcas")
            }
            configuration.trustRoots = .certificates(authorities)
            // Tell clients which CAs are accepted, as Go does, so one holding several certificates picks the right one.
            configuration.sendCANameList = true
            switch tls.clientAuth {
            case .requireAndVerifyClientCert, .requireAnyClientCert: configuration.certificateVerification = .noHostnameVerification
            case .verifyClientCertIfGiven, .requestClientCert: configuration.certificateVerification = .optionalVerification
            }
            acceptsAny = tls.clientAuth == .requestClientCert || tls.clientAuth == .requireAnyClientCert
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("http.tls: cannot use the certificate \(tls.certificate) with the key \(tls.key): \(error)")
        }
        let der = (try? leaf.toDERBytes()) ?? []
        return TLSMaterial(
            context: context, leaf: leaf, notAfter: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)),
            fingerprint: String(Digest.of(der).encoded), acceptsAnyClientCertificate: acceptsAny
        )
    }

    /// Compares the key's public key with the certificate's, so a mismatch gets a message that says so instead of
    /// BoringSSL's "KEY_VALUES_MISMATCH" from deep inside the context set-up.
    private static func checkKeyMatches(keyPEM: String, leaf: NIOSSLCertificate, tls: Configuration.TLS) throws {
        let certificate: Certificate
        let key: Certificate.PrivateKey
        do {
            certificate = try Certificate(derEncoded: try leaf.toDERBytes())
            key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            // A key type swift-certificates cannot read (DSA, say): BoringSSL's own check when the context is built still applies.
            return
        }
        guard key.publicKey == certificate.publicKey else {
            throw ConfigurationError("http.tls: the private key in \(tls.key) does not match the certificate in \(tls.certificate)")
        }
    }

    private static func readCertificates(_ path: String, key: String) throws -> [NIOSSLCertificate] {
        let pem = try readPEM(path, key: key)
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw ConfigurationError("\(key): \(path) is not a PEM certificate file (no BEGIN CERTIFICATE block)")
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
            guard !certificates.isEmpty else { throw ConfigurationError("\(key): no certificate in \(path)") }
            return certificates
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(key): \(path) holds a PEM block that is not a valid certificate: \(error)")
        }
    }

    /// The file's text; a missing, unreadable or binary file is an error naming it.
    private static func readPEM(_ path: String, key: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if access(path, F_OK) != 0 { throw ConfigurationError("\(key): \(path) does not exist") }
            if access(path, R_OK) != 0 { throw ConfigurationError("\(key): \(path) is not readable (permission denied)") }
            throw ConfigurationError("\(key): cannot read \(path): \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8), !text.contains("\0") else {
            throw ConfigurationError("\(key): \(path) is not a PEM file (it is binary; DER files must be converted with openssl)")
        }
        return text
    }

    /// NIO's constant for a suite's IANA name, for the names ``Configuration/TLS/defaultCipherSuites`` lists.
    static func cipher(named name: String) -> NIOTLSCipher? {
        switch name {
        case "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        case "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        case "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        case "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        case "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        case "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        default: nil
        }
    }
}
