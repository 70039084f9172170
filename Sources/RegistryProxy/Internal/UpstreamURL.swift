import Foundation

/// URL helpers for the upstream client: path escaping, redirect resolution and origin comparison.
enum UpstreamURL {
    /// Characters left as they are in a repository name (`/` separates its components).
    private static let repositoryAllowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~/")
        return set
    }()

    /// Characters left as they are in a tag or digest (one path segment).
    private static let segmentAllowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~:")
        return set
    }()

    /// `/v2/<repository>/<kind>/<reference>`, escaped so that a hostile name cannot add a query or segments.
    static func path(repository: String, kind: String, reference: String) -> String {
        "/v2/\(escape(repository, allowing: repositoryAllowed))/\(kind)/\(escape(reference, allowing: segmentAllowed))"
    }

    /// `/v2/<repository>/tags/list`.
    static func tagsPath(repository: String) -> String {
        "/v2/\(escape(repository, allowing: repositoryAllowed))/tags/list"
    }

    private static func escape(_ string: String, allowing allowed: CharacterSet) -> String {
        string.addingPercentEncoding(withAllowedCharacters: allowed) ?? string
    }

    /// `location` resolved against `base` (a relative Location is legal, RFC 9110 §10.2.2); nil unless http(s).
    static func resolve(_ location: String, against base: String) -> String? {
        guard let baseURL = URL(string: base), let url = URL(string: location, relativeTo: baseURL)?.absoluteURL,
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil
        else { return nil }
        return url.absoluteString
    }

    /// True when `a` and `b` have the same scheme, host and port (default ports filled in).
    static func sameOrigin(_ a: String, _ b: String) -> Bool {
        guard let first = Origin(a), let second = Origin(b) else { return false }
        return first == second
    }

    /// Host and path of `url` without its query, for logs and messages: a redirect's query may hold a
    /// pre-signed S3 signature, which is a credential.
    static func redacted(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return "<invalid URL>" }
        var text = ""
        if let scheme = components.scheme { text += scheme + "://" }
        text += components.host ?? ""
        if let port = components.port { text += ":\(port)" }
        return text + components.percentEncodedPath
    }

    private struct Origin: Equatable {
        var scheme: String
        var host: String
        var port: Int

        init?(_ string: String) {
            guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased(),
                let host = components.host?.lowercased()
            else { return nil }
            self.scheme = scheme
            self.host = host
            self.port = components.port ?? (scheme == "https" ? 443 : 80)
        }
    }
}
