import Foundation

/// A fresh directory under the system temporary directory, removed by ``remove()`` unless
/// `PIER_E2E_KEEP=1` asks to keep it.
struct TemporaryDirectory: Sendable {
    let url: URL

    /// Creates `<tmp>/pier-e2e-<label>-<random>`.
    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory
            .appending(path: "pier-e2e-\(label)-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside this directory.
    func appending(_ name: String) -> URL { url.appending(path: name) }

    /// The directory's path.
    var path: String { url.path }

    /// Deletes the directory and everything in it (kept when `PIER_E2E_KEEP=1`).
    func remove() {
        if EndToEnd.keepsTemporaryFiles {
            print("pier-e2e: kept \(url.path)")
        } else {
            try? FileManager.default.removeItem(at: url)
        }
    }

    /// Runs `body` with a fresh directory and removes it afterwards, whether `body` throws or not.
    @discardableResult
    static func with<T>(_ label: String, _ body: (TemporaryDirectory) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory(label)
        defer { directory.remove() }
        return try await body(directory)
    }
}
