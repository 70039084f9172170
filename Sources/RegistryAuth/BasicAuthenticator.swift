import Crypto
import Foundation
import Logging
import RegistryCore
import Synchronization

/// Checks HTTP Basic credentials against an htpasswd file (Distribution's `auth.htpasswd`).
///
/// bcrypt is slow on purpose, so verified credentials are remembered (by a SHA-256 of user and password, never the
/// password) for a few minutes, until the file changes; an unknown user costs a bcrypt of the same cost as a known
/// one, so that names cannot be told apart by timing. The file is re-read when it changes.
public final class BasicAuthenticator: Sendable {
    public let realm: String
    let path: String
    let logger: Logger
    /// How long a verified credential is trusted without a bcrypt.
    let cacheLifetime: Duration

    private struct State: Sendable {
        var file: Htpasswd
        /// A hash of the same cost as the file's, verified for unknown users.
        var decoy: String
        var modified: Date?
        var size: Int?
        var lastCheck: ContinuousClock.Instant
        /// Verified credentials by the hex SHA-256 of user, NUL and password.
        var verified: [String: ContinuousClock.Instant] = [:]
    }

    private let state: Mutex<State>

    /// Loads the file; a missing, unreadable or malformed file is an error naming it (and the line).
    public init(realm: String, path: String, cacheLifetime: Duration = .seconds(300), logger: Logger) throws(HtpasswdError) {
        self.realm = realm
        self.path = path
        self.logger = logger
        self.cacheLifetime = cacheLifetime
        let file = try Htpasswd.load(path: path)
        let attributes = Self.attributes(path)
        state = Mutex(State(file: file, decoy: Self.decoy(for: file), modified: attributes.0, size: attributes.1, lastCheck: .now))
    }

    private static func attributes(_ path: String) -> (Date?, Int?) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.modificationDate] as? Date, attributes?[.size] as? Int)
    }

    private static func decoy(for file: Htpasswd) -> String {
        let cost = file.entries.values.compactMap(Bcrypt.cost(of:)).max() ?? 10
        return Bcrypt.hash(UUID().uuidString, cost: cost) ?? "$2b$10$" + String(repeating: "A", count: 53)
    }

    /// The user an `Authorization: Basic …` header proves, or `nil`.
    public func authenticate(authorization: String?) async -> String? {
        guard let (user, password) = Self.credentials(in: authorization) else { return nil }
        return await authenticate(user: user, password: password)
    }

    /// `user` when `password` is theirs, or `nil`.
    public func authenticate(user: String, password: String) async -> String? {
        guard user.utf8.count <= 1024, password.utf8.count <= 4096 else { return nil }
        await reloadIfChanged()
        var hasher = SHA256()
        hasher.update(data: Data(user.utf8))
        hasher.update(data: [0])
        hasher.update(data: Data(password.utf8))
        let key = Self.hex(hasher.finalize())
        let now = ContinuousClock.now
        let (hash, decoy, cached) = state.withLock { state in
            (state.file.entries[user], state.decoy, state.verified[key].map { now - $0 < cacheLifetime } ?? false)
        }
        if cached, hash != nil { return user }
        // bcrypt takes tens of milliseconds: off the event loops.
        let matches = await runBlocking { Bcrypt.verify(password, against: hash ?? decoy) }
        guard matches, hash != nil else {
            logger.notice("basic authentication failed", metadata: ["user": "\(user.prefix(64))"])
            return nil
        }
        state.withLock { state in
            if state.verified.count > 10_000 { state.verified = state.verified.filter { now - $0.value < cacheLifetime } }
            state.verified[key] = now
        }
        return user
    }

    private static func hex(_ digest: SHA256Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// User and password from a Basic `Authorization` value.
    public static func credentials(in authorization: String?) -> (String, String)? {
        guard let authorization, authorization.count < 8192 else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1].trimmingHeaderSpaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Re-reads the file when its modification time or size changed (checked at most once a second); a file that
    /// became malformed is ignored, with an error in the log, and the last good one stays in force. The check and
    /// the reload (a stat, a read and a bcrypt for the decoy) run off the caller's thread, which may be an event loop.
    func reloadIfChanged() async {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard now - state.lastCheck >= .seconds(1) else { return false }
            state.lastCheck = now
            return true
        }
        guard due else { return }
        await runBlocking { self.reload() }
    }

    private func reload() {
        let (modified, size) = Self.attributes(path)
        let changed = state.withLock { $0.modified != modified || $0.size != size }
        guard changed else { return }
        do {
            let file = try Htpasswd.load(path: path)
            let decoy = Self.decoy(for: file)
            state.withLock { state in
                state.file = file
                state.decoy = decoy
                state.modified = modified
                state.size = size
                state.verified.removeAll()
            }
            logger.notice("reloaded the htpasswd file", metadata: ["path": "\(path)", "users": "\(file.entries.count)"])
        } catch {
            state.withLock { state in
                state.modified = modified
                state.size = size
            }
            logger.error("the changed htpasswd file is not usable; keeping the previous one", metadata: ["error": "\(error)"])
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (the whitespace of HTTP header values), by bytes: Foundation's
    /// `trimmingCharacters(in:)` walks UTF-16 and cost a third of a Bearer request's time with a 2 KiB token.
    public var trimmingHeaderSpaces: Substring {
        let bytes = utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard bytes[before] == 0x20 || bytes[before] == 0x09 else { break }
            end = before
        }
        return self[start..<end]
    }
}
