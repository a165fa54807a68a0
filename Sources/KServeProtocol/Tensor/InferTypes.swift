/// One input tensor of an inference request (the seed's `InferInput`).
public struct InferInput: Sendable, Hashable {
    /// The tensor's name.
    public var name: String
    /// The tensor's shape (row-major).
    public var shape: [Int]
    /// The OIP datatype.
    public var datatype: DataType
    /// The tensor data; `nil` until set.
    public var data: TensorData?
    /// Per-tensor parameters (`binary_data_size` is dropped once the binary data is attached).
    public var parameters: Parameters

    /// Creates an input tensor description, optionally with data.
    public init(name: String, shape: [Int], datatype: DataType, data: TensorData? = nil, parameters: Parameters = [:]) {
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.data = data
        self.parameters = parameters
    }

    /// The seed's `as_numpy`: the data as a flat typed array (row-major).
    /// - Throws: ``KServeError`` `invalidInput` if `T` does not match ``datatype`` or there is no data.
    public func asArray<T: TensorElement>(of type: T.Type) throws -> [T] {
        guard T.dataType == datatype else {
            throw KServeError.invalidInput("input '\(name)' has datatype \(datatype.rawValue), not \(T.dataType.rawValue)")
        }
        guard let data else { throw KServeError.invalidInput("input '\(name)' has no data") }
        return try data.values(as: T.self)
    }

    /// The seed's `as_string`: the elements of a BYTES tensor decoded as UTF-8.
    /// - Throws: ``KServeError`` `invalidInput` if the datatype is not BYTES or an element is not valid UTF-8.
    public func asString() throws -> [String] {
        guard datatype == .bytes, case .bytes(let elements)? = data else {
            throw KServeError.invalidInput("input '\(name)' has datatype \(datatype.rawValue); as_string needs BYTES")
        }
        return try elements.map { e in
            guard let s = String(validating: e, as: UTF8.self) else {
                throw KServeError.invalidInput("input '\(name)' holds an element that is not valid UTF-8")
            }
            return s
        }
    }

    /// The seed's `set_data_from_numpy`: sets typed data; the datatype follows `T`, the shape is kept unless given.
    /// `binaryData` marks the tensor for binary transport when this input is sent to another server.
    public mutating func setData<T: TensorElement>(_ values: [T], shape: [Int]? = nil, binaryData: Bool = true) {
        datatype = T.dataType
        if let shape { self.shape = shape }
        data = .from(values)
        parameters["binary_data"] = binaryData ? .bool(true) : nil
    }

    /// Sets BYTES data from strings.
    public mutating func setData(strings: [String], shape: [Int]? = nil, binaryData: Bool = true) {
        datatype = .bytes
        if let shape { self.shape = shape }
        data = .from(strings: strings)
        parameters["binary_data"] = binaryData ? .bool(true) : nil
    }
}

/// One output tensor of an inference response (the seed's `InferOutput`).
public struct InferOutput: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    public var datatype: DataType
    public var data: TensorData?
    public var parameters: Parameters

    /// Creates an output tensor, optionally with data.
    public init(name: String, shape: [Int], datatype: DataType, data: TensorData? = nil, parameters: Parameters = [:]) {
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.data = data
        self.parameters = parameters
    }

    /// Creates an output from typed values; datatype from `T`.
    public init<T: TensorElement>(name: String, shape: [Int], values: [T], parameters: Parameters = [:]) {
        self.init(name: name, shape: shape, datatype: T.dataType, data: .from(values), parameters: parameters)
    }

    /// The seed's `as_numpy`.
    public func asArray<T: TensorElement>(of type: T.Type) throws -> [T] {
        guard T.dataType == datatype else {
            throw KServeError.invalidInput("output '\(name)' has datatype \(datatype.rawValue), not \(T.dataType.rawValue)")
        }
        guard let data else { throw KServeError.invalidInput("output '\(name)' has no data") }
        return try data.values(as: T.self)
    }

    /// BYTES elements as UTF-8 strings.
    public func asString() throws -> [String] {
        try InferInput(name: name, shape: shape, datatype: datatype, data: data).asString()
    }

    /// The seed's `set_data_from_numpy`.
    public mutating func setData<T: TensorElement>(_ values: [T], shape: [Int]? = nil, binaryData: Bool = true) {
        datatype = T.dataType
        if let shape { self.shape = shape }
        data = .from(values)
        parameters["binary_data"] = binaryData ? .bool(true) : nil
    }
}

/// An output the client asked for, with its own parameters (e.g. `binary_data`).
public struct RequestedOutput: Sendable, Hashable {
    public var name: String
    public var parameters: Parameters

    public init(name: String, parameters: Parameters = [:]) {
        self.name = name
        self.parameters = parameters
    }

    /// The output's own `binary_data` parameter, or `nil` when unset.
    public var binaryData: Bool? { parameters["binary_data"]?.boolValue }
}

/// The wire form a request arrived in; decides how the response is encoded.
public enum WireFormat: Sendable, Hashable {
    /// REST JSON (possibly with the binary extension).
    case rest
    /// gRPC; `rawInputs` tells whether inputs came as `raw_input_contents`.
    case grpc(rawInputs: Bool)
}

