import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// Pier as a mirror configured the way Distribution users already configure theirs: `config.yml` and `REGISTRY_*`
/// read by the configuration loader, against fake upstreams on loopback.
@Suite("Mirror compatibility with Distribution's configuration")
struct MirrorCompatibilityTests {
    /// Runs `body` with Pier's proxy configured from `yaml` and `environment` as `pier serve` reads them.
    func withLoadedProxy(
        yaml: String?, environment: [String: String] = [:], _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let loaded = try ConfigurationLoader.load(yaml: yaml, environment: environment)
        try await withRegistry(live: true, configure: { $0.proxy = loaded.proxy }, body)
    }

    /// Runs `body` with started fake upstreams, stopping them afterwards whatever happens.
    func withFakeUpstreams(
        _ authentications: [FakeUpstream.Authentication], _ body: ([FakeUpstream]) async throws -> Void
    ) async throws {
        var upstreams: [FakeUpstream] = []
        do {
            for authentication in authentications { upstreams.append(try await FakeUpstream.start(authentication: authentication)) }
            try await body(upstreams)
        } catch {
            for upstream in upstreams { await upstream.stop() }
            throw error
        }
        for upstream in upstreams { await upstream.stop() }
    }

    // MARK: Empty credentials

    @Test("REGISTRY_PROXY_USERNAME= and REGISTRY_PROXY_PASSWORD= pull anonymously from a token upstream that refuses unknown credentials")
    func emptyEnvironmentCredentials() async throws {
        try await withFakeUpstreams([.bearer()]) { upstreams in
            let upstream = upstreams[0]
            let image = PullThroughTests.addImage(upstream, repository: "library/alpine", tag: "3.20")
            let environment = ["REGISTRY_PROXY_REMOTEURL": upstream.url, "REGISTRY_PROXY_USERNAME": "", "REGISTRY_PROXY_PASSWORD": ""]
            try await withLoadedProxy(yaml: nil, environment: environment) { client in
                let manifest = try await client.send(.get, "/v2/library/alpine/manifests/3.20", headers: PullThroughTests.accept)
                #expect(manifest.status == .ok, "\(String(buffer: manifest.body))")
                #expect(manifest.bytes == image.manifest)
                let layer = try await client.send(.get, "/v2/library/alpine/blobs/\(image.layerDigest)")
                #expect(layer.status == .ok && layer.bytes == image.layer)
            }
            #expect(upstream.tokenRequests >= 1, "the upstream's token service was used, anonymously")
            #expect(upstream.recordedRequests.allSatisfy { $0.authorization?.hasPrefix("Basic ") != true }, "\(upstream.recordedRequests)")
        }
    }

    @Test("empty credentials in a mirrors entry (username: \"\", password:) are anonymous too")
    func emptyMirrorCredentials() async throws {
        try await withFakeUpstreams([.bearer(), .bearer()]) { upstreams in
            let images = upstreams.map { PullThroughTests.addImage($0, repository: "team/app", tag: "v1") }
            let yaml = """
                proxy:
                  remoteurl: \(upstreams[0].url)
                  username: ""
                  password:
                mirrors:
                  mirror.test:
                    remoteurl: \(upstreams[1].url)
                    username: ""
                    password: ""
                """
            try await withLoadedProxy(yaml: yaml) { client in
                for (path, image) in [("/v2/team/app/manifests/v1", images[0]), ("/v2/mirror.test/team/app/manifests/v1", images[1])] {
                    let response = try await client.send(.get, path, headers: PullThroughTests.accept)
                    #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                    #expect(response.bytes == image.manifest, "\(path)")
                }
            }
            for upstream in upstreams {
                #expect(upstream.tokenRequests >= 1)
                #expect(upstream.recordedRequests.allSatisfy { $0.authorization?.hasPrefix("Basic ") != true })
            }
        }
    }

    // MARK: containerd's ?ns= with a single proxy block

    static let namespaceHeader = HTTPField.Name("OCI-Namespace")!

    @Test("a Distribution-style proxy block is Docker Hub's stand-in: ?ns=docker.io, no ns and the docker.io/ prefix share one cache")
    func proxyBlockAnswersForDockerHub() async throws {
        try await withFakeUpstreams([.none]) { upstreams in
            let upstream = upstreams[0]
            let image = PullThroughTests.addImage(upstream, repository: "library/alpine", tag: "3.20")
            let remoteHost = String(upstream.url.dropFirst("http://".count))
            try await withLoadedProxy(yaml: "proxy:\n  remoteurl: \(upstream.url)\n") { client in
                // What containerd sends first, with Pier as the mirror of docker.io in hosts.toml.
                let head = try await client.send(.head, "/v2/library/alpine/manifests/3.20?ns=docker.io", headers: PullThroughTests.accept)
                #expect(head.status == .ok)
                #expect(head.headers[.dockerContentDigest] == image.digest.description)
                #expect(head.headers[Self.namespaceHeader] == "docker.io")
                let paths = [
                    "/v2/library/alpine/manifests/3.20?ns=docker.io", "/v2/alpine/manifests/3.20?ns=docker.io",
                    "/v2/library/alpine/manifests/3.20?ns=registry-1.docker.io", "/v2/docker.io/library/alpine/manifests/3.20",
                    "/v2/docker.io/alpine/manifests/3.20", "/v2/library/alpine/manifests/3.20", "/v2/alpine/manifests/3.20",
                    // The remote's own host names it too.
                    "/v2/library/alpine/manifests/3.20?ns=\(remoteHost)",
                    "/v2/\(remoteHost.replacingOccurrences(of: ":", with: "_"))/library/alpine/manifests/3.20",
                ]
                for path in paths {
                    let response = try await client.send(.get, path, headers: PullThroughTests.accept)
                    #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                    #expect(response.bytes == image.manifest, "\(path)")
                    #expect(response.headers[Self.namespaceHeader] == "docker.io", "\(path)")
                }
                for path in ["/v2/library/alpine/blobs/\(image.layerDigest)?ns=docker.io", "/v2/docker.io/library/alpine/blobs/\(image.layerDigest)"] {
                    let response = try await client.send(.get, path)
                    #expect(response.status == .ok && response.bytes == image.layer, "\(path)")
                }
                let catalog = try await client.send(.get, "/v2/_catalog")
                let repositories = try JSONSerialization.jsonObject(with: Data(catalog.body.readableBytesView)) as? [String: [String]]
                #expect(repositories?["repositories"] == ["docker.io/library/alpine"], "one cache under one name")
            }
            #expect(upstream.requests(method: "GET", path: "/v2/library/alpine/manifests/3.20") == 1)
            #expect(upstream.requests(method: "GET", path: "/v2/library/alpine/blobs/\(image.layerDigest)") == 1)
        }
    }

