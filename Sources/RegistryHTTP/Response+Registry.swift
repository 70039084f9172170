import HTTPTypes
import Hummingbird
import NIOCore
import RegistryCore

extension Response {
    /// A response with no body and `Content-Length: 0`.
    static func empty(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentLength] = "0"
        return Response(status: status, headers: headers, body: .init())
    }

    /// A 200 with `value` as its JSON body, written by ``JSONBody`` (never by putting strings together).
    static func json(_ value: some Encodable, contentType: String = "application/json", headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONBody.encode(value))))
    }
}

extension Request {
    /// The `Content-Length` header, if present.
    /// - Throws: 400 when it is not a non-negative integer.
    func contentLength() throws(RegistryError) -> Int64? {
        guard let value = headers[.contentLength] else { return nil }
        guard let length = Int64(value), length >= 0 else {
            throw RegistryError(.sizeInvalid, message: "invalid Content-Length")
        }
        return length
    }

    /// A query parameter, percent-decoded.
    func query(_ name: Substring) -> String? {
        uri.queryParameters[name].map(String.init)
    }
}

/// Parses `n` of a listing: absent, or a non-negative integer.
func parsePageSize(_ value: String?) throws(RegistryError) -> Int? {
    guard let value else { return nil }
    guard let count = Int(value), count >= 0 else {
        throw RegistryError(.unsupported, status: 400, message: "invalid pagination number n", detail: String(value.prefix(50)))
    }
    return count
}

/// Percent-encodes a query value (names and tags only need `+`-safe ASCII, but be strict).
func queryEscape(_ value: String) -> String {
    var result = ""
    for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
            result.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            result += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }
    }
    return result
}
