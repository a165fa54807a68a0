// A parsed XGBoost model document, from JSON or UBJSON, with numbers kept in their stored form until the loader
// knows whether it needs a Float (thresholds, leaves), an integer (children, indices) or a string.

/// One number of a model document: a decimal literal (JSON) or a typed binary value (UBJSON).
enum DocNumber: Sendable {
    case decimal(DecimalLiteral)
    case int(Int64)
    case float(Float)
    case double(Double)
}

/// A node of a parsed model document.
enum DocValue: Sendable {
    case null
    case bool(Bool)
    case number(DocNumber)
    case string(String)
    case array([DocValue])
    case object([(String, DocValue)])

    /// Member lookup (first match; model documents have unique keys).
    subscript(key: String) -> DocValue? {
        guard case .object(let members) = self else { return nil }
        for m in members where m.0 == key { return m.1 }
        return nil
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }

    var arrayValue: [DocValue]? { if case .array(let a) = self { return a } else { return nil } }

    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// A parsed document plus the bytes its decimal literals point into.
struct ModelDocument {
    let root: DocValue
    let bytes: [UInt8]

    /// Converts a number to Float exactly as the library would read it.
    func float(_ n: DocNumber) -> Float {
        switch n {
        case .decimal(let lit): return bytes.withUnsafeBytes { DecimalParsing.float(lit, in: $0) }
        case .int(let i): return Float(i)
        case .float(let f): return f
        case .double(let d): return Float(d)
        }
    }

    /// An integer, or nil when the number is not integral or out of range.
    func int(_ n: DocNumber) -> Int? {
        switch n {
        case .decimal(let lit): return lit.intValue
        case .int(let i): return Int(exactly: i)
        case .float(let f): return f.isFinite && f.rounded() == f ? Int(exactly: f) : nil
        case .double(let d): return d.isFinite && d.rounded() == d ? Int(exactly: d) : nil
        }
    }

    /// A Float array (`split_conditions`, `weight_drop`, ...).
    func floats(_ v: DocValue?, _ what: @autoclosure () -> String) throws(TreeModelError) -> [Float] {
        guard case .array(let items)? = v else { throw TreeModelError("\(what()) is missing or not an array") }
        var out = [Float]()
        out.reserveCapacity(items.count)
        for item in items {
            guard case .number(let n) = item else { throw TreeModelError("\(what()) holds a non-number") }
            out.append(float(n))
        }
        return out
    }

