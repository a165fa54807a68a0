#if _endian(big)
#error("KServeProtocol assumes a little-endian host: raw tensor bytes are used in place")
#endif

/// Writes JSON text into byte buffers.
///
/// Output is compact by default (`{"a":1,"b":[1,2]}`, like orjson); `spaced: true` writes Python `json.dumps` style
/// separators (`{"a": 1, "b": [1, 2]}`). Strings are written as UTF-8 with `"`, `\` and control characters escaped.
/// Doubles are the shortest round-trip decimal, in Python `repr` layout; NaN and infinities, which JSON cannot
/// express, are written as `null`.
public enum JSONWriter {
    /// Appends `s` as a JSON string literal (with quotes).
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendStringBytes(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// Appends `v` as JSON text.
    /// - Parameters:
    ///   - v: the value; object members keep their order.
    ///   - out: the buffer to append to.
    ///   - spaced: write `", "` and `": "` separators, as Python's `json.dumps` does.
    public static func append(_ v: JSONValue, to out: inout [UInt8], spaced: Bool = false) {
        switch v {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: b ? "true".utf8 : "false".utf8)
        case .int(let i): appendInt(i, to: &out)
        case .uint(let u): appendUInt(u, to: &out)
        case .double(let d): appendDouble(d, to: &out)
        case .bigInteger(let digits): out.append(contentsOf: digits.utf8)
        case .string(let s): appendString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { appendComma(to: &out, spaced: spaced) }
                append(e, to: &out, spaced: spaced)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, m) in o.members.enumerated() {
                if i > 0 { appendComma(to: &out, spaced: spaced) }
                appendKey(m.key, to: &out, spaced: spaced)
                append(m.value, to: &out, spaced: spaced)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    // MARK: Internal helpers

    @inline(__always)
    static func appendComma(to out: inout [UInt8], spaced: Bool) {
        out.append(UInt8(ascii: ","))
        if spaced { out.append(UInt8(ascii: " ")) }
    }

    /// Appends `"key":` (or `"key": `).
    @inline(__always)
    static func appendKey(_ key: String, to out: inout [UInt8], spaced: Bool = false) {
        appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        if spaced { out.append(UInt8(ascii: " ")) }
    }

    /// Appends a key known to need no escaping: `"key":`.
    @inline(__always)
    static func appendKey(_ key: StaticString, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    /// Appends raw ASCII text.
    @inline(__always)
    static func appendRaw(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends valid UTF-8 bytes as a JSON string literal, escaping what JSON requires.
    static func appendStringBytes(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i])) }
            runStart = i + 1
            out.append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                // \u00XX; only bytes below 0x20 get here.
                let low = b & 0xF
                out.append(contentsOf: [UInt8(ascii: "u"), 48, 48, 48 + (b >> 4), low < 10 ? 48 + low : 87 + low])
            }
        }
        if runStart < bytes.count { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart...])) }
        out.append(UInt8(ascii: "\""))
    }

    /// Calls `body` with 32 bytes of scratch space and appends the bytes it reports written.
    @inline(__always)
    static func appendFormatted(to out: inout [UInt8], _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            guard let p = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let n = body(p)
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        }
    }

    static func appendInt(_ v: Int64, to out: inout [UInt8]) { appendFormatted(to: &out) { writeInt64(v, to: $0) } }
    static func appendUInt(_ v: UInt64, to out: inout [UInt8]) { appendFormatted(to: &out) { writeUInt64(v, to: $0) } }
    static func appendDouble(_ v: Double, to out: inout [UInt8]) { appendFormatted(to: &out) { writeDouble(v, to: $0) } }
    static func appendFloat(_ v: Float, to out: inout [UInt8]) { appendFormatted(to: &out) { writeFloat(v, to: $0) } }

    /// Appends `{...}` for parameters, or `null` when `nullIfEmpty` and there are none.
    static func appendParameters(_ p: Parameters, to out: inout [UInt8], spaced: Bool = false) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (k, v) in p {
            if !first { appendComma(to: &out, spaced: spaced) }
            first = false
            appendKey(k, to: &out, spaced: spaced)
            append(v.jsonValue, to: &out, spaced: spaced)
        }
        out.append(UInt8(ascii: "}"))
    }
}
