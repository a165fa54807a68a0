/// The data of one tensor, whatever wire form it arrived in.
///
/// Fixed-width datatypes are always held as their raw little-endian row-major bytes (BOOL one byte per element),
/// so a binary request's tensor is a zero-copy slice of the request body and echoes back without conversion.
/// BYTES tensors are held as a list of elements, each a slice of the body (binary) or of a UTF-8 string (JSON).
public enum TensorData: Sendable, Hashable {
    /// Raw little-endian bytes of a fixed-width tensor (`count == elementCount * elementSize`).
    case raw(ArraySlice<UInt8>)
    /// The elements of a BYTES tensor.
    case bytes([ArraySlice<UInt8>])

    /// Number of bytes this tensor occupies in the binary extension (BYTES include the 4-byte length prefixes).
    public var binaryByteCount: Int {
        switch self {
        case .raw(let r): return r.count
        case .bytes(let elements): return elements.reduce(0) { $0 + 4 + $1.count }
        }
    }

    /// Packs typed values into raw little-endian bytes.
    public static func from<T: TensorElement>(_ values: [T]) -> TensorData {
        if T.self == Bool.self {
            return .raw(ArraySlice(values.map { ($0 as! Bool) ? UInt8(1) : UInt8(0) }))
        }
        let bytes = values.withUnsafeBytes { Array($0) }
        return .raw(ArraySlice(bytes))
    }

    /// Packs strings as BYTES elements (UTF-8).
    public static func from(strings: [String]) -> TensorData {
        .bytes(strings.map { ArraySlice($0.utf8) })
    }
}

extension TensorData {
    /// Decodes raw bytes as values of `T` (little-endian host). BOOL reads any non-zero byte as `true`.
    /// - Throws: ``KServeError`` `invalidInput` when the data is BYTES or the length is not a multiple of the size.
    public func values<T: TensorElement>(as type: T.Type) throws -> [T] {
        guard case .raw(let raw) = self else {
            throw KServeError.invalidInput("cannot read a BYTES tensor as \(T.dataType.rawValue)")
        }
        let size = MemoryLayout<T>.stride
        guard raw.count % size == 0 else {
            throw KServeError.invalidInput("raw data of \(raw.count) bytes is not a whole number of \(T.dataType.rawValue) elements")
        }
        if T.self == Bool.self {
            return raw.map { ($0 != 0) as! T }
        }
        let n = raw.count / size
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            raw.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: src)
            }
            initialized = n
        }
    }
}
