import Foundation
import Yams

/// Reads a Distribution-style `config.yml`, overlays `REGISTRY_*` environment variables, and validates the result.
public enum ConfigurationLoader {
    /// A configuration value with where it came from, for error messages.
    struct Entry {
        enum Value {
            case scalar(String)
            case list([String])
            case null
            case complex
        }
        var value: Value
        /// `line 12` or `environment REGISTRY_HTTP_ADDR`.
        var origin: String
    }

    /// Loads the configuration.
    /// - Parameters:
    ///   - yaml: the file's text, or `nil` for defaults only.
    ///   - path: the file's path, for messages.
    ///   - environment: the process environment (only `REGISTRY_*` variables are read).
    public static func load(yaml: String?, path: String = "config.yml", environment: [String: String] = [:]) throws -> Configuration {
        var entries: [String: Entry] = [:]
        var accessNode: Node?
        if let yaml {
            let node: Node?
            do {
                node = try Yams.compose(yaml: yaml)
            } catch let error as YamlError {
                throw ConfigurationError("\(path): malformed YAML: \(describe(error))")
            }
            if let node {
                guard case .mapping(let mapping) = node else {
                    throw ConfigurationError("\(path): line \(node.mark?.line ?? 1): the configuration must be a mapping of keys")
                }
                try flatten(mapping, prefix: "", into: &entries, file: path)
                accessNode = mapping.first { $0.key.string?.lowercased() == "access" }?.value
            }
        }
        var warnings: [String] = []
        for (key, entry) in entries.sorted(by: { $0.key < $1.key }) {
            guard let (prefix, rule) = ConfigurationSchema.rule(for: key) else {
                throw ConfigurationError("\(path): \(entry.origin): unknown configuration key '\(key)'")
            }
            switch rule {
            case .supported:
                guard prefix == key else {
                    throw ConfigurationError("\(path): \(entry.origin): '\(prefix)' takes a value, not the key '\(key)'")
                }
            case .map:
                break
            case .ignored:
                warnings.append("configuration key '\(key)' (\(entry.origin)) is accepted for compatibility with Distribution but has no effect in Pier")
            case .refused(let reason):
                throw ConfigurationError("\(path): \(entry.origin): '\(key)': \(reason)")
            }
        }
        try overlay(environment, on: &entries)
        var configuration = try build(from: entries, file: path)
        if let accessNode {
            configuration.access = try access(from: accessNode, file: path)
        }
        if let access = configuration.access, configuration.htpasswd == nil, configuration.tokenAuth == nil,
            access.rules.contains(where: { !$0.users.isEmpty || !$0.groups.isEmpty || !$0.authenticated.isEmpty }) || !access.admins.isEmpty
        {
            warnings.append("access names users, but no auth is configured (auth.htpasswd or auth.token): only its anonymous rules apply")
        }
        configuration.warnings = warnings + configuration.warnings
        return configuration
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicated keys \(duplicates.joined(separator: ", "))"
        default:
            return "\(error)"
        }
    }

    private static func flatten(_ mapping: Node.Mapping, prefix: String, into entries: inout [String: Entry], file: String) throws {
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let key) = keyNode else {
                throw ConfigurationError("\(file): line \(keyNode.mark?.line ?? 0): keys must be plain strings")
            }
            // Header names in http.headers keep their case; everything else in Distribution is lower-case.
            let name = prefix == "http.headers." ? key.string : key.string.lowercased()
            let path = prefix + name
            let origin = "line \(keyNode.mark?.line ?? 0)"
            switch valueNode {
            case .mapping(let child):
                if ConfigurationSchema.rule(for: path)?.rule == .supported, ConfigurationSchema.rule(for: path)?.prefix == path {
                    throw ConfigurationError("\(file): \(origin): '\(path)' takes a value, not a mapping")
                }
                if child.count == 0 {
                    entries[path] = Entry(value: .null, origin: origin)
                } else {
                    try flatten(child, prefix: path + ".", into: &entries, file: file)
                }
            case .sequence(let sequence):
                var items: [String] = []
                var complex = false
                for item in sequence {
                    if case .scalar(let scalar) = item { items.append(scalar.string) } else { complex = true }
                }
                entries[path] = Entry(value: complex ? .complex : .list(items), origin: origin)
            case .scalar(let scalar):
                let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
                entries[path] = Entry(value: isNull ? .null : .scalar(scalar.string), origin: origin)
            case .alias:
                entries[path] = Entry(value: .complex, origin: origin)
            }
        }
    }

    /// Applies `REGISTRY_<PATH>` variables, `_` separating levels, as Distribution does.
    private static func overlay(_ environment: [String: String], on entries: inout [String: Entry]) throws {
        let paths = ConfigurationSchema.settablePaths
        var byEnvironmentName: [String: String] = [:]
        for path in paths {
            byEnvironmentName["REGISTRY_" + path.replacingOccurrences(of: ".", with: "_").uppercased()] = path
        }
        for (name, value) in environment where name.hasPrefix("REGISTRY_") {
            if let path = byEnvironmentName[name] {
                entries[path] = Entry(value: .scalar(value), origin: "environment \(name)")
            } else if name.hasPrefix("REGISTRY_HTTP_HEADERS_") {
                let header = String(name.dropFirst("REGISTRY_HTTP_HEADERS_".count))
                entries["http.headers." + header] = Entry(value: .list([value]), origin: "environment \(name)")
            } else if name.hasPrefix("REGISTRY_AUTH") {
                throw ConfigurationError("environment \(name): unknown auth setting (known: REGISTRY_AUTH_HTPASSWD_REALM, _PATH, REGISTRY_AUTH_TOKEN_REALM, _SERVICE, _ISSUER, _ROOTCERTBUNDLE, _JWKS, _SIGNINGKEY, _EXPIRATION, _LEEWAY); refusing to start a registry that would be open to everyone")
            } else if name.hasPrefix("REGISTRY_PROXY") {
                throw ConfigurationError("environment \(name): unknown proxy setting (known: REGISTRY_PROXY_REMOTEURL, _USERNAME, _PASSWORD, _NAMESPACE, _TTL, _REVALIDATE, _MAXSIZE)")
            }
        }
    }

    /// The value at `path` with where it came from; `nil` when absent or null, an error when it is a list or a map.
    static func singleValue(_ path: String, in entries: [String: Entry], file: String) throws -> (String, String)? {
        guard let entry = entries[path] else { return nil }
        switch entry.value {
        case .scalar(let value): return (value, entry.origin)
        case .null: return nil
        default: throw ConfigurationError("\(file): \(entry.origin): '\(path)' must be a single value")
        }
    }

    private static func build(from entries: [String: Entry], file: String) throws -> Configuration {
        var configuration = Configuration()
        func scalar(_ path: String) throws -> (String, String)? {
            try singleValue(path, in: entries, file: file)
        }
        func bool(_ path: String) throws -> Bool? {
            guard let (value, origin) = try scalar(path) else { return nil }
            switch value.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw ConfigurationError("\(file): \(origin): '\(path)' must be true or false, not '\(value)'")
            }
        }
        func duration(_ path: String) throws -> TimeInterval? {
            guard let (value, origin) = try scalar(path) else { return nil }
            return try ConfigurationLoader.duration(value, key: path, origin: origin, file: file)
        }
        func positiveDuration(_ path: String) throws -> TimeInterval? {
            guard let (value, origin) = try scalar(path) else { return nil }
            let seconds = try ConfigurationLoader.duration(value, key: path, origin: origin, file: file)
            guard seconds > 0 else { throw ConfigurationError("\(file): \(origin): '\(path)' must be positive, not '\(value)'") }
            return seconds
        }

        if let (version, origin) = try scalar("version"), version != "0.1" {
            throw ConfigurationError("\(file): \(origin): unsupported configuration version '\(version)' (expected 0.1)")
        }
        for path in ["loglevel", "log.level"] {
            if let (value, origin) = try scalar(path) {
                let normalized = value.lowercased() == "warning" ? "warn" : value.lowercased()
                guard let level = Configuration.Log.Level(rawValue: normalized) else {
                    throw ConfigurationError("\(file): \(origin): '\(path)' must be one of error, warn, info, debug, not '\(value)'")
                }
                configuration.log.level = level
            }
        }
        if let (value, origin) = try scalar("log.formatter") {
            switch value.lowercased() {
            case "text": configuration.log.formatter = .text
            case "json", "logstash": configuration.log.formatter = .json
            default: throw ConfigurationError("\(file): \(origin): 'log.formatter' must be text or json, not '\(value)'")
            }
        }
        if let disabled = try bool("log.accesslog.disabled") { configuration.log.accessLog = !disabled }
        for (key, entry) in entries where key.hasPrefix("log.fields.") {
            if case .scalar(let value) = entry.value { configuration.log.fields[String(key.dropFirst("log.fields.".count))] = value }
        }
        if let (root, _) = try scalar("storage.filesystem.rootdirectory") { configuration.storage.rootDirectory = root }
        if let enabled = try bool("storage.delete.enabled") { configuration.storage.deleteEnabled = enabled }
        if let enabled = try bool("storage.maintenance.readonly.enabled") { configuration.storage.readOnly = enabled }
        if let enabled = try bool("storage.maintenance.uploadpurging.enabled") { configuration.storage.uploadPurging.enabled = enabled }
        if let age = try duration("storage.maintenance.uploadpurging.age") { configuration.storage.uploadPurging.age = age }
        if let interval = try positiveDuration("storage.maintenance.uploadpurging.interval") {
            configuration.storage.uploadPurging.interval = interval
        }
        if let dryRun = try bool("storage.maintenance.uploadpurging.dryrun") { configuration.storage.uploadPurging.dryRun = dryRun }
        if let (addr, origin) = try scalar("http.addr") {
            guard let (host, port) = parseAddress(addr) else {
                throw ConfigurationError("\(file): \(origin): 'http.addr' must be host:port or :port, not '\(addr)'")
            }
            configuration.http.host = host
            configuration.http.port = port
        }
        if let (network, origin) = try scalar("http.net"), network != "tcp" {
            throw ConfigurationError("\(file): \(origin): 'http.net' \(network) is not supported; only tcp")
        }
        if let (host, origin) = try scalar("http.host") {
            guard let url = URL(string: host), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigurationError("\(file): \(origin): 'http.host' must be a URL such as https://registry.example.com, not '\(host)'")
            }
            configuration.http.externalURL = host.hasSuffix("/") ? String(host.dropLast()) : host
        }
        for (key, entry) in entries where key.hasPrefix("http.headers.") {
            let name = String(key.dropFirst("http.headers.".count))
            switch entry.value {
            case .list(let values): configuration.http.headers[name] = values
            case .scalar(let value): configuration.http.headers[name] = [value]
            default: throw ConfigurationError("\(file): \(entry.origin): header '\(name)' needs a list of values")
            }
        }
        configuration.http.tls = try tls(from: entries, file: file, warnings: &configuration.warnings)
        if let disabled = try bool("http.http2.disabled") { configuration.http.http2Disabled = disabled }
        if let drain = try duration("http.draintimeout") { configuration.http.drainTimeout = drain }
        for (path, keyPath) in [("http.timeouts.readheader", \Configuration.Timeouts.readHeader), ("http.timeouts.bodyidle", \.bodyIdle),
                                ("http.timeouts.idle", \.idle)] {
            guard let seconds = try positiveDuration(path) else { continue }
            configuration.http.timeouts[keyPath: keyPath] = seconds
        }
        configuration.proxy = try proxy(from: entries, file: file, scalar: scalar, duration: duration, warnings: &configuration.warnings)
        switch (try scalar("auth.htpasswd.realm"), try scalar("auth.htpasswd.path")) {
        case (nil, nil): break
        case (let realm?, let path?): configuration.htpasswd = .init(realm: realm.0, path: path.0)
        case (let given?, nil), (nil, let given?):
            throw ConfigurationError("\(file): \(given.1): auth.htpasswd needs both realm and path")
        }
        configuration.tokenAuth = try tokenAuth(scalar: scalar, duration: duration, file: file)
        if let (value, origin) = try scalar("auth.failedlogins.limit") {
            guard let limit = Int(value), limit >= 0 else {
                throw ConfigurationError("\(file): \(origin): 'auth.failedlogins.limit' must be a number (0 turns the limit off)")
            }
            configuration.failedLogins.limit = limit
        }
        if let window = try positiveDuration("auth.failedlogins.window") {
            configuration.failedLogins.window = window
        }
        if let (token, origin) = try scalar("admin.token") {
            guard token.count >= 16, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw ConfigurationError("\(file): \(origin): 'admin.token' must be at least 16 printable characters without spaces")
            }
            configuration.adminToken = token
        }
        if let (value, origin) = try scalar("catalog.maxentries") {
            guard let count = Int(value), count > 0 else {
                throw ConfigurationError("\(file): \(origin): 'catalog.maxentries' must be a positive number")
            }
            configuration.catalogMaxEntries = count
        }
        for (path, keyPath) in [("limits.uploadsessions.perrepository", \Configuration.Limits.uploadSessionsPerRepository),
                                ("limits.uploadsessions.total", \.uploadSessions), ("limits.connections", \.connections)] {
            guard let (value, origin) = try scalar(path) else { continue }
            guard let count = Int(value), count > 0 else {
                throw ConfigurationError("\(file): \(origin): '\(path)' must be a positive number")
            }
            configuration.limits[keyPath: keyPath] = count
        }
        return configuration
    }

    /// The `proxy` block (Distribution's single upstream) and Pier's `mirrors` map (more upstreams by host).
    private static func proxy(
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
    private static func credentials(
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
    private static func syncRules(from entries: [String: Entry], mirrors proxy: Configuration.Proxy, file: String) throws -> [Configuration.SyncRule] {
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

    private static func remoteURL(_ value: String, key: String, origin: String, file: String) throws -> String {
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

    /// Parses a size: bytes, or a number with B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (1024).
    public static func parseSize(_ value: String) -> Int64? {
        let text = value.trimmingCharacters(in: .whitespaces)
        let number = text.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let amount = Double(number) else { return nil }
        let unit = text.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scales: [String: Double] = [
            "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let scale = scales[unit] else { return nil }
        let bytes = amount * scale
        // 8 EB, under Int64's 9.2 EB: sizes are summed and compared as Int64 later.
        guard bytes.isFinite, bytes <= 8e18 else { return nil }
        return Int64(bytes)
    }

    /// Parses `host:port`, `:port`, `[v6]:port`.
    public static func parseAddress(_ value: String) -> (String, Int)? {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// The longest duration any setting takes: 100 years (876000h). Durations are later converted to milliseconds
    /// and nanoseconds (timers, deadlines) and subtracted from the current date (expiry cut-offs); this bound keeps
    /// each of those in range, so a huge value is refused here instead of stopping the process later.
    public static let maximumDuration: TimeInterval = 876_000 * 3600

    /// A duration setting's value in seconds: a Go duration of at most ``maximumDuration``; an error naming `key`
    /// and `origin` otherwise.
    static func duration(_ value: String, key: String, origin: String, file: String, example: String = "168h or 30s") throws -> TimeInterval {
        guard let seconds = parseDuration(value) else {
            throw ConfigurationError("\(file): \(origin): '\(key)' must be a duration such as \(example), not '\(value)'")
        }
        guard seconds <= maximumDuration else {
            throw ConfigurationError("\(file): \(origin): '\(key)' must be at most 876000h (100 years), not '\(value)'")
        }
        return seconds
    }

    /// Parses a Go duration (`168h`, `1h30m`, `10s`, `500ms`) into seconds (possibly infinite for absurd numbers;
    /// settings go through ``duration(_:key:origin:file:example:)``, which bounds them).
    public static func parseDuration(_ value: String) -> TimeInterval? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var rest = Substring(value.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return 0 }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let amount = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                return nil
            }
            rest = rest.dropFirst(unit.count)
            total += amount * scale
        }
        return total
    }
}
