import CPierCrypt
import Foundation

/// bcrypt password hashes (`$2y$`, `$2b$`, `$2a$`, as `htpasswd -B` writes them), through libxcrypt.
public enum Bcrypt {
    /// Whether `hash` is a well-formed bcrypt hash: `$2?$NN$` plus 53 characters of bcrypt's base-64.
    public static func isHash(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]), bytes[3] == UInt8(ascii: "$"),
            bytes[6] == UInt8(ascii: "$"), let cost = cost(of: hash), (4...31).contains(cost)
        else { return false }
        return bytes[7...].allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "/")
        }
    }

    /// The cost factor of a bcrypt hash.
    public static func cost(of hash: String) -> Int? {
        let bytes = Array(hash.utf8)
        guard bytes.count >= 7 else { return nil }
        return Int(String(decoding: bytes[4...5], as: UTF8.self))
    }

    /// Whether `password` matches `hash`; the comparison takes the same time wherever the bytes differ.
    public static func verify(_ password: String, against hash: String) -> Bool {
        guard let computed = crypt(password, setting: hash) else { return false }
        return constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// A new hash of `password` at `cost` with a random salt.
    public static func hash(_ password: String, cost: Int = 10) -> String? {
        var random = [UInt8](repeating: 0, count: 16)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        var setting = [CChar](repeating: 0, count: 64)
        guard pier_bcrypt_setting(UInt(cost), random, &setting, setting.count) == 0 else { return nil }
        return crypt(password, setting: Self.string(setting))
    }

    private static func crypt(_ password: String, setting: String) -> String? {
        // bcrypt reads at most 72 bytes; a NUL would end the password early, so such passwords never match.
        guard !password.utf8.contains(0) else { return nil }
        var output = [CChar](repeating: 0, count: 128)
        guard pier_crypt(password, setting, &output, output.count) == 0 else { return nil }
        return Self.string(output)
    }

    private static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Compares two byte strings in time that depends on their lengths only.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
