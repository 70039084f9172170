import Foundation

/// What to generate for one tag of a layout.
struct ImageSpec: Sendable {
    var tag: String
    /// One platform gives a plain manifest; more give an index (or a Docker manifest list).
    var platforms: [Platform] = [.amd64]
    /// How many synthetic layers each image has (ignored when `customLayers` is set).
    var layerCount = 3
    /// The size of the pseudo-random file in each synthetic layer.
    var payloadKiB = 16
    /// Docker schema2 media types instead of OCI ones.
    var dockerMediaTypes = false
    /// Layers given entry by entry instead of the synthetic ones.
    var customLayers: [[TarWriter.Entry]]?
    /// The config's `Cmd`.
    var command = ["/usr/bin/hello"]
}

/// Writes deterministic test images into an OCI image layout.
///
/// Every byte depends only on the specs: fixed times, sorted tar entries, stored-block gzip with
/// mtime 0, canonical JSON, and payloads from a PRNG seeded by tag, platform and layer index. So the
/// digests are the same on every machine (``ImageGeneratorTests`` pins them).
enum LayoutGenerator {
    static let created = "2024-01-01T00:00:00Z"

    /// Writes `specs` as one layout at `directory` (created if needed) and describes what it wrote.
    static func write(_ specs: [ImageSpec], to directory: URL) throws -> ImageLayout {
        let blobs = directory.appending(path: "blobs/sha256")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        var layout = ImageLayout(directory: directory, images: [:])
        var writer = BlobWriter(directory: blobs)
        var indexEntries: [CanonicalJSON] = []
        for spec in specs {
            let image = try generate(spec, writer: &writer)
            layout.images[spec.tag] = image
            var entry = image.descriptor.json
            if case var .object(members) = entry {
                members["annotations"] = ["org.opencontainers.image.ref.name": .string(spec.tag)]
                entry = .object(members)
            }
            indexEntries.append(entry)
        }
        let index: CanonicalJSON = ["schemaVersion": 2, "mediaType": .string(MediaTypes.ociIndex), "manifests": .array(indexEntries)]
        try index.encoded.write(to: directory.appending(path: "index.json"))
        let layoutVersion: CanonicalJSON = ["imageLayoutVersion": "1.0.0"]
        try layoutVersion.encoded.write(to: directory.appending(path: "oci-layout"))
        return layout
    }

    private static func generate(_ spec: ImageSpec, writer: inout BlobWriter) throws -> GeneratedImage {
        let manifests = try spec.platforms.map { try generateManifest(spec, platform: $0, writer: &writer) }
        if manifests.count == 1 {
            return GeneratedImage(tag: spec.tag, descriptor: manifests[0].manifest, manifests: manifests)
        }
        let mediaType = spec.dockerMediaTypes ? MediaTypes.dockerManifestList : MediaTypes.ociIndex
        let entries: [CanonicalJSON] = manifests.map { image in
            guard case var .object(members) = image.manifest.json else { return image.manifest.json }
            members["platform"] = image.platform.json
            return .object(members)
        }
        let index: CanonicalJSON = ["schemaVersion": 2, "mediaType": .string(mediaType), "manifests": .array(entries)]
        let descriptor = try writer.write(index.encoded, mediaType: mediaType)
        return GeneratedImage(tag: spec.tag, descriptor: descriptor, manifests: manifests)
    }

