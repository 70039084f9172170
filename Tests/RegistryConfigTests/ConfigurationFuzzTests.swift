import Foundation
@testable import RegistryConfig
import RegistryTesting
import Testing

/// Random configuration files and `REGISTRY_*` environments, seeded so a failure can be replayed. A trap in the
/// loader, or in converting what it accepted, ends the test process: the run failing is the process crashing.
@Suite("Configuration fuzzing")
struct ConfigurationFuzzTests {
    @Test("random files and environments load or are refused with a ConfigurationError; what loads is in range")
    func randomDocuments() async throws {
        var random = SeededGenerator(seed: 0x9E37_79B9_7F4A_7C15)
        var loaded = 0, refused = 0
        for iteration in 0..<5000 {
            // Seconds of CPU in one loop: let the other suites' in-process servers have the cooperative threads now and then.
            if iteration % 50 == 0 { await Task.yield() }
            let (yaml, environment) = FuzzedConfiguration.make(&random)
            do {
                let configuration = try ConfigurationLoader.load(yaml: yaml, environment: environment)
                let problems = FuzzedConfiguration.outOfRange(configuration)
                #expect(problems.isEmpty, "iteration \(iteration): \(problems)\n\(yaml ?? "")\n\(environment)")
                loaded += 1
            } catch is ConfigurationError {
                refused += 1
            } catch {
                Issue.record("iteration \(iteration): \(type(of: error)) \(error)\n\(yaml ?? "")\n\(environment)")
            }
        }
        // Both outcomes are exercised, or the generator has gone blind.
        #expect(loaded > 300 && refused > 300, "loaded \(loaded), refused \(refused)")
    }
}

enum FuzzedConfiguration {
    /// Values that have broken parsers: huge, negative, non-finite, non-ASCII digits, YAML's own number forms.
    static let hostileScalars = [
        "9999999999999h", "1e400", "1e400s", "-1s", "-0", "NaN", ".nan", ".inf", "-.inf", "inf", "Infinity", "0", "0s", "0.0000000001ns",
        "876000h", "876000h1ns", "2562048h", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "18446744073709551616", "1" + String(repeating: "0", count: 400), String(repeating: "9", count: 30) + "h", "1.5h", "1h30m",
        "٣s", "１０s", "½h", "Ⅻh", "0x10", "0o17", "1_000", "+1", "1e3", "8EB", "9EB", "99999999999999999999GiB", "-1GiB", "1.5 KiB",
        ":65536", ":-1", ":0", "[::1]:5000", "localhost:99999999999999999999", "", " ", "~", "null", "true", "no", "\u{0}", "\u{7f}",
        "🐳", "é", String(repeating: "a", count: 2000), String(repeating: "1h", count: 200), "https://registry.example",
        "http://[::1", "https://", "library/alpine", "^3\\.2[0-9]$", "(", "linux/amd64",
    ]

    /// Values of the setting's own kind, many at the edge of its range (so that documents load with extreme
    /// numbers in them), a few just past it.
    static func plausibleScalars(for key: String) -> [String] {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        if ["ttl", "revalidate", "draintimeout", "readheader", "bodyidle", "idle", "age", "interval", "expiration", "leeway",
            "window", "reloadinterval"].contains(last) {
            return ["876000h", "875999h59m59s", "0", "1ns", "0.5ms", "1h30m", "10s", "5m", "24h", "1m", "876001h", "9999999999999h"]
        }
        if ["enabled", "dryrun", "disabled"].contains(last) { return ["true", "false", "yes", "off", "1", "maybe"] }
        if ["maxentries", "perrepository", "total", "connections", "limit", "maxtags"].contains(last) {
            return ["1", "0", "10", "2147483647", "9223372036854775807", "9223372036854775808", "-1"]
        }
        if last == "maxsize" { return ["1B", "8EB", "8000000000000000000", "50GiB", "9EB", "0.5"] }
        if last == "addr" { return [":5000", "127.0.0.1:0", ":65535", "[::1]:5000", ":65536"] }
        if ["remoteurl", "host", "realm"].contains(last) { return ["https://registry.example", "http://[::1]:5000", "ftp://x"] }
        return ["info", "json", "0.1", "tls1.3", "/tmp/pier-fuzz-missing", "pier", "library/alpine", "linux/amd64"]
    }

    static let settings: [String] = ConfigurationSchema.rules.keys.sorted()
    static let mirrorSettings = ["remoteurl", "username", "password", "ttl", "bogus"]
    static let syncSettings = ["upstream", "repositories", "tags", "interval", "platforms", "maxtags", "bogus"]

