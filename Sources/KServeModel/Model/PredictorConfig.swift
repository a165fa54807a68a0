public import KServeProtocol

/// The protocol a transformer speaks to its predictor (`predictor_protocol`).
public enum PredictorProtocol: String, Sendable, Hashable, CaseIterable {
    /// `POST {host}/v1/models/{name}:predict` with the JSON body.
    case v1 = "v1"
    /// `POST {host}/v2/models/{name}/infer`, with the binary tensor extension when the inputs carry raw data.
    case v2 = "v2"
    /// `ModelInfer` on `inference.GRPCInferenceService` over a pooled HTTP/2 channel.
    case grpcV2 = "grpc-v2"
}

/// Where and how a model's default ``Model/predict(_:headers:responseHeaders:)`` and
/// ``Model/explain(_:headers:)`` forward (the seed's `PredictorConfig`, plus `explainer_host`).
///
/// In the config file these are keys of a `[[models]]` entry; on the command line KServe's flags of the same names
/// apply to the first entry (the `--model_name` model):
///
/// ```toml
/// [[models]]
/// name = "my-transformer"
/// kind = "transformer"
/// predictor_host = "predictor.default:8080"   # host[:port], no scheme
/// predictor_protocol = "v2"                   # v1 | v2 | grpc-v2
/// predictor_request_timeout_seconds = 600
/// predictor_request_retries = 0
/// enable_predictor_health_check = true
/// ```
public struct PredictorConfig: Sendable, Hashable {
    /// `host[:port]` of the predictor (no scheme); `nil`: the default `predict` answers 501
    /// `Could not find predictor_host.`
    public var predictorHost: String?
    /// The wire protocol spoken to the predictor.
    public var predictorProtocol: PredictorProtocol
    /// `https` (and TLS for gRPC) instead of plain text, for the predictor and the explainer.
    public var useSSL: Bool
    /// The deadline of one call to the predictor or explainer, in seconds (504 when it passes).
    public var requestTimeoutSeconds: Double
    /// How many times a call is retried when the connection cannot be made (never after the request was sent).
    public var requestRetries: Int
    /// Whether model and server readiness also ask the predictor.
    public var enableHealthCheck: Bool
    /// The deadline of one readiness question to the predictor, in seconds.
    public var healthCheckTimeoutSeconds: Double
    /// How long a readiness answer from the predictor is reused, in seconds (0: ask every time).
    public var healthCheckCacheSeconds: Double
    /// `host[:port]` of the explainer; `nil`: the default `explain` answers 501 `Could not find explainer_host.`
    public var explainerHost: String?

    /// Creates a predictor configuration; the defaults are KServe's.
    public init(
        predictorHost: String? = nil, predictorProtocol: PredictorProtocol = .v1, useSSL: Bool = false,
        requestTimeoutSeconds: Double = 600, requestRetries: Int = 0, enableHealthCheck: Bool = false,
        healthCheckTimeoutSeconds: Double = 2, healthCheckCacheSeconds: Double = 1, explainerHost: String? = nil
    ) {
        self.predictorHost = predictorHost
        self.predictorProtocol = predictorProtocol
        self.useSSL = useSSL
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.requestRetries = requestRetries
        self.enableHealthCheck = enableHealthCheck
        self.healthCheckTimeoutSeconds = healthCheckTimeoutSeconds
        self.healthCheckCacheSeconds = healthCheckCacheSeconds
        self.explainerHost = explainerHost
    }

    /// Whether anything is forwarded at all (a predictor or an explainer is configured).
    public var forwards: Bool { predictorHost != nil || explainerHost != nil }

    /// The request headers passed on to the predictor and the explainer; every other header stays here.
    public static let forwardedHeaders = ["x-request-id", "x-b3-traceid", "authorization"]
}

/// The client a ``Model``'s default `predict` / `explain` and its readiness use to reach a remote predictor or
/// explainer. The server installs one per worker process (pooled connections); tests may install their own.
public protocol RemoteInferenceClient: Sendable {
    /// Sends the preprocessed payload to the predictor of `config` and returns its answer.
    /// - Throws: ``KServeError``: `badGateway` (502) when the predictor cannot be reached, `timeout` (504) when
    ///   the deadline passes, the predictor's own status and message when it answers with an error.
    func predict(model: String, payload: Payload, headers: Headers, config: PredictorConfig) async throws -> Prediction

    /// Sends the preprocessed payload to the explainer of `config` (`/v1/models/{model}:explain`).
    /// - Throws: as ``predict(model:payload:headers:config:)``.
    func explain(model: String, payload: Payload, headers: Headers, config: PredictorConfig) async throws -> Prediction

    /// Whether the predictor reports `model` ready (v1 `GET /v1/models/{m}`, v2 `/v2/models/{m}/ready`, gRPC
    /// `ModelReady`); false on any error or timeout.
    func modelReady(model: String, config: PredictorConfig) async -> Bool

    /// Whether the predictor's server is ready (v1 `GET /`, v2 `/v2/health/ready`, gRPC `ServerReady`); false on any
    /// error or timeout.
    func serverReady(config: PredictorConfig) async -> Bool
}
