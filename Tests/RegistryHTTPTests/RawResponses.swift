import Foundation

/// An HTTP/1 response read off a raw connection.
struct RawResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The values of the field `name`, split at commas and trimmed, lower-cased.
    func tokens(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }
            .flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    var saysClose: Bool { tokens("connection").contains("close") }
}

/// The final (non-1xx) responses complete in `bytes`, framed as a client frames them: by `Content-Length`, chunked
/// coding, or the end of the connection when `closed`. `bodyless(i)` tells whether the `i`th final response answers
/// a `HEAD` (and so has no body whatever its headers say).
func parseResponses(_ bytes: [UInt8], closed: Bool, bodyless: (Int) -> Bool = { _ in false }) -> [RawResponse] {
    var responses: [RawResponse] = []
    var position = 0
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    while let headEnd = firstIndex(of: separator, in: bytes, from: position) {
        let head = String(decoding: bytes[position..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else { break }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = RawResponse(status: status, headers: headers, body: [])
        var next = headEnd + separator.count
        if (100..<200).contains(status) {
            position = next
            continue
        }
        if bodyless(responses.count) || status == 204 || status == 304 {
            // no body
        } else if response.tokens("transfer-encoding").last == "chunked" {
            guard let (body, end) = dechunk(bytes, from: next) else { break }
            response.body = body
            next = end
        } else if let length = response.tokens("content-length").first.flatMap({ Int($0) }) {
            guard bytes.count - next >= length else { break }
            response.body = Array(bytes[next..<next + length])
            next += length
        } else {
            guard closed else { break }
            response.body = Array(bytes[next...])
            next = bytes.count
        }
        responses.append(response)
        position = next
    }
    return responses
}

private func firstIndex(of pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
    guard bytes.count >= pattern.count, start <= bytes.count - pattern.count else { return nil }
    for index in start...(bytes.count - pattern.count) where bytes[index..<index + pattern.count].elementsEqual(pattern) {
        return index
    }
    return nil
}

/// A chunked body starting at `start`: its bytes and the index after its last CRLF, or `nil` while incomplete.
private func dechunk(_ bytes: [UInt8], from start: Int) -> ([UInt8], Int)? {
    var body: [UInt8] = []
    var position = start
    let crlf: [UInt8] = [13, 10]
    while true {
        guard let lineEnd = firstIndex(of: crlf, in: bytes, from: position) else { return nil }
        let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
        position = lineEnd + 2
        if size == 0 {
            // Trailers, then an empty line.
            while true {
                guard let end = firstIndex(of: crlf, in: bytes, from: position) else { return nil }
                let empty = end == position
                position = end + 2
                if empty { return (body, position) }
            }
        }
        guard bytes.count >= position + size + 2 else { return nil }
        body += bytes[position..<position + size]
        position += size + 2
    }
}
