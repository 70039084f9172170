import Foundation
import Logging
import RegistryAuth
import Testing

@Suite("htpasswd and bcrypt")
struct HtpasswdTests {
    static let logger = Logger(label: "pier.test.auth", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("bcrypt hashes verify their password only; htpasswd -B's $2y$ form works")
    func bcrypt() throws {
        let hash = try #require(Bcrypt.hash("s3cret", cost: 4))
        #expect(Bcrypt.isHash(hash) && Bcrypt.cost(of: hash) == 4)
        #expect(Bcrypt.verify("s3cret", against: hash))
        #expect(!Bcrypt.verify("s3cret!", against: hash))
        #expect(!Bcrypt.verify("", against: hash))
        // The $2y$ prefix htpasswd -B writes is the same algorithm.
        let y = "$2y$" + hash.dropFirst(4)
        #expect(Bcrypt.verify("s3cret", against: String(y)))
    }

    @Test("an htpasswd file of bcrypt entries parses; comments and blank lines are fine")
    func parse() throws {
        let a = try #require(Bcrypt.hash("a", cost: 4)), b = try #require(Bcrypt.hash("b", cost: 4))
        let file = try Htpasswd(parsing: "# users\nalice:\(a)\n\nbob:\(b)\r\n", path: "users.htpasswd")
        #expect(file.entries == ["alice": a, "bob": b])
    }

    @Test("anything but bcrypt is refused with file and line, never echoing the hash", arguments: [
        ("alice:$apr1$abc$def", "line 1: user alice has an MD5 (apr1) hash"),
        ("alice:{SHA}abcdef", "SHA-1"),
        ("alice:plaintext", "crypt or plain-text"),
        ("justaname", "expected user:hash"),
        (":$2y$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", "user name"),
    ])
    func refused(line: String, expected: String) {
        #expect {
            _ = try Htpasswd(parsing: "# header\n\(line)\n".replacingOccurrences(of: "# header\n", with: ""), path: "users.htpasswd")
        } throws: { error in
            let message = "\(error)"
            return message.contains("users.htpasswd") && message.contains(expected) && !message.contains("$apr1$abc$def")
        }
    }

    @Test("Basic credentials: right ones pass, wrong ones and unknown users do not; a changed file is reloaded")
    func authenticator() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pier-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("htpasswd").path
        try "alice:\(try #require(Bcrypt.hash("wonderland", cost: 4)))\n".write(toFile: path, atomically: true, encoding: .utf8)
        let authenticator = try BasicAuthenticator(realm: "Pier", path: path, logger: Self.logger)
        func basic(_ user: String, _ password: String) -> String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
        #expect(await authenticator.authenticate(authorization: basic("alice", "wonderland")) == "alice")
        #expect(await authenticator.authenticate(authorization: basic("alice", "wonderland")) == "alice", "from the cache")
        #expect(await authenticator.authenticate(authorization: basic("alice", "wrong")) == nil)
        #expect(await authenticator.authenticate(authorization: basic("mallory", "wonderland")) == nil)
        #expect(await authenticator.authenticate(authorization: "Bearer abc") == nil)
        #expect(await authenticator.authenticate(authorization: "Basic !!!") == nil)
        #expect(await authenticator.authenticate(authorization: nil) == nil)
        // Replace the file: alice's password changes, bob appears; the cached credential must not survive.
        try await Task.sleep(for: .milliseconds(1100))
        let replacement = "alice:\(try #require(Bcrypt.hash("looking-glass", cost: 4)))\nbob:\(try #require(Bcrypt.hash("builder", cost: 4)))\n"
        try replacement.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await authenticator.authenticate(authorization: basic("alice", "wonderland")) == nil)
        #expect(await authenticator.authenticate(authorization: basic("alice", "looking-glass")) == "alice")
        #expect(await authenticator.authenticate(authorization: basic("bob", "builder")) == "bob")
        // A malformed replacement is ignored: the last good file stays in force.
        try await Task.sleep(for: .milliseconds(1100))
        try "bob:plaintext\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await authenticator.authenticate(authorization: basic("bob", "builder")) == "bob")
    }

    @Test("a missing or malformed file stops start-up with its name")
    func startUp() {
        #expect { _ = try BasicAuthenticator(realm: "r", path: "/nonexistent/htpasswd", logger: Self.logger) } throws: { "\($0)".contains("/nonexistent/htpasswd") }
    }
}
