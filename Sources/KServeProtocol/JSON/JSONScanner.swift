/// A JSON tokenizer over a byte buffer, shared by the generic ``JSONValue`` parser and the v2 decoders.
///
/// Every read is bounds-checked against `text.count`; nesting is tracked with an explicit counter (the parsers are
/// iterative), so hostile input can only produce a ``KServeError``, never a trap or a stack overflow.
/// Positions are byte offsets into `text`.
struct JSONScanner {
    /// The JSON text.
    let text: UnsafeRawBufferPointer
    /// The read position.
    var pos: Int = 0
    /// Current nesting depth (open arrays and objects).
    var depth: Int = 0
    /// Maximum nesting depth.
    let maxDepth: Int
    /// Prefix of syntax error messages, e.g. `Unrecognized request format`.
    let context: String

    init(_ text: UnsafeRawBufferPointer, maxDepth: Int, context: String = "Unrecognized request format") {
        self.text = text
        self.maxDepth = maxDepth
        self.context = context
    }

    // MARK: Errors

    /// A 400 error pointing at a byte offset: `<context>: <detail>: line L column C (char N)`.
    func syntaxError(_ detail: String, at offset: Int? = nil) -> KServeError {
        let p = min(max(offset ?? pos, 0), text.count)
        var line = 1
        var lineStart = 0
        for i in 0..<p where text[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return KServeError.invalidInput("\(context): \(detail): line \(line) column \(p - lineStart + 1) (char \(p))")
    }

    /// A description of the byte at `offset` for error messages.
    func describeByte(at offset: Int) -> String {
        guard offset < text.count else { return "end of data" }
        let b = text[offset]
        if b >= 0x20 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(String(b, radix: 16))"
    }

    func unexpected(_ expected: String) -> KServeError {
        if pos >= text.count { return syntaxError("unexpected end of data") }
        return syntaxError("unexpected \(describeByte(at: pos)), expected \(expected)")
    }

    // MARK: Whitespace and structure

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < text.count {
            let b = text[pos]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos += 1
        }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    @inline(__always)
    mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard pos < text.count else { throw syntaxError("unexpected end of data") }
        return text[pos]
    }

