import RegistryCore
import Testing

@Suite("Digest")
struct DigestTests {
    static let hex64 = String(repeating: "a", count: 64)
    static let hex128 = String(repeating: "0", count: 128)

    @Test("accepts lower-case sha256 and sha512", arguments: ["sha256:" + hex64, "sha512:" + hex128])
    func valid(_ string: String) throws {
        let digest = try Digest(parsing: string)
        #expect(digest.description == string)
    }

    @Test("rejects malformed and unsupported digests", arguments: [
        "", ":", "sha256", "sha256:", "sha256:" + String(repeating: "A", count: 64), "sha256:" + String(hex64.dropLast()),
        "sha256:" + hex64 + "a", "sha512:" + hex64, "SHA256:" + hex64, "md5:" + String(repeating: "a", count: 32),
        "sha256:" + String(repeating: "g", count: 64), "sha256::" + hex64, " sha256:" + hex64, "sha256:" + hex64 + "\n",
        "blake3:" + hex64, String(repeating: "x", count: 10_000),
    ])
    func invalid(_ string: String) {
        #expect(Digest(string) == nil)
        #expect(throws: RegistryError.self) { try Digest(parsing: string) }
    }

    @Test("hashes known vectors")
    func vectors() {
        #expect(Digest.of(Array("hello world".utf8)).description == "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        #expect(Digest.of([], algorithm: .sha512).encoded.hasPrefix("cf83e1357eefb8bdf1542850d66d8007"))
        var hasher = DigestHasher(.sha256)
        hasher.update(Array("hello ".utf8))
        let snapshot = hasher
        hasher.update(Array("world".utf8))
        #expect(hasher.finalize() == Digest.of(Array("hello world".utf8)))
        #expect(snapshot.finalize() == Digest.of(Array("hello ".utf8)), "a copied hasher shares state")
    }
}

@Suite("RepositoryName")
struct RepositoryNameTests {
    @Test("accepts the spec's grammar", arguments: [
        "a", "a/b", "library/busybox", "a-b", "a--b", "a_b", "a__b", "a.b", "a/b/c/d", "a/blobs/manifests", "0", "a0.b-c_d__e",
        String(repeating: "a", count: 255),
    ])
    func valid(_ name: String) {
        #expect(RepositoryName(name)?.value == name)
    }

    @Test("rejects everything else", arguments: [
        "", "A", "a/", "/a", "a//b", "a-", "-a", "a___b", "a.-b", "..", "a/../b", "a/./b", ".a", "a.", "a b", "é", "a\u{0}",
        "a:b", "a@b", String(repeating: "a", count: 256), "a/B",
    ])
    func invalid(_ name: String) {
        #expect(RepositoryName(name) == nil)
    }
}

@Suite("Tag and Reference")
struct TagTests {
    @Test("accepts tags", arguments: ["latest", "v1.0.0", "_x", "A-b_c.d", String(repeating: "a", count: 128)])
    func valid(_ tag: String) {
        #expect(Tag(tag)?.value == tag)
    }

    @Test("rejects bad tags", arguments: ["", ".x", "-x", "a/b", "a:b", "a b", String(repeating: "a", count: 129), "é"])
    func invalid(_ tag: String) {
        #expect(Tag(tag) == nil)
    }

    @Test("references are digests when they contain a colon")
    func references() throws {
        #expect(try Reference(parsing: "v1") == .tag(Tag("v1")!))
        #expect(try Reference(parsing: "sha256:" + DigestTests.hex64) == .digest(Digest("sha256:" + DigestTests.hex64)!))
        #expect(throws: RegistryError.self) { try Reference(parsing: "sha256:nope") }
        #expect(throws: RegistryError.self) { try Reference(parsing: ".bad") }
    }
}

@Suite("MediaType")
struct MediaTypeTests {
    @Test("accepts RFC 6838 names", arguments: [
        MediaType.ociManifest, MediaType.dockerManifestList, "application/vnd.oci.image.layer.v1.tar+gzip", "application/json",
        "text/plain", "application/vnd.cncf.helm.config.v1+json", "a/b", "A1!#$&^_.+-/x", String(repeating: "a", count: 127) + "/b",
    ])
    func valid(_ mediaType: String) {
        #expect(MediaType.isValid(mediaType))
    }

    @Test("rejects everything else", arguments: [
        "", "a", "/b", "a/", "a/b/c", "a /b", "a/b ", "a/b; charset=utf-8", #"a/b","x"#, "a/b\u{1}", "a/b\n", "é/b", "-a/b", "a/.b",
        "a/b\u{0}", String(repeating: "a", count: 128) + "/b", "*/*", "a/b,c/d", "a\"/b",
    ])
    func invalid(_ mediaType: String) {
        #expect(!MediaType.isValid(mediaType))
    }
}
