import Glibc
import KServe

/// Kind `onnx`: an ONNX model run by ONNX Runtime (scikit-learn through skl2onnx, PyTorch through
/// `torch.onnx.export`, Hugging Face through `optimum`), the way KServe serves ONNX through Triton.
///
/// - v2 (REST JSON, binary extension, gRPC): inputs by name; all outputs, or only the requested ones (only those
///   are computed). Binary and raw inputs reach ONNX Runtime over the request's own bytes.
/// - v1: `{"instances": [...]}` on a model with one input becomes a tensor of that input's datatype shaped by the
///   rows; `predictions` holds the first output (or the `output` option's) as nested lists.
/// - Metadata (`/v2/models/{m}`, `/config`, gRPC ModelMetadata) comes from the file.
public final class ONNXModel: Model, @unchecked Sendable {
    // @unchecked: the configuration is immutable and the session lives in a lock.
    /// The configured path: a `.onnx` file, a folder holding one (preferring `model.onnx`), or Triton's layout
    /// `<folder>/<version>/model.onnx`.
    public let path: String
    /// Session options (threads, graph optimization).
    public let options: ONNXSessionOptions
    /// The output v1 `predictions` carry; `nil` for the first one.
    public let v1Output: String?
    private let session = Locked<ONNXSession?>(nil)

    /// Creates the model; ``load()`` opens the file.
    public init(name: String, path: String, options: ONNXSessionOptions = ONNXSessionOptions(), v1Output: String? = nil) {
        self.path = path
        self.options = options
        self.v1Output = v1Output
        super.init(name: name)
    }

    /// The loaded session, or `nil` before a successful ``load()``.
    public var loadedSession: ONNXSession? { session.value }

    /// Finds the file and creates the ONNX Runtime session.
    /// - Throws: ``KServeError`` naming the file and the problem; the model stays registered, not ready.
    public override func load() async throws {
        let file = try ONNXModelFiles.resolve(path)
        let loaded = try ONNXSession(path: file, options: options)
        if let v1Output, loaded.output(named: v1Output) == nil {
            throw KServeError(
                .internalError,
                "option output = \"\(v1Output)\" names no output of \(file); its outputs are: \(loaded.outputs.map(\.name).joined(separator: ", "))")
        }
        session.value = loaded
        ready = true
    }

    /// Unloads: releases the session and marks the model not ready.
    public override func stop() async {
        session.value = nil
        await super.stop()
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        guard let session = session.value else { throw KServeError.modelNotReady(name) }
        switch payload {
        case .request(let request):
            let wanted = request.requestOutputs?.map(\.name)
            if let wanted {
                for w in wanted where session.output(named: w) == nil {
                    throw KServeError.invalidInput("Unexpected inference output '\(w)' for model '\(name)'")
                }
            }
            let outputs = try session.run(request.inputs, outputs: wanted)
            return .response(InferResponse(id: request.id ?? uuid4(), modelName: name, outputs: outputs))
        case .json(let json):
            return .json(try predictV1(json, session: session))
        case .bytes(let bytes, _):
            // v1 bodies that are not declared JSON still hold JSON for this kind.
            guard let json = try? JSONValue.parse(bytes[...]) else {
                throw KServeError.invalidInput("model \(name) takes JSON (v1) or v2 inference requests")
            }
            return .json(try predictV1(json, session: session))
        }
    }

