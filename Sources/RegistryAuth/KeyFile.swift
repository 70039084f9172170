import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates private key files: atomically, mode 0600, never over an existing file.
enum KeyFile {
    /// Writes `contents` to a new file at `path` (creating missing parent directories, mode 0700). The file appears
    /// complete or not at all. Returns `false`, writing nothing, when `path` already exists.
    static func create(path: String, contents: Data) throws(TokenKeyError) -> Bool {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw TokenKeyError("\(path): cannot create the directory for the token signing key: \(error.localizedDescription)")
        }
        let temporary = path + ".tmp-\(UUID().uuidString)"
        defer { unlink(temporary) }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure(path, "cannot create the token signing key") }
        // The umask can only narrow 0600; set it exactly anyway.
        var ok = fchmod(descriptor, 0o600) == 0
        ok = ok && contents.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
        ok = ok && fsync(descriptor) == 0
        let error = errno
        close(descriptor)
        guard ok else { errno = error; throw failure(path, "cannot write the token signing key") }
        // link(2), unlike rename(2), never replaces a file another process created meanwhile.
        if link(temporary, path) != 0 {
            if errno == EEXIST { return false }
            // Some file systems have no hard links; rename is atomic too, at the cost of that race.
            guard rename(temporary, path) == 0 else { throw failure(path, "cannot create the token signing key") }
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return true
    }

    private static func failure(_ path: String, _ what: String) -> TokenKeyError {
        TokenKeyError("\(path): \(what): \(String(cString: strerror(errno)))")
    }
}
