import Foundation
import Testing

/// skopeo 1.9.3 against pier: pushes that keep digests, multi-arch copies, format conversion,
/// inspection, tag listing, deletion, sync and registry-to-registry copies.
@Suite("skopeo", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct SkopeoTests {
    @Test("copy oci: → docker:// keeps the manifest byte for byte, and pulls back the same blobs")
    func copyKeepsDigest() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["v1"]
        try await skopeo.push(layout, "v1", to: "skopeo/copy")

        let raw = try await skopeo.rawManifest("skopeo/copy", "v1")
        #expect(raw.sha256Digest == image.descriptor.digest)
        #expect(raw == (try layout.blob(image.descriptor.digest)))
        #expect(try await pier.api.digest("skopeo/copy", "v1") == image.descriptor.digest)

        try await TemporaryDirectory.with("skopeo-pull") { output in
            try await skopeo.copy(skopeo.docker("skopeo/copy", "v1"), "oci:\(output.path):pulled")
            for blob in image.allBlobs {
                let pulled = try Data(contentsOf: output.appending("blobs/sha256/\(blob.hex)"))
                #expect(pulled == (try layout.blob(blob.digest)), "blob \(blob) differs after the round trip")
            }
        }
    }

    @Test("copy of 12 MiB layers, then pull by digest into dir: gives the same bytes")
    func bigLayers() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["big"]
        try await skopeo.push(layout, "big", to: "skopeo/big")
        #expect(try await pier.api.digest("skopeo/big", "big") == image.descriptor.digest)

        try await TemporaryDirectory.with("skopeo-big") { output in
            try await skopeo.copy(skopeo.docker("skopeo/big", image.descriptor.digest), "dir:\(output.path)")
            for layer in image.manifests[0].layers {
                let pulled = try Data(contentsOf: output.appending(layer.hex))
                #expect(pulled.count == layer.size)
                #expect(pulled.sha256Digest == layer.digest)
            }
        }
    }

    @Test("copy --all pushes a multi-arch index; inspect picks the host or the overridden platform")
    func multiArch() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["multi"]
        try await skopeo.push(layout, "multi", to: "skopeo/multi")

        #expect(try await skopeo.rawManifest("skopeo/multi", "multi").sha256Digest == image.descriptor.digest)
        for manifest in image.manifests {
            let response = try await pier.api.manifest("skopeo/multi", manifest.manifest.digest)
            #expect(response.status == 200)
            #expect(response.body == (try layout.blob(manifest.manifest.digest)), "manifest for \(manifest.platform)")
            #expect(response.header("Content-Type") == MediaTypes.ociManifest)
        }

        let arm64 = try #require(image.manifest(for: .arm64))
        let inspected = try await skopeo.inspect("skopeo/multi", "multi", ["--override-arch", "arm64", "--override-variant", "v8"])
        #expect(inspected["Architecture"] as? String == "arm64")
        #expect(inspected["Layers"] as? [String] == arm64.layers.map(\.digest))
        #expect((inspected["Labels"] as? [String: String])?["pier.e2e.platform"] == "linux/arm64/v8")
        #expect(inspected["Digest"] as? String == image.descriptor.digest)

        let host = try #require(image.manifest(for: TestImages.hostPlatform))
        let plain = try await skopeo.inspect("skopeo/multi", "multi")
        #expect(plain["Layers"] as? [String] == host.layers.map(\.digest))
        #expect(plain["Env"] as? [String] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PIER_E2E_IMAGE=multi"])
    }

    @Test("copy --format v2s2 stores Docker schema2 manifests and a manifest list over the same blobs")
    func dockerSchema2() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        try await skopeo.push(layout, "v1", to: "skopeo/v2s2", ["--format", "v2s2"])
        try await skopeo.push(layout, "multi", to: "skopeo/v2s2", ["--format", "v2s2"])

        let single = try await pier.api.manifest("skopeo/v2s2", "v1")
        #expect(single.header("Content-Type") == MediaTypes.dockerManifest)
        let manifest = try single.jsonObject()
        #expect(manifest["mediaType"] as? String == MediaTypes.dockerManifest)
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        #expect(layers.compactMap { $0["digest"] as? String } == layout["v1"].manifests[0].layers.map(\.digest))
        #expect(layers.allSatisfy { $0["mediaType"] as? String == MediaTypes.dockerLayerGzip })
        #expect((manifest["config"] as? [String: Any])?["digest"] as? String == layout["v1"].manifests[0].config.digest)
        #expect(single.body.sha256Digest == single.header("Docker-Content-Digest"))

        let list = try await pier.api.manifest("skopeo/v2s2", "multi")
        #expect(list.header("Content-Type") == MediaTypes.dockerManifestList)
        let entries = try #require(try list.jsonObject()["manifests"] as? [[String: Any]])
        #expect(entries.count == 2)
        for entry in entries {
            let digest = try #require(entry["digest"] as? String)
            #expect(try await pier.api.manifest("skopeo/v2s2", digest).status == 200)
        }
    }

    @Test("list-tags lists every pushed tag")
    func listTags() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        for tag in ["c", "a", "b-1.0"] { try await skopeo.push(layout, "v1", to: "skopeo/tags", as: tag) }
        let result = try await skopeo.run(["list-tags", "--tls-verify=false", "docker://\(pier.host)/skopeo/tags"]).check()
        let listing = try #require(try JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: Any])
        #expect((listing["Tags"] as? [String])?.sorted() == ["a", "b-1.0", "c"])
        #expect(listing["Repository"] as? String == "\(pier.host)/skopeo/tags")
    }

    @Test("delete removes the manifest: inspect and pull fail afterwards, other tags stay")
    func delete() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        try await skopeo.push(layout, "v1", to: "skopeo/delete", as: "gone")
        try await skopeo.push(layout, "multi", to: "skopeo/delete", as: "kept")
        try await skopeo.run(["delete", "--tls-verify=false", skopeo.docker("skopeo/delete", "gone")]).check()

        try await skopeo.run(["inspect", "--raw", "--tls-verify=false", skopeo.docker("skopeo/delete", "gone")]).checkFailed()
        try await TemporaryDirectory.with("skopeo-deleted") { output in
            try await skopeo.run(["copy", "--src-tls-verify=false", skopeo.docker("skopeo/delete", "gone"), "dir:\(output.path)"]).checkFailed()
        }
        #expect(try await pier.api.manifest("skopeo/delete", layout["v1"].descriptor.digest).status == 404)
        #expect(try await pier.api.tags("skopeo/delete") == ["kept"])
        #expect(try await skopeo.rawManifest("skopeo/delete", "kept").sha256Digest == layout["multi"].descriptor.digest)
    }

    @Test("sync copies every tag of a repository to dir: and to another registry path")
    func sync() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        try await skopeo.push(layout, "v1", to: "skopeo/sync", as: "one")
        try await skopeo.push(layout, "multi", to: "skopeo/sync", as: "two")

        try await TemporaryDirectory.with("skopeo-sync") { output in
            try await skopeo.run([
                "sync", "--all", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "\(pier.host)/skopeo/sync", output.path,
            ]).check()
            let one = try Data(contentsOf: output.appending("sync:one/manifest.json"))
            #expect(one.sha256Digest == layout["v1"].descriptor.digest)
            let two = try Data(contentsOf: output.appending("sync:two/manifest.json"))
            #expect(two.sha256Digest == layout["multi"].descriptor.digest)
        }

        try await skopeo.run([
            "sync", "--all", "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false",
            "\(pier.host)/skopeo/sync", "\(pier.host)/skopeo/mirror",
        ]).check()
        #expect(try await pier.api.tags("skopeo/mirror/sync").sorted() == ["one", "two"])
        #expect(try await pier.api.digest("skopeo/mirror/sync", "one") == layout["v1"].descriptor.digest)
        #expect(try await pier.api.digest("skopeo/mirror/sync", "two") == layout["multi"].descriptor.digest)
    }

    @Test("copy registry → registry keeps the index digest and mounts blobs across repositories")
    func registryToRegistry() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["multi"]
        try await skopeo.push(layout, "multi", to: "skopeo/mount-source", as: "v1")
        try await skopeo.copy(skopeo.docker("skopeo/mount-source", "v1"), skopeo.docker("skopeo/mount-target", "v1"), ["--all"])

        #expect(try await pier.api.digest("skopeo/mount-target", "v1") == image.descriptor.digest)
        for blob in image.allBlobs where !blob.mediaType.contains("manifest") && !blob.mediaType.contains("index") {
            #expect(try await pier.api.blobStatus("skopeo/mount-target", blob.digest) == 200, "blob \(blob)")
        }
        // A mount is POST /blobs/uploads/?mount=…&from=… answered 201 (a new session is 202); the access
        // log leaves out the query, so the status tells them apart.
        let mounts = pier.accessLog().filter {
            $0.method == "POST" && $0.path == "/v2/skopeo/mount-target/blobs/uploads/" && $0.status == 201
        }
        let posts = pier.accessLog().filter { $0.method == "POST" && $0.path.contains("mount-target") }
        #expect(mounts.count >= 2, "expected cross-repository mounts; POSTs were: \(posts)")
    }

    @Test("concurrent pushes of the same 12 MiB layers, to one repository and to several, all land intact")
    func concurrentPushes() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let targets = ["same", "same", "same", "one", "two", "three"].map { "skopeo/race-\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for target in targets {
                group.addTask { try await skopeo.push(layout, "big", to: target) }
            }
            try await group.waitForAll()
        }
        for target in Set(targets) {
            #expect(try await pier.api.digest(target, "big") == layout["big"].descriptor.digest, "\(target)")
            for layer in layout["big"].manifests[0].layers {
                let response = try await pier.api.send("GET", "/v2/\(target)/blobs/\(layer.digest)")
                #expect(response.body.count == layer.size && response.body.sha256Digest == layer.digest, "\(target) \(layer)")
            }
        }
    }

    // Repository names may contain the API's own path words; pier parses paths from the right (STYLE.md).
    @Test("repository names made of API path words work end to end", arguments: [
        "skopeo/blobs/manifests/tags", "skopeo/a/manifests/b/manifests", "skopeo/uploads/blobs/uploads", "skopeo/referrers/v2",
    ])
    func hostileRepositoryNames(repository: String) async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let longTag = "T" + String(repeating: "a", count: 127)
        try await skopeo.push(layout, "v1", to: repository, as: longTag)
        #expect(try await skopeo.rawManifest(repository, longTag).sha256Digest == layout["v1"].descriptor.digest)
        let result = try await skopeo.run(["list-tags", "--tls-verify=false", "docker://\(pier.host)/\(repository)"]).check()
        let listing = try JSONSerialization.jsonObject(with: result.standardOutputData) as? [String: Any]
        #expect(listing?["Tags"] as? [String] == [longTag])
        try await skopeo.run(["delete", "--tls-verify=false", skopeo.docker(repository, longTag)]).check()
        #expect(try await pier.api.tags(repository).isEmpty)
    }
}