/// An inference request (the seed's `InferRequest`).
public struct InferRequest: Sendable, Hashable {
    public var modelName: String
    public var modelVersion: String?
    public var id: String?
    public var inputs: [InferInput]
    public var parameters: Parameters
    /// The outputs the client asked for, in order; `nil` when it asked for none (all outputs are returned).
    public var requestOutputs: [RequestedOutput]?
    /// Where the request came from.
    public var wireFormat: WireFormat
    /// Whether some input's data arrived as raw bytes (the REST binary extension or gRPC `raw_input_contents`).
    /// A transformer's default `predict` forwards such a request with raw tensor data again (binary extension).
    /// Defaults to what ``wireFormat`` says for gRPC, false for REST.
    public var hasRawInputs: Bool

    public init(
        modelName: String, inputs: [InferInput], id: String? = nil, parameters: Parameters = [:],
        requestOutputs: [RequestedOutput]? = nil, modelVersion: String? = nil, wireFormat: WireFormat = .rest,
        hasRawInputs: Bool? = nil
    ) {
        if let hasRawInputs {
            self.hasRawInputs = hasRawInputs
        } else if case .grpc(let raw) = wireFormat {
            self.hasRawInputs = raw
        } else {
            self.hasRawInputs = false
        }
        self.modelName = modelName
        self.inputs = inputs
        self.id = id
        self.parameters = parameters
        self.requestOutputs = requestOutputs
        self.modelVersion = modelVersion
        self.wireFormat = wireFormat
    }

    /// The seed's `use_binary_outputs`: REST `parameters.binary_data_output`; gRPC whether inputs were raw.
    public var useBinaryOutputs: Bool {
        switch wireFormat {
        case .rest: return parameters["binary_data_output"]?.boolValue ?? false
        case .grpc(let raw): return raw
        }
    }

    /// The seed's `get_input_by_name`.
    public func input(named name: String) -> InferInput? { inputs.first { $0.name == name } }

    /// The seed's `as_dataframe`: a column view, one typed column per input (flattened).
    public func asDataFrame() throws -> [(name: String, column: TensorColumn)] {
        try inputs.map { ($0.name, try TensorColumn($0)) }
    }
}

/// One typed column of ``InferRequest/asDataFrame()``.
public enum TensorColumn: Sendable, Hashable {
    case bool([Bool]), int([Int64]), uint([UInt64]), double([Double]), bytes([[UInt8]])

    init(_ input: InferInput) throws {
        switch input.datatype {
        case .bool: self = .bool(try input.asArray(of: Bool.self))
        case .int8: self = .int(try input.asArray(of: Int8.self).map(Int64.init))
        case .int16: self = .int(try input.asArray(of: Int16.self).map(Int64.init))
        case .int32: self = .int(try input.asArray(of: Int32.self).map(Int64.init))
        case .int64: self = .int(try input.asArray(of: Int64.self))
        case .uint8: self = .uint(try input.asArray(of: UInt8.self).map(UInt64.init))
        case .uint16: self = .uint(try input.asArray(of: UInt16.self).map(UInt64.init))
        case .uint32: self = .uint(try input.asArray(of: UInt32.self).map(UInt64.init))
        case .uint64: self = .uint(try input.asArray(of: UInt64.self))
        case .fp16: self = .double(try input.asArray(of: Float16.self).map(Double.init))
        case .fp32: self = .double(try input.asArray(of: Float.self).map(Double.init))
        case .fp64: self = .double(try input.asArray(of: Double.self))
        case .bf16:
            let raw = try input.data?.values(as: UInt16.self) ?? []
            self = .double(raw.map { Double(Float(bitPattern: UInt32($0) << 16)) })
        case .bytes:
            guard case .bytes(let e)? = input.data else { throw KServeError.invalidInput("input '\(input.name)' has no data") }
            self = .bytes(e.map(Array.init))
        }
    }
}

/// An inference response (the seed's `InferResponse`).
public struct InferResponse: Sendable, Hashable {
    public var id: String
    public var modelName: String
    public var modelVersion: String?
    public var outputs: [InferOutput]
    public var parameters: Parameters
    /// Encode every output as binary (REST) / raw (gRPC) unless a requested output says otherwise.
    public var useBinaryOutputs: Bool
    /// The outputs the client asked for; when set, only these are returned, in this order.
    public var requestedOutputs: [RequestedOutput]?

    public init(
        id: String, modelName: String, outputs: [InferOutput], modelVersion: String? = nil,
        parameters: Parameters = [:], useBinaryOutputs: Bool = false, requestedOutputs: [RequestedOutput]? = nil
    ) {
        self.id = id
        self.modelName = modelName
        self.outputs = outputs
        self.modelVersion = modelVersion
        self.parameters = parameters
        self.useBinaryOutputs = useBinaryOutputs
        self.requestedOutputs = requestedOutputs
    }

    /// The seed's `get_output_by_name`.
    public func output(named name: String) -> InferOutput? { outputs.first { $0.name == name } }
}
