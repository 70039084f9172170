import Foundation
import Testing

/// pier next to the reference registry (CNCF Distribution 2.8.2): images copied between the two
/// keep their digests, and Distribution as a pull-through cache of pier serves pier's content.
@Suite("pier and the reference registry", .enabled(if: EndToEnd.isEnabled), .pierServer)
struct ReferenceInteropTests {
    @Test("skopeo copies pier → Distribution → pier keep the index, manifests and blobs")
    func copyBothWays() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        let image = layout["multi"]
        try await skopeo.push(layout, "multi", to: "interop/source", as: "v1")
        try await ReferenceRegistry.with { reference in
            try await skopeo.copy(skopeo.docker("interop/source", "v1"), "docker://\(reference.host)/interop/copy:v1", ["--all"])
            #expect(try await reference.api.digest("interop/copy", "v1") == image.descriptor.digest)
            try await skopeo.copy("docker://\(reference.host)/interop/copy:v1", skopeo.docker("interop/back", "v1"), ["--all"])
        }
        #expect(try await pier.api.digest("interop/back", "v1") == image.descriptor.digest)
        for blob in image.allBlobs {
            let isManifest = blob.mediaType == MediaTypes.ociManifest || blob.mediaType == MediaTypes.ociIndex
            let status = isManifest
                ? try await pier.api.manifest("interop/back", blob.digest).status
                : try await pier.api.blobStatus("interop/back", blob.digest)
            #expect(status == 200, "\(blob)")
        }
    }

    @Test("Distribution as a pull-through cache of pier serves pier's images unchanged")
    func pullThroughCache() async throws {
        let pier = try PierServer.required(), skopeo = try Skopeo(pier: pier)
        let layout = try await TestImages.shared.oci()
        try await skopeo.push(layout, "multi", to: "interop/cached", as: "v1")
        try await skopeo.push(layout, "big", to: "interop/cached", as: "big")
        try await ReferenceRegistry.with(proxying: pier.host) { cache in
            let raw = try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "docker://\(cache.host)/interop/cached:v1"]).check()
            #expect(raw.standardOutputData == (try layout.blob(layout["multi"].descriptor.digest)))
            try await TemporaryDirectory.with("interop-cache") { output in
                try await skopeo.copy("docker://\(cache.host)/interop/cached:big", "dir:\(output.path)")
                for layer in layout["big"].manifests[0].layers {
                    #expect(try Data(contentsOf: output.appending(layer.hex)) == (try layout.blob(layer.digest)), "\(layer)")
                }
            }
            #expect(try await cache.api.tags("interop/cached").sorted() == ["big", "v1"], "tags/list is forwarded to pier")
        }
        #expect(pier.accessLog().contains { $0.path.hasPrefix("/v2/interop/cached/blobs/") && $0.method == "GET" && $0.status == 200 })
    }
}
