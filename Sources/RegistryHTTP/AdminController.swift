import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryAuth
import RegistryCore
import RegistryProxy

/// Administrative endpoints, behind a bearer token from the configuration (`admin.token`):
/// `POST /admin/prefetch` fills the pull-through cache with images, as `pier prefetch` does.
struct AdminController: Sendable {
    let token: String
    let pullThrough: PullThroughCache?

    /// The request body of `POST /admin/prefetch`.
    struct PrefetchRequest: Decodable {
        var images: [String]
        var platforms: [String]?
        /// Whether each image's referrers (signatures, SBOMs, attestations) are fetched too.
        var referrers: Bool?
    }

    /// One image's outcome.
    struct PrefetchResult: Encodable {
        var image: String
        var digest: String?
        var manifests: Int?
        var blobs: Int?
        var referrers: Int?
        var fetchedBytes: Int64?
        var error: String?
    }

    /// Checks the caller's `Authorization: Bearer <token>` in constant time.
    func authorize(_ request: Request) throws(RegistryError) {
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? Array(header.utf8.dropFirst(7)) : []
        let expected = Array(token.utf8)
        guard !expected.isEmpty, constantTimeEqual(given, expected) else {
            throw RegistryError(.unauthorized, message: "the admin API needs the configured admin token", hints: [.challenge(#"Bearer realm="pier-admin""#)])
        }
    }

    /// POST `/admin/prefetch` with `{"images": [...], "platforms": [...]}`: fetches each image into the cache and
    /// answers with what was done, image by image (200 when all succeeded, 207 otherwise).
    func prefetch(_ request: Request) async throws -> Response {
        try authorize(request)
        guard let pullThrough else {
            throw RegistryError(.unsupported, status: 404, message: "nothing is mirrored: configure proxy or mirrors")
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        let wanted: PrefetchRequest
        do {
            wanted = try JSONDecoder().decode(PrefetchRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw RegistryError(.unsupported, status: 400, message: #"the body must be {"images": ["docker.io/library/alpine:3.20", …], "platforms": [optional], "referrers": optional true}"#)
        }
        guard !wanted.images.isEmpty, wanted.images.count <= 100 else {
            throw RegistryError(.sizeInvalid, message: "give between 1 and 100 images")
        }
        let prefetcher = Prefetcher(cache: pullThrough)
        var results: [PrefetchResult] = []
        for image in wanted.images {
            do {
                let summary = try await prefetcher.prefetch(
                    try ImageReference(parsing: image), platforms: wanted.platforms ?? [], referrers: wanted.referrers ?? false)
                results.append(PrefetchResult(image: image, digest: summary.digest?.description, manifests: summary.manifests,
                                              blobs: summary.blobs, referrers: wanted.referrers == true ? summary.referrers : nil,
                                              fetchedBytes: summary.fetchedBytes))
            } catch let error as RegistryError {
                results.append(PrefetchResult(image: image, error: error.message))
            } catch {
                results.append(PrefetchResult(image: image, error: "\(error)"))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(["results": results])
        let status: HTTPResponse.Status = results.allSatisfy({ $0.error == nil }) ? .ok : HTTPResponse.Status(code: 207, reasonPhrase: "Multi-Status")
        return Response(status: status, headers: [.contentType: MediaType.json], body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}
