import Foundation

extension ImageLayout {
    /// Writes the whole layout directory as one tar (what `ctr images import` reads), entries sorted.
    func writeTar(to url: URL) throws {
        var entries: [TarWriter.Entry] = [
            .init(path: "oci-layout", kind: .file(try Data(contentsOf: directory.appending(path: "oci-layout")))),
            .init(path: "index.json", kind: .file(try Data(contentsOf: directory.appending(path: "index.json")))),
            .init(path: "blobs/", kind: .directory),
            .init(path: "blobs/sha256/", kind: .directory),
        ]
        let blobs = try FileManager.default.contentsOfDirectory(atPath: directory.appending(path: "blobs/sha256").path).sorted()
        for name in blobs {
            entries.append(.init(path: "blobs/sha256/\(name)", kind: .file(try blob("sha256:\(name)"))))
        }
        try TarWriter.archive(entries).write(to: url)
    }
}
