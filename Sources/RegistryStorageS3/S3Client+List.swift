import NIOHTTP1

/// An object in a listing.
public struct S3ObjectSummary: Sendable, Hashable {
    public var key: String
    public var size: Int64
    /// Without quotes.
    public var eTag: String
}

/// One page of ``S3Client/listObjects(prefix:delimiter:startAfter:continuationToken:maximum:)``.
public struct S3ObjectsPage: Sendable {
    /// The objects, in key order (UTF-8 byte order).
    public var objects: [S3ObjectSummary]
    /// With a delimiter: the key prefixes up to and including the delimiter that group the other keys.
    public var commonPrefixes: [String]
    /// The token of the next page, when there is one.
    public var nextContinuationToken: String?
}

extension S3Client {
    /// One page (up to `maximum`, at most 1000) of the keys under `prefix`, with ListObjectsV2.
    ///
    /// Keys travel URL-encoded (`encoding-type=url`), so that keys with characters XML 1.0 cannot carry list too.
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
    public func listObjects(
        prefix: String? = nil, delimiter: String? = nil, startAfter: String? = nil, continuationToken: String? = nil,
        maximum: Int = 1000
    ) async throws -> S3ObjectsPage {
        var query = [
            SigV4QueryItem("list-type", "2"), SigV4QueryItem("encoding-type", "url"),
            SigV4QueryItem("max-keys", String(max(1, min(maximum, 1000)))),
        ]
        if let prefix { query.append(SigV4QueryItem("prefix", prefix)) }
        if let delimiter { query.append(SigV4QueryItem("delimiter", delimiter)) }
        if let startAfter { query.append(SigV4QueryItem("start-after", startAfter)) }
        if let continuationToken { query.append(SigV4QueryItem("continuation-token", continuationToken)) }
        let operation = Operation(name: "ListObjectsV2", method: .GET, key: nil, query: query)
        let result = try await document(try await send(operation), operation, limit: 8 << 20)
        let encoded = result["EncodingType"] == "url"
        func decode(_ value: String) throws -> String {
            guard encoded else { return value }
            guard let decoded = Self.formDecoded(value) else {
                throw S3Error(.invalidResponse, "\(operation.subject): a key that is not URL-encoded UTF-8: \(value)")
            }
            return decoded
        }
        var objects: [S3ObjectSummary] = []
        for content in result.children("Contents") {
            guard let key = content["Key"], let size = content["Size"].flatMap({ Int64($0) }) else {
                throw S3Error(.invalidResponse, "\(operation.subject): an entry without Key or Size")
            }
            objects.append(S3ObjectSummary(key: try decode(key), size: size, eTag: content["ETag"].map(Self.unquoted) ?? ""))
        }
        var prefixes: [String] = []
        for common in result.children("CommonPrefixes") {
            if let prefix = common["Prefix"] { prefixes.append(try decode(prefix)) }
        }
        let truncated = result["IsTruncated"] == "true"
        let token = result["NextContinuationToken"].flatMap { $0.isEmpty ? nil : $0 }
        guard !truncated || token != nil else {
            throw S3Error(.invalidResponse, "\(operation.subject): a truncated page without NextContinuationToken")
        }
        return S3ObjectsPage(objects: objects, commonPrefixes: prefixes, nextContinuationToken: truncated ? token : nil)
    }

    /// Decodes `application/x-www-form-urlencoded` text as S3's `encoding-type=url` writes it: `+` is a space, `%XX` a
    /// byte. `nil` for a malformed escape or bytes that are not UTF-8.
    static func formDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
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
