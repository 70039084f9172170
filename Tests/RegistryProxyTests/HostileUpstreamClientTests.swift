import Foundation
import RegistryCore
import RegistryProxy
import RegistryTesting
import Testing

/// The upstream client against answers no honest registry gives: they fail as `.invalidResponse` (or are refused
/// further on), never crash the process and never pass through.
@Suite("Upstream client: hostile answers")
struct HostileUpstreamClientTests {
    static func tokenAnswer(_ object: [String: Any]) -> FakeUpstream.Fault {
        .answer(status: 200, headers: ["Content-Type": "application/json"], body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
    }

    @Test("a token endpoint's absurd expires_in is bounded, not trusted (no overflow)", arguments: [Int.max, Int.min, 0, -1])
    func absurdTokenLifetime(expiresIn: Int) async throws {
        try await withUpstream(authentication: .bearer()) { upstream, client in
            upstream.failAlways(with: Self.tokenAnswer(["token": "forged.token", "expires_in": expiresIn]), pathContaining: "/token")
            let error = await upstreamError { try await client.headManifest(repository: "library/app", reference: "v1", accept: manifestAccept) }
            // The fake never issued that token, so the registry refuses it: what matters is the process is alive.
            #expect(error?.code == .unauthorized)
        }
    }

    @Test("a token that could not be sent back as a header value is refused", arguments: [
        "has space", "line\r\nX-Injected: 1", "ctl\u{1}", "é", String(repeating: "t", count: 64 * 1024 + 1),
    ])
    func unusableToken(token: String) async throws {
        try await withUpstream(authentication: .bearer()) { upstream, client in
            upstream.failAlways(with: Self.tokenAnswer(["token": token, "expires_in": 60]), pathContaining: "/token")
            let error = await upstreamError { try await client.headManifest(repository: "library/app", reference: "v1", accept: manifestAccept) }
            #expect(error?.code == .invalidResponse)
            #expect(upstream.recordedRequests.allSatisfy { $0.authorization?.hasPrefix("Bearer ") != true })
        }
    }

    @Test("a manifest HEAD with a Docker-Content-Digest that is not a digest is .invalidResponse, not a digest-less answer")
    func malformedHeadDigest() async throws {
        try await withUpstream { upstream, client in
            upstream.failAlways(with: .answer(status: 200, headers: ["Docker-Content-Digest": "sha256:nothex", "Content-Type": MediaType.ociManifest]),
                                pathContaining: "/manifests/")
            let error = await upstreamError { try await client.headManifest(repository: "library/app", reference: "v1", accept: manifestAccept) }
            #expect(error?.code == .invalidResponse)
            #expect(error?.message.contains("Docker-Content-Digest") == true)
        }
    }

    @Test("tags that are not tags are dropped from a listing, and each tag is listed once")
    func listedTagsValidated() async throws {
        try await withUpstream { upstream, client in
            let body = try JSONSerialization.data(withJSONObject: ["name": "../x", "tags": ["v1", #"x","injected"#, "v1", "", "a\u{0}", "v2"]])
            upstream.failAlways(with: .answer(status: 200, body: Array(body)), pathContaining: "/tags/list")
            let tags = try await client.listTags(repository: "library/app", limit: 100)
            #expect(tags == ["v1", "v2"])
        }
    }
}
