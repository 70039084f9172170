import Foundation
import Testing

/// `pier gc` run while `pier serve` is serving: what clients deleted goes, what is tagged stays
/// intact, and the deleted content can be pushed again afterwards.
@Suite("pier gc with live clients", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct GarbageCollectionTests {
    @Test("gc after skopeo delete removes the untagged manifests and their blobs, keeps tagged images")
    func collectDeletedImage() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let kept = layout["v1"], dropped = layout["multi"]
        try await skopeo.push(layout, "v1", to: "gc/keep")
        try await skopeo.push(layout, "multi", to: "gc/drop")
        try await skopeo.run(["delete", "--tls-verify=false", skopeo.docker("gc/drop", "multi")]).check()

        let gc = try await ProcessRunner.run(
            try EndToEnd.pierBinary().path, ["gc", "--root", pier.dataRoot.path, "--grace", "0s"], diagnostics: [pier]
        ).check()
        // The index went with skopeo delete; gc takes its two platform manifests, their configs and layers.
        #expect(gc.standardOutput.contains("removed: 2 manifests, 8 blobs"), "pier gc printed: \(gc.standardOutput)")

        for image in dropped.manifests {
            #expect(try await pier.api.manifest("gc/drop", image.manifest.digest).status == 404)
            for blob in [image.config] + image.layers {
                #expect(try await pier.api.blobStatus("gc/drop", blob.digest) == 404, "\(blob)")
            }
        }
        try await TemporaryDirectory.with("gc-kept") { output in
            try await skopeo.copy(skopeo.docker("gc/keep", "v1"), "oci:\(output.path):v1")
            for blob in kept.allBlobs {
                #expect(try Data(contentsOf: output.appending("blobs/sha256/\(blob.hex)")) == (try layout.blob(blob.digest)), "\(blob)")
            }
        }

        // Nothing stale is left behind: the collected content can be pushed and pulled again.
        try await skopeo.push(layout, "multi", to: "gc/drop", as: "again")
        #expect(try await skopeo.rawManifest("gc/drop", "again") == (try layout.blob(dropped.descriptor.digest)))
        for layer in dropped.manifests.flatMap(\.layers) {
            let response = try await pier.api.send("GET", "/v2/gc/drop/blobs/\(layer.digest)")
            let expected = try layout.blob(layer.digest)
            #expect(response.status == 200 && response.body == expected, "\(layer)")
        }
    }
}
