@testable import RegistryHTTP
import Testing

@Suite("RegistryPath")
struct RegistryPathTests {
    @Test("parses endpoints from the right, whatever the name contains", arguments: [
        ("/v2/", RegistryPath.base),
        ("/v2", .base),
        ("/v2/_catalog", .catalog),
        ("/v2/a/tags/list", .tags(name: "a")),
        ("/v2/a/b/c/tags/list", .tags(name: "a/b/c")),
        ("/v2/a/manifests/latest", .manifest(name: "a", reference: "latest")),
        ("/v2/a/manifests/b/manifests/latest", .manifest(name: "a/manifests/b", reference: "latest")),
        ("/v2/a/blobs/manifests/manifests/v1", .manifest(name: "a/blobs/manifests", reference: "v1")),
        ("/v2/a/blobs/sha256:abc", .blob(name: "a", digest: "sha256:abc")),
        ("/v2/a/blobs/sha256%3Aabc", .blob(name: "a", digest: "sha256:abc")),
        ("/v2/tags/list/blobs/x", .blob(name: "tags/list", digest: "x")),
        ("/v2/a/blobs/uploads/", .uploads(name: "a")),
        ("/v2/a/blobs/uploads", .uploads(name: "a")),
        ("/v2/a/blobs/uploads/blobs/uploads/", .uploads(name: "a/blobs/uploads")),
        ("/v2/a/blobs/uploads/1234-abcd", .upload(name: "a", id: "1234-abcd")),
        ("/v2/x/referrers/sha256:abc", .referrers(name: "x", digest: "sha256:abc")),
        ("/v2/referrers/referrers/sha256:abc", .referrers(name: "referrers", digest: "sha256:abc")),
    ])
    func parses(_ path: String, _ expected: RegistryPath) {
        #expect(RegistryPath(path) == expected)
    }

    @Test("rejects paths that are not registry endpoints", arguments: [
        "/", "/v1/", "/v2x", "/v20/", "/v2//manifests/x", "/v2/manifests/x", "/v2/a/unknown/x", "/v2/a//b/tags/list",
        "/v2/a/manifests/", "/v2/_catalog/x", "/v2/a/blobs/%2F", "/v2/a/blobs/%zz", "/v2/a/blobs/%00", "/v2/a/tags/list/",
        "/v2/" + String(repeating: "a/", count: 1100) + "tags/list",
    ])
    func rejects(_ path: String) {
        #expect(RegistryPath(path) == nil)
    }
}

@Suite("Range headers")
struct ByteRangeTests {
    @Test("single byte ranges", arguments: [
        ("bytes=0-9", 100, 0..<10),
        ("bytes=90-", 100, 90..<100),
        ("bytes=90-200", 100, 90..<100),
        ("bytes=-10", 100, 90..<100),
        ("bytes=-200", 100, 0..<100),
        ("bytes=99-99", 100, 99..<100),
    ] as [(String, Int64, Range<Int64>)])
    func satisfiable(_ header: String, _ size: Int64, _ expected: Range<Int64>) {
        guard case .satisfiable(let range) = ByteRange(header: header, size: size) else {
            Issue.record("not satisfiable")
            return
        }
        #expect(range == expected)
    }

    @Test("out of range is 416", arguments: ["bytes=100-", "bytes=100-200", "bytes=-0"])
    func unsatisfiable(_ header: String) {
        guard case .unsatisfiable = ByteRange(header: header, size: 100) else {
            Issue.record("expected unsatisfiable")
            return
        }
    }

    @Test("malformed or multiple ranges are ignored", arguments: [
        "bytes=a-b", "bytes=5-1", "items=0-1", "bytes=0-1,3-4", "bytes=-", "bytes=99999999999999999999999-", "", "bytes=-1-2",
    ])
    func ignored(_ header: String) {
        guard case .ignored = ByteRange(header: header, size: 100) else {
            Issue.record("expected ignored")
            return
        }
    }

    @Test("upload Content-Range forms", arguments: [
        ("0-9", true), ("bytes 0-9/10", true), ("bytes=0-9", true), ("9-0", true), ("a-b", false), ("-1-2", false), ("", false),
        ("0-99999999999999999999999", false),
    ])
    func contentRange(_ value: String, _ valid: Bool) {
        #expect((parseContentRange(value) != nil) == valid)
    }
}
