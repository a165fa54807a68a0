#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KServeProtocol

/// Converts tensor data between ``TensorData`` and the two gRPC forms: typed `InferTensorContents` and raw bytes
/// (`raw_input_contents` / `raw_output_contents`).
///
/// Typed contents use the field KServe's table assigns to each datatype: BOOL `bool_contents`; INT8, INT16, INT32
/// `int_contents`; INT64 `int64_contents`; UINT8, UINT16, UINT32 `uint_contents`; UINT64 `uint64_contents`; FP32
/// `fp32_contents`; FP64 `fp64_contents`; BYTES `bytes_contents`. FP16 and BF16 have no typed field and travel raw
/// only. Raw bytes are little-endian row-major; raw BYTES are a 4-byte little-endian length before each element.
enum GRPCTensorCodec {
    /// The role of a tensor in error messages.
    enum Role: String {
        case input, output
    }

    // MARK: Decoding

    /// Typed contents of one tensor as ``TensorData``, checked against the shape's element count.
    /// - Throws: ``KServeError`` `invalidInput` naming the tensor when the datatype has no typed field (FP16,
    ///   BF16), the element count differs from the shape, or a value is out of range for a narrow integer type.
    static func decode(
        contents c: Inference_InferTensorContents, datatype: DataType, count: Int, tensor: String, role: Role,
        limits: DecodingLimits
    ) throws -> TensorData {
        func check(_ n: Int, _ field: String) throws {
            guard n == count else {
                throw KServeError.invalidInput(
                    "\(field) for \(role) '\(tensor)' hold \(n) elements, but its shape needs \(count) \(datatype.rawValue) elements")
            }
            if let size = datatype.elementSize, n.multipliedReportingOverflow(by: size).partialValue > limits.maxTensorBytes {
                throw KServeError(.payloadTooLarge, "\(role) '\(tensor)' is larger than the limit of \(limits.maxTensorBytes) bytes per tensor")
            }
        }
        func narrow<Wide: BinaryInteger, T: TensorElement & FixedWidthInteger>(_ values: [Wide], _ type: T.Type) throws -> TensorData {
            var out = [T]()
            out.reserveCapacity(values.count)
            for v in values {
                guard let n = T(exactly: v) else {
                    throw KServeError.invalidInput("contents for \(role) '\(tensor)': \(v) is out of range for \(datatype.rawValue)")
                }
                out.append(n)
            }
            return .from(out)
        }
        switch datatype {
        case .bool:
            try check(c.boolContents.count, "bool_contents")
            return .from(c.boolContents)
        case .int8:
            try check(c.intContents.count, "int_contents")
            return try narrow(c.intContents, Int8.self)
        case .int16:
            try check(c.intContents.count, "int_contents")
            return try narrow(c.intContents, Int16.self)
        case .int32:
            try check(c.intContents.count, "int_contents")
            return .from(c.intContents)
        case .int64:
            try check(c.int64Contents.count, "int64_contents")
            return .from(c.int64Contents)
        case .uint8:
            try check(c.uintContents.count, "uint_contents")
            return try narrow(c.uintContents, UInt8.self)
        case .uint16:
            try check(c.uintContents.count, "uint_contents")
            return try narrow(c.uintContents, UInt16.self)
        case .uint32:
            try check(c.uintContents.count, "uint_contents")
            return .from(c.uintContents)
        case .uint64:
            try check(c.uint64Contents.count, "uint64_contents")
            return .from(c.uint64Contents)
        case .fp32:
            try check(c.fp32Contents.count, "fp32_contents")
            return .from(c.fp32Contents)
        case .fp64:
            try check(c.fp64Contents.count, "fp64_contents")
            return .from(c.fp64Contents)
        case .bytes:
            try check(c.bytesContents.count, "bytes_contents")
            var total = 0
            for e in c.bytesContents { total += e.count }
            if total > limits.maxTensorBytes {
                throw KServeError(.payloadTooLarge, "\(role) '\(tensor)' is larger than the limit of \(limits.maxTensorBytes) bytes per tensor")
            }
            return .bytes(c.bytesContents.map { ArraySlice($0) })
        case .fp16, .bf16:
            throw KServeError.invalidInput(
                "\(datatype.rawValue) data for \(role) '\(tensor)' must be sent as raw_\(role)_contents: InferTensorContents has no field for 16-bit floats")
        }
    }

    /// Raw contents of one tensor as ``TensorData``, checked against the shape.
    /// - Throws: ``KServeError`` `invalidInput` naming the tensor when the byte count does not match shape x
    ///   datatype, or a BYTES length prefix runs past the buffer or the element count differs from the shape.
    static func decode(raw: Data, datatype: DataType, count: Int, tensor: String, role: Role, limits: DecodingLimits) throws -> TensorData {
        try decode(raw: ArraySlice(raw), datatype: datatype, count: count, tensor: tensor, role: role, limits: limits)
    }