    /// Skips whitespace and consumes `byte`, or throws.
    @inline(__always)
    mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard pos < text.count, text[pos] == byte else {
            throw unexpected("'\(Character(Unicode.Scalar(byte)))'")
        }
        pos += 1
    }

    /// Requires that only whitespace remains.
    mutating func expectEnd() throws {
        skipWhitespace()
        if pos < text.count { throw syntaxError("trailing characters after the JSON value (\(describeByte(at: pos)))") }
    }

    @inline(__always)
    mutating func enterContainer() throws {
        depth += 1
        if depth > maxDepth {
            throw syntaxError("JSON is nested deeper than the limit of \(maxDepth) levels")
        }
    }

    @inline(__always)
    mutating func exitContainer() { depth -= 1 }

    /// Consumes `{`; returns true if the object has members (the next token is a key), false if it was `{}`.
    mutating func beginObject() throws -> Bool {
        guard try peek() == UInt8(ascii: "{") else { throw unexpected("'{'") }
        try enterContainer()
        pos += 1
        if try peek() == UInt8(ascii: "}") {
            pos += 1
            exitContainer()
            return false
        }
        return true
    }

    /// Reads `"key":`.
    mutating func readKey() throws -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw unexpected("a string key") }
        let key = try readString()
        try expect(UInt8(ascii: ":"))
        return key
    }

    /// After a member value: consumes `,` (returns true, a key follows) or `}` (returns false, object closed).
    mutating func nextMember() throws -> Bool {
        let c = try peek()
        if c == UInt8(ascii: ",") {
            pos += 1
            return true
        }
        if c == UInt8(ascii: "}") {
            pos += 1
            exitContainer()
            return false
        }
        throw unexpected("',' or '}'")
    }

    /// Consumes `[`; returns true if the array has elements, false if it was `[]`.
    mutating func beginArray() throws -> Bool {
        guard try peek() == UInt8(ascii: "[") else { throw unexpected("'['") }
        try enterContainer()
        pos += 1
        if try peek() == UInt8(ascii: "]") {
            pos += 1
            exitContainer()
            return false
        }
        return true
    }

    /// After an element: consumes `,` (returns true) or `]` (returns false, array closed).
    mutating func nextElement() throws -> Bool {
        let c = try peek()
        if c == UInt8(ascii: ",") {
            pos += 1
            return true
        }
        if c == UInt8(ascii: "]") {
            pos += 1
            exitContainer()
            return false
        }
        throw unexpected("',' or ']'")
    }

    /// Consumes `null` if it is next; returns whether it did.
    mutating func consumeNull() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try readLiteral()
        return true
    }

    // MARK: Literals

    /// Reads `true`, `false` or `null` and returns its kind (1, 0, or nil for null).
    @discardableResult
    mutating func readLiteral() throws -> Bool? {
        let start = pos
        @inline(__always) func matches(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard start + n <= text.count else { return false }
            let w = word.utf8Start
            for i in 0..<n where text[start + i] != w[i] { return false }
            return true
        }
        guard start < text.count else { throw syntaxError("unexpected end of data") }
        switch text[start] {
        case UInt8(ascii: "t") where matches("true"):
            pos += 4
            return true
        case UInt8(ascii: "f") where matches("false"):
            pos += 5
            return false
        case UInt8(ascii: "n") where matches("null"):
            pos += 4
            return nil
        default:
            throw unexpected("a JSON value")
        }
    }

    // MARK: Strings

    /// A scanned string: a range of `text` (no escapes, valid UTF-8) or the decoded bytes.
    enum StringToken {
        case range(Range<Int>)
        case decoded([UInt8])
    }

    /// Scans a string starting at the opening quote; validates escapes and UTF-8.
    @inline(__always)
    mutating func scanString() throws -> StringToken {
        let start = pos + 1
        var i = start
        var nonASCII = false
        let n = text.count
        while i < n {
            let b = text[i]
            if b == UInt8(ascii: "\"") {
                if nonASCII && !isValidUTF8(UnsafeRawBufferPointer(rebasing: text[start..<i])) {
                    throw syntaxError("invalid UTF-8 in string", at: start)
                }
                pos = i + 1
                return .range(start..<i)
            }
            if b == UInt8(ascii: "\\") { return try scanEscapedString(contentStart: start, firstEscape: i) }
            if b < 0x20 { throw syntaxError("control character (byte 0x\(String(b, radix: 16))) in string", at: i) }
            if b >= 0x80 { nonASCII = true }
            i += 1
        }
        throw syntaxError("unexpected end of data in string", at: n)
    }

    private mutating func scanEscapedString(contentStart: Int, firstEscape: Int) throws -> StringToken {
        var out: [UInt8] = []
        out.reserveCapacity(firstEscape - contentStart + 16)
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[contentStart..<firstEscape]))
        var i = firstEscape
        var rawNonASCII = false
        let n = text.count
        while i < n {
            let b = text[i]
            if b == UInt8(ascii: "\"") {
                if rawNonASCII || out.contains(where: { $0 >= 0x80 }) {
                    let valid = out.withUnsafeBytes { isValidUTF8($0) }
                    if !valid { throw syntaxError("invalid UTF-8 in string", at: contentStart) }
                }
                pos = i + 1
                return .decoded(out)
            }
            if b < 0x20 { throw syntaxError("control character (byte 0x\(String(b, radix: 16))) in string", at: i) }
            if b != UInt8(ascii: "\\") {
                if b >= 0x80 { rawNonASCII = true }
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < n else { break }
            let e = text[i + 1]
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(at: i + 2)
                var consumed = 6
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 7 < n, text[i + 6] == UInt8(ascii: "\\"), text[i + 7] == UInt8(ascii: "u")
                    else { throw syntaxError("invalid \\u escape: unpaired surrogate", at: i) }
                    let low = try hex4(at: i + 8)
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw syntaxError("invalid \\u escape: unpaired surrogate", at: i)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    consumed = 12
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw syntaxError("invalid \\u escape: unpaired surrogate", at: i)
                }
                appendUTF8(scalar, to: &out)
                i += consumed
                continue
            default:
                throw syntaxError("invalid escape '\\\(Character(Unicode.Scalar(e)))' in string", at: i)
            }
            i += 2
        }
        throw syntaxError("unexpected end of data in string", at: n)
    }

    /// Four hex digits at `offset`.
    private func hex4(at offset: Int) throws -> UInt32 {
        guard offset + 4 <= text.count else { throw syntaxError("unexpected end of data in \\u escape", at: offset) }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = text[offset + k]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw syntaxError("invalid \\u escape", at: offset - 2)
            }
            v = v << 4 | d
        }
        return v
    }

    /// Reads a string value as a Swift String (cursor at the opening quote).
    mutating func readString() throws -> String {
        switch try scanString() {
        case .range(let r): return String(decoding: UnsafeRawBufferPointer(rebasing: text[r]), as: UTF8.self)
        case .decoded(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Reads a string or null (returns nil for null); other values throw `what must be a string`.
    mutating func readOptionalString(_ what: String) throws -> String? {
        let c = try peek()
        if c == UInt8(ascii: "n") {
            try readLiteral()
            return nil
        }
        guard c == UInt8(ascii: "\"") else { throw syntaxError("\(what) must be a string") }
        return try readString()
    }

    // MARK: Numbers

    /// Scans a number at the cursor (strict JSON grammar).
    @inline(__always)
    mutating func scanNumber() throws -> JSONNumber {
        let start = pos
        let n = text.count
        var i = pos
        var negative = false
        if i < n && text[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < n else { throw syntaxError("unexpected end of data in number", at: i) }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        var truncated = false
        var isInteger = true
        let first = text[i]
        if first == UInt8(ascii: "0") {
            i += 1
        } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
            while i < n {
                let d = text[i] &- UInt8(ascii: "0")
                if d > 9 { break }
                if significant < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    significant += 1
                } else {
                    exponent += 1
                    if d != 0 { truncated = true }
                }
                i += 1
            }
        } else {
            throw syntaxError("invalid number", at: start)
        }
        if i < n && text[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            let fractionStart = i
            // Skip leading zeros, then take eight digits at a time while they fit in the 19 kept digits.
            if mantissa == 0 {
                while i < n && text[i] == UInt8(ascii: "0") {
                    exponent -= 1
                    i += 1
                }
            }
            while significant <= 11 && i + 8 <= n {
                let chunk = UInt64(littleEndian: text.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                guard isEightDigits(chunk) else { break }
                let value = eightDigitsValue(chunk)
                if mantissa == 0 && value == 0 {
                    exponent -= 8
                } else {
                    mantissa = mantissa &* 100_000_000 &+ value
                    significant += mantissa == value ? 8 - leadingZeroDigits(value) : 8
                    exponent -= 8
                }
                i += 8
            }
            while i < n {
                let d = text[i] &- UInt8(ascii: "0")
                if d > 9 { break }
                if mantissa == 0 && d == 0 {
                    exponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    significant += 1
                    exponent -= 1
                } else if d != 0 {
                    truncated = true
                }
                i += 1
            }
            if i == fractionStart { throw syntaxError("invalid number: no digits after '.'", at: start) }
        }
        if i < n && (text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            var exponentNegative = false
            if i < n && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) {
                exponentNegative = text[i] == UInt8(ascii: "-")
                i += 1
            }
            let exponentStart = i
            var e = 0
            while i < n {
                let d = text[i] &- UInt8(ascii: "0")
                if d > 9 { break }
                if e < 1_000_000 { e = e * 10 + Int(d) }
                i += 1
            }
            if i == exponentStart { throw syntaxError("invalid number: no digits in exponent", at: start) }
            exponent += exponentNegative ? -e : e
        }
        pos = i
        return JSONNumber(
            negative: negative, mantissa: mantissa, exponent: exponent, truncated: truncated,
            isInteger: isInteger, start: start, end: i)
    }

    /// The literal text of a scanned number (for messages), at most 40 characters.
    func literal(_ number: JSONNumber) -> String {
        let end = min(number.end, number.start + 40)
        guard number.start >= 0, number.start <= end, end <= text.count else { return "?" }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: text[number.start..<end]), as: UTF8.self)
        return end < number.end ? s + "..." : s
    }

    // MARK: Skipping

    /// Skips one value of any kind, validating its syntax, without building it.
    mutating func skipValue() throws {
        var containers: [Bool] = []  // true: object
        let startDepth = depth
        defer { depth = startDepth }
        valueLoop: while true {
            let c = try peek()
            switch c {
            case UInt8(ascii: "{"):
                if try beginObject() {
                    containers.append(true)
                    _ = try readKey()
                    continue valueLoop
                }
            case UInt8(ascii: "["):
                if try beginArray() {
                    containers.append(false)
                    continue valueLoop
                }
            case UInt8(ascii: "\""):
                _ = try scanString()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                _ = try scanNumber()
            default:
                try readLiteral()
            }
            // A value is complete: close finished containers.
            while let isObject = containers.last {
                if isObject {
                    if try nextMember() {
                        _ = try readKey()
                        continue valueLoop
                    }
                } else if try nextElement() {
                    continue valueLoop
                }
                containers.removeLast()
            }
            return
        }
    }

    // MARK: Generic values

    /// Parses one value of any kind into a ``JSONValue`` (iteratively; nesting is bounded by `maxDepth`).
    mutating func parseValue() throws -> JSONValue {
        var kinds: [Bool] = []  // true: object
        var arrays: [[JSONValue]] = []
        var objects: [ObjectBuilder] = []
        valueLoop: while true {
            var value: JSONValue
            let c = try peek()
            switch c {
            case UInt8(ascii: "{"):
                if try beginObject() {
                    kinds.append(true)
                    objects.append(ObjectBuilder(pendingKey: try readKey()))
                    continue valueLoop
                }
                value = .object(JSONObject())
            case UInt8(ascii: "["):
                if try beginArray() {
                    kinds.append(false)
                    arrays.append([])
                    continue valueLoop
                }
                value = .array([])
            case UInt8(ascii: "\""):
                value = .string(try readString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = numberValue(try scanNumber())
            default:
                switch try readLiteral() {
                case .some(let b): value = .bool(b)
                case .none: value = .null
                }
            }
            // Attach the finished value to its container, closing containers that end here.
            while let isObject = kinds.last {
                if isObject {
                    objects[objects.count - 1].add(value)
                    if try nextMember() {
                        objects[objects.count - 1].pendingKey = try readKey()
                        continue valueLoop
                    }
                    value = .object(JSONObject(uniqueMembers: objects.removeLast().members))
                } else {
                    arrays[arrays.count - 1].append(value)
                    if try nextElement() { continue valueLoop }
                    value = .array(arrays.removeLast())
                }
                kinds.removeLast()
            }
            return value
        }
    }

    /// A JSON number as a value: integers stay integers (Int64, or UInt64 above Int64.max); others are doubles.
    func numberValue(_ number: JSONNumber) -> JSONValue {
        if number.isInteger, let magnitude = number.integerMagnitude(in: text) {
            if number.negative {
                if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .int(.min) }
            } else {
                if magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
                return .uint(magnitude)
            }
        }
        if number.isInteger {
            // Beyond 64 bits: keep the exact digits (a round trip never changes a value).
            return .bigInteger(String(decoding: UnsafeRawBufferPointer(rebasing: text[number.start..<number.end]), as: UTF8.self))
        }
        return .double(number.doubleValue(in: text))
    }
}

