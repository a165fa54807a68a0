import KServe
import KServeTrees

/// Kind `xgboost`: serves an XGBoost model saved with `save_model("model.json")` or `("model.ubj")`, as KServe's
/// xgbserver does, with results bit-identical to `Booster.predict`.
///
/// - v1: `{"instances": [[f0, f1, ...], ...]}` (JSON `null` = missing) -> `{"predictions": [...]}`.
/// - v2: one FP32/FP64 input of shape `[rows, features]` -> `output-0` (FP32), `[rows]` or `[rows, outputs]`.
/// - Request parameter `output_margin: true` returns raw margins.
public final class XGBoostModel: Model, @unchecked Sendable {
    /// The configured `path`: a model file, or a folder holding exactly one `*.json`, `*.ubj` or `*.bst`.
    public let path: String
    private let booster = Locked<XGBoostBooster?>(nil)

    /// The file extensions looked for in a model folder (xgbserver's).
    public static let fileExtensions = [".json", ".ubj", ".bst"]

    /// Creates the model; ``load()`` reads the file.
    public init(name: String, path: String) {
        self.path = path
        super.init(name: name)
    }

    /// The loaded booster, or nil before a successful ``load()``.
    public var loadedBooster: XGBoostBooster? { booster.value }

    /// Finds and parses the model file.
    /// - Throws: ``KServeError`` naming the file and the problem (the model stays registered, not ready).
    public override func load() async throws {
        let file = try TreeModelFiles.resolve(path, extensions: Self.fileExtensions, kind: "xgboost")
        do {
            booster.value = try XGBoostBooster(contentsOf: file)
        } catch {
            throw KServeError(.internalError, "cannot load xgboost model \(file): \(error.message)")
        }
        ready = true
    }

    /// Unloads: frees the forest and marks the model not ready.
    public override func stop() async {
        booster.value = nil
        await super.stop()
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        guard let model = booster.value else { throw KServeError.modelNotReady(name) }
        let payload = try TreeInputs.jsonIfBytes(payload, model: name)
        let margin = try TreeInputs.flag("output_margin", in: payload)
        let names = model.featureNames.isEmpty ? nil : model.featureNames
        switch payload {
        case .json(let json):
            let (x, rows) = try TreeInputs.rows(fromV1: json, numFeatures: model.numFeatures, featureNames: names, as: Float.self)
            let p = try run(model, x, rows, margin)
            return .json(.object(["predictions": predictionsJSON(p.values.map { .double(Double($0)) }, p.shape)]))
        case .request(let request):
            let (x, rows) = try TreeInputs.rows(fromV2: request, numFeatures: model.numFeatures, featureNames: names, as: Float.self)
            let p = try run(model, x, rows, margin)
            return .response(InferResponse(
                id: request.id ?? uuid4(), modelName: name,
                outputs: [InferOutput(name: "output-0", shape: p.shape, values: p.values)]))
        case .bytes:
            throw KServeError.invalidInput("model \(name) takes JSON (v1) or v2 inference requests")
        }
    }

    private func run(_ model: XGBoostBooster, _ x: [Float], _ rows: Int, _ margin: Bool) throws -> TreePrediction<Float> {
        if let bad = x.firstIndex(where: { $0.isInfinite }) {
            throw KServeError.invalidInput(
                "Input data contains `inf` or a value too large (row \(bad / max(model.numFeatures, 1)), feature "
                    + "\(bad % max(model.numFeatures, 1)))")
        }
        do {
            return try model.predict(features: x, rows: rows, outputMargin: margin)
        } catch {
            throw KServeError.invalidInput(error.message)
        }
    }

    public override func inputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "input-0", datatype: .fp32, shape: [-1, booster.value?.numFeatures ?? -1])]
    }

    public override func outputTypes() -> [TensorMetadata] {
        guard let b = booster.value else { return [TensorMetadata(name: "output-0", datatype: .fp32, shape: [-1])] }
        let shape = b.outputShape(rows: -1, outputMargin: false)
        return [TensorMetadata(name: "output-0", datatype: .fp32, shape: shape)]
    }
}

/// Kind `lightgbm`: serves a LightGBM text model (`save_model("model.txt")`), as KServe's lgbserver does, with
/// results bit-identical to `Booster.predict`.
///
/// - v1: `{"instances": [[f0, f1, ...], ...]}` or rows as objects keyed by feature name -> `{"predictions": [...]}`.
/// - v2: one FP32/FP64 input of shape `[rows, features]` -> `output-0` (FP64), `[rows]` or `[rows, classes]`.
/// - Request parameter `raw_score: true` returns raw scores.
public final class LightGBMModel: Model, @unchecked Sendable {
    /// The configured `path`: a model file, or a folder holding exactly one `*.txt` or `*.bst`.
    public let path: String
    private let booster = Locked<LightGBMBooster?>(nil)

