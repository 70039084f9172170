import RegistryCore

/// A request path under `/v2/`, parsed from the right.
///
/// Repository names may contain `manifests`, `blobs`, `tags` or `uploads` as components (`a/blobs/manifests` is a
/// legal name), so a router that matches from the left cannot tell them apart. The endpoint is decided by the
/// last one to three segments; everything before them is the name.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints
public enum RegistryPath: Equatable, Sendable {
    /// `/v2/`
    case base
    /// `/v2/_catalog`
    case catalog
    /// `/v2/<name>/tags/list`
    case tags(name: String)
    /// `/v2/<name>/manifests/<reference>`
    case manifest(name: String, reference: String)
    /// `/v2/<name>/blobs/<digest>`
    case blob(name: String, digest: String)
    /// `/v2/<name>/blobs/uploads/`
    case uploads(name: String)
    /// `/v2/<name>/blobs/uploads/<id>`
    case upload(name: String, id: String)
    /// `/v2/<name>/referrers/<digest>`
    case referrers(name: String, digest: String)

    /// The repository name the path names, if any.
    var repositoryName: String? {
        switch self {
        case .base, .catalog: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _), .referrers(let name, _): name
        }
    }

    /// The longest path accepted; longer ones are rejected before any parsing.
    static let maximumLength = 2048

    /// Parses a raw (percent-encoded) request path; `nil` when it is not a registry endpoint.
    public init?(_ path: String) {
        guard path.utf8.count <= Self.maximumLength, path.hasPrefix("/v2") else { return nil }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" {
            self = .base
            return
        }
        guard rest.hasPrefix("/") else { return nil }
        var segments = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { Self.decode($0) }
        guard !segments.contains(where: { $0 == nil }) else { return nil }
        var parts = segments.map { $0! }
        if parts == ["_catalog"] {
            self = .catalog
            return
        }
        // `/v2/<name>/blobs/uploads/` ends in an empty segment; no other endpoint does.
        let trailingSlash = parts.last == ""
        if trailingSlash { parts.removeLast() }
        segments = []
        let count = parts.count
        guard count >= 3 else { return nil }
        func name(droppingLast n: Int) -> String? {
            let components = parts[0..<(count - n)]
            guard !components.isEmpty, !components.contains("") else { return nil }
            return components.joined(separator: "/")
        }
        let last = parts[count - 1]
        let previous = parts[count - 2]
        if trailingSlash {
            guard last == "uploads", previous == "blobs", let name = name(droppingLast: 2) else { return nil }
            self = .uploads(name: name)
            return
        }
        if count >= 4, parts[count - 3] == "blobs", previous == "uploads", let name = name(droppingLast: 3) {
            self = .upload(name: name, id: last)
        } else if previous == "blobs", last == "uploads", let name = name(droppingLast: 2) {
            self = .uploads(name: name)
        } else if previous == "tags", last == "list", let name = name(droppingLast: 2) {
            self = .tags(name: name)
        } else if previous == "manifests", let name = name(droppingLast: 2) {
            self = .manifest(name: name, reference: last)
        } else if previous == "blobs", let name = name(droppingLast: 2) {
            self = .blob(name: name, digest: last)
        } else if previous == "referrers", let name = name(droppingLast: 2) {
            self = .referrers(name: name, digest: last)
        } else {
            return nil
        }
    }

    /// Percent-decodes one path segment; `nil` for a malformed escape or a decoded `/` or NUL.
    static func decode(_ segment: Substring) -> String? {
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return String(segment) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.utf8.count)
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
            let decoded = high << 4 | low
            guard decoded != UInt8(ascii: "/"), decoded != 0 else { return nil }
            bytes.append(decoded)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
