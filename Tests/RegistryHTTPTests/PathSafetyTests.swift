import Foundation
import HTTPTypes
import HummingbirdTesting
import RegistryConfig
import RegistryCore
import RegistryTesting
import Testing

/// No path component of a request reaches the file system: blob files are named by digests, upload files by
/// server-made UUIDs, and repository names only live in the metadata store.
@Suite("Path safety")
struct PathSafetyTests {
    static let longName = String(repeating: "a/", count: 200) + "a"
    static let digest = Digest.of(Array("escape".utf8)).description
    /// Request targets that try to name a place outside the data directory, or to smuggle a separator.
    static let targets: [String] = [
        "/v2/../../escape/blobs/uploads/",
        "/v2/%2e%2e/%2e%2e/escape/blobs/uploads/",
        "/v2/a/../../../escape/blobs/uploads/",
        "/v2/..%2f..%2fescape/blobs/uploads/",
        "/v2/a%00b/blobs/uploads/",
        "/v2/a%2fb/blobs/uploads/",
        "/v2/\(longName)/blobs/uploads/",
        "/v2/\(String(repeating: "x", count: 5000))/blobs/uploads/",
        "/v2/a/blobs/uploads/../../../../escape",
        "/v2/a/blobs/uploads/..%2f..%2f..%2fescape",
        "/v2/a/blobs/uploads/%2e%2e%2f%2e%2e%2fescape",
        "/v2/a/blobs/uploads/%2e%2e",
        "/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000%00",
        "/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000%2f..",
        "/v2/a/blobs/uploads/\(String(repeating: "9", count: 3000))",
        "/v2/a/blobs/sha256:..%2f..%2fescape",
        "/v2/a/blobs/sha256:%2e%2e",
        "/v2/a/manifests/..%2f..%2fescape",
        "/v2/a/manifests/sha256:..%2fescape",
        "/v2/a/blobs/uploads/?digest=sha256:..%2f..%2fescape",
        "/v2/a/blobs/uploads/?mount=sha256:..%2fescape&from=..%2f..",
        "/v2/a/blobs/uploads/?digest-algorithm=..%2fescape",
        "//escape/v2/a/blobs/uploads/",
        "/v2/a/tags/list?last=..%2f..%2fescape&n=1",
        "/v2/_catalog?last=%00&n=99999999999999999999",
    ]

    @Test("hostile names, digests and upload ids get a 4xx and create nothing outside the data directory")
    func nothingEscapes() async throws {
        let outer = try TemporaryDirectory("pier-escape")
        defer { outer.remove() }
        let root = outer.path + "/data"
        try await withRegistry(live: true, configure: { $0.storage.rootDirectory = root }) { client in
            let port = try #require(client.port)
            // A live session, so upload-id paths have a real neighbour to aim at.
            let start = try await client.send(.post, "/v2/a/blobs/uploads/")
            #expect(start.status == .accepted)
            for target in Self.targets {
                for method in ["POST", "PUT", "PATCH", "GET", "HEAD", "DELETE"] {
                    let separator = target.contains("?") ? "&" : "?"
                    let path = method == "PUT" ? target + separator + "digest=\(Self.digest)" : target
                    let connection = try RawConnection(port: port)
                    connection.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 6\r\n\r\nescape")
                    #expect(try await connection.waitForClose(seconds: 5), "\(method) \(path.prefix(80)) hung")
                    let status = Int(connection.text.dropFirst(9).prefix(3)) ?? 0
                    #expect((400..<500).contains(status), "\(method) \(path.prefix(80)) answered \(connection.text.prefix(80))")
                }
            }
            #expect(try await client.send(.get, "/v2/").status == .ok, "not serving after the hostile requests")
        }
        let outside = try FileManager.default.contentsOfDirectory(atPath: outer.path)
        #expect(outside == ["data"], "created outside the data directory: \(outside)")
        let inside = FileManager.default.enumerator(atPath: root)?.allObjects.compactMap { $0 as? String } ?? []
        #expect(!inside.isEmpty)
        for entry in inside {
            #expect(!entry.contains("escape") && !entry.contains("..") && !entry.contains("%"), "unexpected \(entry)")
        }
    }
}
