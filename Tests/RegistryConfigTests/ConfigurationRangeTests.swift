import Foundation
@testable import RegistryConfig
import Testing

/// Numbers in the configuration that no later conversion can hold are refused at load time, naming the key and
/// where it was set; the loader never stops the process, whatever the file and the environment say.
@Suite("Configuration ranges")
struct ConfigurationRangeTests {
    /// Every duration setting, as YAML under its path.
    static let durationKeys = [
        "proxy.ttl", "proxy.revalidate", "mirrors.registry.example.ttl", "http.draintimeout", "http.timeouts.readheader",
        "http.timeouts.bodyidle", "http.timeouts.idle", "storage.maintenance.uploadpurging.age",
        "storage.maintenance.uploadpurging.interval", "auth.token.expiration", "auth.token.leeway", "auth.failedlogins.window",
        "http.tls.reloadinterval", "sync.alpine.interval",
    ]

    /// A file setting `key` to `value`, with whatever else it needs to be read at all.
    static func yaml(_ key: String, _ value: String) -> String {
        var document: [String: String] = [key: value]
        if key.hasPrefix("proxy.") { document["proxy.remoteurl"] = "https://registry.example" }
        if key.hasPrefix("mirrors.") { document["mirrors.registry.example.remoteurl"] = "https://registry.example" }
        if key.hasPrefix("sync.") {
            document["proxy.remoteurl"] = "https://registry.example"
            document["sync.alpine.repositories"] = "library/alpine"
        }
        if key.hasPrefix("auth.token.") {
            document["auth.token.service"] = "pier"
            document["auth.token.issuer"] = "pier"
            document["auth.token.signingkey"] = "/k.pem"
        }
        if key.hasPrefix("http.tls.") {
            document["http.tls.certificate"] = "/c.pem"
            document["http.tls.key"] = "/k.pem"
        }
        return YAMLDocument(document).text
    }

    @Test("a duration too long to hold is refused naming the key and line", arguments: durationKeys)
    func hugeDuration(_ key: String) throws {
        let text = Self.yaml(key, "9999999999999h")
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("9999999999999h") }) + 1
        #expect {
            try ConfigurationLoader.load(yaml: text)
        } throws: { error in
            let message = "\(error)"
            return error is ConfigurationError && message.contains("'\(key)'") && message.contains("line \(line):")
        }
    }

    @Test("the same from the environment names the variable", arguments: [
        ("REGISTRY_PROXY_TTL", "proxy.ttl"), ("REGISTRY_PROXY_REVALIDATE", "proxy.revalidate"),
        ("REGISTRY_HTTP_DRAINTIMEOUT", "http.draintimeout"), ("REGISTRY_HTTP_TIMEOUTS_IDLE", "http.timeouts.idle"),
        ("REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE", "storage.maintenance.uploadpurging.age"),
        ("REGISTRY_AUTH_FAILEDLOGINS_WINDOW", "auth.failedlogins.window"),
    ])
    func hugeDurationFromEnvironment(_ variable: String, _ key: String) {
        for value in ["9999999999999h", "1" + String(repeating: "0", count: 400) + "s", "2562048h"] {
            #expect {
                try ConfigurationLoader.load(yaml: nil, environment: [variable: value])
            } throws: { error in
                "\(error)".contains("environment \(variable): '\(key)' must be at most 876000h")
            }
        }
    }

    // An empty variable is not among them: it unsets the key (ConfigurationLoaderTests.emptyEnvironment).
    @Test("up to 876000h (100 years) is a duration; beyond, and anything not a duration, is refused")
    func durationBounds() throws {
        let longest = try ConfigurationLoader.load(yaml: "proxy:\n  remoteurl: https://r.example\n  ttl: 876000h\n")
        #expect(longest.proxy.ttl == ConfigurationLoader.maximumDuration)
        for value in ["876000h1s", "876001h", "-1s", "1e400s", "NaN", "inf", "Infinity", "٣s", "１０s", "½h", " ", "0x10s", "1_000s", "+1s"] {
            #expect(throws: ConfigurationError.self, "\(value)") {
                try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_PROXY_TTL": value, "REGISTRY_PROXY_REMOTEURL": "https://r.example"])
            }
        }
    }

    @Test("sizes and counts beyond what a 64-bit number holds are refused", arguments: [
        ("proxy.maxsize", "9EB"), ("proxy.maxsize", "99999999999999999999"), ("proxy.maxsize", "1" + String(repeating: "0", count: 400) + "TiB"),
        ("proxy.maxsize", "-1GiB"), ("catalog.maxentries", "9223372036854775808"), ("limits.connections", "-1"),
        ("limits.uploadsessions.total", "1e3"), ("auth.failedlogins.limit", "18446744073709551616"), ("http.addr", ":65536"),
        ("http.addr", ":99999999999999999999"), ("sync.alpine.maxtags", "9223372036854775808"),
    ])
    func hugeNumbers(_ key: String, _ value: String) {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: Self.yaml(key, value)) }
    }

    @Test("a converted duration is clamped to the loader's range, so no later conversion can overflow")
    func conversion() {
        #expect(Configuration.duration(1.5) == .milliseconds(1500))
        #expect(Configuration.duration(.infinity) == .seconds(Int64(ConfigurationLoader.maximumDuration)))
        #expect(Configuration.duration(-5) == .zero && Configuration.duration(.nan) == .zero)
    }
}

/// A YAML document written from dotted keys, the way a user nests them.
struct YAMLDocument {
    private final class Node {
        var value: String?
        var children: [(String, Node)] = []

        func child(_ name: String) -> Node {
            if let existing = children.first(where: { $0.0 == name }) { return existing.1 }
            let node = Node()
            children.append((name, node))
            return node
        }
    }

    let text: String

    /// `values` maps dotted keys to scalars (written as they are); a key under `mirrors.` keeps its host's dots.
    init(_ values: [String: String]) {
        let root = Node()
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            var node = root
            for component in Self.components(key) { node = node.child(component) }
            node.value = value
        }
        var lines: [String] = []
        func write(_ node: Node, indent: String) {
            for (name, child) in node.children {
                if let value = child.value {
                    lines.append("\(indent)\(name): \(value)")
                } else {
                    lines.append("\(indent)\(name):")
                    write(child, indent: indent + "  ")
                }
            }
        }
        write(root, indent: "")
        text = lines.joined(separator: "\n") + "\n"
    }

    /// `mirrors.<host>.<setting>` has a host with dots in the middle; every other key splits at each dot.
    static func components(_ key: String) -> [String] {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "mirrors", parts.count > 3 else { return parts }
        return ["mirrors", parts[1..<(parts.count - 1)].joined(separator: "."), parts[parts.count - 1]]
    }
}
