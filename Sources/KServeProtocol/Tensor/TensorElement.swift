/// A Swift scalar type that maps to one fixed-width OIP datatype, for typed access to tensor data.
public protocol TensorElement: Sendable, BitwiseCopyable {
    /// The OIP datatype of this Swift type.
    static var dataType: DataType { get }
}
extension Bool: TensorElement { public static var dataType: DataType { .bool } }
extension UInt8: TensorElement { public static var dataType: DataType { .uint8 } }
extension UInt16: TensorElement { public static var dataType: DataType { .uint16 } }
extension UInt32: TensorElement { public static var dataType: DataType { .uint32 } }
extension UInt64: TensorElement { public static var dataType: DataType { .uint64 } }
extension Int8: TensorElement { public static var dataType: DataType { .int8 } }
extension Int16: TensorElement { public static var dataType: DataType { .int16 } }
extension Int32: TensorElement { public static var dataType: DataType { .int32 } }
extension Int64: TensorElement { public static var dataType: DataType { .int64 } }
extension Float16: TensorElement { public static var dataType: DataType { .fp16 } }
extension Float: TensorElement { public static var dataType: DataType { .fp32 } }
extension Double: TensorElement { public static var dataType: DataType { .fp64 } }
