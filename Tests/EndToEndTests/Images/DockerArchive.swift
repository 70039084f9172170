import Foundation

/// Writes a `docker save`-style archive (`manifest.json`, the config, one directory per layer) that
/// `docker load` reads, for an image of a generated layout.
enum DockerArchive {
    /// Writes the archive of `image` (its first platform) to `url`, naming it `repositoryTag`.
    ///
    /// The layers are stored as the layout has them (gzip'd); `docker load` decompresses them.
    static func write(_ layout: ImageLayout, tag: String, repositoryTag: String, to url: URL) throws {
        let image = layout[tag].manifests[0]
        var entries: [TarWriter.Entry] = [.init(path: "\(image.config.hex).json", kind: .file(try layout.blob(image.config.digest)))]
        var layerPaths: [CanonicalJSON] = []
        for layer in image.layers {
            entries.append(.init(path: "\(layer.hex)/", kind: .directory))
            entries.append(.init(path: "\(layer.hex)/layer.tar", kind: .file(try layout.blob(layer.digest))))
            layerPaths.append(.string("\(layer.hex)/layer.tar"))
        }
        let manifest: CanonicalJSON = [[
            "Config": .string("\(image.config.hex).json"), "RepoTags": [.string(repositoryTag)], "Layers": .array(layerPaths),
        ]]
        entries.append(.init(path: "manifest.json", kind: .file(manifest.encoded)))
        try TarWriter.archive(entries).write(to: url)
    }
}
