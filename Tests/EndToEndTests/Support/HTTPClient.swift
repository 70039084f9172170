import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP response, fully read.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header fields with lower-cased names.
    var headers: [String: String]
    var body: Data

    /// The value of header `name` (case-insensitive).
    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body as UTF-8 text.
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object.
    func jsonObject() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw CommandFailure("expected a JSON object, got: \(text.prefix(500))")
        }
        return object
    }
}

/// Plain HTTP requests for the checks no client makes (referrers, catalog pages, HEAD by digest).
enum HTTPClient {
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        configuration.urlCache = nil
        return URLSession(configuration: configuration)
    }()

    /// Sends one request and reads the whole response.
    static func send(_ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil) async throws -> HTTPResponse {
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw CommandFailure("\(method) \(url): not an HTTP response") }
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return HTTPResponse(status: http.statusCode, headers: fields, body: data)
    }
}

/// The registry API calls the suites use to check what clients did, against one registry host.
struct RegistryAPI: Sendable {
    /// `host:port`.
    var host: String

    /// Every manifest media type, so the registry never has to convert.
    static let manifestAccept = [
        MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList,
    ].joined(separator: ", ")

    /// `http://<host><path>`.
    func url(_ path: String) -> URL { URL(string: "http://\(host)\(path)")! }

    /// Sends a request to `path`.
    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) async throws -> HTTPResponse {
        try await HTTPClient.send(method, url(path), headers: headers, body: body)
    }

    /// `GET /v2/<repository>/manifests/<reference>` accepting every manifest type.
    func manifest(_ repository: String, _ reference: String) async throws -> HTTPResponse {
        try await send("GET", "/v2/\(repository)/manifests/\(reference)", headers: ["Accept": Self.manifestAccept])
    }

    /// The digest a tag resolves to (`Docker-Content-Digest` of a HEAD), or nil on 404.
    func digest(_ repository: String, _ reference: String) async throws -> String? {
        let response = try await send("HEAD", "/v2/\(repository)/manifests/\(reference)", headers: ["Accept": Self.manifestAccept])
        guard response.status == 200 else { return nil }
        return response.header("Docker-Content-Digest")
    }

    /// `GET /v2/<repository>/tags/list` (one page, no `n`).
    func tags(_ repository: String) async throws -> [String] {
        let response = try await send("GET", "/v2/\(repository)/tags/list")
        guard response.status == 200 else { return [] }
        return try response.jsonObject()["tags"] as? [String] ?? []
    }

    /// The status of `HEAD /v2/<repository>/blobs/<digest>`.
    func blobStatus(_ repository: String, _ digest: String) async throws -> Int {
        try await send("HEAD", "/v2/\(repository)/blobs/\(digest)").status
    }
}
