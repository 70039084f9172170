/// A repository name (`<name>` in the spec), validated against the spec's grammar.
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
public struct RepositoryName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Longest name accepted, as Distribution does (clients limit `host/name` to 255).
    public static let maximumLength = 255

    /// The name as a string.
    public let value: String

    /// Validates `string`.
    /// - Throws: `NAME_INVALID`.
    public init(parsing string: String) throws(RegistryError) {
        guard let name = RepositoryName(string) else {
            throw RegistryError(.nameInvalid, message: "invalid repository name", detail: String(string.prefix(300)))
        }
        self = name
    }

    /// Validates `string`; `nil` when it does not match the grammar or is too long.
    public init?(_ string: String) {
        let count = string.utf8.count
        guard count > 0, count <= Self.maximumLength else { return nil }
        let valid = string.utf8.withContiguousStorageIfAvailable(Self.isValid)
            ?? Array(string.utf8).withUnsafeBufferPointer(Self.isValid)
        guard valid else { return nil }
        value = string
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        let count = bytes.count
        while true {
            // A path component: alphanumeric runs joined by `.`, `_`, `__` or one or more `-`.
            guard index < count, isAlphanumeric(bytes[index]) else { return false }
            while index < count, isAlphanumeric(bytes[index]) { index += 1 }
            while index < count, bytes[index] != UInt8(ascii: "/") {
                switch bytes[index] {
                case UInt8(ascii: "."):
                    index += 1
                case UInt8(ascii: "_"):
                    index += 1
                    if index < count, bytes[index] == UInt8(ascii: "_") { index += 1 }
                case UInt8(ascii: "-"):
                    while index < count, bytes[index] == UInt8(ascii: "-") { index += 1 }
                default:
                    return false
                }
                guard index < count, isAlphanumeric(bytes[index]) else { return false }
                while index < count, isAlphanumeric(bytes[index]) { index += 1 }
            }
            if index == count { return true }
            index += 1  // the `/`
        }
    }

    public var description: String { value }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }
}
