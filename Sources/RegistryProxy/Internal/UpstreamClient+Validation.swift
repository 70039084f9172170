import AsyncHTTPClient
import Foundation
import NIOHTTP1
import RegistryCore

// What an upstream says is untrusted input: every digest, media type, size, tag and link it sends is checked against
// the spec's grammar before Pier stores or repeats it.
extension UpstreamClient {
    /// Most bytes read of one tag list, over all its pages.
    static let maximumTagListBytes = 4 << 20

    /// The upstream's `Docker-Content-Digest`: `nil` when absent, an error when it is not a digest.
    func contentDigest(of response: HTTPClientResponse, request: String) throws(UpstreamError) -> Digest? {
        guard let value = response.headers.first(name: HeaderName.dockerContentDigest) else { return nil }
        guard let digest = Digest(value.trimmingSpaces()) else {
            throw UpstreamError(
                .invalidResponse, upstream: configuration.url, status: Int(response.status.code),
                message: "upstream \(configuration.url) answered \(request) with an invalid Docker-Content-Digest \(Self.printable(value, limit: 100))")
        }
        return digest
    }

    /// The essence of the upstream's `Content-Type`: `nil` when absent or empty, an error when it is not a media type.
    func contentType(of response: HTTPClientResponse, request: String) throws(UpstreamError) -> String? {
        guard let value = response.headers.first(name: HeaderName.contentType) else { return nil }
        let essence = MediaTypeEssence.of(value)
        guard !essence.isEmpty else { return nil }
        guard MediaType.isValid(essence) else {
            throw UpstreamError(
                .invalidResponse, upstream: configuration.url, status: Int(response.status.code),
                message: "upstream \(configuration.url) answered \(request) with an invalid Content-Type \(Self.printable(value, limit: 100))")
        }
        return essence
    }

    /// The upstream's `Content-Length` when it is a plain non-negative number (no sign, no spaces inside).
    static func contentLength(_ headers: HTTPHeaders) -> Int64? {
        guard let value = headers.first(name: HeaderName.contentLength)?.trimmingSpaces(), !value.isEmpty, value.count <= 18,
            value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int64(value)
    }

    /// Text an upstream wrote (an error message, a header), fit for Pier's messages and logs: control characters
    /// become spaces and it is cut at `limit` characters.
    static func printable(_ text: some StringProtocol, limit: Int) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit).map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// The tags of a tag list page that match the spec's grammar, and the others.
    static func validTags(_ tags: [String]) -> (valid: [String], invalid: [String]) {
        var valid: [String] = []
        var invalid: [String] = []
        for tag in tags {
            if Tag(tag) != nil { valid.append(tag) } else { invalid.append(tag) }
        }
        return (valid, invalid)
    }
}
