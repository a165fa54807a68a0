import AsyncHTTPClient
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KServeGRPC
public import KServeModel
import KServeProtobuf
public import KServeProtocol
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The pooled client a worker's transformers use to reach their predictors and explainers (one per process).
///
/// - v1 / v2 REST go through one AsyncHTTPClient `HTTPClient` (keep-alive connection pool per host, TLS when
///   `predictor_use_ssl`), on the process's shared NIO event loops.
/// - grpc-v2 goes through one grpc-swift-2 `GRPCClient` per predictor host (one HTTP/2 connection, multiplexed).
///
/// Nothing is created until the first call, so a worker without transformers starts no threads for it.
public final class RemotePredictorClient: RemoteInferenceClient {
    /// Limits of the client.
    public struct Options: Sendable {
        /// Largest predictor or explainer answer accepted, in bytes (a larger one is a 502).
        public var maxResponseBytes: Int
        /// Limits for decoding the predictor's v2 answer.
        public var limits: DecodingLimits
        /// Keep-alive connections per predictor host (HTTP/1.1).
        public var connectionsPerHost: Int
        /// Deadline for opening a connection, in seconds (also bounded by the request deadline).
        public var connectTimeoutSeconds: Double

        /// Creates options.
        public init(
            maxResponseBytes: Int = 64 << 20, limits: DecodingLimits = .default, connectionsPerHost: Int = 16,
            connectTimeoutSeconds: Double = 10
        ) {
            self.maxResponseBytes = maxResponseBytes
            self.limits = limits
            self.connectionsPerHost = connectionsPerHost
            self.connectTimeoutSeconds = connectTimeoutSeconds
        }
    }

    private let options: Options
    private let logger: Logger
    private let httpClient = Locked<HTTPClient?>(nil)
    private let grpcClients = Locked<[String: GRPCClient<HTTP2ClientTransport.Posix>]>([:])
    private let health = Locked<[String: (ready: Bool, at: Double)]>([:])

    /// Creates a client; connections open on first use.
    public init(options: Options = Options(), logger: Logger = Logger(label: "kserve.remote")) {
        self.options = options
        self.logger = logger
    }

    // MARK: RemoteInferenceClient

    public func predict(model: String, payload: Payload, headers: Headers, config: PredictorConfig) async throws -> Prediction {
        guard let host = config.predictorHost else { throw KServeError.notImplemented("Could not find predictor_host.") }
        switch config.predictorProtocol {
        case .v1:
            if case .request = payload {
                throw KServeError.invalidInput(
                    "predictor_protocol is v1 but the request to forward is a v2 inference request; set "
                        + "predictor_protocol = \"v2\" or \"grpc-v2\", or return a JSON payload from preprocess")
            }
            let url = "\(scheme(config))://\(host)/v1/models/\(model):predict"
            let out = try Self.outgoing(payload, model: model, rawContentType: "application/octet-stream")
            let answer = try await post(url: url, body: out, forwarding: headers, config: config)
            return try v1Prediction(answer, url: url)
        case .v2:
            let url = "\(scheme(config))://\(host)/v2/models/\(model)/infer"
            let out = try Self.outgoing(payload, model: model, rawContentType: "application/json")
            let answer = try await post(url: url, body: out, forwarding: headers, config: config)
            return .response(try v2Response(answer, url: url))
        case .grpcV2:
            guard case .request(var request) = payload else {
                throw KServeError.invalidInput(
                    "predictor_protocol is grpc-v2 but the request to forward is not a v2 inference request; return "
                        + "an InferRequest from preprocess or set predictor_protocol = \"v1\"")
            }
            request.modelName = model
            let message = try request.toGRPC(rawInputs: true)
            return .response(try await grpcInfer(message, host: host, forwarding: headers, config: config))
        }
    }

