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

    /// Applies `REGISTRY_<PATH>` variables, `_` separating levels, as Distribution does. A variable set to the empty
    /// string unsets its key (the built-in default applies, whatever the file says), as Distribution's zero values do.
    // Why: compose files and deployment templates write `REGISTRY_PROXY_REMOTEURL=${UPSTREAM}` and the like, which is
    // empty when the variable is unset; Distribution then runs without that setting rather than refusing to start.
    private static func overlay(_ environment: [String: String], on entries: inout [String: Entry]) throws {
        let paths = ConfigurationSchema.settablePaths
        var byEnvironmentName: [String: String] = [:]
        for path in paths {
            byEnvironmentName["REGISTRY_" + path.replacingOccurrences(of: ".", with: "_").uppercased()] = path
        }
        for (name, value) in environment where name.hasPrefix("REGISTRY_") {
            if let path = byEnvironmentName[name] {
                entries[path] = value.isEmpty ? nil : Entry(value: .scalar(value), origin: "environment \(name)")
            } else if name.hasPrefix("REGISTRY_HTTP_HEADERS_") {
                let header = String(name.dropFirst("REGISTRY_HTTP_HEADERS_".count))
                entries["http.headers." + header] = value.isEmpty ? nil : Entry(value: .list([value]), origin: "environment \(name)")
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
