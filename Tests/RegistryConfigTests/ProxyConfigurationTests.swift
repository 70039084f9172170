import Foundation
import RegistryConfig
import Testing

@Suite("Proxy configuration")
struct ProxyConfigurationTests {
    @Test("Distribution's proxy block makes a default upstream cached under docker.io")
    func distributionProxyBlock() throws {
        let yaml = """
            proxy:
              remoteurl: https://registry-1.docker.io/
              username: me
              password: secret
              ttl: 72h
            """
        let proxy = try ConfigurationLoader.load(yaml: yaml).proxy
        #expect(proxy.isEnabled)
        #expect(proxy.defaultHost == "docker.io")
        #expect(proxy.ttl == 72 * 3600)
        #expect(proxy.mirrors == [Configuration.Mirror(host: "docker.io", remoteURL: "https://registry-1.docker.io", username: "me", password: "secret")])
    }

    @Test("mirrors map registry hosts, with dots and ports, to upstreams")
    func mirrorsMap() throws {
        let yaml = """
            proxy:
              remoteurl: https://registry-1.docker.io
              revalidate: 30s
              maxsize: 50GiB
            mirrors:
              docker.io:
                remoteurl: https://registry-1.docker.io
                username: hub-user
                password: hub-token
              ghcr.io:
                remoteurl: https://ghcr.io
                ttl: 24h
              registry.example.com:5000:
                remoteurl: http://10.0.0.5:5000
            """
        let proxy = try ConfigurationLoader.load(yaml: yaml).proxy
        #expect(proxy.mirrors.map(\.host) == ["docker.io", "ghcr.io", "registry.example.com:5000"])
        #expect(proxy.defaultHost == "docker.io")
        #expect(proxy.mirrors[0].username == "hub-user" && proxy.mirrors[0].password == "hub-token")
        #expect(proxy.mirrors[1].ttl == TimeInterval(24 * 3600))
        #expect(proxy.mirrors[2].remoteURL == "http://10.0.0.5:5000")
        #expect(proxy.revalidate == 30)
        #expect(proxy.maxSize == Int64(50) * 1_073_741_824)
    }

    @Test("the proxy block stands in for docker.io whatever its remoteurl (a Hub mirror, a Nexus, a test upstream); its own host routes to it too")
    func proxyBlockIsDockerHubsStandIn() throws {
        for url in ["http://127.0.0.1:5600", "https://mirror.gcr.io", "https://nexus.corp.example:8443/repository/hub"] {
            let proxy = try ConfigurationLoader.load(yaml: "proxy:\n  remoteurl: \(url)\n").proxy
            #expect(proxy.defaultHost == "docker.io", "\(url)")
            let alias = URL(string: url).map { $0.host! + ($0.port.map { ":\($0)" } ?? "") }!
            #expect(proxy.mirrors == [Configuration.Mirror(host: "docker.io", remoteURL: url, aliases: [alias])], "\(url)")
        }
    }

