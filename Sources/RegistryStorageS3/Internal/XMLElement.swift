/// An element of one of S3's small XML documents: its name (namespace prefix dropped), its text, its children.
///
/// Why not XMLCoder or FoundationXML: S3 answers a handful of flat documents (errors, listings, multipart results)
/// that need neither attributes nor namespaces. A reader of ~150 lines costs no dependency, no libxml2 in the binary,
/// and no build time, and it refuses what S3 never sends (a DOCTYPE, custom entities) instead of expanding it.
struct XMLElement: Sendable, Equatable {
    var name: String
    /// The element's character data (text and CDATA), entities decoded; whitespace kept as sent.
    var text: String
    var children: [XMLElement]

    /// The first child named `name`.
    func child(_ name: String) -> XMLElement? {
        children.first { $0.name == name }
    }

    /// Every child named `name`, in document order.
    func children(_ name: String) -> [XMLElement] {
        children.filter { $0.name == name }
    }

    /// The text of the first child named `name`.
    subscript(_ name: String) -> String? {
        child(name)?.text
    }

    /// Parses a whole document; its root element.
    static func parse(_ bytes: [UInt8]) throws(XMLReader.Failure) -> XMLElement {
        var reader = XMLReader(bytes: bytes)
        return try reader.document()
    }
}

/// The parser behind ``XMLElement/parse(_:)``.
struct XMLReader {
    /// Why a document could not be read, with the byte offset.
    struct Failure: Error, Sendable, CustomStringConvertible {
        var message: String
        var offset: Int
        var description: String { "malformed XML at byte \(offset): \(message)" }
    }

    static let maximumDepth = 32

    private let bytes: [UInt8]
    private var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(Failure) -> XMLElement {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }  // a UTF-8 byte order mark
        try skipMisc()
        let root = try element(depth: 0)
        try skipMisc()
        guard position == bytes.count else { throw fail("content after the root element") }
        return root
    }

    /// Skips whitespace, the XML declaration, processing instructions and comments; refuses a DOCTYPE.
    private mutating func skipMisc() throws(Failure) {
        while true {
            while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
            if at("<?") {
                try skip(past: "?>")
            } else if at("<!--") {
                try skip(past: "-->")
            } else if at("<!") {
                throw fail("a DOCTYPE or other declaration (S3 sends none)")
            } else {
                return
            }
        }
    }

    private mutating func element(depth: Int) throws(Failure) -> XMLElement {
        guard depth < Self.maximumDepth else { throw fail("elements nested deeper than \(Self.maximumDepth)") }
        guard at("<") else { throw fail("expected an element") }
        position += 1
        let name = try self.name()
        // Attributes (S3 sends only xmlns) are skipped, quoted values included.
        while position < bytes.count, bytes[position] != UInt8(ascii: ">"), !at("/>") {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                position += 1
                while position < bytes.count, bytes[position] != byte { position += 1 }
                guard position < bytes.count else { throw fail("an unterminated attribute value") }
            }
            position += 1
        }
        if at("/>") {
            position += 2
            return XMLElement(name: Self.localName(name), text: "", children: [])
        }
        guard position < bytes.count else { throw fail("an unterminated start tag") }
        position += 1
        var text: [UInt8] = []
        var children: [XMLElement] = []
        while true {
            guard position < bytes.count else { throw fail("<\(name)> is not closed") }
            if at("</") {
                position += 2
                let closing = try self.name()
                while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
                guard closing == name, at(">") else { throw fail("</\(closing)> closes <\(name)>") }
                position += 1
                return XMLElement(name: Self.localName(name), text: String(decoding: text, as: UTF8.self), children: children)
            } else if at("<![CDATA[") {
                position += 9
                let start = position
                try skip(past: "]]>")
                text += bytes[start..<position - 3]
            } else if at("<!--") {
                try skip(past: "-->")
            } else if at("<?") {
                try skip(past: "?>")
            } else if at("<") {
                children.append(try element(depth: depth + 1))
            } else if bytes[position] == UInt8(ascii: "&") {
                text += try entity()
            } else {
                text.append(bytes[position])
                position += 1
            }
        }
    }

    private mutating func name() throws(Failure) -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if Self.isSpace(byte) || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "<") { break }
            position += 1
        }
        guard position > start else { throw fail("an empty element name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Decodes `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and numeric references; anything else is refused.
    private mutating func entity() throws(Failure) -> [UInt8] {
        guard let end = bytes[position...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { throw fail("an unterminated entity") }
        let body = String(decoding: bytes[(position + 1)..<end], as: UTF8.self)
        let decoded: [UInt8]
        switch body {
        case "lt": decoded = [UInt8(ascii: "<")]
        case "gt": decoded = [UInt8(ascii: ">")]
        case "amp": decoded = [UInt8(ascii: "&")]
        case "quot": decoded = [UInt8(ascii: "\"")]
        case "apos": decoded = [UInt8(ascii: "'")]
        default:
            let scalar: UInt32?
            if body.hasPrefix("#x") || body.hasPrefix("#X") {
                scalar = UInt32(body.dropFirst(2), radix: 16)
            } else if body.hasPrefix("#") {
                scalar = UInt32(body.dropFirst(), radix: 10)
            } else {
                scalar = nil
            }
            guard let scalar, let character = Unicode.Scalar(scalar) else { throw fail("an unknown entity &\(body);") }
            decoded = Array(String(Character(character)).utf8)
        }
        position = end + 1
        return decoded
    }

    private func at(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        return literal.withUTF8Buffer { bytes[position..<position + count].elementsEqual($0) }
    }

    private mutating func skip(past literal: StaticString) throws(Failure) {
        while position < bytes.count {
            if at(literal) {
                position += literal.utf8CodeUnitCount
                return
            }
            position += 1
        }
        throw fail("\(literal) not found")
    }

    private func fail(_ message: String) -> Failure {
        Failure(message: message, offset: position)
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func localName(_ name: String) -> String {
        name.split(separator: ":").last.map(String.init) ?? name
    }
}
