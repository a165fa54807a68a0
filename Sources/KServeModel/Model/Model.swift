import KServeProtocol
import Logging
import Glibc

/// Per-phase timing of one call, in seconds (the latency line and the metrics).
public struct PhaseTimings: Sendable {
    public var preprocess: Double = 0
    public var predict: Double = 0
    public var explain: Double = 0
    public var postprocess: Double = 0
    public init() {}
}

/// Receives per-phase timings; the server's metrics implement it.
public protocol ModelObserver: Sendable {
    func record(model: String, timings: PhaseTimings, verb: InferenceVerb, requestID: String?)
}

/// The model class users subclass (the seed's `Model`): preprocess -> predict | explain | generate -> postprocess.
///
/// ```swift
/// final class Doubler: Model {
///     override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
///         let request = try payload.inferRequest()
///         let x = try request.inputs[0].asArray(of: Float.self)
///         return .response(InferResponse(id: request.id ?? "", modelName: name,
///             outputs: [InferOutput(name: "output-0", shape: request.inputs[0].shape, values: x.map { $0 * 2 })]))
///     }
/// }
/// ```
///
/// A transformer overrides `preprocess` / `postprocess` only: with a ``PredictorConfig/predictorHost`` the default
/// `predict` sends the preprocessed payload to the remote predictor (v1, v2 or grpc-v2) and returns its answer.
open class Model: InferenceModel, @unchecked Sendable {
    /// When true, `predict` and `postprocess` get a ``ResponseHeaders`` whose entries are added to the HTTP reply.
    public let returnResponseHeaders: Bool
    private let observers = Locked<[any ModelObserver]>([])
    private let remote = Locked<(config: PredictorConfig, client: (any RemoteInferenceClient)?)>((PredictorConfig(), nil))

    /// Creates a model.
    /// - Parameters:
    ///   - predictorConfig: where the default `predict` / `explain` forward (a transformer); none by default.
    public init(name: String, predictorConfig: PredictorConfig = PredictorConfig(), returnResponseHeaders: Bool = false) {
        self.returnResponseHeaders = returnResponseHeaders
        remote.value.config = predictorConfig
        super.init(name: name)
    }

    /// Where the default `predict` / `explain` forward; a `[[models]]` entry's `predictor_*` keys set it.
    public var predictorConfig: PredictorConfig {
        get { remote.value.config }
        set { remote.withLock { $0.config = newValue } }
    }

    /// The client the default `predict` / `explain` use; the server installs its pooled one in every worker.
    public var remoteClient: (any RemoteInferenceClient)? {
        get { remote.value.client }
        set { remote.withLock { $0.client = newValue } }
    }

    /// Adds an observer of per-phase timings (the server adds its metrics and latency logger).
    public func addObserver(_ observer: any ModelObserver) {
        observers.withLock { $0.append(observer) }
    }

    /// Feature or data transformation before inference. Default: the payload unchanged.
    open func preprocess(_ payload: Payload, headers: Headers) async throws -> Payload { payload }

    /// Inference. The default forwards the payload to the remote predictor of ``predictorConfig`` (a transformer);
    /// without a `predictor_host` it answers 501 `Could not find predictor_host.`
    open func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let (config, client) = remote.value
        guard config.predictorHost != nil else { throw KServeError.notImplemented("Could not find predictor_host.") }
        guard let client else { throw Self.noClient(name) }
        return try await client.predict(model: name, payload: payload, headers: headers, config: config)
    }

    /// Explanation. The default forwards to the explainer of ``predictorConfig``
    /// (`POST {explainer_host}/v1/models/{name}:explain`); without one it answers 501 `Could not find explainer_host.`
    open func explain(_ payload: Payload, headers: Headers) async throws -> Prediction {
        let (config, client) = remote.value
        guard config.explainerHost != nil else { throw KServeError.notImplemented("Could not find explainer_host.") }
        guard let client else { throw Self.noClient(name) }
        return try await client.explain(model: name, payload: payload, headers: headers, config: config)
    }

    /// Whether the remote predictor is ready for this model: true unless ``PredictorConfig/enableHealthCheck`` is
    /// on, then the predictor's answer (cached briefly by the client).
    open func predictorReady() async -> Bool {
        let (config, client) = remote.value
        guard config.enableHealthCheck, config.predictorHost != nil else { return true }
        guard let client else { return false }
        return await client.modelReady(model: name, config: config)
    }

    /// Whether the remote predictor's server is ready (see ``predictorReady()``).
    open func predictorServerReady() async -> Bool {
        let (config, client) = remote.value
        guard config.enableHealthCheck, config.predictorHost != nil else { return true }
        guard let client else { return false }
        return await client.serverReady(config: config)
    }

    private static func noClient(_ name: String) -> KServeError {
        KServeError(
            .internalError,
            "Model \(name) forwards to a remote predictor but no client is installed: run it under ModelServer "
                + "or set remoteClient")
    }

    /// Generation (`/v2/models/{m}/generate`). Default: 501.
    open func generate(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        throw KServeError.notImplemented("Model \(name) does not support generate.")
    }

    /// Transformation of the result. Default: unchanged.
    open func postprocess(_ result: Prediction, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        result
    }

    /// Runs preprocess -> verb -> postprocess, timing each phase and reporting to the observers.
    open override func callAsFunction(
        _ payload: Payload, headers: Headers, verb: InferenceVerb
    ) async throws -> (Prediction, ResponseHeaders?) {
        let responseHeaders = returnResponseHeaders ? ResponseHeaders() : nil
        var timings = PhaseTimings()
        var t0 = monotonicSeconds()
        let pre = try await preprocess(payload, headers: headers)
        var t1 = monotonicSeconds()
        timings.preprocess = t1 - t0
        t0 = t1
        let result: Prediction
        switch verb {
        case .predict:
            result = try await predict(pre, headers: headers, responseHeaders: responseHeaders)
            t1 = monotonicSeconds()
            timings.predict = t1 - t0
        case .explain:
            result = try await explain(pre, headers: headers)
            t1 = monotonicSeconds()
            timings.explain = t1 - t0
        case .generate:
            result = try await generate(pre, headers: headers, responseHeaders: responseHeaders)
            t1 = monotonicSeconds()
            timings.predict = t1 - t0
        }
        let post = try await postprocess(result, headers: headers, responseHeaders: responseHeaders)
        timings.postprocess = monotonicSeconds() - t1
        let requestID = headers["x-request-id"]
        for o in observers.value { o.record(model: name, timings: timings, verb: verb, requestID: requestID) }
        return (post, responseHeaders)
    }
}

/// Monotonic clock in seconds.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
