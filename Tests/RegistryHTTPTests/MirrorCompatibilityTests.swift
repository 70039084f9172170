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
}
