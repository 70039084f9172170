import RegistryStorageS3
import RegistryTesting

/// One request for the reference signer, in the JSON that `tools/s3/sigv4_reference.py` reads.
struct ReferenceCase: Codable, Sendable {
    struct Payload: Codable, Sendable {
        var kind: String
        var hex: String?
    }

    var kind: String
    var method: String
    var scheme: String
    var host: String
    var port: Int?
    var path: String
    var query: [[String]]
    var headers: [[String]]
    var payload: Payload
    var accessKey: String
    var secretKey: String
    var token: String?
    var region: String
    var time: Int64
    var expires: Int

    var request: SigV4Request {
        SigV4Request(
            method: method, scheme: scheme, host: host, port: port, path: path,
            query: query.map { SigV4QueryItem($0[0], $0[1]) }, headers: headers.map { SigV4Header($0[0], $0[1]) })
    }

    var signer: SigV4Signer {
        SigV4Signer(credentials: S3Credentials(accessKeyID: accessKey, secretAccessKey: secretKey, sessionToken: token), region: region)
    }

    var sigV4Payload: SigV4Payload {
        switch payload.kind {
        case "unsigned": .unsigned
        case "body": .sha256(of: Self.bytes(hex: payload.hex ?? ""))
        default: .empty
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) ?? 0 }
    }
}

/// Seeded requests with hostile object keys, query strings and headers, for the differential SigV4 test.
struct SigV4CaseGenerator {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    // Pieces that S3 keys and query strings are made of, the troublesome ones over-represented.
    static let keyPieces = [
        "a", "Z", "09", "-", "_", ".", "..", "~", " ", "  ", "+", "%", "%2F", "%20", "=", "&", "?", "#", "/", "//", ";",
        ":", "@", "!", "$", "'", "(", ")", "*", ",", "[", "]", "{", "}", "|", "\\", "^", "`", "\"", "<", ">", "é",
        "e\u{301}", "ü", "日本", "😀", "\u{7F}", "\t", "blobs", "sha256", "data",
    ]
    static let queryNames = [
        "uploads", "uploadId", "partNumber", "list-type", "continuation-token", "prefix", "delimiter", "max-keys",
        "start-after", "encoding-type", "response-content-disposition", "versionId", "x-id", "a b", "a+b", "=", "&",
        "~tilde", "ÜberName", "",
    ]
    static let headerNames = [
        "Content-Type", "content-md5", "X-Amz-Meta-Name", "x-amz-meta-name", "X-AMZ-STORAGE-CLASS", "Range", "If-Match",
        "If-None-Match", "x-amz-copy-source", "x-amz-copy-source-range", "Cache-Control", "Content-Disposition",
    ]
    static let hosts: [(scheme: String, host: String, port: Int?)] = [
        ("http", "127.0.0.1", 7480), ("http", "127.0.0.1", 80), ("https", "s3.us-east-1.amazonaws.com", nil),
        ("https", "examplebucket.s3.amazonaws.com", 443), ("https", "Mixed.Case.Example", 8443), ("http", "::1", 9000),
        ("http", "localhost", nil),
    ]
    static let methods = ["GET", "PUT", "HEAD", "DELETE", "POST"]
    static let regions = ["us-east-1", "eu-central-1", "default", "ap-southeast-2"]
    static let tokens = ["FQoGZXIvYXdzE//+/token==", "IQoJb3JpZ2luX2VjE%3D+a b", String(repeating: "t", count: 600)]
    static let expiries = [1, 60, 900, 3600, 86_400, 604_800]

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    mutating func key() -> String {
        var key = (0..<Int.random(in: 1...8, using: &random)).map { _ in pick(Self.keyPieces) }.joined()
        if chance(15) { key += "/" }
        if chance(10) { key = "/" + key }
        return key
    }

    mutating func text(from pieces: [String], maximum: Int) -> String {
        (0..<Int.random(in: 0...maximum, using: &random)).map { _ in pick(pieces) }.joined()
    }

    mutating func headerValue() -> String {
        let pieces = ["a", "Value", "0", " ", "   ", "\t", ",", "\"etag\"", "bytes=0-9", "text/plain; charset=utf-8", "=", "/", "%2F"]
        return text(from: pieces, maximum: 6)
    }

    mutating func payload() -> ReferenceCase.Payload {
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return .init(kind: "empty")
        case 1: return .init(kind: "unsigned")
        default:
            let length = pick([0, 1, 17, 1000])
            let hex = (0..<length).map { _ in String(UInt8.random(in: 0...255, using: &random), radix: 16) }
                .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
            return .init(kind: "body", hex: hex)
        }
    }

    /// A request signed with an Authorization header (`presign: false`) or a presigned URL.
    mutating func next(presign: Bool) -> ReferenceCase {
        let endpoint = pick(Self.hosts)
        let pathStyle = chance(70)
        let path = chance(10) ? (pathStyle ? "/bucket" : "/") : (pathStyle ? "/bucket/" : "/") + key()
        var query: [[String]] = []
        for _ in 0..<pick([0, 0, 1, 2, 3, 5]) {
            let name = chance(70) ? pick(Self.queryNames) : text(from: Self.keyPieces, maximum: 4)
            if presign, query.contains(where: { $0[0] == name }) { continue }  // a presigned URL's parameters are a map
            let value = chance(25) ? "" : text(from: Self.keyPieces, maximum: 5)
            query.append([name, value])
            if !presign, chance(15) { query.append([name, chance(50) ? value : text(from: Self.keyPieces, maximum: 3)]) }
        }
        var headers: [[String]] = []
        for _ in 0..<pick(presign ? [0, 0, 0, 1] : [0, 1, 2, 4]) {
            headers.append([pick(Self.headerNames), headerValue()])
        }
        return ReferenceCase(
            kind: presign ? "presign" : "header", method: pick(Self.methods), scheme: endpoint.scheme, host: endpoint.host,
            port: endpoint.port, path: path, query: query, headers: headers, payload: presign ? .init(kind: "empty") : payload(),
            accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token: chance(30) ? pick(Self.tokens) : nil,
            region: pick(Self.regions), time: chance(10) ? pick([0, 951_782_400, 4_107_542_399, 1_709_164_799]) : Int64.random(in: 946_684_800...4_102_444_800, using: &random),
            expires: pick(Self.expiries))
    }
}