    public func explain(model: String, payload: Payload, headers: Headers, config: PredictorConfig) async throws -> Prediction {
        guard let host = config.explainerHost else { throw KServeError.notImplemented("Could not find explainer_host.") }
        let url = "\(scheme(config))://\(host)/v1/models/\(model):explain"
        let out = try Self.outgoing(payload, model: model, rawContentType: "application/octet-stream")
        let answer = try await post(url: url, body: out, forwarding: headers, config: config, role: "explainer")
        return try v1Prediction(answer, url: url, role: "explainer")
    }

    public func modelReady(model: String, config: PredictorConfig) async -> Bool {
        guard let host = config.predictorHost else { return false }
        let key = "model \(config.predictorProtocol.rawValue) \(scheme(config))://\(host) \(model)"
        return await cached(key, config: config) {
            switch config.predictorProtocol {
            case .v1:
                guard let answer = try? await self.get("\(self.scheme(config))://\(host)/v1/models/\(model)", config: config),
                      (200..<300).contains(answer.status)
                else { return false }
                if let json = try? JSONValue.parse(answer.body[...]), case .bool(let ready)? = json["ready"] { return ready }
                return true
            case .v2:
                guard let answer = try? await self.get("\(self.scheme(config))://\(host)/v2/models/\(model)/ready", config: config)
                else { return false }
                return (200..<300).contains(answer.status)
            case .grpcV2:
                var request = Inference_ModelReadyRequest()
                request.name = model
                guard let client = try? self.grpcClient(host: host, config: config) else { return false }
                let response = try? await Inference_GRPCInferenceService.Client(wrapping: client).modelReady(
                    request, options: self.callOptions(seconds: config.healthCheckTimeoutSeconds))
                return response?.ready ?? false
            }
        }
    }

    public func serverReady(config: PredictorConfig) async -> Bool {
        guard let host = config.predictorHost else { return false }
        let key = "server \(config.predictorProtocol.rawValue) \(scheme(config))://\(host)"
        return await cached(key, config: config) {
            switch config.predictorProtocol {
            case .v1, .v2:
                let path = config.predictorProtocol == .v1 ? "/" : "/v2/health/ready"
                guard let answer = try? await self.get("\(self.scheme(config))://\(host)\(path)", config: config) else {
                    return false
                }
                return (200..<300).contains(answer.status)
            case .grpcV2:
                guard let client = try? self.grpcClient(host: host, config: config) else { return false }
                let response = try? await Inference_GRPCInferenceService.Client(wrapping: client).serverReady(
                    Inference_ServerReadyRequest(), options: self.callOptions(seconds: config.healthCheckTimeoutSeconds))
                return response?.ready ?? false
            }
        }
    }

    // MARK: HTTP

