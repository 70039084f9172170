import Foundation

/// A gzip writer that stores data in uncompressed deflate blocks (RFC 1951 §3.2.4).
///
/// Real compression depends on the zlib build (zlib-ng and Apple's zlib produce other bytes than
/// Debian's), which would make layer digests differ between machines. Stored blocks are valid gzip for
/// every reader and byte-identical everywhere; the header carries mtime 0 and OS 255 ("unknown").
enum Gzip {
    /// Wraps `data` in a gzip member made of stored deflate blocks.
    static func storedMember(_ data: Data) -> Data {
        var output = Data([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF])
        output.reserveCapacity(data.count + data.count / 65_535 * 5 + 32)
        let maximumBlock = 65_535
        var offset = data.startIndex
        repeat {
            let length = min(maximumBlock, data.endIndex - offset)
            let isFinal = offset + length == data.endIndex
            output.append(isFinal ? 0x01 : 0x00)
            let length16 = UInt16(length)
            output.append(contentsOf: [UInt8(length16 & 0xFF), UInt8(length16 >> 8)])
            output.append(contentsOf: [UInt8(~length16 & 0xFF), UInt8(~length16 >> 8)])
            output.append(data[offset..<offset + length])
            offset += length
        } while offset < data.endIndex
        output.append(littleEndian: CRC32.checksum(data))
        output.append(littleEndian: UInt32(truncatingIfNeeded: data.count))
        return output
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip's trailer needs.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// The CRC-32 of `data`.
    static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBytes { raw in
            table.withUnsafeBufferPointer { table in
                for byte in raw { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
        }
        return ~crc
    }
}

extension Data {
    /// Appends `value` as 4 little-endian bytes.
    mutating func append(littleEndian value: UInt32) {
        append(contentsOf: [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)])
    }
}
