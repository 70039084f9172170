import Foundation

/// A non-blocking TCP connection to a live test server, for sending bytes at a chosen pace and reading whatever
/// comes back. Waits with `Task.sleep`, so slow-client tests do not hold the cooperative pool's threads.
final class RawConnection {
    private let fd: Int32
    /// Everything received so far.
    private(set) var received: [UInt8] = []
    /// Whether the server closed (or reset) the connection.
    private(set) var closed = false

    init(port: Int) throws {
        fd = try connectLoopback(port: port)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(fd)
    }

    var text: String { String(decoding: received, as: UTF8.self) }

    /// Sends `string`; false when the server has closed the connection.
    @discardableResult
    func send(_ string: String) -> Bool {
        let bytes = Array(string.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Half-closes the connection: the server sees the end of the request stream, and may still answer.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads what has arrived, without waiting.
    func poll() {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !closed {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                received += buffer[0..<count]
            } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                closed = true
            } else {
                return
            }
        }
    }

    /// Reads until the server closes the connection or `seconds` pass; returns whether it closed.
    @discardableResult
    func waitForClose(seconds: Double) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            poll()
            if closed { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Reads until `text` contains `marker` or `seconds` pass.
    func waitFor(_ marker: String, seconds: Double) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            poll()
            if text.contains(marker) { return true }
            if closed { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// A blocking TCP socket connected to `port` on 127.0.0.1; the caller closes it.
func connectLoopback(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        throw TestFailure("connect failed")
    }
    return fd
}
