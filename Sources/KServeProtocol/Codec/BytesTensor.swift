/// Serializes BYTES elements in the binary tensor layout: for each element a 4-byte little-endian length, then the
/// bytes (the seed's `serialize_byte_tensor`). `["cat", "ok"]` becomes `03 00 00 00 'cat' 02 00 00 00 'ok'`.
///
/// - Precondition: every element is shorter than 4 GiB (the length prefix is 32 bits); decoded tensors always are.
public func serializeByteTensor(_ elements: [ArraySlice<UInt8>]) -> [UInt8] {
    var total = 0
    for e in elements {
        precondition(e.count <= Int(UInt32.max), "a BYTES element longer than 4 GiB cannot be serialized")
        total += 4 + e.count
    }
    return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
        guard let base = buffer.baseAddress else { return }
        var p = base
        for e in elements {
            let n = UInt32(truncatingIfNeeded: e.count)
            p[0] = UInt8(truncatingIfNeeded: n)
            p[1] = UInt8(truncatingIfNeeded: n >> 8)
            p[2] = UInt8(truncatingIfNeeded: n >> 16)
            p[3] = UInt8(truncatingIfNeeded: n >> 24)
            p += 4
            e.withUnsafeBufferPointer { source in
                if let s = source.baseAddress { p.update(from: s, count: source.count) }
            }
            p += e.count
        }
        initialized = total
    }
}

/// Splits a buffer in the binary BYTES layout into its elements (the seed's `deserialize_bytes_tensor`).
///
/// The elements are slices of `buffer` (no copy).
/// - Throws: ``KServeError`` `invalidInput` if a length prefix is cut short or an element runs past the buffer.
public func deserializeBytesTensor(_ buffer: ArraySlice<UInt8>) throws -> [ArraySlice<UInt8>] {
    try deserializeBytesTensor(buffer, expectedCount: nil, tensor: "BYTES tensor")
}

/// Splits a BYTES buffer; with `expectedCount`, the buffer must hold exactly that many elements.
/// `tensor` names the tensor in messages (e.g. `input 'a'`).
func deserializeBytesTensor(_ buffer: ArraySlice<UInt8>, expectedCount: Int?, tensor: String) throws
    -> [ArraySlice<UInt8>]
{
    var elements: [ArraySlice<UInt8>] = []
    elements.reserveCapacity(min(expectedCount ?? 0, buffer.count / 4))
    let base = buffer.startIndex
    let size = buffer.count
    try buffer.withUnsafeBytes { raw in
        var offset = 0
        while offset < size {
            guard size - offset >= 4 else {
                throw KServeError.invalidInput(
                    "\(tensor): BYTES element \(elements.count) has a truncated length prefix at byte \(offset) "
                        + "of its \(size)-byte buffer")
            }
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let start = offset + 4
            guard length <= size - start else {
                throw KServeError.invalidInput(
                    "\(tensor): BYTES element \(elements.count) declares \(length) bytes at byte \(offset), "
                        + "which runs past the end of its \(size)-byte buffer")
            }
            if let expectedCount, elements.count == expectedCount {
                throw KServeError.invalidInput(
                    "\(tensor): the BYTES buffer holds more than the \(expectedCount) elements its shape needs")
            }
            elements.append(buffer[(base + start)..<(base + start + length)])
            offset = start + length
        }
    }
    if let expectedCount, elements.count != expectedCount {
        throw KServeError.invalidInput(
            "\(tensor): the BYTES buffer holds \(elements.count) elements but its shape needs \(expectedCount)")
    }
    return elements
}
