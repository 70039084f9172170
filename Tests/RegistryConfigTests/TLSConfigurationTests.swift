import RegistryConfig
import Testing

@Suite("Configuration: http.tls and http.http2")
struct TLSConfigurationTests {
    @Test("reads every http.tls key and http.http2.disabled")
    func allKeys() throws {
        let yaml = """
            http:
              tls:
                certificate: /c.pem
                key: /k.pem
                clientcas:
                  - /ca1.pem
                  - /ca2.pem
                clientauth: verify-client-cert-if-given
                minimumtls: tls1.3
                ciphersuites:
                  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                reloadinterval: 2s
              http2:
                disabled: true
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        let tls = try #require(configuration.http.tls)
        #expect(tls.certificate == "/c.pem" && tls.key == "/k.pem")
        #expect(tls.clientCAs == ["/ca1.pem", "/ca2.pem"])
        #expect(tls.clientAuth == .verifyClientCertIfGiven)
        #expect(tls.minimumVersion == .tls13)
        #expect(tls.cipherSuites == ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"])
        #expect(tls.reloadInterval == 2)
        #expect(configuration.http.http2Disabled)
        #expect(configuration.warnings.isEmpty, "\(configuration.warnings)")
    }

    @Test("defaults: TLS 1.2, require-and-verify with clientcas, Pier's AEAD suites, h2 on")
    func defaults() throws {
        let configuration = try ConfigurationLoader.load(yaml: "http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n    clientcas: [/ca.pem]\n")
        let tls = try #require(configuration.http.tls)
        #expect(tls.minimumVersion == .tls12 && tls.clientAuth == .requireAndVerifyClientCert && tls.cipherSuites.isEmpty)
        #expect(tls.clientCAs == ["/ca.pem"] && tls.reloadInterval == 5)
        #expect(!configuration.http.http2Disabled)
    }

    @Test("REGISTRY_HTTP_TLS_* and REGISTRY_HTTP_HTTP2_DISABLED from the environment")
    func environment() throws {
        let configuration = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_HTTP_TLS_CERTIFICATE": "/c.pem",
            "REGISTRY_HTTP_TLS_KEY": "/k.pem",
            "REGISTRY_HTTP_TLS_CLIENTCAS": "[/ca1.pem, /ca2.pem]",
            "REGISTRY_HTTP_TLS_MINIMUMTLS": "tls1.3",
            "REGISTRY_HTTP_TLS_CIPHERSUITES": "[TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]",
            "REGISTRY_HTTP_HTTP2_DISABLED": "true",
        ])
        let tls = try #require(configuration.http.tls)
        #expect(tls == .init(certificate: "/c.pem", key: "/k.pem", clientCAs: ["/ca1.pem", "/ca2.pem"], minimumVersion: .tls13,
                             cipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]))
        #expect(configuration.http.http2Disabled)
        let single = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_HTTP_TLS_CERTIFICATE": "/c.pem", "REGISTRY_HTTP_TLS_KEY": "/k.pem", "REGISTRY_HTTP_TLS_CLIENTCAS": "/ca.pem",
        ])
        #expect(single.http.tls?.clientCAs == ["/ca.pem"])
    }

    @Test("tls1.0 and tls1.1 are raised to tls1.2 with a warning; TLS 1.3 suite names are accepted with a warning")
    func raisedWithWarnings() throws {
        let configuration = try ConfigurationLoader.load(yaml: """
            http:
              tls:
                certificate: /c.pem
                key: /k.pem
                minimumtls: tls1.0
                ciphersuites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
            """)
        #expect(configuration.http.tls?.minimumVersion == .tls12)
        #expect(configuration.http.tls?.cipherSuites == ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"])
        #expect(configuration.warnings.contains { $0.contains("raised to tls1.2") })
        #expect(configuration.warnings.contains { $0.contains("TLS_AES_128_GCM_SHA256") && $0.contains("TLS 1.3") })
    }

    static let base = "http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n"

    @Test("refuses unknown or weak values, naming the key and line", arguments: [
        (base + "    minimumtls: ssl3\n", "line 5: 'http.tls.minimumtls' must be tls1.2 or tls1.3, not 'ssl3'"),
        (base + "    clientauth: maybe\n    clientcas: [/ca.pem]\n", "'http.tls.clientauth' must be one of request-client-cert"),
        (base + "    clientauth: require-and-verify-client-cert\n", "'http.tls.clientauth' needs http.tls.clientcas"),
        (base + "    ciphersuites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n", "TLS_RSA_WITH_AES_128_CBC_SHA is not offered by Pier"),
        (base + "    ciphersuites: [TLS_MADE_UP]\n", "unknown suite 'TLS_MADE_UP'"),
        (base + "    ciphersuites: [TLS_AES_128_GCM_SHA256]\n", "names no TLS 1.2 suite"),
        (base + "    clientcas:\n      nested: x\n", "takes a value"),
        (base + "    reloadinterval: often\n", "'http.tls.reloadinterval' must be a duration"),
        ("http:\n  tls:\n    clientcas: [/ca.pem]\n", "'http.tls.clientcas' needs http.tls.certificate and http.tls.key"),
        ("http:\n  http2:\n    disabled: sometimes\n", "'http.http2.disabled' must be true or false"),
    ])
    func invalid(_ yaml: String, _ message: String) {
        do {
            _ = try ConfigurationLoader.load(yaml: yaml, path: "config.yml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
