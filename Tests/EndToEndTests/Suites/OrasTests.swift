import Foundation
import Testing

/// The oras Python SDK (0.2.43) against pier: artifact pushes (monolithic and chunked), pulls, tag
/// listing with pagination, tag deletion, and a manifest with a `subject` found through the
/// referrers API (which oras itself never calls, so the test asks for it directly).
@Suite("oras", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct OrasTests {
    private static let prelude = """
        import json, sys, os, hashlib
        import oras.client, oras.oci
        client = oras.client.OrasClient(hostname=HOST, insecure=True)

        """

    @Test("push a file and a directory, pull them back unchanged")
    func pushAndPull() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        try await TemporaryDirectory.with("oras-files") { directory in
            try Data("hello from oras\n".utf8).write(to: directory.appending("hello.txt"))
            try FileManager.default.createDirectory(at: directory.appending("tree/sub"), withIntermediateDirectories: true)
            try Data("a\n".utf8).write(to: directory.appending("tree/a.txt"))
            try PseudoRandomBytes.generate(count: 70_000, seed: "oras-tree").write(to: directory.appending("tree/sub/b.bin"))
            let output = try await python.script(Self.prelude + """
                response = client.push(target=f"{HOST}/oras/files:v1", files=["hello.txt:text/plain", "tree"],
                                       manifest_annotations={"org.example.purpose": "e2e"})
                assert response.status_code == 201, response.text
                pulled = client.pull(target=f"{HOST}/oras/files:v1", outdir="out")
                manifest = client.get_manifest(f"{HOST}/oras/files:v1")
                print(json.dumps({"pulled": sorted(os.path.relpath(p, "out") for p in pulled), "manifest": manifest,
                                  "digest": response.headers["Docker-Content-Digest"]}))
                """, in: directory.url) as? [String: Any]
            #expect(output?["pulled"] as? [String] == ["hello.txt", "tree"])
            for file in ["hello.txt", "tree/a.txt", "tree/sub/b.bin"] {
                #expect(try Data(contentsOf: directory.appending("out/\(file)")) == (try Data(contentsOf: directory.appending(file))), "\(file)")
            }
            let manifest = try #require(output?["manifest"] as? [String: Any])
            #expect((manifest["annotations"] as? [String: String])?["org.example.purpose"] == "e2e")
            #expect(try await pier.api.digest("oras/files", "v1") == output?["digest"] as? String)
        }
    }

    @Test("chunked push (1 MiB PATCHes) of a multi-MiB file pulls back the same bytes")
    func chunkedPush() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        try await TemporaryDirectory.with("oras-chunked") { directory in
            let content = PseudoRandomBytes.generate(count: 5 * 1024 * 1024 + 12_345, seed: "oras-chunked")
            try content.write(to: directory.appending("big.bin"))
            _ = try await python.script(Self.prelude + """
                response = client.push(target=f"{HOST}/oras/chunked:v1", files=["big.bin"], do_chunked=True, chunk_size=1 << 20)
                assert response.status_code == 201, response.text
                client.pull(target=f"{HOST}/oras/chunked:v1", outdir="out")
                print(json.dumps(True))
                """, in: directory.url)
            #expect(try Data(contentsOf: directory.appending("out/big.bin")) == content)
            #expect(try await pier.api.blobStatus("oras/chunked", content.sha256Digest) == 200)
        }
        let patches = pier.accessLog().filter { $0.method == "PATCH" && $0.path.hasPrefix("/v2/oras/chunked/blobs/uploads/") }
        #expect(patches.count >= 6, "expected one PATCH per MiB, saw \(patches.count)")
        #expect(patches.allSatisfy { $0.status == 202 })
    }

    // OCI distribution-spec "Listing Tags": lexical order, `n` limits a page, `Link` leads to the next.
    // (Distribution 2.8.2 ignores `n` here and answers in storage order, so it fails this test.)
    @Test("get_tags lists all tags, also when following Link pages of n=2")
    func tagsWithPagination() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        let tags = ["t1", "t2", "t3", "t4", "t5"]
        try await TemporaryDirectory.with("oras-tags") { directory in
            try Data("tagged\n".utf8).write(to: directory.appending("note.txt"))
            let output = try await python.script(Self.prelude + """
                for tag in sys.argv[1:]:
                    client.push(target=f"{HOST}/oras/tags:{tag}", files=["note.txt"])
                everything = client.get_tags(f"{HOST}/oras/tags")
                first_two = client.get_tags(f"{HOST}/oras/tags", N=2)
                pages = []
                def collect(response):
                    pages.append(response.json().get("tags") or [])
                    return True
                client._do_paginated_request(f"http://{HOST}/v2/oras/tags/tags/list?n=2", callable=collect)
                print(json.dumps({"all": everything, "first": first_two, "pages": pages}))
                """, arguments: tags.reversed(), in: directory.url) as? [String: Any]
            #expect(output?["all"] as? [String] == tags)
            #expect(output?["first"] as? [String] == ["t1", "t2"])
            #expect(output?["pages"] as? [[String]] == [["t1", "t2"], ["t3", "t4"], ["t5"]])
        }
    }

    @Test("delete_tag removes the tag's manifest; other tags stay")
    func deleteTag() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        try await TemporaryDirectory.with("oras-delete") { directory in
            try Data("keep\n".utf8).write(to: directory.appending("keep.txt"))
            try Data("gone\n".utf8).write(to: directory.appending("gone.txt"))
            let output = try await python.script(Self.prelude + """
                client.push(target=f"{HOST}/oras/delete:keep", files=["keep.txt"])
                client.push(target=f"{HOST}/oras/delete:gone", files=["gone.txt"])
                deleted = client.delete_tag(f"{HOST}/oras/delete", "gone")
                print(json.dumps({"deleted": deleted, "tags": client.get_tags(f"{HOST}/oras/delete")}))
                """, in: directory.url) as? [String: Any]
            #expect(output?["deleted"] as? Bool == true)
            #expect(output?["tags"] as? [String] == ["keep"])
        }
        #expect(try await pier.api.digest("oras/delete", "gone") == nil)
        #expect(try await pier.api.digest("oras/delete", "keep") != nil)
    }

    @Test("a manifest pushed with a subject is listed by GET /v2/<name>/referrers/<digest>")
    func referrers() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        let output = try await TemporaryDirectory.with("oras-referrers") { directory in
            try Data("the artifact\n".utf8).write(to: directory.appending("artifact.txt"))
            try Data("a signature\n".utf8).write(to: directory.appending("signature.txt"))
            return try await python.script(Self.prelude + """
                base = client.push(target=f"{HOST}/oras/referrers:base", files=["artifact.txt"])
                subject_digest = base.headers["Docker-Content-Digest"]
                size = int(client.do_request(f"http://{HOST}/v2/oras/referrers/manifests/{subject_digest}", "HEAD",
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).headers["Content-Length"])
                subject = oras.oci.Subject(mediaType="application/vnd.oci.image.manifest.v1+json", digest=subject_digest, size=size)
                signature = client.push(target=f"{HOST}/oras/referrers:signature", files=["signature.txt:text/plain"], subject=subject)
                print(json.dumps({"subject": subject_digest, "referrer": signature.headers["Docker-Content-Digest"],
                                  "ociSubject": signature.headers.get("OCI-Subject")}))
                """, in: directory.url) as? [String: Any]
        }
        let subject = try #require(output?["subject"] as? String), referrer = try #require(output?["referrer"] as? String)
        #expect(output?["ociSubject"] as? String == subject, "PUT of a manifest with a subject answers OCI-Subject")

        let response = try await pier.api.send("GET", "/v2/oras/referrers/referrers/\(subject)")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == MediaTypes.ociIndex)
        let index = try response.jsonObject()
        #expect(index["mediaType"] as? String == MediaTypes.ociIndex)
        let entries = try #require(index["manifests"] as? [[String: Any]])
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry["digest"] as? String == referrer)
        #expect(entry["mediaType"] as? String == MediaTypes.ociManifest)
        let stored = try await pier.api.manifest("oras/referrers", referrer)
        #expect(entry["size"] as? Int == stored.body.count)
        #expect(entry["artifactType"] as? String == "application/vnd.unknown.config.v1+json")

        // OCI 1.1 "Listing Referrers": filtering by artifactType, and saying so in OCI-Filters-Applied.
        let unknownConfig = "application/vnd.unknown.config.v1%2Bjson"
        let filtered = try await pier.api.send("GET", "/v2/oras/referrers/referrers/\(subject)?artifactType=\(unknownConfig)")
        #expect(filtered.status == 200)
        #expect((try filtered.jsonObject()["manifests"] as? [[String: Any]])?.count == 1)
        let other = try await pier.api.send("GET", "/v2/oras/referrers/referrers/\(subject)?artifactType=application/example")
        #expect(other.header("OCI-Filters-Applied") == "artifactType")
        #expect((try other.jsonObject()["manifests"] as? [Any])?.isEmpty == true)

        let none = try await pier.api.send("GET", "/v2/oras/referrers/referrers/\(referrer)")
        #expect(none.status == 200)
        #expect((try none.jsonObject()["manifests"] as? [Any])?.isEmpty == true)
    }
}
