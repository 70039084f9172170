import Foundation

extension ConfigurationLoader {
    /// The `proxy` block (Distribution's single upstream) and Pier's `mirrors` map (more upstreams by host).
    static func proxy(
        from entries: [String: Entry], file: String, scalar: (String) throws -> (String, String)?, duration: (String) throws -> TimeInterval?,
        warnings: inout [String]
    ) throws -> Configuration.Proxy {
        var proxy = Configuration.Proxy()
        if let ttl = try duration("proxy.ttl") { proxy.ttl = ttl }
        if let revalidate = try duration("proxy.revalidate") { proxy.revalidate = revalidate }
        if let (value, origin) = try scalar("proxy.maxsize") {
            guard let size = parseSize(value), size > 0 else {
                throw ConfigurationError("\(file): \(origin): 'proxy.maxsize' must be a size such as 50GiB or 500MB, from 1 byte to 8EB, not '\(value)'")
            }
            proxy.maxSize = size
        }
        // mirrors.<host>.<setting>: hosts contain dots, settings do not, so the last component is the setting.
        var byHost: [String: [String: Entry]] = [:]
        for (key, entry) in entries where key.hasPrefix("mirrors.") {
            let rest = key.dropFirst("mirrors.".count)
            guard let dot = rest.lastIndex(of: "."), dot != rest.startIndex else {
                throw ConfigurationError("\(file): \(entry.origin): 'mirrors' maps registry hosts to settings, e.g. mirrors.docker.io.remoteurl")
            }
            byHost[String(rest[..<dot]).lowercased(), default: [:]][String(rest[rest.index(after: dot)...])] = entry
        }
        for (host, settings) in byHost.sorted(by: { $0.key < $1.key }) {
            func value(_ name: String) throws -> String? {
                guard let entry = settings[name] else { return nil }
                switch entry.value {
                case .scalar(let value): return value
                case .null: return nil
                default: throw ConfigurationError("\(file): \(entry.origin): 'mirrors.\(host).\(name)' must be a single value")
                }
            }
            for (name, entry) in settings where !["remoteurl", "username", "password", "ttl"].contains(name) {
                throw ConfigurationError("\(file): \(entry.origin): unknown mirror setting 'mirrors.\(host).\(name)' (known: remoteurl, username, password, ttl)")
            }
            guard isRegistryHost(host) else {
                throw ConfigurationError("\(file): mirrors: '\(host)' is not a registry host such as docker.io or registry.example.com:5000")
            }
            let origin = settings.values.map(\.origin).sorted().first ?? "mirrors"
            guard let remote = try value("remoteurl") else {
                throw ConfigurationError("\(file): \(origin): 'mirrors.\(host)' needs remoteurl")
            }
            var ttl: TimeInterval?
            if let text = try value("ttl") {
                ttl = try Self.duration(text, key: "mirrors.\(host).ttl", origin: settings["ttl"]?.origin ?? origin, file: file)
            }
            let credentials = self.credentials(
                username: try value("username").map { ($0, settings["username"]?.origin ?? origin) },
                password: try value("password").map { ($0, settings["password"]?.origin ?? origin) },
                block: "mirrors.\(host)", warnings: &warnings)
            let mirror = Configuration.Mirror(
                host: host, remoteURL: try remoteURL(remote, key: "mirrors.\(host).remoteurl", origin: origin, file: file),
                username: credentials?.username, password: credentials?.password, ttl: ttl
            )
            proxy.mirrors.append(mirror)
        }
        if let (remote, origin) = try scalar("proxy.remoteurl") {
            let url = try remoteURL(remote, key: "proxy.remoteurl", origin: origin, file: file)
            let credentials = self.credentials(
                username: try scalar("proxy.username"), password: try scalar("proxy.password"), block: "proxy", warnings: &warnings)
            let username = credentials?.username
            let password = credentials?.password
            var namespace: String?
            if let (value, namespaceOrigin) = try scalar("proxy.namespace") {
                guard isRegistryHost(value.lowercased()) else {
                    throw ConfigurationError("\(file): \(namespaceOrigin): 'proxy.namespace' must be a registry host such as docker.io or ghcr.io, not '\(value)'")
                }
                // Docker Hub's API hosts are all docker.io to clients.
                let host = defaultHost(for: "https://" + value)
                if let other = proxy.mirrors.first(where: { $0.host == host }), other.remoteURL != url {
                    throw ConfigurationError("\(file): \(namespaceOrigin): 'proxy.namespace' \(host) is also under 'mirrors' with another remoteurl (\(other.remoteURL))")
                }
                namespace = host
            }
            if namespace == nil, let index = proxy.mirrors.firstIndex(where: { $0.remoteURL == url }) {
                // The same upstream under `mirrors` too: one cache, reachable both ways.
                proxy.defaultHost = proxy.mirrors[index].host
                if proxy.mirrors[index].username == nil, proxy.mirrors[index].password == nil {
                    proxy.mirrors[index].username = username
                    proxy.mirrors[index].password = password
                }
            } else {
                // Why: Distribution documents its proxy block as a Docker Hub mirror, and that is how it is used (in front
                // of mirror.gcr.io, a corporate Nexus, …). containerd, with Pier as the mirror of docker.io, asks for
                // `?ns=docker.io`: the block answers for docker.io unless `mirrors` has its own docker.io entry.
                let remoteHost = defaultHost(for: url)
                let host = namespace ?? (proxy.mirrors.contains { $0.host == "docker.io" } ? remoteHost : "docker.io")
                if let index = proxy.mirrors.firstIndex(where: { $0.host == host }) {
                    guard proxy.mirrors[index].remoteURL == url else {
                        throw ConfigurationError("\(file): \(origin): 'proxy.remoteurl' \(url) and 'mirrors.\(host)' name the same host with different URLs")
                    }
                    if proxy.mirrors[index].username == nil, proxy.mirrors[index].password == nil {
                        proxy.mirrors[index].username = username
                        proxy.mirrors[index].password = password
                    }
                } else {
                    // The remote's own host names it too (`?ns=127.0.0.1:5600`), unless `mirrors` gives that host elsewhere.
                    let aliases = remoteHost == host || proxy.mirrors.contains { $0.host == remoteHost } ? [] : [remoteHost]
                    proxy.mirrors.append(Configuration.Mirror(host: host, remoteURL: url, username: username, password: password, aliases: aliases))
                }
                proxy.defaultHost = host
            }
        } else if let (_, origin) = try [scalar("proxy.username"), scalar("proxy.password")].compactMap({ $0 }).first(where: { !$0.0.isEmpty }) {
            throw ConfigurationError("\(file): \(origin): proxy credentials need 'proxy.remoteurl'")
        } else if let (_, origin) = try scalar("proxy.namespace") {
            throw ConfigurationError("\(file): \(origin): 'proxy.namespace' needs 'proxy.remoteurl'")
        }
        proxy.syncRules = try syncRules(from: entries, mirrors: proxy, file: file)
        return proxy
    }

