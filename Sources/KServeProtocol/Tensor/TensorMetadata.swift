/// The declared name, datatype and shape of a model input or output (`/v2/models/{m}` metadata).
/// A dimension of -1 means variable size.
public struct TensorMetadata: Sendable, Hashable {
    public var name: String
    public var datatype: DataType
    public var shape: [Int]

    public init(name: String, datatype: DataType, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }
}
