/// Which of Distribution's configuration keys Pier honours, accepts with a warning, or refuses.
enum ConfigurationSchema {
    enum Rule: Equatable {
        /// Pier reads this key.
        case supported
        /// A map whose children are free-form (`http.headers`, `log.fields`).
        case map
        /// Distribution knows it; it has no effect in Pier, so it is accepted with a warning.
        case ignored
        /// Honouring it wrongly would be unsafe (an open registry where auth was asked for): refuse to start.
        case refused(String)
    }

    /// Rules by dotted path. The longest matching prefix of a key decides; a key no rule matches is unknown.
    static let rules: [String: Rule] = [
        "version": .supported,
        "log.level": .supported,
        "log.formatter": .supported,
        "log.fields": .map,
        "log.accesslog.disabled": .supported,
        "log.hooks": .ignored,
        "loglevel": .supported,
        "storage.filesystem.rootdirectory": .supported,
        "storage.filesystem.maxthreads": .ignored,
        "storage.delete.enabled": .supported,
        "storage.maintenance.uploadpurging.enabled": .supported,
        "storage.maintenance.uploadpurging.age": .supported,
        "storage.maintenance.uploadpurging.interval": .supported,
        "storage.maintenance.uploadpurging.dryrun": .supported,
        "storage.maintenance.readonly.enabled": .supported,
        "storage.cache": .ignored,
        "storage.redirect": .ignored,
        "storage.tag": .ignored,
        "storage.inmemory": .refused("the inmemory storage driver is not supported; Pier keeps data in storage.filesystem.rootdirectory"),
        "storage.s3": .refused("the s3 storage driver is not supported yet"),
        "storage.azure": .refused("the azure storage driver is not supported"),
        "storage.gcs": .refused("the gcs storage driver is not supported"),
        "storage.swift": .refused("the swift storage driver is not supported"),
        "storage.oss": .refused("the oss storage driver is not supported"),
        "http.addr": .supported,
        "http.net": .supported,
        "http.host": .supported,
        "http.headers": .map,
        "http.tls.certificate": .supported,
        "http.tls.key": .supported,
        "http.tls.clientcas": .supported,
        "http.tls.clientauth": .supported,
        "http.tls.minimumtls": .supported,
        "http.tls.ciphersuites": .supported,
        // Pier's own: how often the certificate, key and CA files are checked for changes.
        "http.tls.reloadinterval": .supported,
        "http.tls.letsencrypt": .refused("Let's Encrypt certificates are not supported; give http.tls.certificate and key"),
        "http.prefix": .refused("http.prefix is not supported; serve Pier at the root of its host"),
        "http.secret": .ignored,
        "http.relativeurls": .ignored,
        "http.draintimeout": .supported,
        // Pier's own: connection deadlines against slow clients.
        "http.timeouts.readheader": .supported,
        "http.timeouts.bodyidle": .supported,
        "http.timeouts.idle": .supported,
        "http.debug": .ignored,
        "http.http2.disabled": .supported,
        "http.http2": .ignored,
        "http.h2c": .ignored,
        "auth.htpasswd.realm": .supported,
        "auth.htpasswd.path": .supported,
        "auth.token.realm": .supported,
        "auth.token.service": .supported,
        "auth.token.issuer": .supported,
        "auth.token.rootcertbundle": .supported,
        "auth.token.jwks": .supported,
        "auth.token.autoredirect": .refused("auth.token.autoredirect is not supported; set auth.token.realm"),
        "auth.token.signingalgorithms": .ignored,
        // Pier's own token service and token checks.
        "auth.token.signingkey": .supported,
        "auth.token.expiration": .supported,
        "auth.token.leeway": .supported,
        // Pier's own: failed logins per client address before a pause.
        "auth.failedlogins.limit": .supported,
        "auth.failedlogins.window": .supported,
        "auth": .refused("only auth.htpasswd and auth.token are supported (not auth.silly); refusing to start a registry that would be open to everyone"),
        // Pier's own: per-repository access rules, read from the YAML tree (user names keep their case).
        "access": .map,
        "proxy.remoteurl": .supported,
        "proxy.username": .supported,
        "proxy.password": .supported,
        "proxy.ttl": .supported,
        // Pier's own: the registry the proxy block stands in for (containerd's `?ns=`), how often a cached tag is
        // checked with its upstream, and the cache's size cap.
        "proxy.namespace": .supported,
        "proxy.revalidate": .supported,
        "proxy.maxsize": .supported,
        // Pier's own: more upstreams, by the registry host clients name (`mirrors.<host>.remoteurl`, …).
        "mirrors": .map,
        // Pier's own: images kept fresh in the cache on a schedule (`sync.<rule>.upstream`, …).
        "sync": .map,
        // Pier's own: the bearer token of the admin API (`POST /admin/prefetch`).
        "admin.token": .supported,
        "middleware": .ignored,
        "notifications": .ignored,
        "redis": .ignored,
        "health": .ignored,
        "reporting": .ignored,
        "validation": .ignored,
        "compatibility": .ignored,
        "catalog.maxentries": .supported,
        // Pier's own: caps on open upload sessions.
        "limits.uploadsessions.perrepository": .supported,
        "limits.uploadsessions.total": .supported,
        "limits.connections": .supported,
        "tags": .ignored,
    ]

    /// The rule for a dotted key, by its longest matching prefix; `nil` when Distribution has no such key.
    static func rule(for path: String) -> (prefix: String, rule: Rule)? {
        var candidate = Substring(path)
        while true {
            if let rule = rules[String(candidate)] { return (String(candidate), rule) }
            guard let dot = candidate.lastIndex(of: ".") else { return nil }
            candidate = candidate[..<dot]
        }
    }

    /// Every key path an environment variable may set, for matching `REGISTRY_*` names.
    static var settablePaths: [String] {
        rules.filter { $0.value == .supported }.map(\.key)
    }
}