    @Test("?ns= of a registry nothing mirrors gets hosted content only, never the proxy block's image of the same name")
    func unmirroredNamespaceIsRefused() async throws {
        try await withFakeUpstreams([.none]) { upstreams in
            let upstream = upstreams[0]
            let image = PullThroughTests.addImage(upstream, repository: "library/alpine", tag: "3.20")
            try await withLoadedProxy(yaml: "proxy:\n  remoteurl: \(upstream.url)\n") { client in
                for path in ["/v2/library/alpine/manifests/3.20?ns=ghcr.io", "/v2/library/alpine/manifests/\(image.digest)?ns=quay.io"] {
                    let response = try await client.send(.get, path, headers: PullThroughTests.accept)
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.errorCode == "MANIFEST_UNKNOWN" || response.errorCode == "NAME_UNKNOWN", "\(path)")
                }
                let blob = try await client.send(.get, "/v2/library/alpine/blobs/\(image.layerDigest)?ns=ghcr.io")
                #expect(blob.status == .notFound)
            }
            #expect(upstream.recordedRequests.isEmpty, "the upstream was never asked: \(upstream.recordedRequests)")
        }
    }

    @Test("proxy.namespace: ghcr.io makes the proxy block ghcr.io's stand-in, and docker.io then is not mirrored")
    func proxyNamespace() async throws {
        try await withFakeUpstreams([.none]) { upstreams in
            let upstream = upstreams[0]
            let image = PullThroughTests.addImage(upstream, repository: "org/app", tag: "v1")
            try await withLoadedProxy(yaml: "proxy:\n  remoteurl: \(upstream.url)\n  namespace: ghcr.io\n") { client in
                for path in ["/v2/org/app/manifests/v1?ns=ghcr.io", "/v2/ghcr.io/org/app/manifests/v1", "/v2/org/app/manifests/v1"] {
                    let response = try await client.send(.get, path, headers: PullThroughTests.accept)
                    #expect(response.status == .ok && response.bytes == image.manifest, "\(path)")
                    #expect(response.headers[Self.namespaceHeader] == "ghcr.io", "\(path)")
                }
                let docker = try await client.send(.get, "/v2/org/app/manifests/v1?ns=docker.io", headers: PullThroughTests.accept)
                #expect(docker.status == .notFound)
                let catalog = try await client.send(.get, "/v2/_catalog")
                #expect(String(buffer: catalog.body).contains("\"ghcr.io/org/app\""))
            }
            #expect(upstream.requests(method: "GET", path: "/v2/org/app/manifests/v1") == 1)
        }
    }

    @Test("with mirrors.docker.io, ?ns=docker.io goes to that entry; the proxy block keeps names without ns and its own host")
    func dockerHubEntryBesideProxyBlock() async throws {
        try await withFakeUpstreams([.none, .none]) { upstreams in
            let fromProxy = PullThroughTests.addImage(upstreams[0], repository: "library/alpine", tag: "3.20", seed: 1)
            let fromHub = PullThroughTests.addImage(upstreams[1], repository: "library/alpine", tag: "3.20", seed: 2)
            let proxyHost = String(upstreams[0].url.dropFirst("http://".count))
            let yaml = "proxy:\n  remoteurl: \(upstreams[0].url)\nmirrors:\n  docker.io:\n    remoteurl: \(upstreams[1].url)\n"
            try await withLoadedProxy(yaml: yaml) { client in
                for (path, image) in [
                    ("/v2/library/alpine/manifests/3.20?ns=docker.io", fromHub), ("/v2/docker.io/library/alpine/manifests/3.20", fromHub),
                    ("/v2/library/alpine/manifests/3.20", fromProxy), ("/v2/library/alpine/manifests/3.20?ns=\(proxyHost)", fromProxy),
                ] {
                    let response = try await client.send(.get, path, headers: PullThroughTests.accept)
                    #expect(response.status == .ok && response.bytes == image.manifest, "\(path)")
                }
            }
        }
    }
}
