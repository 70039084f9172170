import Foundation
import RegistryCore

/// What an upstream lists as the referrers of a manifest, each entry checked against the spec's grammars.
public struct UpstreamReferrers: Sendable {
    /// The referrers, in the upstream's order, without duplicates; entries that are not valid descriptors are left out.
    public var descriptors: [Descriptor]
    /// Whether the upstream applied the `artifactType` filter it was asked for (`OCI-Filters-Applied`).
    public var filtered: Bool
    /// Whether the list is the index of the referrers tag schema (the upstream has no referrers API).
    public var fromTagSchema: Bool
    /// How many entries were left out as invalid.
    public var dropped: Int

    /// A list made of its parts.
    public init(descriptors: [Descriptor], filtered: Bool, fromTagSchema: Bool, dropped: Int) {
        self.descriptors = descriptors
        self.filtered = filtered
        self.fromTagSchema = fromTagSchema
        self.dropped = dropped
    }

    /// The tag under which the spec's referrers tag schema keeps the referrers of `subject` on a registry without the
    /// referrers API: `<alg>-<ref>`, the algorithm cut to 32 characters and the encoded digest to 64.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema
    public static func fallbackTag(of subject: Digest) -> String {
        "\(subject.algorithm.rawValue.prefix(32))-\(subject.encoded.prefix(64))"
    }

    /// The valid entries of an image index's `manifests` (the referrers API's answer, or the tag schema's index):
    /// each needs a media type and digest by their grammars and a size of at least 0; an `artifactType`, when given,
    /// must be a media type and annotations must map strings to strings. Anything else in an entry is not kept.
    /// - Throws: when `bytes` are not a JSON object with a `manifests` array (a malformed answer).
    static func entries(of bytes: [UInt8], limit: Int) throws -> (descriptors: [Descriptor], dropped: Int) {
        let index = try JSONDecoder().decode(Index.self, from: Data(bytes))
        var seen: Set<Digest> = []
        var descriptors: [Descriptor] = []
        var dropped = 0
        for entry in index.manifests {
            guard let descriptor = entry.descriptor, descriptors.count < limit, seen.insert(descriptor.digest).inserted else {
                dropped += 1
                continue
            }
            descriptors.append(descriptor)
        }
        return (descriptors, dropped)
    }

    /// An image index, read leniently: one bad entry is dropped, not the whole list.
    private struct Index: Decodable {
        var manifests: [Entry]
    }

    private struct Entry: Decodable {
        /// The entry as a descriptor, when it is a valid one.
        var descriptor: Descriptor?

        private enum Key: String, CodingKey {
            case mediaType, digest, size, artifactType, annotations
        }

        init(from decoder: any Decoder) throws {
            descriptor = nil
            guard let container = try? decoder.container(keyedBy: Key.self),
                let mediaType = try? container.decode(String.self, forKey: .mediaType), MediaType.isValid(mediaType),
                let digest = (try? container.decode(String.self, forKey: .digest)).flatMap(Digest.init),
                let size = try? container.decode(Int64.self, forKey: .size), size >= 0
            else { return }
            var artifactType: String?
            if container.contains(.artifactType), (try? container.decodeNil(forKey: .artifactType)) != true {
                guard let value = try? container.decode(String.self, forKey: .artifactType), MediaType.isValid(value) else { return }
                artifactType = value
            }
            var annotations: [String: String]?
            if container.contains(.annotations), (try? container.decodeNil(forKey: .annotations)) != true {
                guard let value = try? container.decode([String: String].self, forKey: .annotations) else { return }
                annotations = value
            }
            descriptor = Descriptor(mediaType: mediaType, digest: digest, size: size, annotations: annotations, artifactType: artifactType)
        }
    }
}
