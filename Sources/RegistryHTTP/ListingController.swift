import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import RegistryProxy
import RegistryStorage

/// Content discovery: the catalog, tag lists and the referrers API.
struct ListingController: Sendable {
    let registry: Registry
    let pullThrough: PullThroughCache?

    /// GET `/v2/_catalog?n=&last=`, in lexical order, with `Link` to the next page.
    /// - Parameter including: when given, only the repositories it accepts (those the caller may pull).
    func catalog(_ request: Request, including: (@Sendable (String) -> Bool)? = nil) async throws -> Response {
        let count = try parsePageSize(request.query("n"))
        let last = request.query("last")
        let page = try await registry.catalog(count: count, last: last, including: including)
        var headers: HTTPFields = [:]
        if page.hasMore, let next = page.items.last {
            let n = count ?? page.items.count
            headers[.link] = "</v2/_catalog?last=\(queryEscape(next.value))&n=\(n)>; rel=\"next\""
        }
        return try .json(Catalog(repositories: page.items.map(\.value)), headers: headers)
    }

    /// GET `/v2/<name>/tags/list?n=&last=`.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags
    /// - Parameter route: the upstream when the repository is mirrored.
    func listTags(_ request: Request, repository: RepositoryName, route: MirrorRoute? = nil) async throws -> Response {
        let count = try parsePageSize(request.query("n"))
        let page: Page<String>
        if let route, let pullThrough {
            page = try await pullThrough.tags(route: route, count: count, last: request.query("last"))
        } else {
            page = try await registry.tags(in: repository, count: count, last: request.query("last"))
        }
        var headers: HTTPFields = [:]
        if page.hasMore, let next = page.items.last {
            let n = count ?? page.items.count
            headers[.link] = "</v2/\(repository)/tags/list?last=\(queryEscape(next))&n=\(n)>; rel=\"next\""
        }
        return try .json(TagList(name: repository.value, tags: page.items), headers: headers)
    }

    /// GET `/v2/<name>/referrers/<digest>?artifactType=`: always an image index, never 404.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers
    /// - Parameter route: the upstream when the repository is mirrored: its referrers are the upstream's.
    func listReferrers(_ request: Request, repository: RepositoryName, subject: Digest, route: MirrorRoute? = nil) async throws -> Response {
        let artifactType = request.query("artifactType").flatMap { $0.isEmpty ? nil : $0 }
        let descriptors: [Descriptor]
        if let route, let pullThrough {
            descriptors = try await pullThrough.referrers(of: subject, route: route, artifactType: artifactType)
        } else {
            descriptors = try await registry.referrers(of: subject, in: repository, artifactType: artifactType)
        }
        var headers: HTTPFields = [:]
        if artifactType != nil {
            headers[.ociFiltersApplied] = "artifactType"
        }
        return try .json(ReferrersIndex(manifests: descriptors), contentType: MediaType.ociIndex, headers: headers)
    }

    /// The body of `/v2/_catalog`.
    private struct Catalog: Encodable {
        var repositories: [String]
    }

    /// The body of `/v2/<name>/tags/list`.
    private struct TagList: Encodable {
        var name: String
        var tags: [String]
    }

    private struct ReferrersIndex: Encodable {
        var schemaVersion = 2
        var mediaType = MediaType.ociIndex
        var manifests: [Descriptor]
    }
}
