import Crypto
import NIOConcurrencyHelpers
import NIOCore

/// The MD5 and length of a body as the HTTP client sends it, to check against the ETag S3 answers.
///
/// `@unchecked Sendable`: the mutable state is only touched under the lock. The HTTP client reads the body on its own
/// task, sequentially, so the lock is never contended.
final class BodyDigest: @unchecked Sendable {
    private let lock = NIOLock()
    private var md5 = Insecure.MD5()
    private var count: Int64 = 0

    func update(_ buffer: ByteBuffer) {
        lock.withLock {
            buffer.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
            count += Int64(buffer.readableBytes)
        }
    }

    /// The MD5 in lower-case hex and the number of bytes.
    func finalize() -> (md5: String, count: Int64) {
        lock.withLock { (hexadecimal(md5.finalize()), count) }
    }
}

/// Text escaped for an XML element's content.
enum XMLText {
    static func escaped(_ text: String) -> String {
        var output = ""
        for character in text {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            default: output.append(character)
            }
        }
        return output
    }
}
