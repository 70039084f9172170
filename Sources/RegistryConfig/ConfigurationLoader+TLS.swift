import Foundation
import Yams

extension ConfigurationLoader {
    /// The `http.tls` block; `nil` when neither certificate nor key is given. `warnings` gets what is accepted
    /// but changed (a minimum below TLS 1.2, TLS 1.3 suite names).
    static func tls(from entries: [String: Entry], file: String, warnings: inout [String]) throws -> Configuration.TLS? {
        func scalar(_ path: String) throws -> (String, String)? {
            try singleValue(path, in: entries, file: file)
        }
        /// A YAML list, or from the environment a single value or a flow list (`[a, b]`), as Distribution reads them.
        func list(_ path: String) throws -> ([String], String)? {
            guard let entry = entries[path] else { return nil }
            switch entry.value {
            case .list(let values): return (values, entry.origin)
            case .null: return nil
            case .complex: throw ConfigurationError("\(file): \(entry.origin): '\(path)' must be a list of strings")
            case .scalar(let value):
                let text = value.trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("[") else { return ([text], entry.origin) }
                guard let values = (try? Yams.load(yaml: text)) as? [Any] else {
                    throw ConfigurationError("\(file): \(entry.origin): '\(path)' must be a list such as [a, b], not '\(value)'")
                }
                return (values.map { "\($0)" }, entry.origin)
            }
        }

        let certificate = try scalar("http.tls.certificate")
        let key = try scalar("http.tls.key")
        var tls: Configuration.TLS
        switch (certificate, key) {
        case (let certificate?, let key?):
            tls = .init(certificate: certificate.0, key: key.0)
        case (let given?, nil), (nil, let given?):
            throw ConfigurationError("\(file): \(given.1): TLS needs both http.tls.certificate and http.tls.key")
        case (nil, nil):
            let others = ["http.tls.clientcas", "http.tls.clientauth", "http.tls.minimumtls", "http.tls.ciphersuites"]
            if let path = others.first(where: { entries[$0] != nil }), let entry = entries[path] {
                throw ConfigurationError("\(file): \(entry.origin): '\(path)' needs http.tls.certificate and http.tls.key")
            }
            return nil
        }

        if let (files, _) = try list("http.tls.clientcas") { tls.clientCAs = files.filter { !$0.isEmpty } }
        if let (value, origin) = try scalar("http.tls.clientauth") {
            guard let mode = Configuration.TLS.ClientAuth(rawValue: value.lowercased()) else {
                let known = Configuration.TLS.ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError("\(file): \(origin): 'http.tls.clientauth' must be one of \(known), not '\(value)'")
            }
            // As in Distribution, clientauth only applies with clientcas: without CAs it would silently do nothing.
            guard !tls.clientCAs.isEmpty else {
                throw ConfigurationError("\(file): \(origin): 'http.tls.clientauth' needs http.tls.clientcas")
            }
            tls.clientAuth = mode
        }
        if let (value, origin) = try scalar("http.tls.minimumtls") {
            switch value.lowercased() {
            case "tls1.2": tls.minimumVersion = .tls12
            case "tls1.3": tls.minimumVersion = .tls13
            case "tls1.0", "tls1.1":
                // Distribution accepts these; TLS 1.0 and 1.1 are deprecated (RFC 8996), so Pier serves 1.2 at least.
                warnings.append("'http.tls.minimumtls' \(value) (\(origin)) is raised to tls1.2: Pier does not offer TLS 1.0 or 1.1")
            default:
                throw ConfigurationError("\(file): \(origin): 'http.tls.minimumtls' must be tls1.2 or tls1.3, not '\(value)'")
            }
        }
        if let (names, origin) = try list("http.tls.ciphersuites") {
            var suites: [String] = []
            for name in names.map({ $0.uppercased() }) {
                if Configuration.TLS.defaultCipherSuites.contains(name) {
                    suites.append(name)
                } else if Configuration.TLS.tls13CipherSuites.contains(name) {
                    warnings.append("'http.tls.ciphersuites' \(name) (\(origin)) is a TLS 1.3 suite; TLS 1.3 always offers its three AEAD suites")
                } else if Configuration.TLS.refusedCipherSuites.contains(name) {
                    throw ConfigurationError("\(file): \(origin): 'http.tls.ciphersuites' \(name) is not offered by Pier: only ECDHE with AES-GCM or ChaCha20-Poly1305 (\(Configuration.TLS.defaultCipherSuites.joined(separator: ", ")))")
                } else {
                    throw ConfigurationError("\(file): \(origin): 'http.tls.ciphersuites' has an unknown suite '\(name)' (known: \(Configuration.TLS.defaultCipherSuites.joined(separator: ", ")))")
                }
            }
            if suites.isEmpty, tls.minimumVersion == .tls12, !names.isEmpty {
                throw ConfigurationError("\(file): \(origin): 'http.tls.ciphersuites' names no TLS 1.2 suite; TLS 1.2 clients could not connect (set minimumtls: tls1.3 instead)")
            }
            tls.cipherSuites = suites
        }
        if let (value, origin) = try scalar("http.tls.reloadinterval") {
            tls.reloadInterval = try Self.duration(value, key: "http.tls.reloadinterval", origin: origin, file: file, example: "5s (0 turns polling off)")
        }
        return tls
    }
}