    /// Raw contents of one tensor as ``TensorData`` over the given bytes (no copy), checked against the shape.
    static func decode(raw bytes: ArraySlice<UInt8>, datatype: DataType, count: Int, tensor: String, role: Role, limits: DecodingLimits) throws -> TensorData {
        if bytes.count > limits.maxTensorBytes {
            throw KServeError(.payloadTooLarge, "\(role) '\(tensor)' is larger than the limit of \(limits.maxTensorBytes) bytes per tensor")
        }
        guard let size = datatype.elementSize else {
            return .bytes(try splitBytes(bytes, count: count, tensor: tensor, role: role))
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, bytes.count == expected else {
            throw KServeError.invalidInput(
                "raw_\(role)_contents for \(role) '\(tensor)' hold \(bytes.count) bytes, but its shape needs \(count) \(datatype.rawValue) elements (\(overflow ? "too many" : String(expected)) bytes)")
        }
        return .raw(bytes)
    }

    /// Splits the length-prefixed raw BYTES layout into elements.
    static func splitBytes(_ bytes: ArraySlice<UInt8>, count: Int, tensor: String, role: Role) throws -> [ArraySlice<UInt8>] {
        var elements: [ArraySlice<UInt8>] = []
        elements.reserveCapacity(min(count, bytes.count / 4))
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 4 else {
                throw KServeError.invalidInput("raw BYTES contents for \(role) '\(tensor)' end inside an element's 4-byte length prefix")
            }
            let length = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
            i += 4
            guard length <= bytes.endIndex - i else {
                throw KServeError.invalidInput(
                    "raw BYTES contents for \(role) '\(tensor)': element \(elements.count) has length \(length), past the end of the buffer")
            }
            elements.append(bytes[i..<(i + length)])
            i += length
        }
        guard elements.count == count else {
            throw KServeError.invalidInput(
                "raw BYTES contents for \(role) '\(tensor)' hold \(elements.count) elements, but its shape needs \(count)")
        }
        return elements
    }

    // MARK: Encoding

    /// The raw form of one tensor (BYTES with their length prefixes).
    /// The raw-contents bytes of one tensor: the tensor's own bytes (no copy) for fixed-width data, the
    /// length-prefixed layout for BYTES.
    static func rawSlice(_ data: TensorData) -> ArraySlice<UInt8> {
        switch data {
        case .raw(let r): return r
        case .bytes(let elements): return serializeByteTensor(elements)[...]
        }
    }

    static func rawBytes(_ data: TensorData) -> Data {
        switch data {
        case .raw(let r):
            return Data(r)
        case .bytes(let elements):
            return Data(serializeByteTensor(elements))
        }
    }

    /// The typed-contents form of one tensor.
    /// - Throws: ``KServeError`` `invalidInput` for FP16 / BF16 (callers send those raw) and when the data does not
    ///   fit the datatype (BYTES data for a fixed-width type or the reverse, a byte count that is not whole elements).
    static func contents(_ data: TensorData, datatype: DataType, tensor: String, role: Role) throws -> Inference_InferTensorContents {
        var c = Inference_InferTensorContents()
        if datatype == .bytes {
            guard case .bytes(let elements) = data else {
                throw KServeError.invalidInput("\(role) '\(tensor)' has datatype BYTES but holds fixed-width data")
            }
            c.bytesContents = elements.map { Data($0) }
            return c
        }
        switch datatype {
        case .bool: c.boolContents = try data.values(as: Bool.self)
        case .int8: c.intContents = try data.values(as: Int8.self).map(Int32.init)
        case .int16: c.intContents = try data.values(as: Int16.self).map(Int32.init)
        case .int32: c.intContents = try data.values(as: Int32.self)
        case .int64: c.int64Contents = try data.values(as: Int64.self)
        case .uint8: c.uintContents = try data.values(as: UInt8.self).map(UInt32.init)
        case .uint16: c.uintContents = try data.values(as: UInt16.self).map(UInt32.init)
        case .uint32: c.uintContents = try data.values(as: UInt32.self)
        case .uint64: c.uint64Contents = try data.values(as: UInt64.self)
        case .fp32: c.fp32Contents = try data.values(as: Float.self)
        case .fp64: c.fp64Contents = try data.values(as: Double.self)
        case .fp16, .bf16, .bytes:
            throw KServeError.invalidInput("\(datatype.rawValue) \(role) '\(tensor)' cannot be sent as typed contents")
        }
        return c
    }
}

/// Element count of a gRPC shape, with KServe-style errors.
func grpcElementCount(_ shape: [Int64], tensor: String, role: GRPCTensorCodec.Role) throws -> (shape: [Int], count: Int) {
    var dims: [Int] = []
    dims.reserveCapacity(shape.count)
    for d in shape {
        guard d >= 0, let i = Int(exactly: d) else {
            throw KServeError.invalidInput("\(role) '\(tensor)' has an invalid shape \(shape): dimensions must be non-negative")
        }
        dims.append(i)
    }
    guard let count = elementCount(of: dims) else {
        throw KServeError.invalidInput("\(role) '\(tensor)' has an invalid shape \(shape): too many elements")
    }
    return (dims, count)
}

/// A datatype name from the wire, or `invalidInput`.
func grpcDataType(_ name: String, tensor: String, role: GRPCTensorCodec.Role) throws -> DataType {
    guard let t = DataType(rawValue: name) else {
        throw KServeError.invalidInput("invalid datatype '\(name)' for \(role) '\(tensor)'")
    }
    return t
}
