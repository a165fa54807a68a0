public import KServeProtocol

/// Server-wide settings the data plane needs.
public struct DataPlaneOptions: Sendable {
    /// Decoder limits for request bodies.
    public var limits: DecodingLimits
    /// The configured version of each model (default "1"); version routes for other versions answer 404.
    public var modelVersions: [String: String]
    /// Largest request body accepted, in bytes (nginx enforces it first; this guards other transports).
    public var maxBodySize: Int
    /// The server name and version reported by `GET /v2`.
    public var serverName: String
    public var serverVersion: String
    /// Whether every worker of the pool has loaded its models (the readiness routes answer not ready until then);
    /// `nil`: this process alone decides.
    public var poolLoaded: (@Sendable () -> Bool)?
    /// The seed's exception handler (`ModelServer.registerExceptionHandler`): called with every error that escapes
    /// a request as a server error (5xx), with the request path. `nil`: nothing is called.
    public var exceptionHandler: (@Sendable (any Error, String) -> Void)?
    /// The pool status page's path, documented in `/openapi.json` (`""`: off).
    public var statusPath: String = "/status"

    public init(
        limits: DecodingLimits = .default, modelVersions: [String: String] = [:], maxBodySize: Int = 64 << 20,
        serverName: String = "kserve", serverVersion: String = kserveSwiftVersion
    ) {
        self.limits = limits
        self.modelVersions = modelVersions
        self.maxBodySize = maxBodySize
        self.serverName = serverName
        self.serverVersion = serverVersion
    }
}

/// The version this server reports in `GET /v2`.
public let kserveSwiftVersion = "0.1.0"

/// The transport-independent core of the server: model lookup, readiness, inference, repository and metadata.
/// REST (``RESTRouter``) and gRPC adapt their wire forms onto it.
public final class DataPlane: Sendable {
    public let repository: ModelRepository
    public let metrics: ServerMetrics
    public let options: DataPlaneOptions
    private let stateStore: (any ModelStateStore)?

    public init(repository: ModelRepository, metrics: ServerMetrics, options: DataPlaneOptions, stateStore: (any ModelStateStore)?) {
        self.repository = repository
        self.metrics = metrics
        self.options = options
        self.stateStore = stateStore
    }

    /// Converges with the pool's desired model states; called before serving each request.
    public func synchronize() async {
        if let stateStore { await repository.converge(with: stateStore) }
    }

    /// The server is live while it can answer.
    public func live() -> Bool { true }

    /// The server is ready once this worker has attempted to load every model (a worker answers only after
    /// that). A model that failed to load is reported by its own readiness, not by the server's, as in KServe.
    ///
    /// With `enable_predictor_health_check` on a transformer, the server is ready only while its predictor's
    /// server reports ready too.
    public func ready() async -> Bool {
        if let poolLoaded = options.poolLoaded, !poolLoaded() { return false }
        for (_, model) in repository.models {
            if let m = model as? Model, m.predictorConfig.enableHealthCheck, !(await m.predictorServerReady()) {
                return false
            }
        }
        return true
    }

    /// The model registered under `name`.
    /// - Throws: modelNotFound.
    public func model(_ name: String) throws -> InferenceModel {
        guard let model = repository.model(named: name) as? InferenceModel else { throw KServeError.modelNotFound(name) }
        return model
    }

    /// A model that is ready to serve.
    /// - Throws: modelNotFound, or modelNotReady with the load failure as detail.
    public func readyModel(_ name: String) async throws -> InferenceModel {
        let model = try model(name)
        guard await model.healthy() else { throw KServeError.modelNotReady(name, detail: model.notReadyReason) }
        return model
    }

    /// Readiness of one model: its own health and, with `enable_predictor_health_check`, its predictor's
    /// readiness for it. - Throws: modelNotFound.
    public func modelReady(_ name: String) async throws -> Bool {
        let model = try model(name)
        if let poolLoaded = options.poolLoaded, !poolLoaded() { return false }
        guard await model.healthy() else { return false }
        if let m = model as? Model { return await m.predictorReady() }
        return true
    }

    /// Checks a model's readiness for the readiness routes: its own health and, with
    /// `enable_predictor_health_check`, its predictor's.
    /// - Throws: modelNotFound, or modelNotReady naming the reason (the load failure or the predictor).
    public func checkModelReady(_ name: String) async throws {
        let model = try model(name)
        if let poolLoaded = options.poolLoaded, !poolLoaded() {
            throw KServeError.modelNotReady(name, detail: "Not every worker of the pool has loaded its models yet.")
        }
        guard await model.healthy() else { throw KServeError.modelNotReady(name, detail: model.notReadyReason) }
        if let m = model as? Model, !(await m.predictorReady()) {
            let host = m.predictorConfig.predictorHost ?? ""
            throw KServeError.modelNotReady(
                name, detail: "Its predictor at \(host) does not report it ready (enable_predictor_health_check).")
        }
    }

