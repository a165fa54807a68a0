import KServe

/// `fp16-output`: input `fp32_input` (FP32) -> `fp16_output` (the values as FP16) and `fp32_output`, shape [n].
public final class FP16OutputModel: Model, @unchecked Sendable {
    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let request = try payload.inferRequest()
        guard let input = request.input(named: "fp32_input") else {
            throw KServeError.invalidInput("model \(name) expects an input named 'fp32_input' (FP32)")
        }
        let values = try input.asArray(of: Float.self)
        return .response(InferResponse(id: request.id ?? "", modelName: name, outputs: [
            InferOutput(name: "fp16_output", shape: [values.count], values: values.map { Float16($0) }),
            InferOutput(name: "fp32_output", shape: [values.count], values: values),
        ]))
    }

    public override func inputTypes() -> [TensorMetadata] { [TensorMetadata(name: "fp32_input", datatype: .fp32, shape: [-1])] }
    public override func outputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "fp16_output", datatype: .fp16, shape: [-1]), TensorMetadata(name: "fp32_output", datatype: .fp32, shape: [-1])]
    }
}

/// `fp16-input`: inputs `fp16_input` (FP16) and `str_input` (BYTES) -> `str_output` (BYTES, flattened) and
/// `fp32_output` (the FP16 values as FP32, flattened).
public final class FP16InputModel: Model, @unchecked Sendable {
    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let request = try payload.inferRequest()
        guard let half = request.input(named: "fp16_input"), let strings = request.input(named: "str_input") else {
            throw KServeError.invalidInput("model \(name) expects inputs 'fp16_input' (FP16) and 'str_input' (BYTES)")
        }
        let values = try half.asArray(of: Float16.self).map { Float($0) }
        guard strings.datatype == .bytes, case .bytes(let elements)? = strings.data else {
            throw KServeError.invalidInput("input 'str_input' must be BYTES")
        }
        return .response(InferResponse(id: request.id ?? "", modelName: name, outputs: [
            InferOutput(name: "str_output", shape: [elements.count], datatype: .bytes, data: .bytes(elements)),
            InferOutput(name: "fp32_output", shape: [values.count], values: values),
        ]))
    }

    public override func inputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "fp16_input", datatype: .fp16, shape: [-1]), TensorMetadata(name: "str_input", datatype: .bytes, shape: [-1])]
    }
    public override func outputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "str_output", datatype: .bytes, shape: [-1]), TensorMetadata(name: "fp32_output", datatype: .fp32, shape: [-1])]
    }
}
