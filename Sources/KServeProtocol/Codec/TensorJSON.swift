// Tensor `data` in JSON: parsed straight into the raw little-endian buffer (no JSONValue per element), and written
// straight from it.

/// Whether a tensor belongs to a request (`input`) or a response (`output`); used in messages.
enum TensorRole: String, Sendable {
    case input, output
}

/// `[2, 2]`, as Python prints a shape list (long shapes are cut after 16 dimensions).
func describeShape(_ shape: [Int]) -> String {
    let shown = shape.prefix(16).map(String.init).joined(separator: ", ")
    return "[" + shown + (shape.count > 16 ? ", ...]" : "]")
}

// MARK: - Decoding

extension JSONScanner {
    /// Visits every scalar of the (possibly nested) array at the cursor in row-major order, flattening nested arrays;
    /// `body` must consume exactly one scalar. Returns the number of scalars.
    @inline(__always)
    mutating func forEachElement(_ body: (inout JSONScanner) throws -> Void) throws -> Int {
        guard try peek() == UInt8(ascii: "[") else { throw unexpected("'['") }
        try enterContainer()
        pos += 1
        var nesting = 1
        var count = 0
        var expectValue = true
        var justOpened = true
        while true {
            skipWhitespace()
            guard pos < text.count else { throw syntaxError("unexpected end of data") }
            let c = text[pos]
            if expectValue {
                if c == UInt8(ascii: "[") {
                    try enterContainer()
                    pos += 1
                    nesting += 1
                    justOpened = true
                    continue
                }
                if c == UInt8(ascii: "]") && justOpened {
                    pos += 1
                    exitContainer()
                    nesting -= 1
                    if nesting == 0 { return count }
                    expectValue = false
                    justOpened = false
                    continue
                }
                try body(&self)
                count += 1
                expectValue = false
                justOpened = false
            } else if c == UInt8(ascii: ",") {
                pos += 1
                expectValue = true
            } else if c == UInt8(ascii: "]") {
                pos += 1
                exitContainer()
                nesting -= 1
                if nesting == 0 { return count }
            } else {
                throw unexpected("',' or ']'")
            }
        }
    }

    /// The error for an element of the wrong JSON type (or a syntax error if it is not a value at all).
    func elementTypeError(_ tensor: String, _ datatype: DataType) -> KServeError {
        guard pos < text.count else { return syntaxError("unexpected end of data") }
        let found: String
        switch text[pos] {
        case UInt8(ascii: "\""): found = "a string"
        case UInt8(ascii: "{"): found = "an object"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
        case UInt8(ascii: "n"): found = "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): found = "a number"
        default: return unexpected("a JSON value")
        }
        let expected: String
        switch datatype {
        case .bool: expected = "true or false"
        case .bytes: expected = "a string"
        default: expected = "a number"
        }
        return KServeError.invalidInput(
            "\(tensor): 'data' holds \(found) where \(expected) was expected for datatype \(datatype.rawValue)")
    }

