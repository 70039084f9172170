import Foundation
import Testing

/// python-dxf 12.1.1 (its `dxf` command line and Python API) against pier: blobs pushed with an
/// alias, sizes, pulls, alias listing, catalog pagination, cross-repository mounts and deletes.
@Suite("python-dxf", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct DxfTests {
    @Test("push-blob with an alias; blob-size, get-digest and pull-blob give it back")
    func pushBlobWithAlias() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        try await TemporaryDirectory.with("dxf-push") { directory in
            let content = PseudoRandomBytes.generate(count: 3 * 1024 * 1024 + 7, seed: "dxf-push")
            let file = directory.appending("blob.bin")
            try content.write(to: file)
            let pushed = try await python.dxf(["push-blob", "dxf/blobs", file.path, "@big"]).check()
            #expect(pushed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == content.sha256Digest)

            for reference in ["@big", content.sha256Digest] {
                let size = try await python.dxf(["blob-size", "dxf/blobs", reference]).check()
                #expect(size.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == String(content.count), "blob-size \(reference)")
                let pulled = try await python.dxf(["pull-blob", "dxf/blobs", reference]).check()
                #expect(pulled.standardOutputData == content, "pull-blob \(reference)")
            }
            let digest = try await python.dxf(["get-digest", "dxf/blobs", "big"]).check()
            #expect(digest.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == content.sha256Digest)
        }
        #expect(try await pier.api.tags("dxf/blobs") == ["big"])
    }

    @Test("list-aliases lists every alias set on a repository")
    func listAliases() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        try await TemporaryDirectory.with("dxf-aliases") { directory in
            let file = directory.appending("small.bin")
            try Data("aliased content\n".utf8).write(to: file)
            let digest = try await python.dxf(["push-blob", "dxf/aliases", file.path, "@first"]).check()
                .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            try await python.dxf(["set-alias", "dxf/aliases", "second", digest]).check()
            let listed = try await python.dxf(["list-aliases", "dxf/aliases"]).check()
            #expect(listed.standardOutput.split(separator: "\n").map(String.init).sorted() == ["first", "second"])
        }
    }

    @Test("list_repos(batch_size=2) follows the catalog's Link pages to every repository")
    func listReposWithPagination() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        let repositories = (1...5).map { "dxf/catalog-\($0)" }
        let before = pier.accessLog().count { $0.path == "/v2/_catalog" }
        let listed = try await TemporaryDirectory.with("dxf-catalog") { directory in
            try Data("catalog entry\n".utf8).write(to: directory.appending("entry.bin"))
            for repository in repositories {
                try await python.dxf(["push-blob", repository, directory.appending("entry.bin").path, "@v1"]).check()
            }
            let listing = try await python.dxf(["list-repos"]).check()
            #expect(Set(listing.standardOutput.split(separator: "\n").map(String.init)).isSuperset(of: repositories))
            return try await python.script("""
                import json, dxf
                print(json.dumps(list(dxf.DXFBase(HOST, insecure=True).list_repos(batch_size=2))))
                """, in: directory.url) as? [String]
        }
        let names = try #require(listed)
        #expect(Set(names).isSuperset(of: repositories))
        #expect(names == names.sorted(), "catalog pages come in lexical order")
        #expect(Set(names).count == names.count, "no repository is listed twice across pages")
        let catalogRequests = pier.accessLog().count { $0.path == "/v2/_catalog" } - before
        #expect(catalogRequests >= 1 + (names.count + 1) / 2, "batch_size=2 must page through the catalog")
    }

    @Test("mount-blob makes a blob of one repository available in another")
    func mountBlob() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        let content = PseudoRandomBytes.generate(count: 200_000, seed: "dxf-mount")
        try await TemporaryDirectory.with("dxf-mount") { directory in
            try content.write(to: directory.appending("shared.bin"))
            try await python.dxf(["push-blob", "dxf/mount-source", directory.appending("shared.bin").path]).check()
        }
        #expect(try await pier.api.blobStatus("dxf/mount-target", content.sha256Digest) == 404)
        try await python.dxf(["mount-blob", "dxf/mount-target", "dxf/mount-source", content.sha256Digest]).check()
        #expect(try await pier.api.blobStatus("dxf/mount-target", content.sha256Digest) == 200)
        let pulled = try await python.dxf(["pull-blob", "dxf/mount-target", content.sha256Digest]).check()
        #expect(pulled.standardOutputData == content)
        #expect(pier.accessLog().contains { $0.method == "POST" && $0.path == "/v2/dxf/mount-target/blobs/uploads/" && $0.status == 201 })
    }

    @Test("del-alias removes the alias, del-blob the blob; another alias stays")
    func deleteAliasAndBlob() async throws {
        let pier = try PierServer.required(), python = try PythonClients(pier: pier)
        let doomed = Data("to be deleted\n".utf8)
        try await TemporaryDirectory.with("dxf-delete") { directory in
            try doomed.write(to: directory.appending("doomed.bin"))
            try Data("to be kept\n".utf8).write(to: directory.appending("kept.bin"))
            try await python.dxf(["push-blob", "dxf/delete", directory.appending("doomed.bin").path, "@doomed"]).check()
            // A different blob: an alias is a manifest, and one deleted by digest takes every tag on it along.
            try await python.dxf(["push-blob", "dxf/delete", directory.appending("kept.bin").path, "@kept"]).check()
        }

        let removed = try await python.dxf(["del-alias", "dxf/delete", "doomed"]).check()
        #expect(removed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == doomed.sha256Digest)
        let aliases = try await python.dxf(["list-aliases", "dxf/delete"]).check()
        #expect(aliases.standardOutput.split(separator: "\n").map(String.init) == ["kept"])
        try await python.dxf(["get-digest", "dxf/delete", "doomed"]).checkFailed()

        try await python.dxf(["del-blob", "dxf/delete", doomed.sha256Digest]).check()
        #expect(try await pier.api.blobStatus("dxf/delete", doomed.sha256Digest) == 404)
        try await python.dxf(["pull-blob", "dxf/delete", doomed.sha256Digest]).checkFailed()
        #expect(try await python.dxf(["pull-blob", "dxf/delete", "@kept"]).check().standardOutput == "to be kept\n")
    }
}
