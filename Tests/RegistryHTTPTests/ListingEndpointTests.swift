import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

@Suite("Listing endpoints")
struct ListingEndpointTests {
    @Test("tags list pages with n and last, in lexical order, with Link")
    func tags() async throws {
        try await withRegistry { client in
            let (manifest, _) = try await client.pushImage("t", tag: "b")
            for tag in ["a", "C", "c", "a1"] {
                _ = try await client.send(.put, "/v2/t/manifests/\(tag)", headers: [.contentType: MediaType.ociManifest], body: manifest)
            }
            let all = try await client.send(.get, "/v2/t/tags/list")
            #expect(String(buffer: all.body) == #"{"name":"t","tags":["C","a","a1","b","c"]}"# + "\n")
            #expect(all.headers[.link] == nil)
            let page = try await client.send(.get, "/v2/t/tags/list?n=2")
            #expect(String(buffer: page.body).contains(#"["C","a"]"#))
            #expect(page.headers[.link] == #"</v2/t/tags/list?last=a&n=2>; rel="next""#)
            let next = try await client.send(.get, "/v2/t/tags/list?n=2&last=a")
            #expect(String(buffer: next.body).contains(#"["a1","b"]"#))
            let none = try await client.send(.get, "/v2/t/tags/list?n=0")
            #expect(String(buffer: none.body).contains(#""tags":[]"#) && none.headers[.link] == nil)
            #expect(try await client.send(.get, "/v2/t/tags/list?n=-1").status == .badRequest)
            #expect(try await client.send(.get, "/v2/t/tags/list?n=99999999999999999999999").status == .badRequest)
            let unknown = try await client.send(.get, "/v2/nope/tags/list")
            #expect(unknown.status == .notFound && unknown.errorCode == "NAME_UNKNOWN")
        }
    }

    @Test("the catalog pages in lexical order with Link")
    func catalog() async throws {
        try await withRegistry { client in
            for name in ["b", "a/x", "a", "c"] { try await client.pushBlob(name, [1]) }
            let first = try await client.send(.get, "/v2/_catalog?n=2")
            #expect(String(buffer: first.body) == #"{"repositories":["a","a/x"]}"# + "\n")
            #expect(first.headers[.link] == #"</v2/_catalog?last=a/x&n=2>; rel="next""#)
            let rest = try await client.send(.get, "/v2/_catalog?n=2&last=a/x")
            #expect(String(buffer: rest.body) == #"{"repositories":["b","c"]}"# + "\n")
            let all = try await client.send(.get, "/v2/_catalog")
            #expect(String(buffer: all.body) == #"{"repositories":["a","a/x","b","c"]}"# + "\n")
        }
    }

    @Test("referrers: always an image index, filtered by artifactType with OCI-Filters-Applied")
    func referrers() async throws {
        try await withRegistry { client in
            let (subject, subjectDigest) = try await client.pushImage("r", tag: "v1")
            let (_, sbom) = try await client.pushImage("r", tag: "sbom", seed: 5, subject: (subjectDigest, subject.count),
                                                       artifactType: "application/vnd.example.sbom", annotations: ["k": "v"])
            let (_, sig) = try await client.pushImage("r", tag: "sig", seed: 6, subject: (subjectDigest, subject.count))
            let all = try await client.send(.get, "/v2/r/referrers/\(subjectDigest)")
            #expect(all.status == .ok && all.headers[.contentType] == MediaType.ociIndex)
            struct Index: Decodable { var schemaVersion: Int; var mediaType: String; var manifests: [Descriptor] }
            let index = try JSONDecoder().decode(Index.self, from: Data(all.bytes))
            #expect(Set(index.manifests.map(\.digest)) == [sbom, sig])
            #expect(index.manifests.first { $0.digest == sbom }?.annotations == ["k": "v"])
            #expect(index.manifests.first { $0.digest == sig }?.artifactType == MediaType.ociConfig)
            let filtered = try await client.send(.get, "/v2/r/referrers/\(subjectDigest)?artifactType=application/vnd.example.sbom")
            #expect(filtered.headers[.ociFiltersApplied] == "artifactType")
            #expect(try JSONDecoder().decode(Index.self, from: Data(filtered.bytes)).manifests.map(\.digest) == [sbom])
            let empty = try await client.send(.get, "/v2/unknown/referrers/\(Digest.of([1]))")
            #expect(empty.status == .ok && String(buffer: empty.body).contains(#""manifests":[]"#))
            #expect(try await client.send(.get, "/v2/r/referrers/sha256:bad").status == .badRequest)
        }
    }
}
