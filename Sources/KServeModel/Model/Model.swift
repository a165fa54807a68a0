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
open class Model: InferenceModel, @unchecked Sendable {
    /// When true, `predict` and `postprocess` get a ``ResponseHeaders`` whose entries are added to the HTTP reply.
    public let returnResponseHeaders: Bool
    private let observers = Locked<[any ModelObserver]>([])

    /// Creates a model.
    public init(name: String, returnResponseHeaders: Bool = false) {
        self.returnResponseHeaders = returnResponseHeaders
        super.init(name: name)
    }

    /// Adds an observer of per-phase timings (the server adds its metrics and latency logger).
    public func addObserver(_ observer: any ModelObserver) {
        observers.withLock { $0.append(observer) }
    }

    /// Feature or data transformation before inference. Default: the payload unchanged.
    open func preprocess(_ payload: Payload, headers: Headers) async throws -> Payload { payload }

    /// Inference. The default forwards to a remote predictor when one is configured (not built yet), so
    /// without an override it answers 501 `Could not find predictor_host.`
    open func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        throw KServeError.notImplemented("Could not find predictor_host.")
    }

    /// Explanation. Default: 501 `Could not find explainer_host.`
    open func explain(_ payload: Payload, headers: Headers) async throws -> Prediction {
        throw KServeError.notImplemented("Could not find explainer_host.")
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
