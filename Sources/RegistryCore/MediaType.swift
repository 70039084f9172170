/// Media types Pier knows by name. Each string literal is written here once.
// https://github.com/opencontainers/image-spec/blob/main/media-types.md
public enum MediaType {
    /// OCI image manifest.
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index.
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    /// OCI image config.
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    /// OCI empty descriptor (`{}`), used by artifacts.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    /// Docker image manifest, schema 2.
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list.
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker schema 1 manifest (signed); refused, as Distribution does by default.
    public static let dockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    /// Docker schema 1 manifest (unsigned).
    public static let dockerManifestV1 = "application/vnd.docker.distribution.manifest.v1+json"
    /// Docker foreign layer: its bytes live at `urls`, not in the registry.
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// Prefix of the OCI non-distributable layer types.
    public static let ociNondistributablePrefix = "application/vnd.oci.image.layer.nondistributable."
    /// Raw bytes.
    public static let octetStream = "application/octet-stream"
    /// JSON.
    public static let json = "application/json"

    /// The manifest media types Pier stores and serves.
    public static let manifestTypes: Set<String> = [ociManifest, ociIndex, dockerManifest, dockerManifestList]

    /// True for index-like types (an OCI index or a Docker manifest list).
    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }

    /// True when `value` is a media type by RFC 6838's naming rules, as the image spec requires of `mediaType` and
    /// `artifactType`: `type/subtype`, each 1 to 127 of `A-Za-z0-9!#$&^_.+-`, starting with a letter or digit.
    // https://github.com/opencontainers/image-spec/blob/main/schema/defs-descriptor.json (the mediaType pattern)
    public static func isValid(_ value: some StringProtocol) -> Bool {
        let parts = value.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { name in
            guard let first = name.first, name.count <= 127, isAlphanumeric(first) else { return false }
            return name.allSatisfy { isAlphanumeric($0) || restrictedNameSymbols.contains($0) }
        }
    }

    private static let restrictedNameSymbols: Set<UInt8> = Set("!#$&^_.+-".utf8)

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// A `Content-Type`/`Accept` value without parameters and surrounding spaces, lower-cased.
    public static func essence(of value: some StringProtocol) -> String {
        let base = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return base.trimmingSpaces().lowercased()
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        let string = Substring(self)
        var start = string.startIndex
        var end = string.endIndex
        while start < end, string[start] == " " || string[start] == "\t" { start = string.index(after: start) }
        while end > start, string[string.index(before: end)] == " " || string[string.index(before: end)] == "\t" {
            end = string.index(before: end)
        }
        return string[start..<end]
    }
}