    struct HTTPAnswer {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name }?.1
        }
    }

    private func scheme(_ config: PredictorConfig) -> String { config.useSSL ? "https" : "http" }

    private func http() -> HTTPClient {
        httpClient.withLock { client in
            if let client { return client }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .milliseconds(Int64(options.connectTimeoutSeconds * 1000))),
                decompression: .disabled)
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = options.connectionsPerHost
            // One attempt per call: a refused connection fails at once, and `predictor_request_retries` decides.
            configuration.connectionPool.retryConnectionEstablishment = false
            let made = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            client = made
            return made
        }
    }

    /// A body to send: its bytes, content type and extra headers.
    struct OutgoingBody {
        var bytes: ByteBuffer
        var contentType: String
        var extraHeaders: [(String, String)] = []
    }

    /// The body that carries `payload`: JSON, raw bytes (with their content type, else `rawContentType`), or a v2
    /// request under `model` (the binary extension when its inputs arrived raw), written into one buffer with a
    /// single copy of the tensor bytes.
    static func outgoing(_ payload: Payload, model: String, rawContentType: String) throws -> OutgoingBody {
        switch payload {
        case .json(let json):
            return OutgoingBody(bytes: ByteBuffer(bytes: json.serialized()), contentType: "application/json")
        case .bytes(let bytes, let contentType):
            return OutgoingBody(bytes: ByteBuffer(bytes: bytes), contentType: contentType ?? rawContentType)
        case .request(var request):
            request.modelName = model
            let message = try request.toRest(rawInputs: request.hasRawInputs)
            var buffer = ByteBuffer()
            buffer.reserveCapacity(message.byteCount)
            buffer.writeBytes(message.json)
            for chunk in message.binaryChunks { buffer.writeBytes(chunk) }
            guard let jsonLength = message.jsonLength else {
                return OutgoingBody(bytes: buffer, contentType: "application/json")
            }
            return OutgoingBody(
                bytes: buffer, contentType: "application/octet-stream",
                extraHeaders: [("inference-header-content-length", "\(jsonLength)")])
        }
    }

    /// POSTs with the call's deadline, retrying only when the connection could not be made.
    private func post(
        url: String, body: OutgoingBody, forwarding headers: Headers, config: PredictorConfig,
        role: String = "predictor"
    ) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: body.contentType)
        for (name, value) in body.extraHeaders { request.headers.add(name: name, value: value) }
        for name in PredictorConfig.forwardedHeaders {
            if let value = headers[name] { request.headers.add(name: name, value: value) }
        }
        request.body = .bytes(body.bytes)
        let prepared = request
        let answer = try await withRetries(config: config, target: url, role: role) {
            try await self.execute(prepared, seconds: config.requestTimeoutSeconds)
        }
        guard (200..<300).contains(answer.status) else { throw upstreamError(answer, url: url, role: role) }
        return answer
    }

    private func get(_ url: String, config: PredictorConfig) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        return try await execute(request, seconds: config.healthCheckTimeoutSeconds)
    }

    private func execute(_ request: HTTPClientRequest, seconds: Double) async throws -> HTTPAnswer {
        let deadline = NIODeadline.now() + .milliseconds(Int64(max(0.001, seconds) * 1000))
        let response = try await http().execute(request, deadline: deadline)
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: options.maxResponseBytes)
        } catch is NIOTooManyBytesError {
            throw KServeError(
                .badGateway, "The answer from \(request.url) is larger than the limit of \(options.maxResponseBytes) bytes")
        }
        return HTTPAnswer(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(body.readableBytesView))
    }

    /// Runs `attempt`, retrying `config.requestRetries` times when the connection could not be made, and maps
    /// transport failures to 502 / 504.
    private func withRetries<T: Sendable>(
        config: PredictorConfig, target: String, role: String, _ attempt: @Sendable () async throws -> T
    ) async throws -> T {
        var tries = 0
        while true {
            do {
                return try await attempt()
            } catch let error as KServeError {
                throw error
            } catch {
                let (mapped, retryable) = classify(error, target: target, role: role, config: config)
                if retryable, tries < config.requestRetries, !Task.isCancelled {
                    tries += 1
                    logger.warning("\(mapped.message); retry \(tries) of \(config.requestRetries)")
                    try? await Task.sleep(for: Self.retryDelay(tries))
                    continue
                }
                logger.warning("\(mapped.message)")
                throw mapped
            }
        }
    }

    /// The pause before retry `n` (1-based): 100 ms doubling, at most 2 s.
    static func retryDelay(_ n: Int) -> Duration { .milliseconds(min(2000, 100 << min(max(n, 1) - 1, 5))) }

    private func classify(_ error: any Error, target: String, role: String, config: PredictorConfig) -> (KServeError, Bool) {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .writeTimeout {
                return (timeoutError(target: target, role: role, config: config), false)
            }
            if e == .connectTimeout {
                return (KServeError(.badGateway, "Could not connect to the \(role) at \(target): connect timeout"), true)
            }
            return (KServeError(.badGateway, "The call to the \(role) at \(target) failed: \(e)"), false)
        }
        if error is NIOConnectionError || error is IOError || error is ChannelError {
            return (KServeError(.badGateway, "Could not connect to the \(role) at \(target): \(error)"), true)
        }
        return (KServeError(.badGateway, "The call to the \(role) at \(target) failed: \(error)"), false)
    }

    private func timeoutError(target: String, role: String, config: PredictorConfig) -> KServeError {
        KServeError(
            .timeout,
            "The \(role) at \(target) did not answer within \(formatSeconds(config.requestTimeoutSeconds)) s "
                + "(predictor_request_timeout_seconds)")
    }

    /// The predictor's own error, passed on with its status and message.
    private func upstreamError(_ answer: HTTPAnswer, url: String, role: String) -> KServeError {
        var message: String?
        if let json = try? JSONValue.parse(answer.body[...]) {
            if case .string(let s)? = json["error"] {
                message = s
            } else if let detail = json["detail"] {
                if case .string(let s) = detail { message = s } else { message = detail.jsonString() }
            } else if case .object(let o)? = json["error"], case .string(let s)? = o["message"] {
                message = s
            }
        }
        if message == nil {
            let text = String(decoding: answer.body.prefix(512), as: UTF8.self)
            message = "The \(role) at \(url) answered \(answer.status)" + (text.isEmpty ? "" : ": \(text)")
        }
        return KServeError(Self.code(forStatus: answer.status), message ?? "", status: answer.status)
    }

    static func code(forStatus status: Int) -> KServeError.Code {
        switch status {
        case 404: return .modelNotFound
        case 405: return .methodNotAllowed
        case 413: return .payloadTooLarge
        case 400..<500: return .invalidInput
        case 501: return .notImplemented
        case 502: return .badGateway
        case 503: return .unavailable
        case 504: return .timeout
        default: return .inferenceError
        }
    }

    private func v1Prediction(_ answer: HTTPAnswer, url: String, role: String = "predictor") throws -> Prediction {
        let contentType = answer.header("content-type")
        if contentType == nil || contentType?.lowercased().contains("json") == true {
            do {
                return .json(try JSONValue.parse(answer.body[...], limits: options.limits))
            } catch {
                throw KServeError(.badGateway, "The \(role) at \(url) answered with invalid JSON: \(error)")
            }
        }
        return .bytes(answer.body, contentType: contentType ?? "application/octet-stream")
    }

    private func v2Response(_ answer: HTTPAnswer, url: String) throws -> InferResponse {
        var response: InferResponse
        do {
            if let text = answer.header("inference-header-content-length") {
                guard let length = Int(text) else {
                    throw KServeError.invalidInput("bad Inference-Header-Content-Length \(text)")
                }
                response = try InferResponse.fromBytes(answer.body[...], jsonLength: length, limits: options.limits)
            } else {
                response = try InferResponse.fromRest(answer.body[...], limits: options.limits)
            }
        } catch let error as KServeError {
            throw KServeError(.badGateway, "The predictor at \(url) answered with a malformed v2 response: \(error.message)")
        }
        // The transformer's own client decides which outputs are sent and how (binary or JSON).
        response.useBinaryOutputs = false
        response.requestedOutputs = nil
        return response
    }

    // MARK: gRPC

    private func callOptions(seconds: Double) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = .milliseconds(Int64(max(0.001, seconds) * 1000))
        options.maxRequestMessageBytes = self.options.maxResponseBytes
        options.maxResponseMessageBytes = self.options.maxResponseBytes
        options.waitForReady = false
        return options
    }

    /// The `host:port` gRPC target of a predictor host (port 80, or 443 with TLS, when none is given).
    static func grpcTarget(_ host: String, tls: Bool) -> (host: String, port: Int) {
        let defaultPort = tls ? 443 : 80
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let name = String(host[host.index(after: host.startIndex)..<close])
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":"), let port = Int(rest.dropFirst()) { return (name, port) }
            return (name, defaultPort)
        }
        if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon, let port = Int(host[host.index(after: colon)...]) {
            return (String(host[..<colon]), port)
        }
        return (host, defaultPort)
    }

    private func grpcClient(host: String, config: PredictorConfig) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
        let key = "\(config.useSSL ? "tls" : "plain") \(host)"
        return try grpcClients.withLock { clients in
            if let client = clients[key] { return client }
            let target = Self.grpcTarget(host, tls: config.useSSL)
            let maxBytes = options.maxResponseBytes
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: target.host, port: target.port),
                transportSecurity: config.useSSL ? .tls : .plaintext,
                config: .defaults { c in
                    c.http2.maxFrameSize = 1 << 20
                    c.http2.targetWindowSize = max(65535, min(maxBytes, 16 << 20))
                })
            let client = GRPCClient(transport: transport)
            clients[key] = client
            Task.detached { [logger] in
                do { try await client.runConnections() } catch { logger.warning("gRPC client for \(host) stopped: \(error)") }
            }
            return client
        }
    }

    private func grpcInfer(
        _ message: Inference_ModelInferRequest, host: String, forwarding headers: Headers, config: PredictorConfig
    ) async throws -> InferResponse {
        var metadata = Metadata()
        for name in PredictorConfig.forwardedHeaders {
            if let value = headers[name] { metadata.addString(value, forKey: name) }
        }
        metadata.addString("grpc_v2", forKey: "request_type")
        metadata.addString("grpc_v2", forKey: "response_type")
        let client = Inference_GRPCInferenceService.Client(wrapping: try grpcClient(host: host, config: config))
        let options = callOptions(seconds: config.requestTimeoutSeconds)
        let target = "grpc://\(host)"
        var tries = 0
        while true {
            do {
                let response = try await client.modelInfer(message, metadata: metadata, options: options)
                var decoded = try InferResponse.fromGRPC(response, limits: self.options.limits)
                decoded.useBinaryOutputs = false
                decoded.requestedOutputs = nil
                return decoded
            } catch let error as RPCError {
                let mapped = grpcError(error, target: target, config: config)
                if error.code == .unavailable, tries < config.requestRetries, !Task.isCancelled {
                    tries += 1
                    logger.warning("\(mapped.message); retry \(tries) of \(config.requestRetries)")
                    try? await Task.sleep(for: Self.retryDelay(tries))
                    continue
                }
                throw mapped
            } catch let error as KServeError {
                throw KServeError(.badGateway, "The predictor at \(target) answered with a malformed response: \(error.message)")
            }
        }
    }

    private func grpcError(_ error: RPCError, target: String, config: PredictorConfig) -> KServeError {
        switch error.code {
        case .deadlineExceeded: return timeoutError(target: target, role: "predictor", config: config)
        case .unavailable: return KServeError(.badGateway, "The predictor at \(target) is unavailable: \(error.message)")
        case .invalidArgument: return KServeError(.invalidInput, error.message)
        case .notFound: return KServeError(.modelNotFound, error.message)
        case .unimplemented: return KServeError(.notImplemented, error.message)
        case .resourceExhausted: return KServeError(.payloadTooLarge, error.message)
        case .internalError: return KServeError(.inferenceError, error.message)
        default: return KServeError(.badGateway, "The predictor at \(target) failed: \(error.code): \(error.message)")
        }
    }

    // MARK: health cache

    private func cached(_ key: String, config: PredictorConfig, _ ask: @Sendable () async -> Bool) async -> Bool {
        let now = monotonicSeconds()
        if config.healthCheckCacheSeconds > 0, let hit = health.value[key], now - hit.at < config.healthCheckCacheSeconds {
            return hit.ready
        }
        let ready = await ask()
        health.withLock { $0[key] = (ready, monotonicSeconds()) }
        return ready
    }
}

private func formatSeconds(_ s: Double) -> String {
    s == s.rounded() && abs(s) < 1e15 ? String(Int64(s)) : String(s)
}
