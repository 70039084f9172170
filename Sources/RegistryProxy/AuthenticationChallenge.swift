/// One challenge of a `WWW-Authenticate` header: an authentication scheme and its parameters.
///
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`
/// parses to the scheme `bearer` and three parameters.
// https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1 (challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ])
// https://distribution.github.io/distribution/spec/auth/token/
package struct AuthenticationChallenge: Sendable, Equatable {
    /// The scheme, lower-cased (`bearer`, `basic`): schemes are case-insensitive.
    package var scheme: String
    /// The parameters, names lower-cased (names are case-insensitive), values unquoted and unescaped.
    package var parameters: [String: String]

    /// A challenge made of its parts; the scheme and names are lower-cased.
    package init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme.lowercased()
        self.parameters = Dictionary(parameters.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    /// The `realm` parameter.
    package var realm: String? { parameters["realm"] }
    /// The `service` parameter (bearer).
    package var service: String? { parameters["service"] }
    /// The `scope` parameter (bearer).
    package var scope: String? { parameters["scope"] }

    /// Parses every challenge of the given header values (a response may send several header fields,
    /// each with one or more comma-separated challenges). Malformed parts are skipped, never fatal.
    package static func parse(_ headerValues: [String]) -> [AuthenticationChallenge] {
        headerValues.flatMap { parse($0) }
    }

    /// Parses the challenges of one header value.
    package static func parse(_ headerValue: String) -> [AuthenticationChallenge] {
        var scanner = ChallengeScanner(Array(headerValue.utf8))
        var challenges: [AuthenticationChallenge] = []
        var current: AuthenticationChallenge?
        while true {
            scanner.skipSeparators()
            guard !scanner.isAtEnd else { break }
            guard let token = scanner.readToken() else {
                // Not a token where one must be: skip this character and try to recover at the next comma.
                scanner.skipPastComma()
                continue
            }
            scanner.skipSpaces()
            if current != nil, scanner.peek == UInt8(ascii: "="), !scanner.isToken68Tail {
                // `name = value`: a parameter of the current challenge.
                scanner.advance()
                scanner.skipSpaces()
                let value = scanner.peek == UInt8(ascii: "\"") ? scanner.readQuotedString() : (scanner.readToken() ?? "")
                let name = token.lowercased()
                if current?.parameters[name] == nil { current?.parameters[name] = value }
                continue
            }
            // A new challenge: `token` is its scheme.
            if let current { challenges.append(current) }
            current = AuthenticationChallenge(scheme: token)
            scanner.skipSpaces()
            if scanner.isToken68Start {
                // `Basic dGVzdA==`: a token68 credential blob, which registries do not use; skip it.
                _ = scanner.readToken()
                while scanner.peek == UInt8(ascii: "=") { scanner.advance() }
            }
        }
        if let current { challenges.append(current) }
        return challenges
    }
}

/// A cursor over the bytes of a header value, with the RFC 9110 token and quoted-string rules.
private struct ChallengeScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func advance() { index += 1 }

    mutating func skipSpaces() {
        while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
    }

    mutating func skipSeparators() {
        while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: ",") { index += 1 }
    }

    mutating func skipPastComma() {
        while let byte = peek, byte != UInt8(ascii: ",") { index += 1 }
    }

    /// True when the bytes at the cursor are `=`s followed by the end, a comma or spaces: the tail of a token68.
    var isToken68Tail: Bool {
        var probe = index
        while probe < bytes.count, bytes[probe] == UInt8(ascii: "=") { probe += 1 }
        while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\t") { probe += 1 }
        return probe >= bytes.count || bytes[probe] == UInt8(ascii: ",")
    }

    /// True when a token starts at the cursor and is not followed by `=` then a value: a token68 right after a scheme.
    var isToken68Start: Bool {
        var probe = index
        while probe < bytes.count, isTokenCharacter(bytes[probe]) { probe += 1 }
        guard probe > index else { return false }
        var afterSpaces = probe
        while afterSpaces < bytes.count, bytes[afterSpaces] == UInt8(ascii: " ") { afterSpaces += 1 }
        if afterSpaces < bytes.count, bytes[afterSpaces] == UInt8(ascii: "=") {
            // `name=value` is a parameter; `abc==` (only `=` to the end or a comma) is a token68.
            var equals = afterSpaces
            while equals < bytes.count, bytes[equals] == UInt8(ascii: "=") { equals += 1 }
            while equals < bytes.count, bytes[equals] == UInt8(ascii: " ") { equals += 1 }
            return equals >= bytes.count || bytes[equals] == UInt8(ascii: ",")
        }
        return afterSpaces >= bytes.count || bytes[afterSpaces] == UInt8(ascii: ",")
    }

    mutating func readToken() -> String? {
        let start = index
        while let byte = peek, isTokenCharacter(byte) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// Reads `"..."` with backslash escapes; an unterminated string runs to the end.
    mutating func readQuotedString() -> String {
        advance()  // opening quote
        var value: [UInt8] = []
        while let byte = peek {
            advance()
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\"), let escaped = peek {
                advance()
                value.append(escaped)
            } else {
                value.append(byte)
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    // https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2 (tchar), plus `/` `:` `+` for lenient unquoted values.
    private func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: ":"):
            true
        default:
            false
        }
    }
}
