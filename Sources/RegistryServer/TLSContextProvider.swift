import Foundation
import Logging
import NIOSSL
import RegistryConfig
import Synchronization

/// Holds the TLS context new connections use, and replaces it when the certificate, key or client CA files change
/// on disk (Distribution reads them once; a renewed certificate there needs a restart). A replacement that does not
/// load keeps the last good context and logs why. Connections already open keep the context they started with.
public final class TLSContextProvider: Sendable {
    /// What identifies a file's version cheaply: a rewrite or a rename over it changes one of these.
    struct FileStamp: Equatable {
        var inode: UInt64
        var size: UInt64
        var modified: Date

        static let missing = FileStamp(inode: 0, size: .max, modified: .distantPast)

        static func of(_ path: String) -> FileStamp {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return .missing }
            return FileStamp(
                inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
                size: (attributes[.size] as? NSNumber)?.uint64Value ?? 0,
                modified: attributes[.modificationDate] as? Date ?? .distantPast
            )
        }
    }

    private struct State {
        var material: TLSMaterial
        /// The files' stamps when `material` was loaded (or when loading them last failed).
        var loadedStamps: [FileStamp]
        /// Changed stamps seen once; loaded when the next poll sees them unchanged.
        var pendingStamps: [FileStamp]?
    }

    let configuration: Configuration.TLS
    let http2: Bool
    let logger: Logger
    /// Expiry within this long logs a warning.
    static let expiryWarningWindow: TimeInterval = 30 * 24 * 3600
    private let state: Mutex<State>

    /// Loads the files; throws a ``ConfigurationError`` naming the file at fault. Logs the expiry warning if due.
    /// - Parameter http2Enabled: offer `h2` in ALPN.
    public init(configuration: Configuration.TLS, http2Enabled: Bool, logger: Logger) throws {
        self.configuration = configuration
        self.http2 = http2Enabled
        self.logger = logger
        let stamps = Self.stamps(of: configuration)
        let material = try TLSMaterial.load(configuration, http2: http2Enabled)
        self.state = Mutex(State(material: material, loadedStamps: stamps))
        checkExpiry()
    }

    /// The context and settings for a new connection.
    var current: TLSMaterial { state.withLock { $0.material } }

    /// SHA-256 of the server certificate in use (hex), as `openssl x509 -fingerprint -sha256` shows it without colons.
    public var certificateFingerprint: String { current.fingerprint }

    /// When the server certificate in use stops being valid.
    public var certificateNotAfter: Date { current.notAfter }

    /// The files this provider watches.
    var watchedFiles: [String] { [configuration.certificate, configuration.key] + configuration.clientCAs }

    private static func stamps(of configuration: Configuration.TLS) -> [FileStamp] {
        ([configuration.certificate, configuration.key] + configuration.clientCAs).map(FileStamp.of)
    }

    /// Reloads when the files changed since the last load and have stayed the same since the previous call.
    ///
    /// Waiting for one unchanged poll avoids loading a certificate whose key is still being written (renewal tools
    /// write the two files one after the other), which would log a spurious mismatch.
    /// - Returns: whether a new context is now in use.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let stamps = Self.stamps(of: configuration)
        let due: Bool = state.withLock { state in
            guard stamps != state.loadedStamps else {
                state.pendingStamps = nil
                return false
            }
            guard stamps == state.pendingStamps else {
                state.pendingStamps = stamps
                return false
            }
            return true
        }
        guard due else { return false }
        return load(stamps: stamps, reason: "the files changed")
    }

    /// Reloads now, changed or not (SIGHUP).
    @discardableResult
    public func reload() -> Bool {
        load(stamps: Self.stamps(of: configuration), reason: "reload requested")
    }

    private func load(stamps: [FileStamp], reason: String) -> Bool {
        do {
            let material = try TLSMaterial.load(configuration, http2: http2)
            let previous = state.withLock { state in
                defer {
                    state.material = material
                    state.loadedStamps = stamps
                    state.pendingStamps = nil
                }
                return state.material.fingerprint
            }
            logger.notice("TLS certificate reloaded; new connections use it", metadata: [
                "certificate": "\(configuration.certificate)", "reason": "\(reason)",
                "fingerprint": "\(material.fingerprint)", "previous": "\(previous)", "notAfter": "\(Self.format(material.notAfter))",
            ])
            checkExpiry()
            return true
        } catch {
            // Remember these stamps, so the same broken files are reported once, not at every poll.
            state.withLock { state in
                state.loadedStamps = stamps
                state.pendingStamps = nil
            }
            logger.error("TLS reload failed, still serving the previous certificate: \(error)", metadata: [
                "certificate": "\(configuration.certificate)", "key": "\(configuration.key)",
            ])
            return false
        }
    }

    /// Logs an error when the certificate in use has expired and a warning when it expires within 30 days.
    public func checkExpiry(now: Date = Date()) {
        let material = current
        let remaining = material.notAfter.timeIntervalSince(now)
        let metadata: Logger.Metadata = [
            "certificate": "\(configuration.certificate)", "notAfter": "\(Self.format(material.notAfter))",
        ]
        if remaining <= 0 {
            logger.error(
                "TLS certificate \(configuration.certificate) expired on \(Self.format(material.notAfter)); clients that verify it refuse to connect",
                metadata: metadata
            )
        } else if remaining < Self.expiryWarningWindow {
            let days = Int(remaining / 86400)
            logger.warning(
                "TLS certificate \(configuration.certificate) expires on \(Self.format(material.notAfter)) (in \(days) day\(days == 1 ? "" : "s")); renew it (Pier reloads it when the file changes)",
                metadata: metadata
            )
        }
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
