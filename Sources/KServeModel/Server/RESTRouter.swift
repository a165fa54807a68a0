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
    /// The Swagger UI files by name, when `/docs` is served (`enable_docs_url`).
    private let docs: [String: StaticFile]?
    /// `GET /openapi.json`, serialized once.
    private let openAPIBytes: [UInt8]

    /// Creates the router.
    /// - Parameters:
    ///   - dataPlane: the models and the server's state.
    ///   - extraRoutes: answered first when they return a response (the worker's status page).
    ///   - documentation: the status page's path (for the OpenAPI document) and the Swagger UI files for `/docs`.
    public init(
        dataPlane: DataPlane, extraRoutes: [@Sendable (HTTPRequest) async -> HTTPResponse?] = [],
        documentation: APIDocumentationOptions = APIDocumentationOptions()
    ) {
        self.dataPlane = dataPlane
        self.cloudEvents = CloudEventSettings.fromEnvironment()
        self.extraRoutes = extraRoutes
        self.docs = documentation.docsFiles
        self.openAPIBytes = OpenAPIDocument.build(
            serverName: dataPlane.options.serverName, version: dataPlane.options.serverVersion, options: documentation
        ).serialized()
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

    private func route(_ request: HTTPRequest) async throws -> HTTPResponse {
        switch RouteTable.resolve(method: request.method, path: request.path, docs: docs != nil) {
        case .notFound:
            throw KServeError(.notFound, "Not Found: \(request.path)")
        case .methodNotAllowed(let allowed):
            throw KServeError(.methodNotAllowed, "Method \(request.method) is not allowed on \(request.path); use \(allowed.joined(separator: ", ")).")
        case .matched(let match):
            return try await serve(match, request)
        }
    }

    /// Answers a request matched to a route. The switch is exhaustive over ``RESTRoute``, as is its documentation.
    private func serve(_ match: RouteMatch, _ request: HTTPRequest) async throws -> HTTPResponse {
        let dp = dataPlane
        let name = match.parameters["model_name"] ?? ""
        let version = match.parameters["model_version"]
        switch match.route {
        case .root:
            return .json(.object(["status": .string("alive")]))
        case .metrics:
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: .bytes(Array(dp.metrics.renderPrometheus().utf8)))
        case .openAPI:
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: .bytes(openAPIBytes))
        case .docs:
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")],
                body: .bytes(Array(swaggerUIPage.utf8)))
        case .docsAsset:
            let file = match.parameters["file"] ?? ""
            guard let asset = docs?[file] else { throw KServeError(.notFound, "Not Found: \(request.path)") }
            return HTTPResponse(
                status: 200, headers: [("Content-Type", asset.contentType), ("Cache-Control", "max-age=86400")],
                body: .bytes(asset.bytes))
        case .v1Models, .v2Models:
            return .json(.object(["models": .array(dp.repository.models.map { .string($0.name) })]))
        case .v1Predict:
            return try await v1Infer(request, model: name, verb: .predict)
        case .v1Explain:
            return try await v1Infer(request, model: name, verb: .explain)
        case .v1ModelReady:
            try await dp.checkModelReady(name)
            return .json(.object(["name": .string(name), "ready": .bool(true)]))
        case .v2Server:
            return .json(.object(JSONObject([
                ("name", .string(dp.options.serverName)), ("version", .string(dp.options.serverVersion)),
                ("extensions", .array(["model_repository_extension", "binary_tensor_data", "statistics"].map { .string($0) })),
            ])))
        case .v2Live:
            return .json(.object(["live": .bool(dp.live())]))
        case .v2Ready:
            let ready = await dp.ready()
            return .json(.object(["ready": .bool(ready)]), status: ready ? 200 : 503)
        case .v2AllStats:
            let stats = dp.repository.models.map { dp.metrics.statistics(model: $0.name, version: dp.version(of: $0.name)) }
            return .json(.object(["model_stats": .array(stats)]))
        case .v2ModelMetadata, .v2VersionMetadata:
            try dp.checkVersion(name, version)
            return .json(try dp.metadata(name))
        case .v2ModelReady, .v2VersionReady:
            try dp.checkVersion(name, version)
            try await dp.checkModelReady(name)
            return .json(.object(["name": .string(name), "ready": .bool(true)]))
        case .v2Infer, .v2VersionInfer:
            try dp.checkVersion(name, version)
            return try await v2Infer(request, model: name, version: version)
        case .v2Generate, .v2VersionGenerate:
            try dp.checkVersion(name, version)
            return try await v2Generate(request, model: name)
        case .v2ModelConfig, .v2VersionConfig:
            try dp.checkVersion(name, version)
            return .json(try dp.tritonConfig(name))
        case .v2ModelStats, .v2VersionStats:
            try dp.checkVersion(name, version)
            _ = try dp.model(name)
            return .json(.object(["model_stats": .array([dp.metrics.statistics(model: name, version: dp.version(of: name))])]))
        case .repositoryIndex:
            return .json(await dp.repositoryIndex())
        case .repositoryLoad:
            try await dp.load(name)
            return .json(.object(JSONObject([("name", .string(name)), ("load", .bool(true))])))
        case .repositoryUnload:
            try await dp.unload(name)
            return .json(.object(JSONObject([("name", .string(name)), ("unload", .bool(true))])))
        }
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