    /// The credentials of an upstream as Distribution uses them: a user name and a password when both are non-empty,
    /// else none (anonymous). Exactly one of them set is probably a mistake, so it is warned about.
    // Why: compose files and deployment templates write `REGISTRY_PROXY_USERNAME=` for an unset variable; a user ""
    // sent to Docker Hub's token service is refused, and every pull of a public image would fail.
    static func credentials(
        username: (String, String)?, password: (String, String)?, block: String, warnings: inout [String]
    ) -> (username: String, password: String)? {
        let username = username.flatMap { $0.0.isEmpty ? nil : $0 }
        let password = password.flatMap { $0.0.isEmpty ? nil : $0 }
        switch (username, password) {
        case (let username?, let password?):
            return (username.0, password.0)
        case (let given?, nil), (nil, let given?):
            let (set, unset) = username != nil ? ("username", "password") : ("password", "username")
            warnings.append("'\(block).\(set)' is set (\(given.1)) but '\(block).\(unset)' is empty or missing: Pier pulls from this upstream anonymously, as Distribution does; set both to use credentials")
            return nil
        case (nil, nil):
            return nil
        }
    }

    /// `sync.<name>.{upstream, repositories, tags, interval, platforms, maxtags, referrers}`.
    static func syncRules(from entries: [String: Entry], mirrors proxy: Configuration.Proxy, file: String) throws -> [Configuration.SyncRule] {
        var byName: [String: [String: Entry]] = [:]
        for (key, entry) in entries where key.hasPrefix("sync.") {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3 else {
                throw ConfigurationError("\(file): \(entry.origin): 'sync' maps rule names to settings, e.g. sync.alpine.upstream")
            }
            byName[parts[1], default: [:]][parts[2]] = entry
        }
        var rules: [Configuration.SyncRule] = []
        for (name, settings) in byName.sorted(by: { $0.key < $1.key }) {
            let origin = settings.values.map(\.origin).sorted().first ?? "sync"
            func scalar(_ key: String) throws -> String? {
                guard let entry = settings[key] else { return nil }
                switch entry.value {
                case .scalar(let value): return value
                case .null: return nil
                default: throw ConfigurationError("\(file): \(entry.origin): 'sync.\(name).\(key)' must be a single value")
                }
            }
            func list(_ key: String) throws -> [String] {
                guard let entry = settings[key] else { return [] }
                switch entry.value {
                case .list(let values): return values
                case .scalar(let value): return [value]
                case .null: return []
                case .complex: throw ConfigurationError("\(file): \(entry.origin): 'sync.\(name).\(key)' must be a list of names")
                }
            }
            for (key, entry) in settings where !["upstream", "repositories", "tags", "interval", "platforms", "maxtags", "referrers"].contains(key) {
                throw ConfigurationError("\(file): \(entry.origin): unknown sync setting 'sync.\(name).\(key)' (known: upstream, repositories, tags, interval, platforms, maxtags, referrers)")
            }
            let host = try scalar("upstream")?.lowercased() ?? proxy.defaultHost
            guard let host, proxy.mirrors.contains(where: { $0.host == host || $0.aliases.contains(host) }) else {
                let known = proxy.mirrors.map(\.host).joined(separator: ", ")
                throw ConfigurationError("\(file): \(origin): 'sync.\(name).upstream' must name a mirrored host (\(known.isEmpty ? "none configured" : known))")
            }
            let repositories = try list("repositories")
            guard !repositories.isEmpty else { throw ConfigurationError("\(file): \(origin): 'sync.\(name)' needs repositories") }
            var rule = Configuration.SyncRule(name: name, host: host, repositories: repositories, platforms: try list("platforms"))
            if let pattern = try scalar("tags") {
                do {
                    _ = try NSRegularExpression(pattern: pattern)
                } catch {
                    throw ConfigurationError("\(file): \(origin): 'sync.\(name).tags' is not a regular expression: \(pattern)")
                }
                rule.tagPattern = pattern
            }
            if let text = try scalar("interval") {
                let key = "sync.\(name).interval", at = settings["interval"]?.origin ?? origin
                let interval = try Self.duration(text, key: key, origin: at, file: file, example: "1h")
                guard interval >= 60 else { throw ConfigurationError("\(file): \(at): '\(key)' must be at least 1m, not '\(text)'") }
                rule.interval = interval
            }
            if let text = try scalar("maxtags") {
                guard let count = Int(text), count > 0 else {
                    throw ConfigurationError("\(file): \(origin): 'sync.\(name).maxtags' must be a positive number")
                }
                rule.maximumTags = count
            }
            if let text = try scalar("referrers") {
                switch text.lowercased() {
                case "true", "yes", "on", "1": rule.referrers = true
                case "false", "no", "off", "0": rule.referrers = false
                default: throw ConfigurationError("\(file): \(origin): 'sync.\(name).referrers' must be true or false, not '\(text)'")
                }
            }
            rules.append(rule)
        }
        return rules
    }

    static func remoteURL(_ value: String, key: String, origin: String, file: String) throws -> String {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty, url.query == nil
        else {
            throw ConfigurationError("\(file): \(origin): '\(key)' must be an http(s) URL such as https://registry-1.docker.io, not '\(value)'")
        }
        var trimmed = value
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// The host under which a `proxy.remoteurl` upstream's content is cached: Docker Hub's API host is `docker.io`
    /// to every client, anything else is its own host (and port).
    static func defaultHost(for url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host?.lowercased() else { return "default" }
        if ["registry-1.docker.io", "index.docker.io", "registry.hub.docker.com", "docker.io"].contains(host) { return "docker.io" }
        if let port = components.port { return "\(host):\(port)" }
        return host
    }

    /// A registry host as clients write it: DNS labels or an IPv4 address, optionally with a port.
    static func isRegistryHost(_ host: String) -> Bool {
        var name = Substring(host)
        if let colon = name.lastIndex(of: ":") {
            guard let port = Int(name[name.index(after: colon)...]), (1...65535).contains(port) else { return false }
            name = name[..<colon]
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !name.isEmpty && name.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
