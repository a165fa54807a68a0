import KServeProtocol

/// Maps every KServe REST route (plus Triton's config/stats/index) onto the ``DataPlane`` and encodes the answers.
///
/// Routing is on the decoded path. Unknown paths answer 404 and known paths with the wrong method 405, both as
/// `{"error": "..."}`.
public final class RESTRouter: Sendable {
    public let dataPlane: DataPlane
    let cloudEvents: CloudEventSettings
    /// Extra routes served before the KServe ones (e.g. the worker's `/status`).
    private let extraRoutes: [@Sendable (HTTPRequest) async -> HTTPResponse?]

    public init(dataPlane: DataPlane, extraRoutes: [@Sendable (HTTPRequest) async -> HTTPResponse?] = []) {
        self.dataPlane = dataPlane
        self.cloudEvents = CloudEventSettings.fromEnvironment()
        self.extraRoutes = extraRoutes
    }

    /// Answers one request. Never throws: every failure becomes a JSON error response.
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        for route in extraRoutes {
            if let response = await route(request) { return response }
        }
        do {
            if request.body.count > dataPlane.options.maxBodySize {
                throw KServeError(.payloadTooLarge, "Request body of \(request.body.count) bytes exceeds the limit of \(dataPlane.options.maxBodySize) bytes.")
            }
            await dataPlane.synchronize()
            return try await route(request)
        } catch let error as KServeError {
            if error.httpStatus >= 500 { dataPlane.options.exceptionHandler?(error, request.path) }
            return .error(error)
        } catch {
            dataPlane.options.exceptionHandler?(error, request.path)
            return .error(KServeError(.internalError, "\(type(of: error)) : \(error)"))
        }
    }

    private func allow(_ request: HTTPRequest, _ methods: String...) throws {
        guard methods.contains(request.method) || (request.method == "HEAD" && methods.contains("GET")) else {
            throw KServeError(.methodNotAllowed, "Method \(request.method) is not allowed on \(request.path); use \(methods.joined(separator: ", ")).")
        }
    }

    private func route(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = request.path
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let dp = dataPlane
        switch parts.first {
        case "" where parts.count == 1:
            try allow(request, "GET")
            return .json(.object(["status": .string("alive")]))
        case "metrics" where parts.count == 1:
            try allow(request, "GET")
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: .bytes(Array(dp.metrics.renderPrometheus().utf8)))
        case "openapi.json" where parts.count == 1:
            try allow(request, "GET")
            return .json(OpenAPIDocument.json(serverVersion: dp.options.serverVersion, statusPath: dp.options.statusPath))
        case "v1":
            return try await routeV1(request, Array(parts.dropFirst()))
        case "v2":
            return try await routeV2(request, Array(parts.dropFirst()))
        default:
            throw KServeError(.notFound, "Not Found: \(path)")
        }
    }

    // MARK: v1

    private func routeV1(_ request: HTTPRequest, _ p: [String]) async throws -> HTTPResponse {
        let dp = dataPlane
        guard p.first == "models" else { throw KServeError(.notFound, "Not Found: \(request.path)") }
        if p.count == 1 {
            try allow(request, "GET")
            return .json(.object(["models": .array(dp.repository.models.map { .string($0.name) })]))
        }
        guard p.count == 2, !p[1].isEmpty else { throw KServeError(.notFound, "Not Found: \(request.path)") }
        let segment = p[1]
        if request.method == "POST" {
            for (suffix, verb) in [(":predict", InferenceVerb.predict), (":explain", .explain)] where segment.hasSuffix(suffix) {
                let name = String(segment.dropLast(suffix.count))
                return try await v1Infer(request, model: name, verb: verb)
            }
        }
        try allow(request, "GET")
        try await dp.checkModelReady(segment)
        return .json(.object(["name": .string(segment), "ready": .bool(true)]))
    }

    private func v1Infer(_ request: HTTPRequest, model name: String, verb: InferenceVerb) async throws -> HTTPResponse {
        let dp = dataPlane
        _ = try await dp.readyModel(name)
        let event = try CloudEventRequest.decode(request)
        let payload: Payload
        if let event {
            payload = event.payload
        } else if let media = request.mediaType, !v1JSONTypes.contains(media) {
            payload = .bytes(request.body, contentType: request.headers["content-type"])
        } else {
            let json: JSONValue
            do {
                json = try JSONValue.parse(request.body[...], limits: dp.options.limits)
            } catch let e as KServeError {
                throw KServeError.invalidInput("Unrecognized request format: \(e.message)")
            }
            payload = .json(try structuredEventData(json, request: request) ?? json)
        }
        if case .json(let json) = payload, let instances = json["instances"] {
            guard case .array = instances else { throw KServeError.invalidInput(#"Expected "instances" to be a list"#) }
        }
        let (result, responseHeaders) = try await dp.infer(model: name, payload: payload, headers: request.headers, verb: verb)
        var response = try encodeV1(result)
        if let event {
            response = try cloudEvents.reply(to: event, result: result, model: name, plain: response)
        } else if request.mediaType == "application/cloudevents+json",
                  let json = try? JSONValue.parse(request.body[...], limits: dp.options.limits), isStructuredEvent(json) {
            response = try cloudEvents.structuredReply(request: json, result: result, model: name)
        }
        merge(responseHeaders, into: &response, drop: ["content-length"])
        return response
    }

    private func structuredEventData(_ json: JSONValue, request: HTTPRequest) throws -> JSONValue? {
        guard isStructuredEvent(json) else { return nil }
        return json["data"]
    }

    private func encodeV1(_ result: Prediction) throws -> HTTPResponse {
        switch result {
        case .json(let value): return .json(value)
        case .response(let response): return try encodeV2(response)
        case .bytes(let bytes, let contentType):
            return HTTPResponse(status: 200, headers: [("Content-Type", contentType)], body: .bytes(bytes))
        case .stream(let stream, let contentType):
            return HTTPResponse(status: 200, headers: [("Content-Type", contentType)], body: .stream(stream))
        }
    }

    // MARK: v2

    private func routeV2(_ request: HTTPRequest, _ p: [String]) async throws -> HTTPResponse {
        let dp = dataPlane
        switch (p.first, p.count) {
        case (nil, _), ("", 1):
            try allow(request, "GET")
            return .json(.object(JSONObject([
                ("name", .string(dp.options.serverName)), ("version", .string(dp.options.serverVersion)),
                ("extensions", .array(["model_repository_extension", "binary_tensor_data", "statistics"].map { .string($0) })),
            ])))
        case ("health", 2) where p[1] == "live":
            try allow(request, "GET")
            return .json(.object(["live": .bool(dp.live())]))
        case ("health", 2) where p[1] == "ready":
            try allow(request, "GET")
            let ready = await dp.ready()
            return .json(.object(["ready": .bool(ready)]), status: ready ? 200 : 503)
        case ("models", 1):
            try allow(request, "GET")
            return .json(.object(["models": .array(dp.repository.models.map { .string($0.name) })]))
        case ("models", 2) where p[1] == "stats":
            try allow(request, "GET")
            let stats = dp.repository.models.map { dp.metrics.statistics(model: $0.name, version: dp.version(of: $0.name)) }
            return .json(.object(["model_stats": .array(stats)]))
        case ("models", _) where p.count >= 2 && !p[1].isEmpty:
            let name = p[1]
            var rest = Array(p.dropFirst(2))
            var version: String?
            if rest.first == "versions" {
                guard rest.count >= 2, !rest[1].isEmpty else { throw KServeError(.notFound, "Not Found: \(request.path)") }
                version = rest[1]
                rest = Array(rest.dropFirst(2))
            }
            return try await routeModel(request, name: name, version: version, rest)
        case ("repository", _):
            return try await routeRepository(request, Array(p.dropFirst()))
        default:
            throw KServeError(.notFound, "Not Found: \(request.path)")
        }
    }

    private func routeModel(_ request: HTTPRequest, name: String, version: String?, _ rest: [String]) async throws -> HTTPResponse {
        let dp = dataPlane
        guard rest.count <= 1 else { throw KServeError(.notFound, "Not Found: \(request.path)") }
        switch rest.first {
        case nil:
            try allow(request, "GET")
            try dp.checkVersion(name, version)
            return .json(try dp.metadata(name))
        case "ready":
            try allow(request, "GET")
            try dp.checkVersion(name, version)
            try await dp.checkModelReady(name)
            return .json(.object(["name": .string(name), "ready": .bool(true)]))
        case "infer":
            try allow(request, "POST")
            try dp.checkVersion(name, version)
            return try await v2Infer(request, model: name, version: version)
        case "generate":
            try allow(request, "POST")
            try dp.checkVersion(name, version)
            return try await v2Generate(request, model: name)
        case "config":
            try allow(request, "GET")
            try dp.checkVersion(name, version)
            return .json(try dp.tritonConfig(name))
        case "stats":
            try allow(request, "GET")
            try dp.checkVersion(name, version)
            _ = try dp.model(name)
            return .json(.object(["model_stats": .array([dp.metrics.statistics(model: name, version: dp.version(of: name))])]))
        default:
            throw KServeError(.notFound, "Not Found: \(request.path)")
        }
    }

    /// `POST /v2/models/{m}/generate`: the body is a GenerateRequest (`{"text_input": ..., "parameters": {...}}`),
    /// handed to the model as JSON; the model's JSON answer is the GenerateResponse.
    private func v2Generate(_ request: HTTPRequest, model name: String) async throws -> HTTPResponse {
        let dp = dataPlane
        _ = try await dp.readyModel(name)
        let json: JSONValue
        do {
            json = try JSONValue.parse(request.body[...], limits: dp.options.limits)
        } catch let e as KServeError {
            throw KServeError.invalidInput("Unrecognized request format: \(e.message)")
        }
        let (result, responseHeaders) = try await dp.infer(model: name, payload: .json(json), headers: request.headers, verb: .generate)
        var response = try encodeV1(result)
        merge(responseHeaders, into: &response, drop: ["content-length", "content-type"])
        return response
    }

    private func v2Infer(_ request: HTTPRequest, model name: String, version: String?) async throws -> HTTPResponse {
        let verb = InferenceVerb.predict
        let dp = dataPlane
        _ = try await dp.readyModel(name)
        var inferRequest: InferRequest
        if let header = request.headers["inference-header-content-length"] {
            guard let length = Int(header.trimmingSpaces()), length >= 0 else {
                throw KServeError.invalidInput("Inference-Header-Content-Length must be a non-negative integer, got '\(header)'.")
            }
            guard length <= request.body.count else {
                throw KServeError.invalidInput("Inference-Header-Content-Length \(length) is larger than the request body (\(request.body.count) bytes).")
            }
            inferRequest = try InferRequest.fromBytes(request.body[...], jsonLength: length, modelName: name, limits: dp.options.limits)
        } else {
            inferRequest = try InferRequest.fromJSON(request.body[...], modelName: name, limits: dp.options.limits)
        }
        inferRequest.modelVersion = version ?? inferRequest.modelVersion
        let (result, responseHeaders) = try await dp.infer(model: name, payload: .request(inferRequest), headers: request.headers, verb: verb)
        var response: HTTPResponse
        switch result {
        case .response(var inferResponse):
            if inferResponse.id.isEmpty { inferResponse.id = inferRequest.id ?? uuid4() }
            if inferResponse.modelName.isEmpty { inferResponse.modelName = name }
            if inferResponse.requestedOutputs == nil { inferResponse.requestedOutputs = inferRequest.requestOutputs }
            if !inferResponse.useBinaryOutputs { inferResponse.useBinaryOutputs = inferRequest.useBinaryOutputs }
            response = try encodeV2(inferResponse)
        default:
            response = try encodeV1(result)
        }
        merge(responseHeaders, into: &response, drop: ["content-length", "content-type"])
        return response
    }

    private func encodeV2(_ response: InferResponse) throws -> HTTPResponse {
        let message = try response.toRest()
        if let jsonLength = message.jsonLength {
            return HTTPResponse(
                status: 200,
                headers: [("Content-Type", "application/octet-stream"), ("Inference-Header-Content-Length", String(jsonLength))],
                body: .rest(message))
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: .rest(message))
    }

    // MARK: repository

    private func routeRepository(_ request: HTTPRequest, _ p: [String]) async throws -> HTTPResponse {
        let dp = dataPlane
        if p == ["index"] {
            try allow(request, "POST", "GET")
            return .json(await dp.repositoryIndex())
        }
        guard p.count == 3, p[0] == "models", !p[1].isEmpty, p[2] == "load" || p[2] == "unload" else {
            throw KServeError(.notFound, "Not Found: \(request.path)")
        }
        try allow(request, "POST")
        let name = p[1]
        if p[2] == "load" {
            try await dp.load(name)
            return .json(.object(JSONObject([("name", .string(name)), ("load", .bool(true))])))
        }
        try await dp.unload(name)
        return .json(.object(JSONObject([("name", .string(name)), ("unload", .bool(true))])))
    }

    private func merge(_ headers: ResponseHeaders?, into response: inout HTTPResponse, drop: Set<String>) {
        guard let headers else { return }
        for (k, v) in headers.all where !drop.contains(k.lowercased()) {
            response.headers.removeAll { $0.0.lowercased() == k.lowercased() }
            response.headers.append((k, v))
        }
    }
}

let v1JSONTypes: Set<String> = ["application/json", "application/cloudevents+json", "application/ld+json", "application/octet-stream"]

func isStructuredEvent(_ json: JSONValue) -> Bool {
    guard case .object(let o) = json else { return false }
    return ["time", "type", "source", "id", "specversion", "data"].allSatisfy { o[$0] != nil }
}