/// Members of an object being parsed; a repeated key keeps its first position and takes the last value.
private struct ObjectBuilder {
    var members: [(key: String, value: JSONValue)] = []
    var index: [String: Int] = [:]
    var pendingKey: String

    init(pendingKey: String) { self.pendingKey = pendingKey }

    mutating func add(_ value: JSONValue) {
        if members.count < 16 && index.isEmpty {
            if let i = members.firstIndex(where: { $0.key == pendingKey }) {
                members[i].value = value
            } else {
                members.append((pendingKey, value))
            }
            return
        }
        if index.isEmpty {
            for (i, m) in members.enumerated() { index[m.key] = i }
        }
        if let i = index[pendingKey] {
            members[i].value = value
        } else {
            index[pendingKey] = members.count
            members.append((pendingKey, value))
        }
    }
}

extension JSONNumber {
    /// The exact value of an integral number as (sign, magnitude), or nil if it is not an integer or its magnitude
    /// exceeds UInt64.max. `1.0` and `1e3` count as integral.
    func integerMagnitude(in text: UnsafeRawBufferPointer) -> UInt64? {
        if truncated {
            // Only a plain integer literal of 20 digits can still fit in UInt64: read it digit by digit.
            guard isInteger, start >= 0, end <= text.count else { return nil }
            var v: UInt64 = 0
            for i in start..<end {
                let d = text[i] &- UInt8(ascii: "0")
                if d > 9 { continue }  // the sign
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(d))
                if o1 || o2 { return nil }
                v = s
            }
            return v
        }
        if mantissa == 0 { return 0 }
        if exponent >= 0 {
            guard exponent <= 19 else { return nil }
            let (v, overflow) = mantissa.multipliedReportingOverflow(by: uint64PowersOfTen[exponent])
            return overflow ? nil : v
        }
        guard -exponent <= 19 else { return nil }
        let p = uint64PowersOfTen[-exponent]
        return mantissa % p == 0 ? mantissa / p : nil
    }
}

