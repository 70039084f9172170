import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import RegistryProxy
import RegistryStorage

/// Pull and delete of blobs: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.
struct BlobController: Sendable {
    let registry: Registry
    /// Set on plain-HTTP servers whose pipeline swaps markers for `sendfile(2)`.
    let fileSends: FileSendRegistry?
    let pullThrough: PullThroughCache?

    /// GET or HEAD a blob, honouring a single `Range`.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-blobs
    /// - Parameter route: the upstream when the repository is mirrored; a blob on its way from there is streamed
    ///   as it arrives.
    func getBlob(_ request: Request, repository: RepositoryName, digest: Digest, head: Bool, route: MirrorRoute? = nil) async throws -> Response {
        var arriving: BlobFetch?
        let size: Int64
        if let route, let pullThrough, head {
            size = try await pullThrough.blobSize(digest, route: route)
        } else if let route, let pullThrough {
            switch try await pullThrough.blob(digest, route: route) {
            case .stored(let info): size = info.size
            case .arriving(let fetch, let fetchSize):
                arriving = fetch
                size = fetchSize
            }
        } else {
            size = try await registry.blob(digest, in: repository).size
        }
        var headers: HTTPFields = [
            .contentType: MediaType.octetStream,
            .dockerContentDigest: digest.description,
            .acceptRanges: "bytes",
            .eTag: "\"\(digest)\"",
            .cacheControl: "max-age=31536000",
        ]
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        if let header = request.headers[.range] {
            switch ByteRange(header: header, size: size) {
            case .satisfiable(let satisfiable):
                range = satisfiable
                status = .partialContent
                headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(size)"
                return .empty(.rangeNotSatisfiable, headers: headers)
            case .ignored:
                break
            }
        }
        headers[.contentLength] = String(range.count)
        if head || range.isEmpty {
            return Response(status: status, headers: headers, body: .init())
        }
        let registry = self.registry
        let bodyRange = range
        if let arriving {
            let body = ResponseBody(contentLength: Int(range.count)) { writer in
                try await arriving.stream(bodyRange, registry: registry) { try await writer.write($0) }
                try await writer.finish(nil)
            }
            return Response(status: status, headers: headers, body: body)
        }
        if let fileSends, let path = registry.blobs.localPath(of: digest) {
            let body = ResponseBody(contentLength: Int(range.count)) { writer in
                // A file that cannot be opened ends the response early: the headers promised its bytes.
                try await writer.write(fileSends.register(path: path, range: bodyRange))
                try await writer.finish(nil)
            }
            return Response(status: status, headers: headers, body: body)
        }
        let body = ResponseBody(contentLength: Int(range.count)) { writer in
            try await registry.streamBlob(digest, range: bodyRange) { try await writer.write($0) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// DELETE a blob from a repository.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#deleting-blobs
    func deleteBlob(repository: RepositoryName, digest: Digest) async throws -> Response {
        try await registry.deleteBlob(digest, in: repository)
        return .empty(.accepted, headers: [.dockerContentDigest: digest.description])
    }
}