    @inline(__always)
    private static func isNumberStart(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    @inline(__always)
    mutating func readIntegerElement<T: FixedWidthInteger>(
        _: T.Type, datatype: DataType, tensor: String
    ) throws -> T {
        guard pos < text.count, Self.isNumberStart(text[pos]) else { throw elementTypeError(tensor, datatype) }
        let number = try scanNumber()
        guard let magnitude = number.integerMagnitude(in: text) else {
            throw KServeError.invalidInput(
                "\(tensor): \(literal(number)) in 'data' is not a valid \(datatype.rawValue) value")
        }
        if number.negative && magnitude != 0 {
            guard T.isSigned, magnitude - 1 <= UInt64(T.max) else {
                throw KServeError.invalidInput(
                    "\(tensor): \(literal(number)) in 'data' is out of range for \(datatype.rawValue)")
            }
            return T(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(T.max) else {
            throw KServeError.invalidInput(
                "\(tensor): \(literal(number)) in 'data' is out of range for \(datatype.rawValue)")
        }
        return T(truncatingIfNeeded: magnitude)
    }

    @inline(__always)
    mutating func readFloatElement(tensor: String) throws -> Float {
        guard pos < text.count, Self.isNumberStart(text[pos]) else { throw elementTypeError(tensor, .fp32) }
        return try scanNumber().floatValue(in: text)
    }

    @inline(__always)
    mutating func readDoubleElement(tensor: String) throws -> Double {
        guard pos < text.count, Self.isNumberStart(text[pos]) else { throw elementTypeError(tensor, .fp64) }
        return try scanNumber().doubleValue(in: text)
    }

    /// BOOL: `true`/`false` (also the integers 0 and 1, which numpy accepts).
    @inline(__always)
    mutating func readBoolElement(tensor: String) throws -> UInt8 {
        guard pos < text.count else { throw syntaxError("unexpected end of data") }
        let c = text[pos]
        if c == UInt8(ascii: "t") || c == UInt8(ascii: "f") {
            return try readLiteral() == true ? 1 : 0
        }
        if Self.isNumberStart(c) {
            let number = try scanNumber()
            if let m = number.integerMagnitude(in: text), m <= 1, !(number.negative && m == 1) { return UInt8(m) }
            throw KServeError.invalidInput("\(tensor): \(literal(number)) in 'data' is not a valid BOOL value")
        }
        throw elementTypeError(tensor, .bool)
    }

    /// Reads the typed elements into raw little-endian bytes.
    @inline(__always)
    private mutating func readRaw<T: BitwiseCopyable>(
        _: T.Type, capacity: Int, _ read: (inout JSONScanner) throws -> T
    ) throws -> (TensorData, Int) {
        var values: [T] = []
        values.reserveCapacity(capacity)
        let count = try forEachElement { s in values.append(try read(&s)) }
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        return (.raw(ArraySlice(bytes)), count)
    }

    /// Reads a tensor's `data` (cursor at its value) straight into typed storage.
    ///
    /// - Parameters:
    ///   - datatype: the tensor's datatype (FP16/BF16 are only accepted as an empty array).
    ///   - expectedCount: the shape's element count if known, used to size the buffer.
    ///   - body: the buffer `text` was taken from (its first `text.count` bytes); BYTES elements without escapes are
    ///     slices of it.
    ///   - role, name: for messages.
    /// - Returns: the data and its element count (nested arrays flattened).
    mutating func readTensorData(
        _ datatype: DataType, expectedCount: Int?, body: ArraySlice<UInt8>, role: TensorRole, name: String,
        limits: DecodingLimits
    ) throws -> (data: TensorData, count: Int) {
        let tensor = "\(role.rawValue) '\(name)'"
        guard try peek() == UInt8(ascii: "[") else {
            throw KServeError.invalidInput("\(tensor): 'data' must be an array")
        }
        // Every element takes at least two bytes of JSON, so a shape cannot make us reserve more than the body.
        let capacity = min(expectedCount ?? 0, (text.count - pos) / 2 + 1)
        switch datatype {
        case .bool:
            return try readRaw(UInt8.self, capacity: capacity) { try $0.readBoolElement(tensor: tensor) }
        case .uint8:
            return try readRaw(UInt8.self, capacity: capacity) {
                try $0.readIntegerElement(UInt8.self, datatype: datatype, tensor: tensor)
            }
        case .uint16:
            return try readRaw(UInt16.self, capacity: capacity) {
                try $0.readIntegerElement(UInt16.self, datatype: datatype, tensor: tensor)
            }
        case .uint32:
            return try readRaw(UInt32.self, capacity: capacity) {
                try $0.readIntegerElement(UInt32.self, datatype: datatype, tensor: tensor)
            }
        case .uint64:
            return try readRaw(UInt64.self, capacity: capacity) {
                try $0.readIntegerElement(UInt64.self, datatype: datatype, tensor: tensor)
            }
        case .int8:
            return try readRaw(Int8.self, capacity: capacity) {
                try $0.readIntegerElement(Int8.self, datatype: datatype, tensor: tensor)
            }
        case .int16:
            return try readRaw(Int16.self, capacity: capacity) {
                try $0.readIntegerElement(Int16.self, datatype: datatype, tensor: tensor)
            }
        case .int32:
            return try readRaw(Int32.self, capacity: capacity) {
                try $0.readIntegerElement(Int32.self, datatype: datatype, tensor: tensor)
            }
        case .int64:
            return try readRaw(Int64.self, capacity: capacity) {
                try $0.readIntegerElement(Int64.self, datatype: datatype, tensor: tensor)
            }
        case .fp32:
            return try readRaw(Float.self, capacity: capacity) { try $0.readFloatElement(tensor: tensor) }
        case .fp64:
            return try readRaw(Double.self, capacity: capacity) { try $0.readDoubleElement(tensor: tensor) }
        case .fp16, .bf16:
            let count = try forEachElement { try $0.skipValue() }
            guard count == 0 else {
                throw KServeError.invalidInput(
                    "Receiving \(datatype.rawValue) data via JSON is not supported. "
                        + "Please use the binary data format for \(role.rawValue) \(name)")
            }
            return (.raw([]), 0)
        case .bytes:
            var elements: [ArraySlice<UInt8>] = []
            elements.reserveCapacity(min(capacity, (text.count - pos) / 3 + 1))
            var totalBytes = 0
            let base = body.startIndex
            let count = try forEachElement { s in
                guard s.pos < s.text.count, s.text[s.pos] == UInt8(ascii: "\"") else {
                    throw s.elementTypeError(tensor, .bytes)
                }
                let element: ArraySlice<UInt8>
                switch try s.scanString() {
                case .range(let r):
                    guard r.upperBound <= body.count else { throw s.syntaxError("string outside the body") }
                    element = body[(base + r.lowerBound)..<(base + r.upperBound)]
                case .decoded(let bytes):
                    element = ArraySlice(bytes)
                }
                totalBytes += element.count
                if totalBytes > limits.maxTensorBytes {
                    throw KServeError(
                        .payloadTooLarge,
                        "\(tensor): BYTES data exceeds the limit of \(limits.maxTensorBytes) bytes per tensor")
                }
                elements.append(element)
            }
            return (.bytes(elements), count)
        }
    }
}

// MARK: - Encoding

/// Checks that `data` fits `shape` and `datatype`, returning the element count.
/// - Throws: a ``KServeError`` with `code` (the caller decides whose fault a malformed tensor is).
func validatedElementCount(
    _ data: TensorData, shape: [Int], datatype: DataType, tensor: String, code: KServeError.Code
) throws -> Int {
    guard let count = elementCount(of: shape) else {
        throw KServeError(code, "\(tensor) has an invalid shape \(describeShape(shape))")
    }
    switch (data, datatype.elementSize) {
    case (.raw(let raw), .some(let size)):
        let (needed, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, raw.count == needed else {
            throw KServeError(
                code,
                "\(tensor) holds \(raw.count) bytes of \(datatype.rawValue) data but its shape "
                    + "\(describeShape(shape)) needs \(overflow ? "more" : String(needed))")
        }
    case (.bytes(let elements), .none):
        guard elements.count == count else {
            throw KServeError(
                code,
                "\(tensor) holds \(elements.count) BYTES elements but its shape \(describeShape(shape)) needs \(count)")
        }
    case (.raw, .none):
        throw KServeError(code, "\(tensor) has datatype BYTES but raw fixed-width data")
    case (.bytes, .some):
        throw KServeError(code, "\(tensor) has datatype \(datatype.rawValue) but BYTES elements")
    }
    return count
}

/// Python's `repr` of a bytes value (`b'\xff'`), shortened after 100 bytes; used in messages.
func pythonBytesRepr(_ bytes: ArraySlice<UInt8>) -> String {
    var s = "b'"
    for b in bytes.prefix(100) {
        switch b {
        case UInt8(ascii: "\\"): s += "\\\\"
        case UInt8(ascii: "'"): s += "\\'"
        case 0x09: s += "\\t"
        case 0x0A: s += "\\n"
        case 0x0D: s += "\\r"
        case 0x20..<0x7F: s.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = String(b, radix: 16)
            s += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }
    }
    return s + (bytes.count > 100 ? "...'" : "'")
}

/// Appends elements of type `T` read from raw little-endian bytes as the body of a JSON array (without brackets).
///
/// Numbers are formatted straight into blocks of uninitialized storage (`write` may use up to 32 bytes per value),
/// which are then appended to `out`.
@inline(__always)
private func appendNumbers<T: BitwiseCopyable>(
    _ raw: ArraySlice<UInt8>, count: Int, _: T.Type, estimate: Int, to out: inout [UInt8],
    _ write: (T, UnsafeMutablePointer<UInt8>) -> Int
) {
    guard count > 0 else { return }
    out.reserveCapacity(out.count + count * estimate + 2)
    let stride = MemoryLayout<T>.stride
    let blockSize = 4096
    raw.withUnsafeBytes { src in
        var start = 0
        while start < count {
            let n = min(blockSize, count - start)
            let block = [UInt8](unsafeUninitializedCapacity: n * 33) { buffer, initialized in
                guard let base = buffer.baseAddress else { return }
                var p = base
                for k in start..<(start + n) {
                    if k > 0 {
                        p.pointee = UInt8(ascii: ",")
                        p += 1
                    }
                    p += write(src.loadUnaligned(fromByteOffset: k &* stride, as: T.self), p)
                }
                initialized = p - base
            }
            out.append(contentsOf: block)
            start += n
        }
    }
}

/// Appends a tensor's data as a flat JSON array, straight from its raw buffer.
///
/// - Parameters:
///   - count: the element count, already validated against the data (``validatedElementCount``).
///   - role, name: FP16/BF16 throw `invalidInput` "Sending FP16 data via JSON is not supported. Please use the binary
///     data format for output <name>"; BYTES that are not UTF-8 throw `inferenceError` "Failed to encode ...".
func appendTensorJSONData(
    _ data: TensorData, datatype: DataType, count: Int, role: TensorRole, name: String, to out: inout [UInt8]
) throws {
    switch data {
    case .bytes(let elements):
        out.append(UInt8(ascii: "["))
        for (i, e) in elements.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            try e.withUnsafeBytes { bytes in
                guard isValidUTF8(bytes) else {
                    throw KServeError.inferenceError(
                        "Failed to encode \"\(pythonBytesRepr(e))\" using UTF-8. Please use binary_data=True, if "
                            + "you want to pass a byte array.")
                }
                JSONWriter.appendStringBytes(bytes, to: &out)
            }
        }
        out.append(UInt8(ascii: "]"))
    case .raw(let raw):
        out.append(UInt8(ascii: "["))
        switch datatype {
        case .bool:
            appendNumbers(raw, count: count, UInt8.self, estimate: 6, to: &out) { v, p in
                if v != 0 {
                    p[0] = UInt8(ascii: "t"); p[1] = UInt8(ascii: "r"); p[2] = UInt8(ascii: "u"); p[3] = UInt8(ascii: "e")
                    return 4
                }
                p[0] = UInt8(ascii: "f"); p[1] = UInt8(ascii: "a"); p[2] = UInt8(ascii: "l"); p[3] = UInt8(ascii: "s")
                p[4] = UInt8(ascii: "e")
                return 5
            }
        case .uint8:
            appendNumbers(raw, count: count, UInt8.self, estimate: 4, to: &out) { writeUInt64(UInt64($0), to: $1) }
        case .uint16:
            appendNumbers(raw, count: count, UInt16.self, estimate: 6, to: &out) { writeUInt64(UInt64($0), to: $1) }
        case .uint32:
            appendNumbers(raw, count: count, UInt32.self, estimate: 11, to: &out) { writeUInt64(UInt64($0), to: $1) }
        case .uint64:
            appendNumbers(raw, count: count, UInt64.self, estimate: 21, to: &out) { writeUInt64($0, to: $1) }
        case .int8:
            appendNumbers(raw, count: count, Int8.self, estimate: 5, to: &out) { writeInt64(Int64($0), to: $1) }
        case .int16:
            appendNumbers(raw, count: count, Int16.self, estimate: 7, to: &out) { writeInt64(Int64($0), to: $1) }
        case .int32:
            appendNumbers(raw, count: count, Int32.self, estimate: 12, to: &out) { writeInt64(Int64($0), to: $1) }
        case .int64:
            appendNumbers(raw, count: count, Int64.self, estimate: 21, to: &out) { writeInt64($0, to: $1) }
        case .fp32:
            appendNumbers(raw, count: count, Float.self, estimate: 12, to: &out) { writeFloat($0, to: $1) }
        case .fp64:
            appendNumbers(raw, count: count, Double.self, estimate: 20, to: &out) { writeDouble($0, to: $1) }
        case .fp16, .bf16:
            if count > 0 {
                throw KServeError.invalidInput(
                    "Sending \(datatype.rawValue) data via JSON is not supported. "
                        + "Please use the binary data format for \(role.rawValue) \(name)")
            }
        case .bytes:
            throw KServeError.inferenceError("\(role.rawValue) '\(name)' has datatype BYTES but raw fixed-width data")
        }
        out.append(UInt8(ascii: "]"))
    }
}