    /// The file extensions looked for in a model folder (lgbserver's `.bst`, plus `.txt`).
    public static let fileExtensions = [".txt", ".bst"]

    /// Creates the model; ``load()`` reads the file.
    public init(name: String, path: String) {
        self.path = path
        super.init(name: name)
    }

    /// The loaded booster, or nil before a successful ``load()``.
    public var loadedBooster: LightGBMBooster? { booster.value }

    /// Finds and parses the model file.
    /// - Throws: ``KServeError`` naming the file and the problem (the model stays registered, not ready).
    public override func load() async throws {
        let file = try TreeModelFiles.resolve(path, extensions: Self.fileExtensions, kind: "lightgbm")
        do {
            booster.value = try LightGBMBooster(contentsOf: file)
        } catch {
            throw KServeError(.internalError, "cannot load lightgbm model \(file): \(error.message)")
        }
        ready = true
    }

    /// Unloads: frees the forest and marks the model not ready.
    public override func stop() async {
        booster.value = nil
        await super.stop()
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        guard let model = booster.value else { throw KServeError.modelNotReady(name) }
        let payload = try TreeInputs.jsonIfBytes(payload, model: name)
        let raw = try TreeInputs.flag("raw_score", in: payload)
        let names = model.featureNames.isEmpty ? nil : model.featureNames
        switch payload {
        case .json(let json):
            let (x, rows) = try TreeInputs.rows(fromV1: json, numFeatures: model.numFeatures, featureNames: names, as: Double.self)
            let p = try run(model, x, rows, raw)
            return .json(.object(["predictions": predictionsJSON(p.values.map { .double($0) }, p.shape)]))
        case .request(let request):
            let (x, rows) = try TreeInputs.rows(fromV2: request, numFeatures: model.numFeatures, featureNames: names, as: Double.self)
            let p = try run(model, x, rows, raw)
            return .response(InferResponse(
                id: request.id ?? uuid4(), modelName: name,
                outputs: [InferOutput(name: "output-0", shape: p.shape, values: p.values)]))
        case .bytes:
            throw KServeError.invalidInput("model \(name) takes JSON (v1) or v2 inference requests")
        }
    }

    private func run(_ model: LightGBMBooster, _ x: [Double], _ rows: Int, _ raw: Bool) throws -> TreePrediction<Double> {
        do {
            return try model.predict(features: x, rows: rows, rawScore: raw)
        } catch {
            throw KServeError.invalidInput(error.message)
        }
    }

    public override func inputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "input-0", datatype: .fp64, shape: [-1, booster.value?.numFeatures ?? -1])]
    }

    public override func outputTypes() -> [TensorMetadata] {
        guard let b = booster.value else { return [TensorMetadata(name: "output-0", datatype: .fp64, shape: [-1])] }
        return [TensorMetadata(name: "output-0", datatype: .fp64, shape: b.outputShape(rows: -1))]
    }
}

/// `result.tolist()`: a flat list for `[rows]`, nested lists for `[rows, width]`.
func predictionsJSON(_ values: [JSONValue], _ shape: [Int]) -> JSONValue {
    guard shape.count == 2, shape[1] > 0 else { return .array(values) }
    let width = shape[1]
    var rows: [JSONValue] = []
    rows.reserveCapacity(shape[0])
    var i = 0
    while i < values.count {
        rows.append(.array(Array(values[i..<min(i + width, values.count)])))
        i += width
    }
    return .array(rows)
}

/// Registers the tree model kinds: `xgboost` and `lightgbm`, each with one option, `path` (a model file or a
/// folder; relative paths resolve against the config file's folder; `--model_dir` sets it for the first model).
public enum TreeKinds {
    /// Registers `xgboost` and `lightgbm` on a server.
    public static func register(on server: ModelServer) {
        let base = server.config.baseDirectory
        server.registerKind("xgboost") { entry in
            XGBoostModel(name: entry.name, path: try modelPath(entry, base: base))
        }
        server.registerKind("lightgbm") { entry in
            LightGBMModel(name: entry.name, path: try modelPath(entry, base: base))
        }
    }

    /// Validates the options of a tree kind and returns the absolute model path.
    static func modelPath(_ entry: ModelConfig, base: String) throws -> String {
        for key in entry.options.keys.sorted() where key != "path" {
            throw entry.optionError(key, "unknown option for kind \"\(entry.kind)\" (allowed: path)")
        }
        guard let value = entry.options["path"] else {
            throw entry.optionError("path", "required: a model file or a folder holding one (or pass --model_dir)")
        }
        guard let path = value.stringValue, !path.isEmpty, !path.contains("\0") else {
            throw entry.optionError("path", "expected a non-empty string")
        }
        if path.hasPrefix("/") { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}
