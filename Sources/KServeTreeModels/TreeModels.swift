import KServe
import KServeTrees

/// A booster the tree model kinds can serve: what differs between XGBoost and LightGBM.
protocol ServableBooster: Sendable {
    /// Float for XGBoost, Double for LightGBM; also the v2 output datatype.
    associatedtype Value: TreeFeature & TensorElement
    /// The kind name used in load errors.
    static var kind: String { get }
    /// The file extensions looked for in a model folder (xgbserver's / lgbserver's).
    static var fileExtensions: [String] { get }
    /// The request parameter that asks for margins (`output_margin` / `raw_score`).
    static var marginParameter: String { get }
    init(contentsOf path: String) throws(TreeModelError)
    var numFeatures: Int { get }
    var featureNames: [String] { get }
    /// Predicts, mapping the library's own failures to InvalidInput.
    func serve(features: [Value], rows: Int, margin: Bool) throws -> TreePrediction<Value>
    /// The output shape reported in metadata (rows = -1, no margins).
    var metadataOutputShape: [Int] { get }
}

extension XGBoostBooster: ServableBooster {
    static var kind: String { "xgboost" }
    static var fileExtensions: [String] { [".json", ".ubj", ".bst"] }
    static var marginParameter: String { "output_margin" }
    var metadataOutputShape: [Int] { outputShape(rows: -1, outputMargin: false) }

    func serve(features: [Float], rows: Int, margin: Bool) throws -> TreePrediction<Float> {
        if let bad = features.firstIndex(where: { $0.isInfinite }) {
            throw KServeError.invalidInput(
                "Input data contains `inf` or a value too large (row \(bad / max(numFeatures, 1)), feature "
                    + "\(bad % max(numFeatures, 1)))")
        }
        do { return try predict(features: features, rows: rows, outputMargin: margin) } catch {
            throw KServeError.invalidInput(error.message)
        }
    }
}

extension LightGBMBooster: ServableBooster {
    static var kind: String { "lightgbm" }
    static var fileExtensions: [String] { [".txt", ".bst"] }
    static var marginParameter: String { "raw_score" }
    var metadataOutputShape: [Int] { outputShape(rows: -1) }

    func serve(features: [Double], rows: Int, margin: Bool) throws -> TreePrediction<Double> {
        do { return try predict(features: features, rows: rows, rawScore: margin) } catch {
            throw KServeError.invalidInput(error.message)
        }
    }
}

/// A served tree model (xgbserver / lgbserver equivalent), with results bit-identical to `Booster.predict`.
///
/// - v1: `{"instances": [[f0, f1, ...], ...]}` (JSON `null` = missing; LightGBM also rows keyed by feature name)
///   -> `{"predictions": [...]}`.
/// - v2: one FP32/FP64 input of shape `[rows, features]` (or one input per feature, by name) -> `output-0`
///   (FP32 for XGBoost, FP64 for LightGBM), `[rows]` or `[rows, outputs]`.
/// - Request parameter `output_margin: true` (XGBoost) / `raw_score: true` (LightGBM) returns margins.
final class TreeModel<Booster: ServableBooster>: Model, @unchecked Sendable {
    // @unchecked: `path` is immutable and the booster lives in a lock.
    /// The configured `path`: a model file, or a folder holding exactly one file with one of the kind's extensions.
    public let path: String
    private let booster = Locked<Booster?>(nil)

    /// Creates the model; ``load()`` reads the file.
    public init(name: String, path: String) {
        self.path = path
        super.init(name: name)
    }

    /// The loaded booster, or nil before a successful ``load()``.
    public var loadedBooster: Booster? { booster.value }

    /// Finds and parses the model file.
    /// - Throws: ``KServeError`` naming the file and the problem (the model stays registered, not ready).
    public override func load() async throws {
        let file = try TreeModelFiles.resolve(path, extensions: Booster.fileExtensions, kind: Booster.kind)
        do {
            booster.value = try Booster(contentsOf: file)
        } catch {
            throw KServeError(.internalError, "cannot load \(Booster.kind) model \(file): \(error.message)")
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
        let margin = try TreeInputs.flag(Booster.marginParameter, in: payload)
        let names = model.featureNames.isEmpty ? nil : model.featureNames
        switch payload {
        case .json(let json):
            let (x, rows) = try TreeInputs.rows(fromV1: json, numFeatures: model.numFeatures, featureNames: names, as: Booster.Value.self)
            let p = try model.serve(features: x, rows: rows, margin: margin)
            return .json(.object(["predictions": predictionsJSON(p.values.map { .double(Double($0)) }, p.shape)]))
        case .request(let request):
            let (x, rows) = try TreeInputs.rows(fromV2: request, numFeatures: model.numFeatures, featureNames: names, as: Booster.Value.self)
            let p = try model.serve(features: x, rows: rows, margin: margin)
            return .response(InferResponse(
                id: request.id ?? uuid4(), modelName: name,
                outputs: [InferOutput(name: "output-0", shape: p.shape, values: p.values)]))
        case .bytes:
            throw KServeError.invalidInput("model \(name) takes JSON (v1) or v2 inference requests")
        }
    }

    public override func inputTypes() -> [TensorMetadata] {
        let loaded = booster.value
        var parameters: Parameters = [:]
        if let names = loaded?.featureNames, !names.isEmpty {
            parameters["feature_names"] = .json(.array(names.map { .string($0) }))
        }
        return [TensorMetadata(
            name: "input-0", datatype: Booster.Value.dataType, shape: [-1, loaded?.numFeatures ?? -1],
            parameters: parameters)]
    }

    public override func outputTypes() -> [TensorMetadata] {
        [TensorMetadata(name: "output-0", datatype: Booster.Value.dataType, shape: booster.value?.metadataOutputShape ?? [-1])]
    }
}

/// Kind `xgboost`: an XGBoost model saved with `save_model("model.json")` or `("model.ubj")`.
typealias XGBoostModel = TreeModel<XGBoostBooster>
/// Kind `lightgbm`: a LightGBM text model (`save_model("model.txt")`).
typealias LightGBMModel = TreeModel<LightGBMBooster>

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
