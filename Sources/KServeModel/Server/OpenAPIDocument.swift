import KServeProtocol

/// The OpenAPI 3 document of every REST route the server answers (`GET /openapi.json`, always served, as KServe
/// does). Built from ``routes``, the same list the tests compare with the router.
public enum OpenAPIDocument {
    /// One documented operation.
    public struct Route: Sendable, Hashable {
        public let method: String
        public let path: String
        public let summary: String
        let request: String?
        let responses: [(Int, String, String?)]

        public static func == (a: Route, b: Route) -> Bool { a.method == b.method && a.path == b.path }
        public func hash(into h: inout Hasher) {
            h.combine(method)
            h.combine(path)
        }
    }

    private static func r(_ method: String, _ path: String, _ summary: String, request: String? = nil,
                          _ responses: [(Int, String, String?)]) -> Route {
        Route(method: method, path: path, summary: summary, request: request, responses: responses)
    }

    private static let notFound = (404, "Unknown model", Optional("Error"))
    private static let notReady = (503, "The model is registered but not ready (the reason is in the message)", Optional("Error"))
    private static let bad = (400, "Malformed request: the message names the tensor or field", Optional("Error"))
    private static let failed = (500, "The model failed (the message carries the reason)", Optional("Error"))

    /// Every route, in the router's order. `{model}` and `{version}` are path parameters.
    public static func routes(statusPath: String) -> [Route] {
        var list: [Route] = [
            r("get", "/", "Liveness (KServe's root route)", [(200, "Alive", "Status")]),
            r("get", "/metrics", "Prometheus metrics, pool-wide", [(200, "Prometheus text format", nil)]),
            r("get", "/openapi.json", "This document", [(200, "OpenAPI 3 document", nil)]),
            r("get", "/v1/models", "The served models", [(200, "Model names", "ModelList")]),
            r("get", "/v1/models/{model}", "v1 model readiness", [(200, "Ready", "ModelReady"), notFound, notReady]),
            r("post", "/v1/models/{model}:predict", "v1 predict", request: "V1Request",
              [(200, "Predictions", "V1Response"), bad, notFound, failed, notReady]),
            r("post", "/v1/models/{model}:explain", "v1 explain", request: "V1Request",
              [(200, "Explanations", "V1Response"), bad, notFound, (501, "The model does not explain", "Error"), notReady]),
            r("get", "/v2", "Server metadata", [(200, "Name, version, extensions", "ServerMetadata")]),
            r("get", "/v2/health/live", "Server liveness", [(200, "Live", "Live")]),
            r("get", "/v2/health/ready", "Server readiness: every worker has loaded its models",
              [(200, "Ready", "Ready"), (503, "Not ready yet", "Ready")]),
            r("get", "/v2/models", "The served models (KServe extension)", [(200, "Model names", "ModelList")]),
            r("get", "/v2/models/stats", "Triton statistics of every model", [(200, "Statistics", "Statistics")]),
        ]
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            let versioned = prefix.contains("{version}")
            let wrongVersion = (404, "Unknown model or version", Optional("Error"))
            list += [
                r("get", prefix, "Model metadata (inputs and outputs)", [(200, "Metadata", "ModelMetadata"), versioned ? wrongVersion : notFound]),
                r("get", prefix + "/ready", "Model readiness", [(200, "Ready", "ModelReady"), versioned ? wrongVersion : notFound, notReady]),
                r("post", prefix + "/infer", "Open Inference Protocol inference (JSON, or the binary tensor extension)",
                  request: "InferenceRequest",
                  [(200, "Inference response", "InferenceResponse"), bad, versioned ? wrongVersion : notFound, failed, notReady,
                   (413, "A tensor or the body is over its limit", "Error")]),
                r("post", prefix + "/generate", "Text generation (a GenerateRequest handed to the model)",
                  request: "GenerateRequest", [(200, "The model's answer", nil), bad, versioned ? wrongVersion : notFound,
                                              (501, "The model does not generate", "Error"), notReady]),
                r("get", prefix + "/config", "Triton model configuration", [(200, "Configuration", "ModelConfig"), versioned ? wrongVersion : notFound]),
                r("get", prefix + "/stats", "Triton statistics of one model", [(200, "Statistics", "Statistics"), versioned ? wrongVersion : notFound]),
            ]
        }
        list += [
            r("get", "/v2/repository/index", "Triton repository index", [(200, "Every model and its state", nil)]),
            r("post", "/v2/repository/index", "Triton repository index", [(200, "Every model and its state", nil)]),
            r("post", "/v2/repository/models/{model}/load", "Load a model in every worker (also <model_dir>/<model>)",
              [(200, "Loaded", "RepositoryLoad"), (400, "Files of no known format", "Error"), notFound, notReady]),
            r("post", "/v2/repository/models/{model}/unload", "Unload a model from every worker",
              [(200, "Unloaded", "RepositoryUnload"), notFound]),
        ]
        if !statusPath.isEmpty {
            list.append(r("get", statusPath, "Pool status (php-fpm's fields; ?full lists every worker)", [(200, "Status", nil)]))
        }
        return list
    }

    /// The document, as JSON.
    public static func json(serverVersion: String, statusPath: String) -> JSONValue {
        var paths = JSONObject()
        for route in routes(statusPath: statusPath) {
            var op = JSONObject()
            op["summary"] = .string(route.summary)
            op["operationId"] = .string(route.method + route.path.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined())
            var params: [JSONValue] = []
            for name in ["model", "version"] where route.path.contains("{\(name)}") {
                params.append(.object(JSONObject([
                    ("name", .string(name)), ("in", .string("path")), ("required", .bool(true)),
                    ("schema", .object(["type": .string("string")])),
                    ("example", .string(name == "model" ? "echo" : "1")),
                ])))
            }
            if !params.isEmpty { op["parameters"] = .array(params) }
            if let request = route.request {
                op["requestBody"] = .object(JSONObject([
                    ("required", .bool(true)),
                    ("content", .object(["application/json": .object(["schema": ref(request)])])),
                ]))
            }
            var responses = JSONObject()
            for (status, description, schema) in route.responses {
                var response = JSONObject([("description", .string(description))])
                if let schema { response["content"] = .object(["application/json": .object(["schema": ref(schema)])]) }
                responses[String(status)] = .object(response)
            }
            if responses["405"] == nil {
                responses["405"] = .object(JSONObject([("description", .string("Wrong method")),
                                                       ("content", .object(["application/json": .object(["schema": ref("Error")])]))]))
            }
            op["responses"] = .object(responses)
            var item = paths[route.path].flatMap { if case .object(let o) = $0 { return o } else { return nil } } ?? JSONObject()
            item[route.method] = .object(op)
            paths[route.path] = .object(item)
        }
        return .object(JSONObject([
            ("openapi", .string("3.0.3")),
            ("info", .object(JSONObject([
                ("title", .string("kserve-swift")), ("version", .string(serverVersion)),
                ("description", .string("KServe's REST protocols (v1, Open Inference Protocol v2 with the binary tensor extension) and Triton's extras.")),
            ]))),
            ("paths", .object(paths)),
            ("components", .object(["schemas": .object(schemas)])),
        ]))
    }

    private static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }

    private static func obj(_ props: [(String, JSONValue)], required: [String] = []) -> JSONValue {
        var o = JSONObject([("type", .string("object")), ("properties", .object(JSONObject(props)))])
        if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
        return .object(o)
    }

    private static let string: JSONValue = .object(["type": .string("string")])
    private static let boolean: JSONValue = .object(["type": .string("boolean")])
    private static let shape: JSONValue = .object(["type": .string("array"), "items": .object(["type": .string("integer")])])
    private static let anyJSON: JSONValue = .object([:])
    private static let parameters: JSONValue = .object(["type": .string("object"), "additionalProperties": .bool(true)])
    private static let datatype: JSONValue = .object(JSONObject([
        ("type", .string("string")),
        ("enum", .array(DataType.allCases.map { .string($0.rawValue) })),
    ]))

    private static var schemas: JSONObject {
        JSONObject([
            ("Error", obj([("error", string)], required: ["error"])),
            ("Status", obj([("status", string)])),
            ("Live", obj([("live", boolean)])),
            ("Ready", obj([("ready", boolean)])),
            ("ModelReady", obj([("name", string), ("ready", boolean)])),
            ("ModelList", obj([("models", .object(["type": .string("array"), "items": string]))])),
            ("ServerMetadata", obj([("name", string), ("version", string),
                                    ("extensions", .object(["type": .string("array"), "items": string]))])),
            ("TensorMetadata", obj([("name", string), ("datatype", datatype), ("shape", shape)])),
            ("ModelMetadata", obj([("name", string), ("versions", .object(["type": .string("array"), "items": string])),
                                   ("platform", string),
                                   ("inputs", .object(["type": .string("array"), "items": ref("TensorMetadata")])),
                                   ("outputs", .object(["type": .string("array"), "items": ref("TensorMetadata")]))])),
            ("ModelConfig", obj([("name", string), ("input", .object(["type": .string("array"), "items": anyJSON])),
                                 ("output", .object(["type": .string("array"), "items": anyJSON]))])),
            ("Statistics", obj([("model_stats", .object(["type": .string("array"), "items": anyJSON]))])),
            ("RequestInput", obj([("name", string), ("shape", shape), ("datatype", datatype), ("parameters", parameters),
                                  ("data", .object(["type": .string("array"), "items": anyJSON]))],
                                 required: ["name", "shape", "datatype"])),
            ("RequestOutput", obj([("name", string), ("parameters", parameters)], required: ["name"])),
            ("InferenceRequest", obj([("id", string), ("parameters", parameters),
                                      ("inputs", .object(["type": .string("array"), "items": ref("RequestInput")])),
                                      ("outputs", .object(["type": .string("array"), "items": ref("RequestOutput")]))],
                                     required: ["inputs"])),
            ("ResponseOutput", obj([("name", string), ("shape", shape), ("datatype", datatype), ("parameters", parameters),
                                    ("data", .object(["type": .string("array"), "items": anyJSON]))],
                                   required: ["name", "shape", "datatype"])),
            ("InferenceResponse", obj([("model_name", string), ("model_version", string), ("id", string),
                                       ("parameters", parameters),
                                       ("outputs", .object(["type": .string("array"), "items": ref("ResponseOutput")]))],
                                      required: ["model_name", "outputs"])),
            ("V1Request", obj([("instances", .object(["type": .string("array"), "items": anyJSON]))], required: ["instances"])),
            ("V1Response", obj([("predictions", .object(["type": .string("array"), "items": anyJSON]))])),
            ("GenerateRequest", obj([("text_input", string), ("parameters", parameters)])),
            ("RepositoryLoad", obj([("name", string), ("load", boolean)])),
            ("RepositoryUnload", obj([("name", string), ("unload", boolean)])),
        ])
    }
}
