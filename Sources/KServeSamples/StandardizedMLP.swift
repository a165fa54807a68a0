import KServe
import KServeONNX

/// `standardized-mlp`: preprocessing written in Swift in front of a network run by ONNX Runtime, the way a user
/// combines the two: each feature is standardised, `(x - mean) / std` in Float, then an ONNX MLP (for example
/// scikit-learn's `MLPRegressor` through skl2onnx, trained on standardised data) predicts.
///
/// - v2: one FP32 input `input-0` of shape `[rows, features]` -> the network's first output, as `output-0`.
/// - v1: `{"instances": [[f0, f1, ...], ...]}` -> `{"predictions": [...]}` (the first output, nested lists).
/// Options: `path` (the .onnx file), `mean` and `std` (one number per feature).
public final class StandardizedMLP: Model, @unchecked Sendable {
    // @unchecked: the configuration is immutable and the session lives in a lock.
    let path: String
    let mean: [Float]
    let std: [Float]
    private let session = Locked<ONNXSession?>(nil)

    /// Creates the model; ``load()`` opens the network.
    public init(name: String, path: String, mean: [Float], std: [Float]) {
        self.path = path
        self.mean = mean
        self.std = std
        super.init(name: name)
    }

    public override func load() async throws {
        let loaded = try ONNXSession(path: path)
        guard let input = loaded.inputs.first, loaded.inputs.count == 1, input.datatype == .fp32,
              input.shape.count == 2, input.shape[1] == -1 || input.shape[1] == mean.count
        else {
            throw KServeError(
                .internalError,
                "\(path) must take one FP32 input of shape [-1, \(mean.count)] (one column per mean/std entry)")
        }
        session.value = loaded
        ready = true
    }

    public override func stop() async {
        session.value = nil
        await super.stop()
    }

    /// `(x - mean) / std`, row by row.
    func standardize(_ x: [Float]) -> [Float] {
        var out = x
        let width = mean.count
        for i in out.indices {
            let j = i % width
            out[i] = (out[i] - mean[j]) / std[j]
        }
        return out
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        guard let session = session.value, let inputName = session.inputs.first?.name,
              let outputName = session.outputs.first?.name
        else { throw KServeError.modelNotReady(name) }
        let width = mean.count
        let rows: [Float]
        switch payload {
        case .request(let request):
            guard let x = request.input(named: "input-0") ?? request.inputs.first else {
                throw KServeError.invalidInput("expected an FP32 input 'input-0' of shape [rows, \(width)]")
            }
            guard x.shape.count == 2, x.shape[1] == width else {
                throw KServeError.invalidInput("input '\(x.name)' must have shape [rows, \(width)], got \(x.shape)")
            }
            rows = try x.asArray(of: Float.self)
        case .json(let json):
            guard case .array(let instances)? = json["instances"] else {
                throw KServeError.invalidInput(#"Expected "instances" to be a list of rows"#)
            }
            rows = try instances.flatMap { row -> [Float] in
                guard case .array(let values) = row, values.count == width else {
                    throw KServeError.invalidInput("each instance must be a list of \(width) numbers")
                }
                return try values.map { v in
                    switch v {
                    case .double(let d): return Float(d)
                    case .int(let n): return Float(n)
                    case .uint(let n): return Float(n)
                    default: throw KServeError.invalidInput("instances must hold numbers, got \(v)")
                    }
                }
            }
        case .bytes:
            throw KServeError.invalidInput("model \(name) takes JSON (v1) or v2 inference requests")
        }
        var input = InferInput(name: inputName, shape: [rows.count / max(width, 1), width], datatype: .fp32)
        input.setData(standardize(rows))
        guard var output = try session.run([input], outputs: [outputName]).first else {
            throw KServeError.inferenceError("the network returned no output")
        }
        switch payload {
        case .request(let request):
            output.name = "output-0"
            return .response(InferResponse(id: request.id ?? uuid4(), modelName: name, outputs: [output]))
        default:
            let values = try output.asArray(of: Float.self)
            let w = output.shape.count == 2 ? output.shape[1] : 1
            let predictions: [JSONValue] = stride(from: 0, to: values.count, by: max(w, 1)).map { start in
                w == 1 && output.shape.count < 2 ? .double(Double(values[start]))
                    : .array(values[start..<min(start + w, values.count)].map { .double(Double($0)) })
            }
            return .json(.object(["predictions": .array(predictions)]))
        }
    }

    public override func inputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "input-0", datatype: .fp32, shape: [-1, mean.count])]
    }

    public override func outputTypes() -> [TensorMetadata] {
        guard let out = session.value?.outputs.first else { return [] }
        return [TensorMetadata(name: "output-0", datatype: out.datatype, shape: out.shape)]
    }
}

extension ModelConfig {
    /// A list of numbers option (at least one), as Floats.
    func floats(_ key: String) throws -> [Float] {
        guard let list = options[key]?.arrayValue, !list.isEmpty else {
            throw optionError(key, "required: a list of numbers, one per feature")
        }
        return try list.map { v in
            guard let d = v.doubleValue else { throw optionError(key, "expected numbers, got \(v)") }
            return Float(d)
        }
    }
}