    private static func generateManifest(
        _ spec: ImageSpec, platform: Platform, writer: inout BlobWriter
    ) throws -> GeneratedManifest {
        let docker = spec.dockerMediaTypes
        let layerEntries = spec.customLayers
            ?? (0..<spec.layerCount).map { syntheticLayer(index: $0, spec: spec, platform: platform) }
        var layers: [BlobDescriptor] = []
        var diffIDs: [String] = []
        for entries in layerEntries {
            let tar = TarWriter.archive(entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) })
            diffIDs.append(tar.sha256Digest)
            layers.append(try writer.write(Gzip.storedMember(tar), mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip))
        }
        var config: [String: CanonicalJSON] = [
            "created": .string(created),
            "os": .string(platform.os),
            "architecture": .string(platform.architecture),
            "config": [
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", .string("PIER_E2E_IMAGE=\(spec.tag)")],
                "Cmd": .array(spec.command.map(CanonicalJSON.string)),
                "WorkingDir": "/",
                "Labels": ["org.opencontainers.image.title": .string("pier-e2e \(spec.tag)"), "pier.e2e.platform": .string(platform.description)],
            ],
            "rootfs": ["type": "layers", "diff_ids": .array(diffIDs.map(CanonicalJSON.string))],
            "history": .array(layerEntries.indices.map { index in
                ["created": .string(created), "created_by": .string("pier-e2e generator: layer \(index)")]
            }),
        ]
        if let variant = platform.variant { config["variant"] = .string(variant) }
        let configDescriptor = try writer.write(
            CanonicalJSON.object(config).encoded, mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig)
        let mediaType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest
        var manifest: [String: CanonicalJSON] = [
            "schemaVersion": 2, "mediaType": .string(mediaType),
            "config": configDescriptor.json, "layers": .array(layers.map(\.json)),
        ]
        if !docker { manifest["annotations"] = ["org.opencontainers.image.title": .string("pier-e2e \(spec.tag)")] }
        let manifestDescriptor = try writer.write(CanonicalJSON.object(manifest).encoded, mediaType: mediaType)
        return GeneratedManifest(platform: platform, manifest: manifestDescriptor, config: configDescriptor, layers: layers, diffIDs: diffIDs)
    }

    /// The entries of synthetic layer `index`: the first has every entry kind (dirs, files, an
    /// executable, a symlink, a hard link); the second deletes a file of the first with an OCI whiteout.
    static func syntheticLayer(index: Int, spec: ImageSpec, platform: Platform) -> [TarWriter.Entry] {
        let payload = PseudoRandomBytes.generate(count: spec.payloadKiB * 1024, seed: "\(spec.tag)/\(platform)/\(index)")
        var entries: [TarWriter.Entry] = [
            .init(path: "data/", kind: .directory),
            .init(path: "data/layer-\(index).bin", kind: .file(payload)),
        ]
        if index == 0 {
            entries += [
                .init(path: "etc/", kind: .directory),
                .init(path: "etc/os-release", kind: .file(Data("NAME=pier-e2e\nIMAGE=\(spec.tag)\nPLATFORM=\(platform)\n".utf8))),
                .init(path: "etc/obsolete.conf", kind: .file(Data("removed by layer 1\n".utf8))),
                .init(path: "usr/", kind: .directory),
                .init(path: "usr/bin/", kind: .directory),
                .init(path: "usr/bin/hello", kind: .file(Data("#!/bin/sh\necho hello from \(spec.tag)\n".utf8), executable: true)),
                .init(path: "usr/bin/hello-again", kind: .hardLink(target: "usr/bin/hello")),
                .init(path: "usr/bin/hi", kind: .symlink(target: "hello")),
            ]
        } else if index == 1 {
            entries += [
                .init(path: "etc/", kind: .directory),
                .init(path: "etc/.wh.obsolete.conf", kind: .file(Data())),
            ]
        }
        return entries
    }
}

/// Writes content-addressed blobs into `blobs/sha256` and returns their descriptors.
struct BlobWriter {
    let directory: URL

    /// Stores `data` under its digest (idempotent) and describes it.
    mutating func write(_ data: Data, mediaType: String) throws -> BlobDescriptor {
        let descriptor = BlobDescriptor(mediaType: mediaType, digest: data.sha256Digest, size: data.count)
        let url = directory.appending(path: descriptor.hex)
        if !FileManager.default.fileExists(atPath: url.path) { try data.write(to: url) }
        return descriptor
    }
}

/// Pseudo-random bytes from SplitMix64 seeded with the FNV-1a hash of a string: cheap, and the same
/// on every platform.
enum PseudoRandomBytes {
    /// `count` bytes determined by `seed`.
    static func generate(count: Int, seed: String) -> Data {
        var state: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in seed.utf8 { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for index in words.indices {
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            words[index] = (mixed ^ (mixed >> 31)).littleEndian
        }
        return words.withUnsafeBytes { Data($0.prefix(count)) }
    }
}