    /// A file (or none) and an environment.
    static func make<R: RandomNumberGenerator>(_ random: inout R) -> (String?, [String: String]) {
        var values: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            let key = key(&random)
            values[key] = value(for: key, &random)
        }
        var yaml: String? = Int.random(in: 0..<10, using: &random) == 0 ? nil : YAMLDocument(values).text
        if Int.random(in: 0..<12, using: &random) == 0, var text = yaml {
            // Damage: cut the text somewhere, or add a line that is not YAML.
            let cut = Int.random(in: 0...text.count, using: &random)
            text = String(text.prefix(cut)) + (Bool.random(using: &random) ? "\n: [\n" : "")
            yaml = text
        }
        var environment: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            let (name, path) = environmentName(&random)
            let pool = Int.random(in: 0..<4, using: &random) == 0 ? hostileScalars : plausibleScalars(for: path)
            environment[name] = pool.randomElement(using: &random)!
        }
        return (yaml, environment)
    }

    /// A dotted key: mostly real settings, sometimes a near miss.
    private static func key<R: RandomNumberGenerator>(_ random: inout R) -> String {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return "mirrors." + ["docker.io", "registry.example:5000", "UPPER.example", "-bad", "a..b"].randomElement(using: &random)!
            + "." + mirrorSettings.randomElement(using: &random)!
        case 1: return "sync." + ["alpine", "x"].randomElement(using: &random)! + "." + syncSettings.randomElement(using: &random)!
        case 2: return "access." + ["groups.devs", "admins", "repositories.team/**.anonymous", "repositories.team/**.users.alice",
                                    "repositories.UPPER.anonymous", "repositories.x.groups.devs", "bogus"].randomElement(using: &random)!
        case 3: return ["http.headers.X-Frame-Options", "http.headers.Bad Name", "log.fields.service", "storage.filesystem.rootdirectry"]
            .randomElement(using: &random)!
        default: return settings.randomElement(using: &random)!
        }
    }

    /// A scalar (mostly of the key's kind), a flow sequence, an empty or nested mapping, each possibly hostile.
    private static func value<R: RandomNumberGenerator>(for key: String, _ random: inout R) -> String {
        let pool = Int.random(in: 0..<3, using: &random) == 0 ? hostileScalars : plausibleScalars(for: key)
        let scalar = pool.randomElement(using: &random)!
        switch Int.random(in: 0..<14, using: &random) {
        case 0: return "[" + (0..<Int.random(in: 0...3, using: &random)).map { _ in quoted(hostileScalars.randomElement(using: &random)!) }.joined(separator: ", ") + "]"
        case 1: return "{}"
        case 2: return "{a: " + quoted(scalar) + "}"
        case 3, 4: return quoted(scalar)
        default: return scalar.isEmpty || scalar.contains(where: { ":#[]{},&*!|>'\"%@`\u{0}\u{7f}".contains($0) }) ? quoted(scalar) : scalar
        }
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: result += String(format: "\\x%02x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// A variable's name and the setting path it stands for.
    private static func environmentName<R: RandomNumberGenerator>(_ random: inout R) -> (String, String) {
        switch Int.random(in: 0..<8, using: &random) {
        case 0:
            let name = ["REGISTRY_HTTP_HEADERS_X_TEST", "REGISTRY_AUTH_BOGUS", "REGISTRY_PROXY_BOGUS", "REGISTRY_", "REGISTRY_NOTHING"]
                .randomElement(using: &random)!
            return (name, name)
        default:
            let path = ConfigurationSchema.settablePaths.randomElement(using: &random)!
            return ("REGISTRY_" + path.replacingOccurrences(of: ".", with: "_").uppercased(), path)
        }
    }

    /// What a loaded configuration holds that later code could not convert; empty when all is in range.
    static func outOfRange(_ configuration: Configuration) -> [String] {
        var durations: [(String, TimeInterval)] = [
            ("proxy.ttl", configuration.proxy.ttl), ("proxy.revalidate", configuration.proxy.revalidate),
            ("http.draintimeout", configuration.http.drainTimeout), ("http.timeouts.readheader", configuration.http.timeouts.readHeader),
            ("http.timeouts.bodyidle", configuration.http.timeouts.bodyIdle), ("http.timeouts.idle", configuration.http.timeouts.idle),
            ("uploadpurging.age", configuration.storage.uploadPurging.age), ("uploadpurging.interval", configuration.storage.uploadPurging.interval),
            ("auth.failedlogins.window", configuration.failedLogins.window),
        ]
        durations += configuration.proxy.mirrors.compactMap { mirror in mirror.ttl.map { ("mirrors.\(mirror.host).ttl", $0) } }
        durations += configuration.proxy.syncRules.map { ("sync.\($0.name).interval", $0.interval) }
        if let tls = configuration.http.tls { durations.append(("http.tls.reloadinterval", tls.reloadInterval)) }
        if let token = configuration.tokenAuth { durations += [("auth.token.expiration", token.expiration), ("auth.token.leeway", token.leeway)] }
        var problems: [String] = []
        for (key, seconds) in durations {
            if !(0...ConfigurationLoader.maximumDuration).contains(seconds) { problems.append("\(key) = \(seconds)") }
            // The conversion every consumer makes (to milliseconds, then NIO's nanoseconds).
            let converted = Configuration.duration(seconds)
            if converted.components.seconds > Int64(ConfigurationLoader.maximumDuration) { problems.append("\(key) converts to \(converted)") }
        }
        if let size = configuration.proxy.maxSize, size <= 0 { problems.append("proxy.maxsize = \(size)") }
        if !(0...65535).contains(configuration.http.port) { problems.append("port \(configuration.http.port)") }
        let counts = [configuration.catalogMaxEntries, configuration.limits.connections, configuration.limits.uploadSessions,
                      configuration.limits.uploadSessionsPerRepository] + configuration.proxy.syncRules.map(\.maximumTags)
        if counts.contains(where: { $0 <= 0 }) { problems.append("counts \(counts)") }
        return problems
    }
}
