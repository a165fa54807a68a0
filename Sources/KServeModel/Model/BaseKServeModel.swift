public import KServeProtocol

/// The base of every model: a name, readiness and lifecycle hooks (the seed's `BaseKServeModel`).
///
/// Subclass ``Model`` to write an inference model. All hooks may be overridden; readiness is shared state
/// guarded by a lock, so a model object is safe to use from several accept loops at once.
open class BaseKServeModel: @unchecked Sendable {
    private struct State: Sendable {
        var ready = false
        var engine = false
        var notReadyReason: String?
    }
    // @unchecked Sendable: every stored property is either immutable or inside this lock.
    private let state = Locked(State())

    /// The model's name (registry aliases may add more names).
    public let name: String

    /// Creates a model; it starts not ready.
    public init(name: String) {
        self.name = name
    }

    /// Whether the model can serve. ``load()`` sets it.
    public var ready: Bool {
        get { state.value.ready }
        set { state.withLock { $0.ready = newValue; if newValue { $0.notReadyReason = nil } } }
    }

    /// Whether the model runs an engine started by ``startEngine()``.
    public var engine: Bool {
        get { state.value.engine }
        set { state.withLock { $0.engine = newValue } }
    }

    /// Why the model is not ready (the load error), shown in errors and logs.
    public var notReadyReason: String? {
        get { state.value.notReadyReason }
        set { state.withLock { $0.notReadyReason = newValue } }
    }

    /// Health check; by default ``ready``.
    open func healthy() async -> Bool { ready }

    /// Loads the model from storage and sets ``ready``. Throw to leave it not ready with a reason.
    open func load() async throws { ready = true }

    /// Model setup after loading.
    open func start() async throws {}

    /// Starts the model's engine when ``engine`` is true.
    open func startEngine() async throws { ready = true }

    /// Model teardown (unload, server stop). Sets ``ready`` to false.
    open func stop() async { ready = false }

    /// Stops the engine.
    open func stopEngine() async { ready = false }
}

/// A model that answers standard inference (the seed's `InferenceModel`).
open class InferenceModel: BaseKServeModel, @unchecked Sendable {
    private let declared = Locked<(inputs: [TensorMetadata]?, outputs: [TensorMetadata]?)>((nil, nil))

    /// Runs the whole call chain for one request and returns the answer and any response headers.
    open func callAsFunction(
        _ payload: Payload, headers: Headers, verb: InferenceVerb
    ) async throws -> (Prediction, ResponseHeaders?) {
        throw KServeError.notImplemented("Model \(name) does not implement \(verb.rawValue).")
    }

    /// Declared inputs (`/v2/models/{m}` metadata); config-declared metadata wins over this.
    open func inputTypes() -> [TensorMetadata] { [] }
    /// Declared outputs.
    open func outputTypes() -> [TensorMetadata] { [] }

    /// Metadata declared in the server config, which overrides ``inputTypes()`` / ``outputTypes()``.
    public func declareMetadata(inputs: [TensorMetadata]?, outputs: [TensorMetadata]?) {
        declared.value = (inputs, outputs)
    }

    /// The inputs reported to clients: the config's, else ``inputTypes()``.
    public var metadataInputs: [TensorMetadata] { declared.value.inputs ?? inputTypes() }
    /// The outputs reported to clients: the config's, else ``outputTypes()``.
    public var metadataOutputs: [TensorMetadata] { declared.value.outputs ?? outputTypes() }
}