/// Whether the eight bytes of `chunk` (little-endian) are all ASCII digits.
@inline(__always)
func isEightDigits(_ chunk: UInt64) -> Bool {
    ((chunk & 0xF0F0_F0F0_F0F0_F0F0) | (((chunk &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4))
        == 0x3333_3333_3333_3333
}

/// The value of eight ASCII digits (the first digit in the lowest byte), without a loop (as in fast_float).
@inline(__always)
func eightDigitsValue(_ chunk: UInt64) -> UInt64 {
    let mask: UInt64 = 0x0000_00FF_0000_00FF
    let mul1: UInt64 = 0x000F_4240_0000_0064  // 100 + (1000000 << 32)
    let mul2: UInt64 = 0x0000_2710_0000_0001  // 1 + (10000 << 32)
    var v = chunk &- 0x3030_3030_3030_3030
    v = (v &* 10) &+ (v >> 8)
    return (((v & mask) &* mul1) &+ (((v >> 16) & mask) &* mul2)) >> 32
}

/// The number of leading zero digits of an eight-digit group (the digits before its first significant one).
@inline(__always)
func leadingZeroDigits(_ value: UInt64) -> Int {
    var digits = 0
    var v = value
    while v > 0 {
        digits += 1
        v /= 10
    }
    return 8 - digits
}

/// Appends the UTF-8 encoding of a Unicode scalar value (not a surrogate, at most U+10FFFF).
@inline(__always)
func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
        out.append(UInt8(scalar))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | scalar >> 6))
        out.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | scalar >> 12))
        out.append(UInt8(0x80 | (scalar >> 6) & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    default:
        out.append(UInt8(0xF0 | (scalar >> 18) & 0x07))
        out.append(UInt8(0x80 | (scalar >> 12) & 0x3F))
        out.append(UInt8(0x80 | (scalar >> 6) & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    }
}

/// Whether `bytes` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let n = bytes.count
    while i < n {
        let b0 = bytes[i]
        if b0 < 0x80 {
            i += 1
            continue
        }
        if b0 < 0xC2 { return false }
        if b0 < 0xE0 {
            guard i + 1 < n, bytes[i + 1] & 0xC0 == 0x80 else { return false }
            i += 2
            continue
        }
        if b0 < 0xF0 {
            guard i + 2 < n else { return false }
            let b1 = bytes[i + 1]
            let b2 = bytes[i + 2]
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 else { return false }
            if b0 == 0xE0 && b1 < 0xA0 { return false }
            if b0 == 0xED && b1 >= 0xA0 { return false }
            i += 3
            continue
        }
        if b0 < 0xF5 {
            guard i + 3 < n else { return false }
            let b1 = bytes[i + 1]
            guard b1 & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80, bytes[i + 3] & 0xC0 == 0x80 else { return false }
            if b0 == 0xF0 && b1 < 0x90 { return false }
            if b0 == 0xF4 && b1 >= 0x90 { return false }
            i += 4
            continue
        }
        return false
    }
    return true
}
