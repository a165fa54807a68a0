/// The protobuf wire format of `ModelInferRequest` / `ModelInferResponse` around their raw tensor contents.
///
/// The raw contents are the bulk of a large message and SwiftProtobuf would copy each into a `Data` (and the
/// response's back into the serialized buffer). Here the request's `raw_input_contents` are found in the
/// serialized bytes and used in place, and the response's `raw_output_contents` are written as field headers
/// followed by the outputs' own buffers; SwiftProtobuf handles only the rest of each message.
public enum ModelInferWire {
    /// `ModelInferRequest.raw_input_contents`.
    public static let rawInputContentsField = 7
    /// `ModelInferResponse.raw_output_contents`.
    public static let rawOutputContentsField = 6

    /// The bytes are not a valid protobuf message.
    public struct MalformedMessage: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Splits a serialized message into everything but the length-delimited field `bytesField`, and that
    /// field's values (in order, as slices of `bytes`).
    ///
    /// When the field's values come last (as every protobuf library writes them: the raw contents have the
    /// highest field number), the rest is a prefix of `bytes` and nothing is copied at all.
    /// - Throws: ``MalformedMessage`` for a truncated field, a bad varint, a group or an unknown wire type, or
    ///   `bytesField` with another wire type.
    public static func split(
        _ bytes: ArraySlice<UInt8>, bytesField: Int
    ) throws(MalformedMessage) -> (rest: ArraySlice<UInt8>, values: [ArraySlice<UInt8>]) {
        var values: [ArraySlice<UInt8>] = []
        var restParts: [Range<Int>] = []
        var i = bytes.startIndex
        var runStart = i
        while i < bytes.endIndex {
            let fieldStart = i
            let key = try varint(bytes, &i)
            let number = Int(truncatingIfNeeded: key >> 3)
            switch key & 7 {
            case 0:
                _ = try varint(bytes, &i)
            case 1:
                guard bytes.endIndex - i >= 8 else { throw MalformedMessage(reason: "truncated fixed64 field \(number)") }
                i += 8
            case 2:
                let length = try varint(bytes, &i)
                guard length <= UInt64(bytes.endIndex - i) else {
                    throw MalformedMessage(reason: "field \(number) is longer than the message")
                }
                let end = i + Int(length)
                if number == bytesField {
                    if fieldStart > runStart { restParts.append(runStart..<fieldStart) }
                    values.append(bytes[i..<end])
                    runStart = end
                }
                i = end
            case 5:
                guard bytes.endIndex - i >= 4 else { throw MalformedMessage(reason: "truncated fixed32 field \(number)") }
                i += 4
            default:
                throw MalformedMessage(reason: "unsupported wire type \(key & 7) for field \(number)")
            }
            if number == bytesField && key & 7 != 2 {
                throw MalformedMessage(reason: "field \(number) must be length-delimited")
            }
        }
        if bytes.endIndex > runStart { restParts.append(runStart..<bytes.endIndex) }
        if restParts.count <= 1 {
            return (restParts.first.map { bytes[$0] } ?? [], values)
        }
        var rest: [UInt8] = []
        rest.reserveCapacity(restParts.reduce(0) { $0 + $1.count })
        for part in restParts { rest.append(contentsOf: bytes[part]) }
        return (rest[...], values)
    }

    /// The header of a length-delimited field: its key and the length, as varints.
    public static func fieldHeader(_ field: Int, length: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12)
        appendVarint(UInt64(field << 3 | 2), to: &out)
        appendVarint(UInt64(length), to: &out)
        return out
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func varint(_ bytes: ArraySlice<UInt8>, _ i: inout Int) throws(MalformedMessage) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.endIndex && shift < 64 {
            let b = bytes[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
        throw MalformedMessage(reason: "truncated or overlong varint")
    }
}