    /// The configured version of a model.
    public func version(of name: String) -> String { options.modelVersions[name] ?? "1" }

    /// Checks that `version` (from a version route) is the model's configured version.
    /// - Throws: modelNotFound naming the version.
    public func checkVersion(_ name: String, _ version: String?) throws {
        guard let version else { return }
        _ = try model(name)
        guard version == self.version(of: name) else {
            throw KServeError(.modelNotFound, "Model with name \(name) and version \(version) does not exist.")
        }
    }

    /// Runs one inference call on a ready model, counting it in the metrics.
    public func infer(
        model name: String, payload: Payload, headers: Headers, verb: InferenceVerb
    ) async throws -> (Prediction, ResponseHeaders?) {
        let start = monotonicSeconds()
        do {
            let model = try await readyModel(name)
            let result = try await model(payload, headers: headers, verb: verb)
            metrics.recordRequest(model: name, status: 200, seconds: monotonicSeconds() - start)
            return result
        } catch {
            let status = (error as? KServeError)?.httpStatus ?? 500
            if status != 404 { metrics.recordRequest(model: name, status: status, seconds: monotonicSeconds() - start) }
            throw error
        }
    }

    /// v2 model metadata (`GET /v2/models/{m}`), available whether or not the model is ready.
    public func metadata(_ name: String) throws -> JSONValue {
        let model = try model(name)
        return .object(JSONObject([
            ("name", .string(name)),
            ("versions", .array([.string(version(of: name))])),
            ("platform", .string("")),
            ("inputs", .array(model.metadataInputs.map(tensorMetadataJSON))),
            ("outputs", .array(model.metadataOutputs.map(tensorMetadataJSON))),
        ]))
    }

    /// Triton's model configuration (`GET /v2/models/{m}/config`), enough for perf_analyzer and tritonclient.
    public func tritonConfig(_ name: String) throws -> JSONValue {
        let model = try model(name)
        func io(_ t: TensorMetadata) -> JSONValue {
            .object(JSONObject([
                ("name", .string(t.name)), ("data_type", .string(t.datatype.tritonConfigName)),
                ("dims", .array(t.shape.map { .int(Int64($0)) })),
            ]))
        }
        return .object(JSONObject([
            ("name", .string(name)), ("platform", .string("")), ("backend", .string("kserve-swift")),
            ("version_policy", .object(["specific": .object(["versions": .array([.string(version(of: name))])])])),
            ("max_batch_size", .int(0)),
            ("input", .array(model.metadataInputs.map(io))),
            ("output", .array(model.metadataOutputs.map(io))),
        ]))
    }

    /// Loads a model in this worker and publishes the desired state to the whole pool.
    public func load(_ name: String) async throws {
        do {
            try await repository.load(name)
            stateStore?.publish(model: name, loaded: true)
        } catch let error as KServeError where error.code == .modelNotReady {
            // Keep it loaded as far as the pool is concerned so every worker reports the same failure.
            stateStore?.publish(model: name, loaded: true)
            throw error
        }
    }

    /// Unloads a model in this worker and publishes the desired state to the whole pool.
    public func unload(_ name: String) async throws {
        try await repository.unload(name)
        stateStore?.publish(model: name, loaded: false)
    }

    /// Triton's repository index: every known model with its state.
    public func repositoryIndex() async -> JSONValue {
        var rows: [JSONValue] = []
        for (name, model) in repository.models {
            let ready = await model.healthy()
            rows.append(.object(JSONObject([
                ("name", .string(name)), ("version", .string(version(of: name))),
                ("state", .string(ready ? "READY" : "UNAVAILABLE")),
                ("reason", .string(ready ? "" : (model.notReadyReason ?? "not ready"))),
            ])))
        }
        return .array(rows)
    }
}

func tensorMetadataJSON(_ t: TensorMetadata) -> JSONValue {
    var members: [(key: String, value: JSONValue)] = [
        ("name", .string(t.name)), ("datatype", .string(t.datatype.rawValue)),
        ("shape", .array(t.shape.map { .int(Int64($0)) })),
    ]
    if !t.parameters.isEmpty {
        members.append(("parameters", .object(JSONObject(t.parameters.map { ($0.key, $0.value.jsonValue) }))))
    }
    return .object(JSONObject(members))
}
