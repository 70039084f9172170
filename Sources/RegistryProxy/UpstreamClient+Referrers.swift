import AsyncHTTPClient
import Foundation
import NIOHTTP1
import RegistryCore

extension UpstreamClient {
    /// Most referrers read for one subject, over all pages.
    static let maximumReferrers = 10_000
    /// Most pages of a referrers list followed.
    static let maximumReferrerPages = 20
    /// Most bytes of one page of a referrers list (or of the tag schema's index): the largest manifest accepted.
    static let referrersPageLimit = Manifest.defaultMaximumSize

    /// The referrers of `subject` in `repository`: `GET /v2/<repository>/referrers/<digest>` (with `artifactType` when
    /// given, following `Link` pages on this upstream), or, when the upstream has no referrers API (404), the index
    /// the spec's referrers tag schema keeps under `<alg>-<hex>`; no such tag is an empty list.
    ///
    /// Entries that are not valid descriptors are dropped (see ``UpstreamReferrers``); `artifactType` is passed to the
    /// upstream and not applied here, so check ``UpstreamReferrers/filtered``.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers
    public func listReferrers(repository: String, subject: Digest, artifactType: String?) async throws(UpstreamError) -> UpstreamReferrers {
        let listPath = UpstreamURL.path(repository: repository, kind: "referrers", reference: subject.description)
        var path: String? = listPath + (artifactType.map { "?artifactType=" + Self.queryEscaped($0) } ?? "")
        var descriptors: [Descriptor] = []
        var seen: Set<Digest> = []
        var dropped = 0
        var filtered = false
        var pages = 0
        while let current = path, descriptors.count < Self.maximumReferrers, pages < Self.maximumReferrerPages {
            let request = "GET \(current)"
            let response = try await perform(.GET, path: current, repository: repository, accept: [MediaType.ociIndex])
            if response.status == .notFound, pages == 0 {
                // Why: the spec's signal for a registry without the referrers API (one with it answers an empty index
                // for an unknown subject); clients then read the referrers tag schema, and so does the mirror.
                await discard(response)
                return try await referrersFromTagSchema(repository: repository, subject: subject)
            }
            guard response.status == .ok else { throw await failure(for: response, request: request) }
            pages += 1
            let bytes = try await readBody(of: response, limit: Self.referrersPageLimit, request: request)
            let page = try referrerEntries(bytes, limit: Self.maximumReferrers - descriptors.count, request: request)
            dropped += page.dropped
            for descriptor in page.descriptors where seen.insert(descriptor.digest).inserted { descriptors.append(descriptor) }
            if artifactType != nil, response.headers[HeaderName.ociFiltersApplied].contains(where: Self.namesArtifactTypeFilter) {
                filtered = true
            }
            path = response.headers[HeaderName.link].lazy.compactMap {
                self.nextPagePath(fromLink: $0, requestURL: self.configuration.url + current, listPath: listPath)
            }.first
        }
        return UpstreamReferrers(descriptors: descriptors, filtered: filtered, fromTagSchema: false, dropped: dropped)
    }

    /// The referrers tag schema's index of `subject`, for an upstream without the referrers API.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema
    private func referrersFromTagSchema(repository: String, subject: Digest) async throws(UpstreamError) -> UpstreamReferrers {
        let tag = UpstreamReferrers.fallbackTag(of: subject)
        let manifest: UpstreamManifest
        do throws(UpstreamError) {
            manifest = try await getManifest(repository: repository, reference: tag, accept: [MediaType.ociIndex], limit: Self.referrersPageLimit)
        } catch where error.code == .notFound {
            return UpstreamReferrers(descriptors: [], filtered: false, fromTagSchema: true, dropped: 0)
        }
        let request = "GET " + UpstreamURL.path(repository: repository, kind: "manifests", reference: tag)
        let page = try referrerEntries(manifest.bytes, limit: Self.maximumReferrers, request: request)
        return UpstreamReferrers(descriptors: page.descriptors, filtered: false, fromTagSchema: true, dropped: page.dropped)
    }

    private func referrerEntries(_ bytes: [UInt8], limit: Int, request: String) throws(UpstreamError) -> (descriptors: [Descriptor], dropped: Int) {
        do {
            return try UpstreamReferrers.entries(of: bytes, limit: limit)
        } catch {
            throw UpstreamError(
                .invalidResponse, upstream: configuration.url, status: 200,
                message: "upstream \(configuration.url) answered \(request) with something that is not an image index")
        }
    }

    /// Whether an `OCI-Filters-Applied` value (a comma-separated list) names the `artifactType` filter.
    private static func namesArtifactTypeFilter(_ value: String) -> Bool {
        value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "artifactType" }
    }

    /// `value` escaped for a query parameter (media types hold `+`, which a query would read as a space).
    private static func queryEscaped(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
