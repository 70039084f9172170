/// The percent-encoding that AWS Signature Version 4 prescribes for S3, applied once.
///
/// Every byte of a string's UTF-8 form is written as `%XX` (upper-case hex) except the unreserved characters
/// `A-Z a-z 0-9 - . _ ~`; in a path, `/` is also kept. S3, unlike the other AWS services, signs the path encoded
/// exactly once and not normalised: `a//b`, `./` and a trailing `/` are parts of an object key.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html ("UriEncode")
public enum S3URIEncoding {
    /// Encodes a path: each segment encoded, the `/` between them kept (`/bucket/a b+c` → `/bucket/a%20b%2Bc`).
    public static func path(_ path: String) -> String {
        encode(path, keepingSlash: true)
    }

    /// Encodes a query parameter's name or value: `/`, `=`, `&`, `+` and space are all encoded.
    public static func queryComponent(_ component: String) -> String {
        encode(component, keepingSlash: false)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func encode(_ string: String, keepingSlash: Bool) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            if isUnreserved(byte) || (keepingSlash && byte == UInt8(ascii: "/")) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
