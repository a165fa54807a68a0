import KServeProtocol
import SwiftProtobuf

extension ParameterValue {
    /// KServe's `to_http_parameters` for one value: whichever member of the `parameter_choice` oneof is set.
    ///
    /// Also reads Triton's `double_param` (field 4) and `uint64_param` (field 5), which KServe's proto lacks and
    /// SwiftProtobuf keeps as unknown fields. Returns `nil` when no value is set (KServe drops such a parameter).
    public init?(grpc parameter: Inference_InferParameter) {
        switch parameter.parameterChoice {
        case .boolParam(let b)?: self = .bool(b)
        case .int64Param(let i)?: self = .int(i)
        case .stringParam(let s)?: self = .string(s)
        case nil:
            guard !parameter.unknownFields.data.isEmpty else { return nil }
            let scanner = UnknownFieldScanner(parameter.unknownFields.data)
            if case .fixed64(let bits)? = scanner.last(field: 4) {
                self = .double(Double(bitPattern: bits))
            } else if case .varint(let v)? = scanner.last(field: 5) {
                self = v <= UInt64(Int64.max) ? .int(Int64(v)) : .json(.uint(v))
            } else {
                return nil
            }
        }
    }

    /// KServe's `to_grpc_parameters` for one value: bool, int64 and string only.
    ///
    /// - Throws: ``KServeError`` `invalidInput` `to_grpc: invalid parameter value: 1.3` for a floating-point
    ///   number or any other JSON value, which KServe's `InferParameter` cannot carry.
    public func toGRPC() throws -> Inference_InferParameter {
        var p = Inference_InferParameter()
        switch try grpcCompatible() {
        case .bool(let b): p.boolParam = b
        case .int(let i): p.int64Param = i
        case .string(let s): p.stringParam = s
        case .double, .json: throw KServeError.invalidInput("to_grpc: invalid parameter value")  // grpcCompatible threw
        }
        return p
    }
}

extension OrderedParameters {
    /// KServe's `to_http_parameters`: a gRPC parameter map as ``Parameters``, keys in sorted order (a protobuf map
    /// has no order). Entries with no value set are dropped.
    public static func fromGRPC(_ map: [String: Inference_InferParameter]) -> OrderedParameters {
        var out = OrderedParameters()
        for key in map.keys.sorted() {
            if let p = map[key], let value = ParameterValue(grpc: p) { out[key] = value }
        }
        return out
    }

    /// KServe's `to_grpc_parameters`: these parameters as a gRPC parameter map.
    /// - Throws: ``KServeError`` `invalidInput` for a value gRPC cannot carry (see ``ParameterValue/toGRPC()``).
    public func toGRPC() throws -> [String: Inference_InferParameter] {
        var out: [String: Inference_InferParameter] = [:]
        out.reserveCapacity(count)
        for (key, value) in self { out[key] = try value.toGRPC() }
        return out
    }
}
