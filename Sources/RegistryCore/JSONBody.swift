import Foundation

/// The one way Pier writes JSON: an encoder, never strings put together, so that any value (a name, a tag, an
/// upstream's message) stays one JSON string whatever characters it holds.
public enum JSONBody {
    /// `value` as compact JSON with sorted keys and unescaped slashes, and a final newline.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }
}

extension RegistryError {
    /// The spec's error envelope, `{"errors":[{"code","message","detail"}]}`.
    // https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
    private struct Envelope: Encodable {
        struct Entry: Encodable {
            var code: String
            var message: String
            var detail: String?
        }
        var errors: [Entry]
    }

    /// This error as the spec's JSON error body.
    public func jsonBody() throws -> [UInt8] {
        try JSONBody.encode(Envelope(errors: [.init(code: code.description, message: message, detail: detail)]))
    }
}
