import Foundation

/// An htpasswd file of bcrypt entries (`user:$2y$…`), as `htpasswd -B` writes it and Distribution reads it.
public struct Htpasswd: Sendable, Equatable {
    /// Password hashes by user name.
    public let entries: [String: String]

    /// Parses a file's text; anything but bcrypt entries, blank lines and `#` comments is refused with its line.
    public init(parsing text: String, path: String) throws(HtpasswdError) {
        var entries: [String: String] = [:]
        // "\r\n" is one Character in Swift, so splitting on newlines handles both line endings.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            if line.allSatisfy(\.isWhitespace) || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw HtpasswdError("\(path): line \(number): expected user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard !user.isEmpty, !user.contains(where: { $0.isWhitespace }) else {
                throw HtpasswdError("\(path): line \(number): empty or malformed user name")
            }
            guard Bcrypt.isHash(hash) else {
                // Never print the hash: it is a secret too.
                let scheme = hash.hasPrefix("$apr1$") ? "an MD5 (apr1) hash" : hash.hasPrefix("{SHA}") ? "a SHA-1 hash"
                    : hash.hasPrefix("$") ? "a hash of another scheme" : "a crypt or plain-text entry"
                throw HtpasswdError("\(path): line \(number): user \(user) has \(scheme); only bcrypt is accepted (htpasswd -B)")
            }
            guard entries[user] == nil else {
                throw HtpasswdError("\(path): line \(number): user \(user) appears twice")
            }
            entries[user] = hash
        }
        self.entries = entries
    }

    /// Reads and parses a file.
    public static func load(path: String) throws(HtpasswdError) -> Htpasswd {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw HtpasswdError("\(path): cannot read the htpasswd file: \(error.localizedDescription)")
        }
        return try Htpasswd(parsing: text, path: path)
    }
}

/// An htpasswd file that cannot be used; the message names the file and line, never a secret.
public struct HtpasswdError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
