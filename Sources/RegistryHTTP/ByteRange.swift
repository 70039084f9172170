/// A parsed `Range: bytes=…` request header (single ranges only), per RFC 9110 §14.
enum ByteRange {
    /// The range to serve.
    case satisfiable(Range<Int64>)
    /// Syntactically fine but outside the content: answer 416.
    case unsatisfiable
    /// Not a single byte range Pier serves partially (malformed, multiple ranges): serve the whole content.
    case ignored

    /// Interprets `header` against content of `size` bytes.
    init(header: String, size: Int64) {
        guard header.hasPrefix("bytes="), header.utf8.count <= 100 else {
            self = .ignored
            return
        }
        let spec = header.dropFirst(6).trimmingCharacters()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else {
            self = .ignored
            return
        }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // A suffix: the last N bytes.
            guard let count = Int64(last), count >= 0 else {
                self = .ignored
                return
            }
            guard count > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            self = .satisfiable(max(size - count, 0)..<size)
            return
        }
        guard let start = Int64(first), start >= 0 else {
            self = .ignored
            return
        }
        var end = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= start else {
                self = .ignored
                return
            }
            end = min(value, size - 1)
        }
        guard start < size else {
            self = .unsatisfiable
            return
        }
        self = .satisfiable(start..<(end + 1))
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " { result = result.dropLast() }
        return result
    }
}

/// Parses an upload's `Content-Range` (`first-last`, also tolerating `bytes first-last/total` and `bytes=…`).
func parseContentRange(_ value: String) -> (Int64, Int64)? {
    var spec = Substring(value).trimmingCharacters()
    if spec.hasPrefix("bytes") { spec = spec.dropFirst(5).drop { $0 == " " || $0 == "=" } }
    if let slash = spec.firstIndex(of: "/") { spec = spec[..<slash] }
    guard spec.utf8.count <= 41, let dash = spec.firstIndex(of: "-"),
        let first = Int64(spec[..<dash]), let last = Int64(spec[spec.index(after: dash)...]), first >= 0, last >= 0
    else { return nil }
    return (first, last)
}
