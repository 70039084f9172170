import Foundation
import NIOCore
import RegistryCore
import RegistryStorage

/// Builders of blobs and manifests for tests.
public enum TestContent {
    /// Deterministic pseudo-random bytes.
    public static func bytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// A body sequence made of `bytes` split into chunks.
    public static func body(_ bytes: [UInt8], chunk: Int = 8192) -> [ByteBuffer] {
        stride(from: 0, to: bytes.count, by: chunk).map { ByteBuffer(bytes: bytes[$0..<min($0 + chunk, bytes.count)]) }
    }

    /// An OCI image manifest referencing `config` and `layers` (digest, size pairs).
    public static func imageManifest(
        config: (Digest, Int), layers: [(Digest, Int)], subject: (Digest, Int)? = nil, artifactType: String? = nil,
        annotations: [String: String]? = nil, configMediaType: String = MediaType.ociConfig
    ) -> [UInt8] {
        var object: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaType.ociManifest,
            "config": ["mediaType": configMediaType, "digest": config.0.description, "size": config.1],
            "layers": layers.map { ["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": $0.0.description, "size": $0.1] },
        ]
        if let subject { object["subject"] = ["mediaType": MediaType.ociManifest, "digest": subject.0.description, "size": subject.1] }
        if let artifactType { object["artifactType"] = artifactType }
        if let annotations { object["annotations"] = annotations }
        return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// An OCI image index listing `manifests` (digest, size) as linux/amd64, linux/arm64, …
    public static func index(_ manifests: [(Digest, Int)], mediaType: String = MediaType.ociIndex) -> [UInt8] {
        let architectures = ["amd64", "arm64", "s390x", "ppc64le"]
        let object: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": mediaType,
            "manifests": manifests.enumerated().map { index, entry in
                [
                    "mediaType": mediaType == MediaType.ociIndex ? MediaType.ociManifest : MediaType.dockerManifest,
                    "digest": entry.0.description, "size": entry.1,
                    "platform": ["os": "linux", "architecture": architectures[index % architectures.count]],
                ] as [String: Any]
            },
        ]
        return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}

extension Registry {
    /// Pushes `bytes` as a blob into `repository` in one request; for tests.
    @discardableResult
    public func pushTestBlob(_ bytes: [UInt8], into repository: RepositoryName) async throws -> Digest {
        let digest = Digest.of(bytes)
        _ = try await pushBlob(digest, into: repository, length: Int64(bytes.count), body: TestContent.body(bytes).async)
        return digest
    }
}

/// An async sequence over an array, for request bodies in tests.
public struct ArrayAsyncSequence<Element: Sendable>: AsyncSequence, Sendable {
    let elements: [Element]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var index = 0
        let elements: [Element]
        public mutating func next() async -> Element? {
            guard index < elements.count else { return nil }
            defer { index += 1 }
            return elements[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(elements: elements) }
}

extension Array where Element: Sendable {
    /// The array as an async sequence.
    public var async: ArrayAsyncSequence<Element> { ArrayAsyncSequence(elements: self) }
}
