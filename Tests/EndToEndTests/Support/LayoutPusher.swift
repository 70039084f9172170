import Foundation

/// Pushes a generated image from a layout with plain HTTP (POST, then PUT `?digest=` with the body),
/// so a suite can seed the registry without depending on another client.
enum LayoutPusher {
    /// Uploads every blob of `tag`, its platform manifests by digest, and the top manifest as `repository:tag`.
    static func push(_ layout: ImageLayout, tag: String, to api: RegistryAPI, repository: String, as targetTag: String? = nil) async throws {
        let image = layout[tag]
        for manifest in image.manifests {
            for blob in [manifest.config] + manifest.layers {
                try await uploadBlob(try layout.blob(blob.digest), digest: blob.digest, to: api, repository: repository)
            }
            if manifest.manifest != image.descriptor {
                try await putManifest(layout, manifest.manifest, to: api, repository: repository, reference: manifest.manifest.digest)
            }
        }
        try await putManifest(layout, image.descriptor, to: api, repository: repository, reference: targetTag ?? tag)
    }

    /// Uploads one blob unless the repository already has it.
    static func uploadBlob(_ data: Data, digest: String, to api: RegistryAPI, repository: String) async throws {
        if try await api.blobStatus(repository, digest) == 200 { return }
        let start = try await api.send("POST", "/v2/\(repository)/blobs/uploads/")
        guard start.status == 202, let location = start.header("Location") else {
            throw CommandFailure("POST /v2/\(repository)/blobs/uploads/ answered \(start.status): \(start.text)")
        }
        let separator = location.contains("?") ? "&" : "?"
        let target = location.hasPrefix("http") ? location : "http://\(api.host)\(location)"
        guard let url = URL(string: "\(target)\(separator)digest=\(digest)") else { throw CommandFailure("bad Location \(location)") }
        let finish = try await HTTPClient.send("PUT", url, headers: ["Content-Type": "application/octet-stream"], body: data)
        guard finish.status == 201 else {
            throw CommandFailure("PUT \(url) (\(data.count) bytes) answered \(finish.status): \(finish.text)")
        }
    }

    private static func putManifest(
        _ layout: ImageLayout, _ descriptor: BlobDescriptor, to api: RegistryAPI, repository: String, reference: String
    ) async throws {
        let response = try await api.send(
            "PUT", "/v2/\(repository)/manifests/\(reference)",
            headers: ["Content-Type": descriptor.mediaType], body: try layout.blob(descriptor.digest))
        guard response.status == 201 else {
            throw CommandFailure("PUT /v2/\(repository)/manifests/\(reference) answered \(response.status): \(response.text)")
        }
    }
}
