import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore
import Synchronization

extension FakeUpstream {
    /// How the fake answers the referrers API.
    struct ReferrersSettings {
        /// Off: the referrers endpoint answers 404, as a registry without the API does.
        var enabled = true
        /// The most referrers in one page (more follow through `Link`).
        var pageSize = 1000
        /// Bodies served instead of the computed list, by `repository@subject`.
        var bodies: [String: [UInt8]] = [:]
    }

    /// Turns the referrers API on (the default) or off: off, `/v2/<name>/referrers/<digest>` answers 404, so clients
    /// fall back to the referrers tag schema (see ``addReferrersTagIndex(repository:subject:)``).
    public func set(referrersAPI enabled: Bool) {
        state.withLock { $0.referrers.enabled = enabled }
    }

    /// The most referrers the fake lists in one page (to exercise `Link` pagination).
    public func set(referrersPageSize: Int) {
        state.withLock { $0.referrers.pageSize = referrersPageSize }
    }

    /// Serves `body` (as an image index, status 200) for the referrers of `subject` in `repository`, whatever it holds:
    /// for hostile answers.
    public func setReferrersBody(_ body: [UInt8], repository: String, subject: Digest) {
        state.withLock { $0.referrers.bodies["\(repository)@\(subject)"] = body }
    }

    /// The referrers of `subject` among the manifests of `repository`, as descriptors of the referrers API, by digest.
    public func referrerDescriptors(repository: String, subject: Digest) -> [Descriptor] {
        let manifests = state.withLock { Array(($0.manifests[repository] ?? [:]).values) }
        var seen: Set<Digest> = []
        var descriptors: [Descriptor] = []
        for stored in manifests where seen.insert(stored.digest).inserted {
            guard let manifest = try? Manifest(parsing: stored.bytes, contentType: stored.mediaType), manifest.subject == subject else { continue }
            descriptors.append(Descriptor(
                mediaType: stored.mediaType, digest: stored.digest, size: Int64(stored.bytes.count), annotations: manifest.annotations,
                artifactType: manifest.artifactType))
        }
        return descriptors.sorted { $0.digest < $1.digest }
    }

    /// Stores the index the referrers tag schema keeps for `subject` (`sha256-<hex>`), listing its referrers in
    /// `repository`, as a client pushing to a registry without the referrers API maintains it. Returns the tag.
    @discardableResult
    public func addReferrersTagIndex(repository: String, subject: Digest) -> String {
        let tag = "\(subject.algorithm.rawValue)-\(subject.encoded.prefix(64))"
        addManifest(repository: repository, tag: tag, bytes: Self.index(referrerDescriptors(repository: repository, subject: subject)),
                    mediaType: MediaType.ociIndex)
        return tag
    }

    /// `GET /v2/<name>/referrers/<digest>[?artifactType=][&last=]`.
    func referrers(_ request: Request, repository: String, subject: String) -> Response {
        let settings = state.withLock { $0.referrers }
        guard settings.enabled else { return Self.errorResponse(.notFound, code: "NOT_FOUND") }
        guard let digest = Digest(subject) else { return Self.errorResponse(.badRequest, code: "DIGEST_INVALID") }
        var headers: HTTPFields = [.contentType: MediaType.ociIndex]
        if let body = settings.bodies["\(repository)@\(digest)"] {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let query = request.uri.queryParameters
        var descriptors = referrerDescriptors(repository: repository, subject: digest)
        let artifactType = query["artifactType"].map(String.init)
        if let artifactType {
            descriptors = descriptors.filter { $0.artifactType == artifactType }
            headers[.ociFiltersApplied] = "artifactType"
        }
        if let last = query["last"].flatMap({ Digest(String($0)) }) { descriptors = descriptors.filter { $0.digest > last } }
        let page = Array(descriptors.prefix(settings.pageSize))
        if page.count < descriptors.count, let last = page.last {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~/")
            let filter = artifactType.map { "artifactType=" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "") + "&" } ?? ""
            headers[.link] = "</v2/\(repository)/referrers/\(digest)?\(filter)last=\(last.digest)>; rel=\"next\""
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Self.index(page))))
    }

    /// An image index listing `descriptors`, as the referrers API answers.
    static func index(_ descriptors: [Descriptor]) -> [UInt8] {
        struct Index: Encodable {
            var schemaVersion = 2
            var mediaType = MediaType.ociIndex
            var manifests: [Descriptor]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(Index(manifests: descriptors))) ?? Data())
    }
}
