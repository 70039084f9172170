import Foundation
@testable import RegistryConfig
import Testing

@Suite("Configuration")
struct ConfigurationLoaderTests {
    @Test("defaults without a file")
    func defaults() throws {
        let configuration = try ConfigurationLoader.load(yaml: nil)
        #expect(configuration.storage.rootDirectory == "./pier-data")
        #expect(configuration.http.port == 5000 && configuration.http.host == "0.0.0.0")
        #expect(configuration.storage.deleteEnabled)
    }

    @Test("a REGISTRY_* variable set to the empty string unsets its key, as in Distribution: defaults apply, start-up goes on",
          arguments: ConfigurationSchema.settablePaths.sorted())
    func emptyEnvironment(path: String) throws {
        let name = "REGISTRY_" + path.replacingOccurrences(of: ".", with: "_").uppercased()
        let configuration = try ConfigurationLoader.load(yaml: nil, environment: [name: ""])
        #expect(configuration == (try ConfigurationLoader.load(yaml: nil)), "\(name)=")
    }

    @Test("an empty variable also unsets what the file set: REGISTRY_PROXY_REMOTEURL= turns the file's proxy off")
    func emptyEnvironmentOverFile() throws {
        let yaml = """
            http:
              addr: :6000
            proxy:
              remoteurl: https://registry-1.docker.io
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml, environment: ["REGISTRY_PROXY_REMOTEURL": "", "REGISTRY_HTTP_ADDR": ""])
        #expect(!configuration.proxy.isEnabled)
        #expect(configuration.http.port == 5000)
    }

    @Test("reads Distribution's keys")
    func distributionKeys() throws {
        let yaml = """
            version: 0.1
            log:
              level: debug
              formatter: json
              accesslog:
                disabled: true
              fields:
                service: registry
            storage:
              filesystem:
                rootdirectory: /var/lib/registry
              delete:
                enabled: false
              maintenance:
                uploadpurging:
                  enabled: true
                  age: 2h
                  interval: 30m
                  dryrun: true
                readonly:
                  enabled: true
              cache:
                blobdescriptor: inmemory
            http:
              addr: 127.0.0.1:5001
              host: https://registry.example.com/
              secret: asecret
              headers:
                X-Content-Type-Options: [nosniff]
              tls:
                certificate: /c.pem
                key: /k.pem
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        #expect(configuration.log.level == .debug && configuration.log.formatter == .json && !configuration.log.accessLog)
        #expect(configuration.log.fields == ["service": "registry"])
        #expect(configuration.storage.rootDirectory == "/var/lib/registry")
        #expect(!configuration.storage.deleteEnabled && configuration.storage.readOnly)
        #expect(configuration.storage.uploadPurging == .init(enabled: true, age: 7200, interval: 1800, dryRun: true))
        #expect(configuration.http.host == "127.0.0.1" && configuration.http.port == 5001)
        #expect(configuration.http.externalURL == "https://registry.example.com")
        #expect(configuration.http.headers == ["X-Content-Type-Options": ["nosniff"]])
        #expect(configuration.http.tls == .init(certificate: "/c.pem", key: "/k.pem"))
        #expect(configuration.warnings.count == 2, "storage.cache and http.secret are accepted with warnings: \(configuration.warnings)")
        #expect(configuration.warnings.contains { $0.contains("http.secret") })
    }

    @Test("REGISTRY_* environment variables override the file")
    func environment() throws {
        let configuration = try ConfigurationLoader.load(
            yaml: "http:\n  addr: :5000\n",
            environment: [
                "REGISTRY_HTTP_ADDR": ":6000",
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/data",
                "REGISTRY_STORAGE_DELETE_ENABLED": "false",
                "REGISTRY_LOG_LEVEL": "warn",
                "UNRELATED": "x",
            ])
        #expect(configuration.http.port == 6000 && configuration.http.host == "0.0.0.0")
        #expect(configuration.storage.rootDirectory == "/data" && !configuration.storage.deleteEnabled)
        #expect(configuration.log.level == .warn)
    }

    @Test("rejects bad files naming the key and line", arguments: [
        ("storage:\n  filesystem:\n    rootdirectry: /x\n", "line 3: unknown configuration key 'storage.filesystem.rootdirectry'"),
        ("http:\n  addr: nonsense\n", "line 2: 'http.addr'"),
        ("storage:\n  delete:\n    enabled: perhaps\n", "line 3: 'storage.delete.enabled' must be true or false"),
        ("log:\n  level: loud\n", "line 2: 'log.level'"),
        ("http:\n  addr: [1\n", "malformed YAML"),
        ("version: 0.2\n", "unsupported configuration version"),
        ("auth:\n  token:\n    realm: https://auth.example\n", "line 3: auth.token needs 'service'"),
        ("auth:\n  silly:\n    realm: x\n", "refusing to start a registry that would be open"),
        ("storage:\n  s3:\n    bucket: b\n", "s3 storage driver"),
        ("http:\n  tls:\n    certificate: /c.pem\n", "needs both"),
        ("- a\n- b\n", "must be a mapping"),
        ("storage:\n  maintenance:\n    uploadpurging:\n      age: soon\n", "line 4: 'storage.maintenance.uploadpurging.age' must be a duration"),
    ])
    func invalid(_ yaml: String, _ message: String) {
        do {
            _ = try ConfigurationLoader.load(yaml: yaml, path: "config.yml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("unknown REGISTRY_AUTH_* variables, and an incomplete auth.token, are refused rather than ignored")
    func environmentAuth() {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_AUTH_TOKEN_REALM": "https://auth.example"])
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_AUTH_SILLY_SERVICE": "x"])
        }
    }

    @Test("Go durations", arguments: [("168h", 604_800.0), ("1h30m", 5400), ("10s", 10), ("500ms", 0.5), ("0", 0)])
    func durations(_ text: String, _ seconds: Double) {
        #expect(ConfigurationLoader.parseDuration(text) == seconds)
    }
}
