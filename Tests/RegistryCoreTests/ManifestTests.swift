import Foundation
import RegistryCore
import Testing

@Suite("Manifest parsing")
struct ManifestTests {
    let config = "sha256:" + String(repeating: "c", count: 64)
    let layer = "sha256:" + String(repeating: "1", count: 64)
    let foreign = "sha256:" + String(repeating: "f", count: 64)

    func json(_ object: [String: Any]) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object))
    }

    @Test("an OCI image manifest: blobs, subject, artifact type from the config")
    func image() throws {
        let bytes = json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": ["mediaType": "application/vnd.example.config", "digest": config, "size": 2],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 3]],
            "subject": ["mediaType": MediaType.ociManifest, "digest": layer, "size": 3],
            "annotations": ["a": "b"],
        ])
        let manifest = try Manifest(parsing: bytes, contentType: MediaType.ociManifest + "; charset=utf-8")
        #expect(manifest.mediaType == MediaType.ociManifest)
        #expect(manifest.blobs.map(\.description) == [config, layer])
        #expect(manifest.subject?.description == layer)
        #expect(manifest.artifactType == "application/vnd.example.config")
        #expect(manifest.annotations == ["a": "b"])
    }

    @Test("a Docker schema 2 manifest without a mediaType Content-Type; foreign layers are not required")
    func docker() throws {
        let bytes = json([
            "schemaVersion": 2, "mediaType": MediaType.dockerManifest,
            "config": ["mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 2],
            "layers": [
                ["mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 3],
                ["mediaType": MediaType.dockerForeignLayer, "digest": foreign, "size": 9, "urls": ["https://example.com/x"]],
            ],
        ])
        let manifest = try Manifest(parsing: bytes, contentType: nil)
        #expect(manifest.mediaType == MediaType.dockerManifest)
        #expect(manifest.blobs.map(\.description) == [config, layer])
    }

    @Test("an index lists manifests; its type is inferred when nothing declares it")
    func index() throws {
        let bytes = json(["schemaVersion": 2, "manifests": [["mediaType": MediaType.ociManifest, "digest": layer, "size": 3]]])
        let manifest = try Manifest(parsing: bytes, contentType: MediaType.octetStream)
        #expect(manifest.isIndex && manifest.mediaType == MediaType.ociIndex)
        #expect(manifest.manifests.map(\.description) == [layer])
        #expect(manifest.artifactType == nil)
    }

    @Test("refuses media types that are not RFC 6838 names wherever a manifest declares one", arguments: [
        "config", "layer", "artifactType", "subject", "descriptorArtifactType",
    ])
    func invalidMediaTypes(_ place: String) {
        let bad = #"application/x","injected":"1"#
        var object: [String: Any] = [
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": ["mediaType": place == "config" ? bad : MediaType.ociConfig, "digest": config, "size": 2],
            "layers": [["mediaType": place == "layer" ? bad : "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 3]
                .merging(place == "descriptorArtifactType" ? ["artifactType": "not a type"] : [:]) { $1 }],
        ]
        if place == "artifactType" { object["artifactType"] = "text" }
        if place == "subject" { object["subject"] = ["mediaType": "a/b/c", "digest": layer, "size": 3] }
        #expect(throws: RegistryError.self, "\(place)") { try Manifest(parsing: json(object), contentType: MediaType.ociManifest) }
    }

    @Test("refuses what is not a manifest Pier stores", arguments: [
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, MediaType.ociManifest),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:cc","size":1}}"#, MediaType.ociManifest),
        (#"{"schemaVersion":1}"#, MediaType.dockerManifestV1Signed),
        (#"{"schemaVersion":3,"manifests":[]}"#, MediaType.ociIndex),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.example","config":{}}"#, "application/vnd.example"),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#, MediaType.ociManifest),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#, MediaType.ociIndex),
        (#"not json"#, MediaType.ociManifest),
    ])
    func invalid(_ body: String, _ contentType: String) {
        #expect(throws: RegistryError.self) { try Manifest(parsing: Array(body.utf8), contentType: contentType) }
    }
}
