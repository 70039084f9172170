import Foundation

/// Media type helpers for upstream responses.
enum MediaTypeEssence {
    static let json = "application/json"

    /// A Content-Type without its parameters and surrounding spaces, in the case the upstream gave.
    static func of(_ contentType: String) -> String {
        let base = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return base.trimmingCharacters(in: .whitespaces)
    }

    /// The `mediaType` field of a JSON manifest, for an upstream that sent no Content-Type.
    static func declared(in bytes: [UInt8]) -> String? {
        struct Declared: Decodable { var mediaType: String? }
        return (try? JSONDecoder().decode(Declared.self, from: Data(bytes)))?.mediaType
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String { trimmingCharacters(in: .whitespaces) }
}
