import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RegistryCore
import RegistryTesting
import Testing

/// The pull-through cache against an upstream that lies: what an upstream says is untrusted input. Every answer Pier
/// gives is parsed as JSON here: only valid entries, or the right error, never a 500.
///
/// Serialized: a tag list must come within the cache's 3 s revalidation deadline (else the cached tags answer), and
/// thirty registries with their fake upstreams at once on a loaded 2-core machine can take longer than that.
@Suite("Pull-through cache: hostile upstream", .serialized)
struct HostileUpstreamTests {
    static let tagsPath = "/v2/upstream.test/team/app/tags/list"

    /// A tag list body as an upstream would write it, with whatever entries it likes.
    static func tagList(_ tags: [Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: ["name": "team/app", "tags": tags])) ?? Data())
    }

    /// Pier's answer, parsed as a JSON object (a failed expectation when it is not one).
    static func object(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let parsed = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
        return try #require(parsed as? [String: Any], "not a JSON object: \(String(buffer: response.body))", sourceLocation: sourceLocation)
    }

    /// Checks that `response` is the spec's error envelope with one error of `code`, and returns its message.
    @discardableResult
    static func expectError(_ response: TestResponse, status: Int, code: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(response.status.code == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        let errors = try #require(try object(response, sourceLocation: sourceLocation)["errors"] as? [[String: Any]], sourceLocation: sourceLocation)
        #expect(errors.count == 1, sourceLocation: sourceLocation)
        #expect(errors.first?["code"] as? String == code, sourceLocation: sourceLocation)
        return errors.first?["message"] as? String ?? ""
    }

    // MARK: Tag lists

    static let hostileTags: [String] = [
        #"x","injected"#, "a\u{01}b", "new\nline", "tab\t", "with space", "../etc", "-dash", ".dot", "", "é", #"x"}"#, #"{""#, "\\",
        String(repeating: "a", count: 129), "\u{7f}", "ok\u{0}",
    ]

    @Test("tags that are not tags are dropped, duplicates listed once: Pier's tag list is valid JSON of valid tags only")
    func hostileTagsDropped() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let body = Self.tagList(Self.hostileTags + ["v1", "latest", "v1", "1.0-rc_2", String(repeating: "b", count: 128)])
            upstream.failAlways(with: .answer(status: 200, headers: ["Content-Type": "application/json"], body: body), pathContaining: "/tags/list")
            for path in [Self.tagsPath, "/v2/team/app/tags/list?ns=upstream.test", "/v2/team/app/tags/list"] {
                let response = try await client.send(.get, path)
                #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                let object = try Self.object(response)
                #expect(object["tags"] as? [String] == ["1.0-rc_2", String(repeating: "b", count: 128), "latest", "v1"], "\(path)")
                #expect((object["name"] as? String).map { RepositoryName($0) != nil } == true, "\(path)")
            }
            let page = try await client.send(.get, Self.tagsPath + "?n=2")
            #expect(try Self.object(page)["tags"] as? [String] == ["1.0-rc_2", String(repeating: "b", count: 128)])
            #expect(page.headers[.link] == "</v2/upstream.test/team/app/tags/list?last=\(String(repeating: "b", count: 128))&n=2>; rel=\"next\"")
        }
    }

    @Test("a tag list that is not one falls back to the cached tags, or the spec's error when none are cached")
    func malformedTagList() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            _ = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            upstream.failAlways(with: .answer(status: 200, body: Self.tagList([1, NSNull(), ["a": 1]])), pathContaining: "/tags/list")
            try Self.expectError(try await client.send(.get, Self.tagsPath), status: 404, code: "NAME_UNKNOWN")
            #expect(try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: PullThroughTests.accept).status == .ok)
            let cached = try await client.send(.get, Self.tagsPath)
            #expect(cached.status == .ok)
            #expect(try Self.object(cached)["tags"] as? [String] == ["v1"])
        }
    }

    @Test("tag list pages over 4 MiB in all are refused: the cached tags are answered")
    func oversizedTagList() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            _ = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            #expect(try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: PullThroughTests.accept).status == .ok)
            // Six pages of 1 MiB each (JSON whitespace), each linking to the next.
            for page in 1...6 {
                let body = Array(#"{"tags":["p\#(page)"]"#.utf8) + [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20) + Array("}".utf8)
                let link = "</v2/team/app/tags/list?n=10&last=p\(page)>; rel=\"next\""
                upstream.failNext(1, with: .answer(status: 200, headers: ["Link": link], body: body), pathContaining: "/tags/list")
            }
            let response = try await client.send(.get, Self.tagsPath)
            #expect(response.status == .ok)
            #expect(try Self.object(response)["tags"] as? [String] == ["v1"], "the cached tags, not the oversized list")
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/tags/list") <= 5)
        }
    }

    @Test("a Link to another host or another path is not followed", arguments: [
        "OTHER/v2/team/app/tags/list?n=10&last=a", "/token?scope=repository:team/app:push&last=a", "/v2/other/repo/tags/list?last=a",
        "/v2/team/app/manifests/latest?last=a", "/_cdn/x?last=a", "//evil.example/v2/team/app/tags/list?last=a",
        "ftp://127.0.0.1/v2/team/app/tags/list", "/v2/team/app/tags/list/../../../token?last=a",
    ])
    func foreignLinkNotFollowed(target: String) async throws {
        let other = try await FakeUpstream.start()
        do {
            try await PullThroughTests().withMirror { upstream, client in
                let link = "<\(target.replacingOccurrences(of: "OTHER", with: other.url))>; rel=\"next\""
                upstream.failNext(1, with: .answer(status: 200, headers: ["Link": link], body: Self.tagList(["a"])), pathContaining: "/tags/list")
                let response = try await client.send(.get, Self.tagsPath)
                #expect(response.status == .ok)
                #expect(try Self.object(response)["tags"] as? [String] == ["a"])
                #expect(upstream.recordedRequests.map(\.path) == ["/v2/team/app/tags/list"], "\(upstream.recordedRequests)")
            }
        } catch {
            await other.stop()
            throw error
        }
        #expect(other.recordedRequests.isEmpty)
        await other.stop()
    }

    @Test("a relative Link resolves against the page that carried it; a Link back to the same page ends the listing")
    func relativeLinkFollowed() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            _ = PullThroughTests.addImage(upstream, repository: "team/app", tag: "c")
            upstream.failNext(1, with: .answer(status: 200, headers: ["Link": "<?n=100&last=b>; rel=\"next\""], body: Self.tagList(["a", "b"])),
                              pathContaining: "/tags/list")
            let response = try await client.send(.get, Self.tagsPath)
            #expect(try Self.object(response)["tags"] as? [String] == ["a", "b", "c"])

            upstream.resetCounters()
            upstream.failAlways(with: .answer(status: 200, headers: ["Link": "</v2/team/app/tags/list?n=1000>; rel=\"next\""], body: Self.tagList(["a"])),
                                pathContaining: "/tags/list")
            let looping = try await client.send(.get, Self.tagsPath)
            #expect(try Self.object(looping)["tags"] as? [String] == ["a"])
            #expect(upstream.requests(method: "GET", path: "/v2/team/app/tags/list") == 1)
        }
    }

    // MARK: Manifests

    @Test("a manifest whose Docker-Content-Digest disagrees with its bytes is refused by tag and by digest, and nothing is cached")
    func lyingDigestHeader() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            let headers = ["Content-Type": MediaType.ociManifest, "Docker-Content-Digest": Digest.of([1, 2, 3]).description]
            upstream.failAlways(with: .answer(status: 200, headers: headers, body: image.manifest), pathContaining: "/manifests/")
            for reference in ["v1", image.digest.description] {
                for method in [HTTPRequest.Method.get, .head] {
                    let response = try await client.send(method, "/v2/upstream.test/team/app/manifests/\(reference)", headers: PullThroughTests.accept)
                    #expect(response.status.code == 502, "\(method) \(reference)")
                    if method == .get { try Self.expectError(response, status: 502, code: "UNKNOWN") }
                }
            }
            let catalog = try await client.send(.get, "/v2/_catalog")
            #expect(try Self.object(catalog)["repositories"] as? [String] == [])
        }
    }

    @Test("a malformed Docker-Content-Digest is refused, never ignored", arguments: [
        "sha256:XYZ", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:", "UPPER", "sha256:abc, sha256:def", "../../etc/passwd",
    ])
    func malformedDigestHeader(value: String) async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            let header = value == "UPPER" ? "sha256:" + image.digest.encoded.uppercased() : value
            upstream.failAlways(with: .answer(status: 200, headers: ["Content-Type": MediaType.ociManifest, "Docker-Content-Digest": header],
                                              body: image.manifest), pathContaining: "/manifests/")
            let response = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: PullThroughTests.accept)
            let message = try Self.expectError(response, status: 502, code: "UNKNOWN")
            #expect(message.contains("Docker-Content-Digest"), "\(message)")
            let catalog = try await client.send(.get, "/v2/_catalog")
            #expect(try Self.object(catalog)["repositories"] as? [String] == [])
        }
    }

    @Test("an upstream manifest with a media type that is not a media type is refused and not cached", arguments: [
        ("content-type", "text/html"), ("content-type", "application/vnd.oci.image.manifest.v1+json, text/html"),
        ("content-type", "not a media type"), ("config", "application/x\"injected"), ("config", "no-slash"),
        ("config", "text/plain\u{1}"), ("artifact", "application/vnd.x/y"),
    ])
    func invalidMediaTypes(place: String, mediaType: String) async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let config = TestContent.bytes(40, seed: 9)
            let configDigest = upstream.addBlob(repository: "team/app", bytes: config)
            let manifest = TestContent.imageManifest(
                config: (configDigest, config.count), layers: [], artifactType: place == "artifact" ? mediaType : nil,
                configMediaType: place == "config" ? mediaType : MediaType.ociConfig)
            let contentType = place == "content-type" ? mediaType : MediaType.ociManifest
            upstream.failAlways(with: .answer(status: 200, headers: ["Content-Type": contentType], body: manifest), pathContaining: "/manifests/")
            let response = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: PullThroughTests.accept)
            try Self.expectError(response, status: 502, code: "UNKNOWN")
            let catalog = try await client.send(.get, "/v2/_catalog")
            #expect(try Self.object(catalog)["repositories"] as? [String] == [])
        }
    }

    @Test("an upstream's error message is repeated as one printable JSON string")
    func hostileErrorMessage() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let message = "x\"}],\"injected\":[{\"code\":\"DENIED\"}],\"y\":[{\"a\":\"\u{1}\u{1b}[31m\r\nX-Injected: 1"
            let body = Array((try JSONSerialization.data(withJSONObject: ["errors": [["code": "UNKNOWN\n", "message": message]]])))
            upstream.failAlways(with: .answer(status: 400, headers: ["Content-Type": "application/json"], body: body), pathContaining: "/manifests/")
            let response = try await client.send(.get, "/v2/upstream.test/team/app/manifests/v1", headers: PullThroughTests.accept)
            let text = try Self.expectError(response, status: 502, code: "UNKNOWN")
            #expect(text.contains("injected"), "the upstream's words are kept, as text: \(text)")
            #expect(!text.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(text.debugDescription)")
            #expect(response.headers[HTTPField.Name("X-Injected")!] == nil)
        }
    }

    @Test("a HEAD naming another blob in Docker-Content-Digest does not confirm a cached blob for a second repository")
    func headNamingAnotherBlob() async throws {
        try await PullThroughTests().withMirror { upstream, client in
            let image = PullThroughTests.addImage(upstream, repository: "team/app", tag: "v1")
            try await PullThroughScopeTests.pull(client, "upstream.test/team/app", image)
            let other = Digest.of([1, 2, 3])
            upstream.failAlways(
                with: .answer(status: 200, headers: ["Content-Length": String(image.layer.count), "Docker-Content-Digest": other.description], body: []),
                pathContaining: "/v2/team/other/blobs/")
            for method in [HTTPRequest.Method.head, .get] {
                let response = try await client.send(method, "/v2/upstream.test/team/other/blobs/\(image.layerDigest)")
                #expect(response.status.code == 502, "\(method): \(response.status)")
            }
            let catalog = try await client.send(.get, "/v2/_catalog")
            #expect(try Self.object(catalog)["repositories"] as? [String] == ["upstream.test/team/app"])
        }
    }
}