    /// An integer array (`left_children`, `split_indices`, ...). Booleans count as 0/1.
    func ints(_ v: DocValue?, _ what: @autoclosure () -> String) throws(TreeModelError) -> [Int] {
        guard case .array(let items)? = v else { throw TreeModelError("\(what()) is missing or not an array") }
        var out = [Int]()
        out.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .number(let n):
                guard let i = int(n) else { throw TreeModelError("\(what()) holds a non-integer") }
                out.append(i)
            case .bool(let b): out.append(b ? 1 : 0)
            default: throw TreeModelError("\(what()) holds a non-number")
            }
        }
        return out
    }

    /// An integer stored as a string parameter (`"num_class": "3"`) or as a number.
    func intParam(_ v: DocValue?, _ what: @autoclosure () -> String) throws(TreeModelError) -> Int {
        switch v {
        case .string(let s)?:
            guard let i = Int(s.trimmingSpaces()) else { throw TreeModelError("\(what()) = \"\(s)\" is not an integer") }
            return i
        case .number(let n)?:
            guard let i = int(n) else { throw TreeModelError("\(what()) is not an integer") }
            return i
        default:
            throw TreeModelError("\(what()) is missing")
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// Parsers for the two XGBoost encodings. Both are recursive with a depth limit, bounds-check every read and
/// report the byte offset of the first problem.
enum DocumentParser {
    static let maxDepth = 64

    /// Parses JSON or UBJSON, deciding by the first bytes.
    static func parse(_ bytes: [UInt8]) throws(TreeModelError) -> ModelDocument {
        guard bytes.count < Int(Int32.max) else { throw TreeModelError("the file is larger than 2 GiB") }
        let result: Result<DocValue, TreeModelError> = bytes.withUnsafeBytes { p in Result { () throws(TreeModelError) -> DocValue in
            var i = 0
            while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
            guard i < p.count else { throw TreeModelError("the file is empty") }
            guard p[i] == UInt8(ascii: "{") else {
                if p.count >= 4 && p[0] == UInt8(ascii: "b") && p[1] == UInt8(ascii: "i") && p[2] == UInt8(ascii: "n")
                    && p[3] == UInt8(ascii: "f")
                {
                    throw TreeModelError(
                        "this is XGBoost's legacy binary format, which XGBoost 3.1 and later cannot load either; "
                            + "re-save the model with save_model(\"model.json\") or (\"model.ubj\")")
                }
                throw TreeModelError("not an XGBoost JSON or UBJSON model (it does not start with '{')")
            }
            var j = i + 1
            while j < p.count, p[j] == 0x20 || p[j] == 0x0A || p[j] == 0x0D || p[j] == 0x09 { j += 1 }
            let isJSON = j >= p.count || p[j] == UInt8(ascii: "\"") || p[j] == UInt8(ascii: "}") || j > i + 1
            if isJSON {
                var parser = JSONDocParser(p: p, pos: i)
                let v = try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.pos == p.count else { throw parser.error("unexpected data after the document") }
                return v
            } else {
                var parser = UBJDocParser(p: p, pos: i)
                return try parser.value(depth: 0)
            }
        } }
        return ModelDocument(root: try result.get(), bytes: bytes)
    }
}

struct JSONDocParser {
    let p: UnsafeRawBufferPointer
    var pos: Int

    func error(_ what: String) -> TreeModelError {
        if pos >= p.count { return TreeModelError("invalid JSON: \(what) (truncated at byte \(p.count))") }
        return TreeModelError("invalid JSON at byte \(pos): \(what)")
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < p.count {
            let b = p[pos]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos += 1
        }
    }

    mutating func value(depth: Int) throws(TreeModelError) -> DocValue {
        guard depth < DocumentParser.maxDepth else { throw error("nesting too deep") }
        skipWhitespace()
        guard pos < p.count else { throw error("unexpected end of data") }
        switch p[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var members: [(String, DocValue)] = []
            skipWhitespace()
            if pos < p.count && p[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard pos < p.count, p[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard pos < p.count, p[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
                pos += 1
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard pos < p.count else { throw error("unexpected end of data") }
                if p[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if p[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [DocValue] = []
            skipWhitespace()
            if pos < p.count && p[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard pos < p.count else { throw error("unexpected end of data") }
                if p[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if p[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            guard let lit = DecimalParsing.scan(p, &pos) else { throw error("expected a value") }
            return .number(.decimal(lit))
        }
    }

    mutating func literal(_ word: StaticString) throws(TreeModelError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= p.count else { throw error("unexpected end of data") }
        for k in 0..<n where p[pos + k] != word.utf8Start[k] { throw error("invalid literal") }
        pos += n
    }

    mutating func string() throws(TreeModelError) -> String {
        pos += 1  // opening quote
        let start = pos
        var plain = true
        while pos < p.count {
            let b = p[pos]
            if b == UInt8(ascii: "\"") {
                break
            }
            if b == UInt8(ascii: "\\") { plain = false; pos += 2; continue }
            if b < 0x20 { throw error("control character in a string") }
            pos += 1
        }
        guard pos < p.count else { throw error("unterminated string") }
        let raw = UnsafeRawBufferPointer(rebasing: p[start..<pos])
        pos += 1
        if plain {
            guard let s = String(validating: raw, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
            return s
        }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            guard i + 1 < raw.count else { throw error("bad escape") }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                guard i + 4 <= raw.count, let u = hex4(raw, i) else { throw error("bad \\u escape") }
                i += 4
                var scalar = u
                if u >= 0xD800 && u < 0xDC00 {
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u"),
                        let lo = hex4(raw, i + 2), lo >= 0xDC00 && lo < 0xE000
                    else { throw error("bad surrogate pair") }
                    i += 6
                    scalar = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                }
                guard let us = Unicode.Scalar(scalar) else { throw error("bad \\u escape") }
                out.append(contentsOf: Array(String(Character(us)).utf8))
            default: throw error("bad escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
        return s
    }

    private func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = raw[at + k]
            let d: UInt8
            switch c {
            case 48...57: d = c - 48
            case 65...70: d = c - 55
            case 97...102: d = c - 87
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }
}

/// UBJSON (draft 12 as XGBoost writes it): big-endian numbers, optimized containers (`$type`, `#count`).
struct UBJDocParser {
    let p: UnsafeRawBufferPointer
    var pos: Int

    func error(_ what: String) -> TreeModelError {
        if pos >= p.count { return TreeModelError("invalid UBJSON: \(what) (truncated at byte \(p.count))") }
        return TreeModelError("invalid UBJSON at byte \(pos): \(what)")
    }

    mutating func byte() throws(TreeModelError) -> UInt8 {
        guard pos < p.count else { throw error("unexpected end of data") }
        defer { pos += 1 }
        return p[pos]
    }

    mutating func bigEndian<T: FixedWidthInteger>(_: T.Type) throws(TreeModelError) -> T {
        let size = MemoryLayout<T>.size
        guard pos + size <= p.count else { pos = p.count; throw error("unexpected end of data") }
        var v: T = 0
        for k in 0..<size { v = v << 8 | T(truncatingIfNeeded: p[pos + k]) }
        pos += size
        return v
    }

    /// An integer written with its own type marker (lengths, counts).
    mutating func length() throws(TreeModelError) -> Int {
        let marker = try byte()
        let v: Int64
        switch marker {
        case UInt8(ascii: "i"): v = Int64(Int8(bitPattern: try byte()))
        case UInt8(ascii: "U"): v = Int64(try byte())
        case UInt8(ascii: "I"): v = Int64(try bigEndian(Int16.self))
        case UInt8(ascii: "l"): v = Int64(try bigEndian(Int32.self))
        case UInt8(ascii: "L"): v = try bigEndian(Int64.self)
        default: pos -= 1; throw error("expected an integer length")
        }
        guard v >= 0, v <= Int64(p.count) else { throw error("length \(v) is out of range") }
        return Int(v)
    }

    mutating func value(depth: Int) throws(TreeModelError) -> DocValue {
        var marker = try byte()
        while marker == UInt8(ascii: "N") { marker = try byte() }
        return try value(marker: marker, depth: depth)
    }

    mutating func value(marker: UInt8, depth: Int) throws(TreeModelError) -> DocValue {
        switch marker {
        case UInt8(ascii: "Z"): return .null
        case UInt8(ascii: "T"): return .bool(true)
        case UInt8(ascii: "F"): return .bool(false)
        case UInt8(ascii: "i"): return .number(.int(Int64(Int8(bitPattern: try byte()))))
        case UInt8(ascii: "U"): return .number(.int(Int64(try byte())))
        case UInt8(ascii: "I"): return .number(.int(Int64(try bigEndian(Int16.self))))
        case UInt8(ascii: "l"): return .number(.int(Int64(try bigEndian(Int32.self))))
        case UInt8(ascii: "L"): return .number(.int(try bigEndian(Int64.self)))
        case UInt8(ascii: "d"): return .number(.float(Float(bitPattern: try bigEndian(UInt32.self))))
        case UInt8(ascii: "D"): return .number(.double(Double(bitPattern: try bigEndian(UInt64.self))))
        case UInt8(ascii: "C"): return .string(String(Character(Unicode.Scalar(try byte()))))
        case UInt8(ascii: "S"), UInt8(ascii: "H"):
            let s = try string()
            if marker == UInt8(ascii: "H") {
                let bytes = Array(s.utf8)
                let lit: DecimalLiteral? = bytes.withUnsafeBytes { b in
                    var k = 0
                    guard let l = DecimalParsing.scan(b, &k), k == b.count else { return nil }
                    return l
                }
                guard let lit, let d = bytes.withUnsafeBytes({ b in Optional(DecimalParsing.double(lit, in: b)) }) else {
                    throw error("bad high-precision number")
                }
                return .number(.double(d))
            }
            return .string(s)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            guard depth < DocumentParser.maxDepth else { throw error("nesting too deep") }
            let isObject = marker == UInt8(ascii: "{")
            var type: UInt8? = nil
            var count: Int? = nil
            if pos < p.count && p[pos] == UInt8(ascii: "$") {
                pos += 1
                type = try byte()
                guard pos < p.count, p[pos] == UInt8(ascii: "#") else { throw error("'$' without '#'") }
            }
            if pos < p.count && p[pos] == UInt8(ascii: "#") {
                pos += 1
                count = try length()
            }
            if let count {
                // Every element takes at least one byte (typed fixed-size elements at least their size).
                let zeroSize = type == UInt8(ascii: "Z") || type == UInt8(ascii: "T") || type == UInt8(ascii: "F")
                guard zeroSize || count <= p.count - pos else {
                    throw error("count \(count) exceeds the remaining data")
                }
            }
            if isObject {
                var members: [(String, DocValue)] = []
                var k = 0
                while true {
                    if let count {
                        if k == count { break }
                    } else {
                        guard pos < p.count else { throw error("unterminated object") }
                        if p[pos] == UInt8(ascii: "}") { pos += 1; break }
                    }
                    let key = try string()
                    let v: DocValue
                    if let t = type { v = try value(marker: t, depth: depth + 1) } else { v = try value(depth: depth + 1) }
                    members.append((key, v))
                    k += 1
                }
                return .object(members)
            } else {
                var items: [DocValue] = []
                if let count { items.reserveCapacity(count) }
                var k = 0
                while true {
                    if let count {
                        if k == count { break }
                    } else {
                        guard pos < p.count else { throw error("unterminated array") }
                        if p[pos] == UInt8(ascii: "]") { pos += 1; break }
                    }
                    if let t = type {
                        items.append(try value(marker: t, depth: depth + 1))
                    } else {
                        items.append(try value(depth: depth + 1))
                    }
                    k += 1
                }
                return .array(items)
            }
        default:
            pos -= 1
            throw error("unknown type marker 0x\(String(marker, radix: 16))")
        }
    }

    /// A length-prefixed UTF-8 string (keys and `S` values).
    mutating func string() throws(TreeModelError) -> String {
        let n = try length()
        guard n <= p.count - pos else { pos = p.count; throw error("string runs past the end") }
        let raw = UnsafeRawBufferPointer(rebasing: p[pos..<(pos + n)])
        pos += n
        guard let s = String(validating: raw, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
        return s
    }
}
