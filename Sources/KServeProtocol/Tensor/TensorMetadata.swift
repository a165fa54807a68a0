/// The declared name, datatype and shape of a model input or output (`/v2/models/{m}` metadata).
/// A dimension of -1 means variable size.
public struct TensorMetadata: Sendable, Hashable {
    public var name: String
    public var datatype: DataType
    public var shape: [Int]
    /// Extra facts about the tensor, reported as `"parameters"` in the REST metadata when not empty (e.g. a tree
    /// model's `feature_names`).
    public var parameters: Parameters

    public init(name: String, datatype: DataType, shape: [Int], parameters: Parameters = [:]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.parameters = parameters
    }
}
