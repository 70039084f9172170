import Foundation

/// Writes a POSIX ustar archive in memory, with fixed owners and modification times so the bytes
/// depend only on the entries given.
struct TarWriter {
    /// The kind of one archive entry.
    enum Kind: Sendable {
        case directory
        case file(Data, executable: Bool = false)
        case symlink(target: String)
        /// A hard link to an earlier entry of the same archive.
        case hardLink(target: String)
    }

    /// One entry: a relative path (directories end in `/`) and its kind.
    struct Entry: Sendable {
        var path: String
        var kind: Kind
    }

    /// The modification time of every entry: 2024-01-01T00:00:00Z.
    static let fixedModificationTime = 1_704_067_200

    private(set) var data = Data()

    /// Appends one entry.
    mutating func append(_ entry: Entry) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ string: String, at offset: Int, width: Int) {
            let bytes = Array(string.utf8)
            precondition(bytes.count <= width, "tar field too long: \(string)")
            header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
        func putOctal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: width - 1 - digits.count) + digits, at: offset, width: width - 1)
        }
        var payload = Data()
        let mode: Int, typeFlag: String
        var linkName = ""
        switch entry.kind {
        case .directory: (mode, typeFlag) = (0o755, "5")
        case let .file(content, executable): (mode, typeFlag, payload) = (executable ? 0o755 : 0o644, "0", content)
        case let .symlink(target): (mode, typeFlag, linkName) = (0o777, "2", target)
        case let .hardLink(target): (mode, typeFlag, linkName) = (0o644, "1", target)
        }
        put(entry.path, at: 0, width: 100)
        putOctal(mode, at: 100, width: 8)
        putOctal(0, at: 108, width: 8)
        putOctal(0, at: 116, width: 8)
        putOctal(payload.count, at: 124, width: 12)
        putOctal(Self.fixedModificationTime, at: 136, width: 12)
        put(typeFlag, at: 156, width: 1)
        put(linkName, at: 157, width: 100)
        put("ustar\u{0}00", at: 257, width: 8)
        put("root", at: 265, width: 32)
        put("root", at: 297, width: 32)
        // The checksum is computed with its own field filled with spaces (POSIX pax "ustar Interchange Format").
        put("        ", at: 148, width: 8)
        let checksum = header.reduce(0) { $0 + Int($1) }
        let digits = String(checksum, radix: 8)
        put(String(repeating: "0", count: 6 - digits.count) + digits + "\u{0} ", at: 148, width: 8)
        data.append(contentsOf: header)
        data.append(payload)
        let remainder = payload.count % 512
        if remainder != 0 { data.append(Data(count: 512 - remainder)) }
    }

    /// Returns the archive with its two closing zero blocks.
    func finished() -> Data {
        data + Data(count: 1024)
    }

    /// Builds an archive from `entries` in the order given.
    static func archive(_ entries: [Entry]) -> Data {
        var writer = TarWriter()
        for entry in entries { writer.append(entry) }
        return writer.finished()
    }
}