    private func predictV1(_ json: JSONValue, session: ONNXSession) throws -> JSONValue {
        guard let instances = json["instances"] ?? json["inputs"] else {
            throw KServeError.invalidInput(#"Expected "instances" in the request body"#)
        }
        guard case .array = instances else { throw KServeError.invalidInput(#"Expected "instances" to be a list"#) }
        guard session.inputs.count == 1, let info = session.inputs.first else {
            throw KServeError.invalidInput(
                "model \(name) has \(session.inputs.count) inputs (\(session.inputs.map(\.name).joined(separator: ", "))); v1 instances fill exactly one: send a v2 request with the inputs by name")
        }
        let input = try V1Tensors.input(from: instances, info: info)
        let outputName = v1Output ?? session.outputs.first?.name
        guard let outputName else { throw KServeError.inferenceError("model \(name) has no outputs") }
        guard let output = try session.run([input], outputs: [outputName]).first else {
            throw KServeError.inferenceError("ONNX Runtime returned no value for output '\(outputName)'")
        }
        return .object(["predictions": try V1Tensors.nestedList(output)])
    }

    public override func inputTypes() -> [TensorMetadata] { session.value?.inputs.map(\.metadata) ?? [] }

    public override func outputTypes() -> [TensorMetadata] { session.value?.outputs.map(\.metadata) ?? [] }
}

/// Finding the `.onnx` file of a configured path.
enum ONNXModelFiles {
    /// The model file for `path`: the file itself; in a folder `model.onnx`, else its only `*.onnx`; else Triton's
    /// `<folder>/<version>/model.onnx` (the highest numeric version).
    static func resolve(_ path: String) throws(KServeError) -> String {
        guard let kind = fileKind(path) else {
            throw KServeError(.internalError, "cannot load onnx model \(path): \(String(cString: strerror(errno)))")
        }
        guard kind == .directory else { return path }
        if let file = try onnxFile(in: path) { return file }
        let versions = entries(path).filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) && fileKind(join(path, $0)) == .directory }
            .sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
        for version in versions.reversed() {
            if let file = try onnxFile(in: join(path, version)) { return file }
        }
        throw KServeError(
            .internalError,
            "no ONNX model in folder \(path): expected model.onnx, a single *.onnx file, or Triton's <version>/model.onnx (found: \(entries(path).sorted().joined(separator: ", ")))")
    }

    private static func onnxFile(in folder: String) throws(KServeError) -> String? {
        let preferred = join(folder, "model.onnx")
        if fileKind(preferred) == .file { return preferred }
        let found = entries(folder).filter { $0.hasSuffix(".onnx") && fileKind(join(folder, $0)) == .file }.sorted()
        if found.count > 1 {
            throw KServeError(
                .internalError,
                "more than one ONNX model in folder \(folder) (\(found.joined(separator: ", "))); name the file in path, or call one model.onnx")
        }
        return found.first.map { join(folder, $0) }
    }

    enum FileKind { case file, directory, other }

    static func fileKind(_ path: String) -> FileKind? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .file
        default: return .other
        }
    }

    static func entries(_ folder: String) -> [String] { DirectoryListing.entries(folder) ?? [] }

    static func join(_ a: String, _ b: String) -> String { a.hasSuffix("/") ? a + b : a + "/" + b }
}

/// Registers kind `onnx` on a server.
///
/// Options: `path` (required: a `.onnx` file or a folder; relative to the config file; `--model_dir` sets it),
/// `intra_op_threads` (default 1), `inter_op_threads` (default 1), `graph_optimization_level` (`disable`,
/// `basic`, `extended`, `all`; default `all`), `output` (the output v1 `predictions` carry; default the first).
public enum ONNXKinds {
    /// The options kind `onnx` accepts.
    public static let optionNames = ["graph_optimization_level", "inter_op_threads", "intra_op_threads", "output", "path"]

    /// Registers `onnx`, and points the library search at `[server] onnxruntime_library` when set.
    public static func register(on server: ModelServer) {
        let config = server.config
        ONNXRuntimeLibrary.configure(explicitPath: config.onnxruntimeLibraryPath)
        server.registerKind("onnx") { entry in
            let (path, options, output) = try parse(entry, base: config.baseDirectory)
            return ONNXModel(name: entry.name, path: path, options: options, v1Output: output)
        }
    }

    /// Validates an `onnx` entry's options.
    static func parse(_ entry: ModelConfig, base: String) throws -> (String, ONNXSessionOptions, String?) {
        for key in entry.options.keys.sorted() where !optionNames.contains(key) {
            throw entry.optionError(key, "unknown option for kind \"onnx\" (allowed: \(optionNames.joined(separator: ", ")))")
        }
        guard let value = entry.options["path"] else {
            throw entry.optionError("path", "required: an .onnx file or a folder holding one (or pass --model_dir)")
        }
        guard let path = value.stringValue, !path.isEmpty, !path.contains("\0") else {
            throw entry.optionError("path", "expected a non-empty string")
        }
        var options = ONNXSessionOptions()
        for (key, range) in [("intra_op_threads", 0...1024), ("inter_op_threads", 0...1024)] {
            guard let v = entry.options[key] else { continue }
            guard let n = v.intValue, range.contains(n) else {
                throw entry.optionError(key, "expected an integer from 0 to 1024 (0 = one per core)")
            }
            if key == "intra_op_threads" { options.intraOpThreads = n } else { options.interOpThreads = n }
        }
        if let v = entry.options["graph_optimization_level"] {
            guard let s = v.stringValue, let level = ONNXSessionOptions.GraphOptimizationLevel(rawValue: s) else {
                throw entry.optionError(
                    "graph_optimization_level",
                    "expected one of \(ONNXSessionOptions.GraphOptimizationLevel.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            options.graphOptimizationLevel = level
        }
        var output: String?
        if let v = entry.options["output"] {
            guard let s = v.stringValue, !s.isEmpty else { throw entry.optionError("output", "expected an output name") }
            output = s
        }
        let absolute = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base + path : base + "/" + path)
        return (absolute, options, output)
    }
}
