import Foundation
import Testing

/// The offline image generator: its primitives, and that its digests are the same on every machine.
/// These run on every `swift test` (no tools needed), except the unpack check.
@Suite("Test image generator")
struct ImageGeneratorTests {
    @Test("SHA-256 matches the FIPS 180-4 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256Vectors(input: String, hex: String) {
        #expect(Data(input.utf8).sha256Digest == "sha256:" + hex)
    }

    @Test("SHA-256 of a million 'a' bytes fed in odd-sized pieces")
    func sha256Streaming() {
        var hasher = SHA256Hasher()
        let piece = Data(repeating: UInt8(ascii: "a"), count: 999)
        var fed = 0
        while fed < 1_000_000 {
            let count = min(piece.count, 1_000_000 - fed)
            hasher.update(piece.prefix(count))
            fed += count
        }
        let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("CRC-32 matches the standard check value")
    func crc32() {
        #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test("canonical JSON sorts keys and escapes control characters")
    func canonicalJSON() {
        let value: CanonicalJSON = ["b": [1, true, "x/y"], "a": "q\"\\\n\u{1}"]
        #expect(String(decoding: value.encoded, as: UTF8.self) == #"{"a":"q\"\\\n\u0001","b":[1,true,"x/y"]}"#)
    }

    @Test("the generated layouts have the same digests on every machine")
    func pinnedDigests() async throws {
        try await TemporaryDirectory.with("generator") { directory in
            let oci = try LayoutGenerator.write(TestImages.ociSpecs.filter { $0.tag != "big" }, to: directory.appending("oci"))
            let docker = try LayoutGenerator.write(TestImages.dockerSpecs, to: directory.appending("docker"))
            #expect(oci["v1"].descriptor.digest == "sha256:e896cbccf7fadbb5234c2eceb3ff4b3c4d1b915fcb806e483cbe29f5db4e39ad")
            #expect(oci["multi"].descriptor.digest == "sha256:050b9ad59678a0bdd0c3b5756a32f6a576a96a34873f6be8635ab7c2f2b18af8")
            #expect(docker["d2"].descriptor.digest == "sha256:b85378f1e3a2179d8857f2fb3d2443f30e0748b0e8dcec23900c3a6209b98a28")
            let index = try Data(contentsOf: directory.appending("oci/index.json"))
            #expect(index.sha256Digest == "sha256:6c03e14b82fcf990b8b7827d7fc3b13c53866416ccdbc019693b11100881982f")
        }
    }

    @Test("every blob in a layout is stored under its own digest")
    func blobsMatchTheirNames() async throws {
        try await TemporaryDirectory.with("generator-blobs") { directory in
            let specs = TestImages.ociSpecs.filter { $0.tag != "big" } + TestImages.dockerSpecs
            let layout = try LayoutGenerator.write(specs, to: directory.url)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.appending("blobs/sha256").path)
            let described = Set(layout.images.values.flatMap(\.allBlobs).map(\.hex))
            #expect(Set(names) == described)
            for name in names {
                #expect(try layout.blob("sha256:\(name)").sha256Digest == "sha256:\(name)")
            }
        }
    }

    @Test("umoci unpacks the image: whiteout applied, hard link and symlink kept", .enabled(if: EndToEnd.isEnabled))
    func unpacksWithUmoci() async throws {
        let umoci = try Tools.path("umoci", package: "umoci")
        let layout = try await TestImages.shared.oci()
        try await TemporaryDirectory.with("umoci") { directory in
            let bundle = directory.appending("bundle")
            try await ProcessRunner.run(umoci, ["unpack", "--image", "\(layout.directory.path):v1", bundle.path]).check()
            let rootfs = bundle.appending(path: "rootfs")
            let files = FileManager.default
            #expect(!files.fileExists(atPath: rootfs.appending(path: "etc/obsolete.conf").path), "the whiteout in layer 1 removes it")
            #expect(files.fileExists(atPath: rootfs.appending(path: "etc/os-release").path))
            #expect(try files.destinationOfSymbolicLink(atPath: rootfs.appending(path: "usr/bin/hi").path) == "hello")
            #expect(files.isExecutableFile(atPath: rootfs.appending(path: "usr/bin/hello").path))
            let hello = try files.attributesOfItem(atPath: rootfs.appending(path: "usr/bin/hello").path)
            let again = try files.attributesOfItem(atPath: rootfs.appending(path: "usr/bin/hello-again").path)
            #expect(hello[.systemFileNumber] as? Int == again[.systemFileNumber] as? Int, "a hard link shares the inode")
            for index in 0..<3 {
                let payload = try Data(contentsOf: rootfs.appending(path: "data/layer-\(index).bin"))
                #expect(payload == PseudoRandomBytes.generate(count: 16 * 1024, seed: "v1/linux/amd64/\(index)"))
            }
        }
    }
}