    @Test("proxy.namespace (REGISTRY_PROXY_NAMESPACE) says which registry the proxy block stands in for")
    func proxyNamespace() throws {
        let yaml = try ConfigurationLoader.load(yaml: "proxy:\n  remoteurl: https://ghcr-mirror.example\n  namespace: GHCR.io\n").proxy
        #expect(yaml.defaultHost == "ghcr.io")
        #expect(yaml.mirrors == [Configuration.Mirror(host: "ghcr.io", remoteURL: "https://ghcr-mirror.example", aliases: ["ghcr-mirror.example"])])
        let environment = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_PROXY_REMOTEURL": "http://10.0.0.5:5000", "REGISTRY_PROXY_NAMESPACE": "registry.example.com:5000",
        ]).proxy
        #expect(environment.defaultHost == "registry.example.com:5000")
        #expect(environment.mirrors.map(\.aliases) == [["10.0.0.5:5000"]])
        let hub = try ConfigurationLoader.load(yaml: "proxy:\n  remoteurl: https://ghcr.io\n  namespace: registry-1.docker.io\n").proxy
        #expect(hub.defaultHost == "docker.io", "Docker Hub's API host names are docker.io")
    }

    @Test("with its own mirrors.docker.io, the proxy block keeps its remote host and docker.io goes to the entry")
    func mirrorsDockerHubEntryWins() throws {
        let yaml = """
            proxy:
              remoteurl: https://mirror.gcr.io
            mirrors:
              docker.io:
                remoteurl: https://registry-1.docker.io
            """
        let proxy = try ConfigurationLoader.load(yaml: yaml).proxy
        #expect(proxy.defaultHost == "mirror.gcr.io")
        #expect(proxy.mirrors.map(\.host) == ["docker.io", "mirror.gcr.io"])
        #expect(proxy.mirrors.allSatisfy { $0.aliases.isEmpty })
    }

    @Test("REGISTRY_PROXY_* variables set the proxy block")
    func environment() throws {
        let configuration = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_PROXY_REMOTEURL": "https://ghcr.io", "REGISTRY_PROXY_USERNAME": "u", "REGISTRY_PROXY_PASSWORD": "p",
            "REGISTRY_PROXY_TTL": "1h",
        ])
        #expect(configuration.proxy.defaultHost == "docker.io")
        #expect(configuration.proxy.mirrors.first?.aliases == ["ghcr.io"])
        #expect(configuration.proxy.mirrors.first?.username == "u")
        #expect(configuration.proxy.ttl == 3600)
    }

    @Test("empty credentials are anonymous, as in Distribution: REGISTRY_PROXY_USERNAME= and PASSWORD=, username: \"\", password:")
    func emptyCredentials() throws {
        let environment = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io", "REGISTRY_PROXY_USERNAME": "", "REGISTRY_PROXY_PASSWORD": "",
        ])
        #expect(environment.proxy.mirrors.map(\.username) == [nil] && environment.proxy.mirrors.map(\.password) == [nil])
        #expect(environment.warnings.isEmpty, "both empty is plain anonymous: \(environment.warnings)")

        let yaml = """
            proxy:
              remoteurl: https://registry-1.docker.io
              username: ""
              password:
            mirrors:
              ghcr.io:
                remoteurl: https://ghcr.io
                username: ''
                password: ''
              quay.io:
                remoteurl: https://quay.io
                username: robot
                password: ""
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        for mirror in configuration.proxy.mirrors {
            #expect(mirror.username == nil && mirror.password == nil, "\(mirror.host)")
        }
        #expect(configuration.warnings.count == 1, "\(configuration.warnings)")
        #expect(configuration.warnings.first?.contains("'mirrors.quay.io.username' is set (line 12)") == true, "\(configuration.warnings)")

        let onlyUser = try ConfigurationLoader.load(yaml: "proxy:\n  remoteurl: https://x.io\n  username: me\n")
        #expect(onlyUser.proxy.mirrors.first?.username == nil)
        #expect(onlyUser.warnings.contains { $0.contains("'proxy.username' is set (line 3)") && $0.contains("anonymously") })
        let onlyPassword = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_PROXY_REMOTEURL": "https://x.io", "REGISTRY_PROXY_USERNAME": "", "REGISTRY_PROXY_PASSWORD": "secret",
        ])
        #expect(onlyPassword.proxy.mirrors.first?.password == nil)
        #expect(onlyPassword.warnings.contains { $0.contains("'proxy.password' is set (environment REGISTRY_PROXY_PASSWORD)") })
        // Empty credentials without an upstream are nothing to complain about; real ones still need remoteurl.
        #expect(try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_PROXY_USERNAME": "", "REGISTRY_PROXY_PASSWORD": ""]).proxy.mirrors.isEmpty)
    }

    @Test("malformed proxy settings are refused with the key and line", arguments: [
        ("proxy:\n  remoteurl: ftp://x\n", "line 2"),
        ("proxy:\n  remoteurl: not a url\n", "proxy.remoteurl"),
        ("proxy:\n  username: u\n", "proxy.remoteurl"),
        ("proxy:\n  remoteurl: https://x\n  maxsize: lots\n", "proxy.maxsize"),
        ("proxy:\n  remoteurl: https://x\n  revalidate: often\n", "proxy.revalidate"),
        ("mirrors:\n  ghcr.io:\n    username: u\n", "needs remoteurl"),
        ("mirrors:\n  ghcr.io:\n    remoteurl: https://ghcr.io\n    colour: blue\n", "mirrors.ghcr.io.colour"),
        ("mirrors:\n  bad_host!:\n    remoteurl: https://x\n", "not a registry host"),
        ("mirrors:\n  ghcr.io: https://ghcr.io\n", "mirrors"),
        ("proxy:\n  remoteurl: https://registry-1.docker.io\nmirrors:\n  docker.io:\n    remoteurl: https://b.example\n", "same host"),
        ("proxy:\n  remoteurl: https://a.example\n  namespace: ghcr.io\nmirrors:\n  ghcr.io:\n    remoteurl: https://b.example\n",
         "line 3: 'proxy.namespace' ghcr.io is also under 'mirrors'"),
        ("proxy:\n  remoteurl: https://a.example\n  namespace: not a host\n", "line 3: 'proxy.namespace' must be a registry host"),
        ("proxy:\n  remoteurl: https://a.example\n  namespace: https://ghcr.io\n", "'proxy.namespace' must be a registry host"),
        ("proxy:\n  namespace: ghcr.io\n", "'proxy.namespace' needs 'proxy.remoteurl'"),
    ])
    func refused(yaml: String, expected: String) {
        #expect {
            try ConfigurationLoader.load(yaml: yaml)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("sync rules name a mirrored host, repositories, a tag pattern and an interval")
    func syncRules() throws {
        let yaml = #"""
            proxy:
              remoteurl: https://registry-1.docker.io
            mirrors:
              ghcr.io:
                remoteurl: https://ghcr.io
            sync:
              alpine:
                repositories: [library/alpine, library/busybox]
                tags: '^3\.2[0-9]$'
                interval: 6h
                platforms: [linux/amd64]
              tools:
                upstream: ghcr.io
                repositories: org/tool
                maxtags: 5
                referrers: true
            """#
        let rules = try ConfigurationLoader.load(yaml: yaml).proxy.syncRules
        #expect(rules.count == 2)
        #expect(rules[0] == Configuration.SyncRule(name: "alpine", host: "docker.io", repositories: ["library/alpine", "library/busybox"],
                                                   tagPattern: #"^3\.2[0-9]$"#, interval: 6 * 3600, platforms: ["linux/amd64"]))
        #expect(rules[1].host == "ghcr.io" && rules[1].repositories == ["org/tool"] && rules[1].maximumTags == 5 && rules[1].tagPattern == nil)
        #expect(rules[1].referrers && !rules[0].referrers, "referrers are fetched only where asked for")
    }

    @Test("bad sync rules are refused", arguments: [
        ("proxy:\n  remoteurl: https://x.io\nsync:\n  a:\n    upstream: ghcr.io\n    repositories: [a]\n", "mirrored host"),
        ("proxy:\n  remoteurl: https://x.io\nsync:\n  a:\n    tags: x\n", "needs repositories"),
        ("proxy:\n  remoteurl: https://x.io\nsync:\n  a:\n    repositories: [a]\n    tags: '('\n", "regular expression"),
        ("proxy:\n  remoteurl: https://x.io\nsync:\n  a:\n    repositories: [a]\n    interval: 5s\n", "at least 1m"),
        ("sync:\n  a:\n    repositories: [a]\n", "none configured"),
        ("proxy:\n  remoteurl: https://x.io\nsync:\n  a:\n    repositories: [a]\n    referrers: maybe\n", "'sync.a.referrers' must be true or false"),
    ])
    func badSyncRules(yaml: String, expected: String) {
        #expect {
            try ConfigurationLoader.load(yaml: yaml)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("auth.htpasswd is read from the file and the environment; other auth schemes still stop start-up")
    func htpasswd() throws {
        let configuration = try ConfigurationLoader.load(yaml: "auth:\n  htpasswd:\n    realm: Registry\n    path: /etc/pier/htpasswd\n")
        #expect(configuration.htpasswd == Configuration.Htpasswd(realm: "Registry", path: "/etc/pier/htpasswd"))
        let environment = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_AUTH_HTPASSWD_REALM": "R", "REGISTRY_AUTH_HTPASSWD_PATH": "/p",
        ])
        #expect(environment.htpasswd == Configuration.Htpasswd(realm: "R", path: "/p"))
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: "auth:\n  htpasswd:\n    realm: R\n") }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: "auth:\n  token:\n    realm: https://x\n") }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_AUTH_TOKEN_REALM": "x"]) }
    }

    @Test("sizes", arguments: [("1024", Int64(1024)), ("500MB", 500_000_000), ("2GiB", 2_147_483_648), ("1.5 KiB", 1536)])
    func sizes(text: String, bytes: Int64) {
        #expect(ConfigurationLoader.parseSize(text) == bytes)
    }
}

@Suite("Auth configuration")
struct AuthConfigurationTests {
    @Test("auth.token for an external token service needs realm, service, issuer and keys")
    func externalToken() throws {
        let yaml = """
            auth:
              token:
                realm: https://auth.example.com/token
                service: registry.example.com
                issuer: auth.example.com
                rootcertbundle: /etc/pier/bundle.pem
                leeway: 2s
            """
        let token = try #require(try ConfigurationLoader.load(yaml: yaml).tokenAuth)
        #expect(token == .init(realm: "https://auth.example.com/token", service: "registry.example.com", issuer: "auth.example.com",
                               rootCertBundle: "/etc/pier/bundle.pem", leeway: 2))
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(yaml: "auth:\n  token:\n    realm: https://a/token\n    service: s\n    issuer: i\n")
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(yaml: "auth:\n  token:\n    service: s\n    issuer: i\n    jwks: /x\n")
        }
    }

    @Test("auth.token with a signing key is Pier's own token service; the realm may be left out")
    func builtInToken() throws {
        let configuration = try ConfigurationLoader.load(yaml: nil, environment: [
            "REGISTRY_AUTH_TOKEN_SERVICE": "pier", "REGISTRY_AUTH_TOKEN_ISSUER": "pier", "REGISTRY_AUTH_TOKEN_SIGNINGKEY": "/tmp/k.pem",
            "REGISTRY_AUTH_TOKEN_EXPIRATION": "10m",
        ])
        let token = try #require(configuration.tokenAuth)
        #expect(token.realm == nil && token.signingKey == "/tmp/k.pem" && token.expiration == 600)
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(yaml: nil, environment: ["REGISTRY_AUTH_SILLY_REALM": "x"])
        }
    }

    @Test("access rules keep user names' case and patterns' dots; unknown actions, groups and settings are refused")
    func accessRules() throws {
        let yaml = """
            access:
              groups:
                Devs: [Bob, carol.smith]
              admins: [Root]
              repositories:
                "team.a/**":
                  users:
                    Alice: [pull, push]
                  groups:
                    Devs: ["*"]
                  authenticated: pull
                "**":
                  anonymous: [pull]
            """
        let access = try #require(try ConfigurationLoader.load(yaml: yaml).access)
        #expect(access.groups == ["Devs": ["Bob", "carol.smith"]])
        #expect(access.admins == ["Root"])
        #expect(access.rules == [
            .init(pattern: "team.a/**", users: ["Alice": ["pull", "push"]], groups: ["Devs": ["*"]], authenticated: ["pull"]),
            .init(pattern: "**", anonymous: ["pull"]),
        ])
        for bad in [
            "access:\n  repositories:\n    a/**:\n      users:\n        x: [pull, fly]\n",
            "access:\n  repositories:\n    a/**:\n      groups:\n        nobody: [pull]\n",
            "access:\n  repositories:\n    a/**:\n      owners: [x]\n",
            "access:\n  repositories:\n    A/**:\n      anonymous: [pull]\n",
            "access:\n  rules: []\n",
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try ConfigurationLoader.load(yaml: bad) }
        }
        do {
            _ = try ConfigurationLoader.load(yaml: "access:\n  repositories:\n    a/**:\n      users:\n        x: [fly]\n", path: "c.yml")
            Issue.record("an unknown action was accepted")
        } catch let error as ConfigurationError {
            #expect(error.message.hasPrefix("c.yml: line 5: "), "\(error.message)")
            #expect(error.message.contains("unknown action 'fly'"))
        }
    }

    @Test("auth.failedlogins sets the limit per client address")
    func failedLogins() throws {
        let configuration = try ConfigurationLoader.load(yaml: "auth:\n  failedlogins:\n    limit: 5\n    window: 5m\n")
        #expect(configuration.failedLogins == .init(limit: 5, window: 300))
    }
}
