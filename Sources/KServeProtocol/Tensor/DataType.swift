/// An Open Inference Protocol tensor datatype.
public enum DataType: String, Sendable, Hashable, CaseIterable {
    case bool = "BOOL"
    case uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
    case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
    case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64"
    case bytes = "BYTES"
    /// bfloat16: binary (raw) transport only, never JSON.
    case bf16 = "BF16"

    /// Bytes per element in the raw little-endian layout; `nil` for BYTES (variable length).
    public var elementSize: Int? {
        switch self {
        case .bool, .uint8, .int8: return 1
        case .uint16, .int16, .fp16, .bf16: return 2
        case .uint32, .int32, .fp32: return 4
        case .uint64, .int64, .fp64: return 8
        case .bytes: return nil
        }
    }

    /// Whether values of this type may travel as JSON `data` (FP16 and BF16 may not).
    public var allowedInJSON: Bool { self != .fp16 && self != .bf16 }

    /// Triton's model-config spelling (`TYPE_FP32`, `TYPE_STRING` for BYTES).
    public var tritonConfigName: String { self == .bytes ? "TYPE_STRING" : "TYPE_" + rawValue }
}

/// Element count of a shape, or `nil` when a dimension is negative or the product overflows `Int`.
@inlinable
public func elementCount(of shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    return n
}
