import Foundation
import Testing

/// containerd 1.6 (`ctr` with a private daemon) against pier: pulls, pushes of a retagged
/// multi-arch image, and a Docker schema2 layout imported from a tar and pushed with its digest kept.
@Suite("containerd ctr", .enabled(if: EndToEnd.isEnabled), .pierServer, .containerdDaemon)
struct ContainerdTests {
    @Test("pull --plain-http fetches the image with its digest, blobs and uncompressed layer digests")
    func pull() async throws {
        let pier = try PierServer.required(), containerd = try ContainerdDaemon.required()
        let layout = try await TestImages.shared.oci()
        let image = layout["v1"]
        try await LayoutPusher.push(layout, tag: "v1", to: pier.api, repository: "ctr/pull")
        let reference = "\(pier.host)/ctr/pull:v1"

        try await containerd.ctr(["images", "pull", "--plain-http", reference], also: [pier]).check()
        #expect(try await imageDigest(reference, containerd) == image.descriptor.digest)
        let manifest = image.manifests[0]
        for blob in [manifest.config] + manifest.layers {
            let content = try await containerd.ctr(["content", "get", blob.digest]).check()
            #expect(content.standardOutputData == (try layout.blob(blob.digest)), "blob \(blob)")
        }
        // containerd decompressed each layer and recorded the digest it computed as a label.
        let content = try await containerd.ctr(["content", "ls"]).check().standardOutput.split(separator: "\n")
        for (layer, diffID) in zip(manifest.layers, manifest.diffIDs) {
            let line = content.first { $0.hasPrefix(layer.digest) }
            #expect(line?.contains("containerd.io/uncompressed=\(diffID)") == true, "layer \(layer): \(line ?? "not listed")")
        }
    }

    @Test("12 MiB layers uploaded in one PUT each are pulled by containerd unchanged")
    func bigLayers() async throws {
        let pier = try PierServer.required(), containerd = try ContainerdDaemon.required()
        let layout = try await TestImages.shared.oci()
        let image = layout["big"].manifests[0]
        try await LayoutPusher.push(layout, tag: "big", to: pier.api, repository: "ctr/big")
        try await containerd.ctr(["images", "pull", "--plain-http", "\(pier.host)/ctr/big:big"], also: [pier]).check()
        for layer in image.layers {
            let content = try await containerd.ctr(["content", "get", layer.digest]).check()
            #expect(content.standardOutputData.count == layer.size)
            #expect(content.standardOutputData.sha256Digest == layer.digest)
        }
    }

    @Test("pull --all-platforms, tag and push keep the index digest")
    func pullAllPlatformsTagPush() async throws {
        let pier = try PierServer.required(), containerd = try ContainerdDaemon.required()
        let layout = try await TestImages.shared.oci()
        let image = layout["multi"]
        try await LayoutPusher.push(layout, tag: "multi", to: pier.api, repository: "ctr/multi")
        let source = "\(pier.host)/ctr/multi:multi", target = "\(pier.host)/ctr/pushed:v1"

        try await containerd.ctr(["images", "pull", "--plain-http", "--all-platforms", source], also: [pier]).check()
        #expect(try await imageDigest(source, containerd) == image.descriptor.digest)
        for manifest in image.manifests {
            try await containerd.ctr(["content", "get", manifest.manifest.digest]).check()
        }
        try await containerd.ctr(["images", "tag", source, target]).check()
        try await containerd.ctr(["images", "push", "--plain-http", target], also: [pier]).check()

        #expect(try await pier.api.digest("ctr/pushed", "v1") == image.descriptor.digest)
        for manifest in image.manifests {
            #expect(try await pier.api.manifest("ctr/pushed", manifest.manifest.digest).body == (try layout.blob(manifest.manifest.digest)))
            for layer in manifest.layers { #expect(try await pier.api.blobStatus("ctr/pushed", layer.digest) == 200) }
        }
    }

    @Test("import a Docker schema2 layout tar and push it: the manifest list digest is kept")
    func importAndPush() async throws {
        let pier = try PierServer.required(), containerd = try ContainerdDaemon.required()
        let layout = try await TestImages.shared.docker()
        let image = layout["d2"]
        try await TemporaryDirectory.with("ctr-import") { directory in
            let archive = directory.appending("d2.tar")
            try layout.writeTar(to: archive)
            try await containerd.ctr(["images", "import", "--all-platforms", "--base-name", "\(pier.host)/ctr/imported", archive.path]).check()
        }
        let reference = "\(pier.host)/ctr/imported:d2"
        #expect(try await imageDigest(reference, containerd) == image.descriptor.digest)
        try await containerd.ctr(["images", "push", "--plain-http", reference], also: [pier]).check()

        let pushed = try await pier.api.manifest("ctr/imported", "d2")
        #expect(pushed.status == 200)
        #expect(pushed.header("Content-Type") == MediaTypes.dockerManifestList)
        #expect(pushed.header("Docker-Content-Digest") == image.descriptor.digest)
        #expect(pushed.body == (try layout.blob(image.descriptor.digest)))
        for manifest in image.manifests {
            let child = try await pier.api.manifest("ctr/imported", manifest.manifest.digest)
            #expect(child.header("Content-Type") == MediaTypes.dockerManifest)
            #expect(child.body == (try layout.blob(manifest.manifest.digest)))
        }
    }

    /// The digest `ctr images ls` shows for `reference`.
    private func imageDigest(_ reference: String, _ containerd: ContainerdDaemon) async throws -> String? {
        let listing = try await containerd.ctr(["images", "ls"]).check().standardOutput
        for line in listing.split(separator: "\n") {
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            if columns.count >= 3, columns[0] == reference { return String(columns[2]) }
        }
        return nil
    }
}
