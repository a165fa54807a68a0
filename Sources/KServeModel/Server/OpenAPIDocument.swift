public import KServeProtocol

/// What the OpenAPI document and the Swagger UI page depend on besides the route table.
public struct APIDocumentationOptions: Sendable {
    /// The pool status page's path (`[server] status_path`), documented when not empty.
    public var statusPath: String
    /// The Swagger UI files served under `/docs/` (`enable_docs_url`); `nil` leaves `/docs` unserved.
    public var docsFiles: [String: StaticFile]?

    /// Creates options: no status page, no `/docs`.
    public init(statusPath: String = "", docsFiles: [String: StaticFile]? = nil) {
        self.statusPath = statusPath
        self.docsFiles = docsFiles
    }
}

/// A file served as it is (the Swagger UI's scripts and styles).
public struct StaticFile: Sendable {
    /// The `Content-Type` it is served with.
    public var contentType: String
    /// Its bytes.
    public var bytes: [UInt8]

    /// Creates a file.
    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }
}

/// The OpenAPI 3.0 document of every REST route (`GET /openapi.json`), built from ``RESTRoute``.
///
/// Each route's operation names its path parameters, request body, and the status codes it can answer with
/// their bodies; the schemas (v2 inference request and response, v1 instances and predictions, the error body,
/// metadata, ...) are in `components`. OpenAPI 3.0.3 rather than 3.1, because the Swagger UI bundled for `/docs`
/// (4.15) renders 3.0 only.
public enum OpenAPIDocument {
    /// The document for a server.
    /// - Parameters:
    ///   - serverName: `/v2`'s `name`, shown as the title.
    ///   - version: the server version.
    ///   - options: the status page path and whether `/docs` is served.
    public static func build(serverName: String, version: String, options: APIDocumentationOptions) -> JSONValue {
        var paths = JSONObject()
        for route in RESTRoute.allCases {
            if route.isDocsPage && options.docsFiles == nil { continue }
            var item = paths[route.template].flatMap { if case .object(let o) = $0 { return o } else { return nil } } ?? JSONObject()
            let doc = route.documentation
            for method in route.methods {
                item[method.lowercased()] = operation(doc, route: route, method: method)
            }
            paths[route.template] = .object(item)
        }
        if !options.statusPath.isEmpty {
            let doc = OperationDoc(
                id: "pool_status", tag: "Server", summary: "The worker pool's status page",
                description: "Workers, their states and requests, the accept queue, respawns, recycles, the front ends; `?full` lists every worker. Served by any worker from the shared scoreboard; when no worker answers within 2 s, nginx serves the master's last copy with 503.",
                query: [ParamDoc(name: "full", description: "List every worker with its pid, state, requests and memory.", schema: .object(["type": .string("string")]), example: nil)],
                responses: [
                    (200, .json("PoolStatus", "The pool's status.")),
                    (503, .json("PoolStatus", "No worker answered: the master's copy of the status.")),
                ])
            var item = JSONObject()
            item["get"] = operation(doc, route: nil, method: "GET")
            paths[options.statusPath] = .object(item)
        }
        var info = JSONObject()
        info["title"] = .string(serverName)
        info["version"] = .string(version)
        info["description"] = .string(
            "KServe's REST protocols, served by a pool of Swift workers behind nginx: the v1 protocol, the Open Inference Protocol (v2, with the binary tensor data extension), the model repository extension, Triton's model configuration and statistics, Prometheus metrics and the pool's status page. The gRPC service (inference.GRPCInferenceService) is on the gRPC port.")
        info["license"] = .object(["name": .string("Apache 2.0"), "url": .string("https://www.apache.org/licenses/LICENSE-2.0.html")])
        var doc = JSONObject()
        doc["openapi"] = .string("3.0.3")
        doc["info"] = .object(info)
        doc["tags"] = .array(tags.map { .object(["name": .string($0.0), "description": .string($0.1)]) })
        doc["paths"] = .object(paths)
        doc["components"] = components
        return .object(doc)
    }

    static let tags: [(String, String)] = [
        ("Health", "Liveness and readiness of the server and its models."),
        ("V1", "KServe's v1 protocol: instances in, predictions out."),
        ("V2", "The Open Inference Protocol (v2): metadata, readiness, inference."),
        ("Repository", "The model repository extension: list, load, unload."),
        ("Triton", "Triton's extras: model configuration and statistics."),
        ("Server", "Metrics, the status page and this documentation."),
    ]

    private static func operation(_ doc: OperationDoc, route: RESTRoute?, method: String) -> JSONValue {
        var op = JSONObject()
        op["tags"] = .array([.string(doc.tag)])
        op["summary"] = .string(doc.summary)
        if !doc.description.isEmpty { op["description"] = .string(doc.description) }
        let suffix = (route?.methods.count ?? 1) > 1 ? "_" + method.lowercased() : ""
        op["operationId"] = .string(doc.id + suffix)
        var parameters: [JSONValue] = []
        if let route {
            for segment in route.segments {
                guard case .parameter(let name, _) = segment else { continue }
                let p = pathParameters[name] ?? ParamDoc(name: name, description: "", schema: .object(["type": .string("string")]), example: .string("x"))
                parameters.append(parameter(p, in: "path", required: true))
            }
        }
        for p in doc.query { parameters.append(parameter(p, in: "query", required: false)) }
        if method == "POST" {
            for p in doc.headers { parameters.append(parameter(p, in: "header", required: false)) }
        }
        if !parameters.isEmpty { op["parameters"] = .array(parameters) }
        if method == "POST", let body = doc.requestBody {
            op["requestBody"] = body
        }
        var responses = JSONObject()
        for (status, response) in doc.responses where method == "POST" || status != 413 {
            responses[String(status)] = response.json
        }
        op["responses"] = .object(responses)
        return .object(op)
    }

    private static func parameter(_ p: ParamDoc, in location: String, required: Bool) -> JSONValue {
        var o = JSONObject()
        o["name"] = .string(p.name)
        o["in"] = .string(location)
        o["required"] = .bool(required)
        if !p.description.isEmpty { o["description"] = .string(p.description) }
        o["schema"] = p.schema
        if let example = p.example { o["example"] = example }
        return .object(o)
    }

    static let pathParameters: [String: ParamDoc] = [
        "model_name": ParamDoc(name: "model_name", description: "The model's name.", schema: .object(["type": .string("string")]), example: .string("echo")),
        "model_version": ParamDoc(
            name: "model_version", description: "The model's configured version (`[[models]] version`, default \"1\"); any other version is 404.",
            schema: .object(["type": .string("string")]), example: .string("1")),
        "file": ParamDoc(name: "file", description: "A file of the Swagger UI distribution.", schema: .object(["type": .string("string")]), example: .string("swagger-ui.css")),
    ]

    /// The reusable schemas.
    static let components: JSONValue = {
        do {
            return try JSONValue.parse(componentsText)
        } catch {
            preconditionFailure("OpenAPIDocument.componentsText is not valid JSON: \(error)")
        }
    }()
}

/// A parameter's documentation.
struct ParamDoc: Sendable {
    var name: String
    var description: String
    var schema: JSONValue
    /// Filled in by Swagger UI's "Try it out"; none for optional parameters that change a request's meaning.
    var example: JSONValue?
}

/// One documented answer.
struct ResponseDoc: Sendable {
    var json: JSONValue

    /// A JSON answer whose body is `components/schemas/<schema>`.
    static func json(_ schema: String, _ description: String) -> ResponseDoc {
        ResponseDoc(json: .object([
            "description": .string(description),
            "content": .object(["application/json": .object(["schema": ref(schema)])]),
        ]))
    }

    /// The `{"error": "..."}` answer.
    static func error(_ description: String) -> ResponseDoc { json("Error", description) }

    /// An answer with other media types (`[(media type, schema)]`).
    static func media(_ description: String, _ types: [(String, JSONValue)], headers: JSONValue? = nil) -> ResponseDoc {
        var o = JSONObject()
        o["description"] = .string(description)
        if let headers { o["headers"] = headers }
        o["content"] = .object(JSONObject(types.map { ($0.0, .object(["schema": $0.1])) }))
        return ResponseDoc(json: .object(o))
    }
}

func ref(_ schema: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(schema)")]) }

/// One operation's documentation.
struct OperationDoc: Sendable {
    var id: String
    var tag: String
    var summary: String
    var description: String = ""
    var query: [ParamDoc] = []
    var headers: [ParamDoc] = []
    var requestBody: JSONValue? = nil
    var responses: [(Int, ResponseDoc)]
}

private let notFound = ResponseDoc.error("No model with this name (or version).")
private let notReady = ResponseDoc.error("The model is not ready (loading, failed to load with the reason, or unloaded).")
private let badInput = ResponseDoc.error("The request is malformed: its JSON, a tensor's shape, datatype or data; the message names it.")
private let tooLarge = ResponseDoc.error("The body (nginx's `[http] max_body_size`) or a tensor (`[limits] max_tensor_bytes`) is over its limit.")
private let modelError = ResponseDoc.error("The model raised an error while answering (the registered exception handler got it).")
private let notImplemented = ResponseDoc.error("The model does not implement this verb (e.g. explain without an explainer_host, generate on a model that does not generate).")
private let badGateway = ResponseDoc.error("A transformer's predictor could not be reached (the message names the host).")
private let timedOut = ResponseDoc.error("A transformer's predictor, or the request itself (`[server] request_timeout`), took too long.")

private let inferHeaders = [
    ParamDoc(
        name: "Inference-Header-Content-Length",
        description: "Binary tensor data extension: the length of the JSON header at the start of an `application/octet-stream` body; the tensors' bytes follow it.",
        schema: .object(["type": .string("integer"), "minimum": .int(0)]), example: nil),
]

extension RESTRoute {
    /// The route's documentation (every case has one: a new route does not compile without it).
    var documentation: OperationDoc {
        switch self {
        case .root:
            return OperationDoc(id: "server_alive", tag: "Health", summary: "KServe's liveness answer", responses: [(200, .json("Alive", "The server is alive."))])
        case .metrics:
            return OperationDoc(
                id: "metrics", tag: "Server", summary: "Prometheus metrics of the whole pool",
                description: "KServe's request histograms (`request_preprocess_seconds`, `request_predict_seconds`, ...), `kserve_requests_total{model_name,status}` and the pool's gauges, summed over every worker.",
                responses: [(200, .media("The Prometheus text exposition.", [("text/plain", .object(["type": .string("string")]))]))])
        case .openAPI:
            return OperationDoc(
                id: "openapi", tag: "Server", summary: "This OpenAPI document",
                responses: [(200, .media("The OpenAPI 3.0 document of every REST route.", [("application/json", .object(["type": .string("object")]))]))])
        case .docs:
            return OperationDoc(
                id: "docs", tag: "Server", summary: "The Swagger UI page over this document (`enable_docs_url`)",
                description: "Every file the page loads is served by this server (no CDN).",
                responses: [(200, .media("The page.", [("text/html", .object(["type": .string("string")]))]))])
        case .docsAsset:
            return OperationDoc(
                id: "docs_file", tag: "Server", summary: "A file of the Swagger UI page (scripts, styles, icons)",
                responses: [
                    (200, .media("The file.", [
                        ("application/javascript", .object(["type": .string("string")])), ("text/css", .object(["type": .string("string")])),
                        ("image/png", .object(["type": .string("string"), "format": .string("binary")])), ("text/html", .object(["type": .string("string")])),
                    ])),
                    (404, .error("No such file.")),
                ])
        case .v1Models:
            return OperationDoc(id: "v1_models", tag: "V1", summary: "The names of the models served", responses: [(200, .json("ModelList", "The model names."))])
        case .v1Predict, .v1Explain:
            let verb = self == .v1Predict ? "predict" : "explain"
            return OperationDoc(
                id: "v1_\(verb)", tag: "V1", summary: "v1 \(verb): instances in, \(self == .v1Predict ? "predictions" : "explanations") out",
                description: "The body is `{\"instances\": [...]}` (or any JSON the model takes, or a CloudEvent); the answer is the model's JSON, `{\"predictions\": [...]}` for a predictor.",
                requestBody: .object([
                    "required": .bool(true),
                    "content": .object([
                        "application/json": .object([
                            "schema": ref("V1Request"),
                            "example": .object(["instances": .array([.array([.int(1), .int(2)])])]),
                        ]),
                    ]),
                ]),
                responses: [
                    (200, .json("V1Response", "The model's answer.")), (400, badInput), (404, notFound), (413, tooLarge),
                    (500, modelError), (501, notImplemented), (502, badGateway), (503, notReady), (504, timedOut),
                ])
        case .v1ModelReady:
            return OperationDoc(
                id: "v1_model_ready", tag: "Health", summary: "v1 model readiness",
                responses: [(200, .json("ModelReady", "The model is ready.")), (404, notFound), (503, notReady)])
        case .v2Server:
            return OperationDoc(id: "v2_server_metadata", tag: "V2", summary: "Server metadata", responses: [(200, .json("ServerMetadata", "Name, version and extensions."))])
        case .v2Live:
            return OperationDoc(id: "v2_live", tag: "Health", summary: "Server liveness", responses: [(200, .json("ServerLive", "The server is live."))])
        case .v2Ready:
            return OperationDoc(
                id: "v2_ready", tag: "Health", summary: "Server readiness",
                description: "Ready once every worker of the pool has loaded its models and every model is ready.",
                responses: [(200, .json("ServerReady", "Ready.")), (503, .json("ServerReady", "Not ready yet."))])
        case .v2Models:
            return OperationDoc(id: "v2_models", tag: "Repository", summary: "The names of the models served", responses: [(200, .json("ModelList", "The model names."))])
        case .v2AllStats:
            return OperationDoc(id: "v2_all_stats", tag: "Triton", summary: "Statistics of every model (Triton)", responses: [(200, .json("ModelStatistics", "Per-model inference statistics, pool-wide."))])
        case .v2ModelMetadata, .v2VersionMetadata:
            return OperationDoc(
                id: self == .v2ModelMetadata ? "v2_model_metadata" : "v2_model_version_metadata", tag: "V2", summary: "Model metadata",
                description: "Available whether or not the model is ready.",
                responses: [(200, .json("ModelMetadata", "Name, versions, platform, inputs and outputs.")), (404, notFound)])
        case .v2ModelReady, .v2VersionReady:
            return OperationDoc(
                id: self == .v2ModelReady ? "v2_model_ready" : "v2_model_version_ready", tag: "Health", summary: "Model readiness",
                responses: [(200, .json("ModelReady", "The model is ready.")), (404, notFound), (503, notReady)])
        case .v2Infer, .v2VersionInfer:
            let example: JSONValue = .object(JSONObject([
                ("inputs", .array([.object(JSONObject([
                    ("name", .string("input-0")), ("shape", .array([.int(2)])), ("datatype", .string("FP32")),
                    ("data", .array([.double(1.5), .double(2.5)])),
                ]))])),
            ]))
            return OperationDoc(
                id: self == .v2Infer ? "v2_infer" : "v2_model_version_infer", tag: "V2", summary: "Inference (Open Inference Protocol)",
                description: "A JSON InferenceRequest, or with `Inference-Header-Content-Length` the binary tensor data extension: the JSON header, then the tensors' raw bytes (`parameters.binary_data_size` on each input). Outputs asked for with `binary_data` come back the same way.",
                headers: inferHeaders,
                requestBody: .object([
                    "required": .bool(true),
                    "content": .object([
                        "application/json": .object(["schema": ref("InferenceRequest"), "example": example]),
                        "application/octet-stream": .object(["schema": .object(["type": .string("string"), "format": .string("binary")])]),
                    ]),
                ]),
                responses: [
                    (200, .media(
                        "The InferenceResponse; `application/octet-stream` with `Inference-Header-Content-Length` when an output is binary.",
                        [("application/json", ref("InferenceResponse")), ("application/octet-stream", .object(["type": .string("string"), "format": .string("binary")]))],
                        headers: .object(["Inference-Header-Content-Length": .object([
                            "description": .string("Set on a binary answer: the length of its JSON header."),
                            "schema": .object(["type": .string("integer")]),
                        ])]))),
                    (400, badInput), (404, notFound), (413, tooLarge), (500, modelError), (501, notImplemented), (502, badGateway), (503, notReady),
                    (504, timedOut),
                ])
        case .v2Generate, .v2VersionGenerate:
            return OperationDoc(
                id: self == .v2Generate ? "v2_generate" : "v2_model_version_generate", tag: "V2", summary: "Generate (text in, text out)",
                description: "The GenerateRequest is handed to the model as JSON; the model's JSON answer is the GenerateResponse (a model that does not generate answers 501).",
                requestBody: .object([
                    "required": .bool(true),
                    "content": .object([
                        "application/json": .object([
                            "schema": ref("GenerateRequest"),
                            "example": .object(["text_input": .string("hello"), "parameters": .object([:])]),
                        ]),
                    ]),
                ]),
                responses: [
                    (200, .json("GenerateResponse", "The model's answer.")), (400, badInput), (404, notFound), (413, tooLarge),
                    (500, modelError), (501, notImplemented), (502, badGateway), (503, notReady), (504, timedOut),
                ])
        case .v2ModelConfig, .v2VersionConfig:
            return OperationDoc(
                id: self == .v2ModelConfig ? "v2_model_config" : "v2_model_version_config", tag: "Triton", summary: "Model configuration (Triton)",
                responses: [(200, .json("ModelConfig", "Enough of Triton's model configuration for tritonclient and perf_analyzer.")), (404, notFound)])
        case .v2ModelStats, .v2VersionStats:
            return OperationDoc(
                id: self == .v2ModelStats ? "v2_model_stats" : "v2_model_version_stats", tag: "Triton", summary: "Model statistics (Triton)",
                responses: [(200, .json("ModelStatistics", "The model's inference statistics, pool-wide.")), (404, notFound)])
        case .repositoryIndex:
            return OperationDoc(
                id: "repository_index", tag: "Repository", summary: "Every known model with its state",
                responses: [(200, .json("RepositoryIndex", "Name, version, state (READY / UNAVAILABLE) and reason."))])
        case .repositoryLoad:
            return OperationDoc(
                id: "repository_load", tag: "Repository", summary: "Load a model in every worker",
                description: "A configured model, or with `--model_dir` a folder `<model_dir>/<model_name>` (its kind found from its files).",
                responses: [
                    (200, .json("RepositoryLoad", "Loaded.")), (400, .error("The name or the folder's files cannot be served.")),
                    (404, notFound), (500, modelError), (503, notReady),
                ])
        case .repositoryUnload:
            return OperationDoc(
                id: "repository_unload", tag: "Repository", summary: "Unload a model in every worker",
                responses: [(200, .json("RepositoryUnload", "Unloaded.")), (404, notFound), (500, modelError)])
        }
    }
}

/// `components` of the document: the schemas of the bodies.
private let componentsText = #"""
{
  "schemas": {
    "Error": {
      "type": "object", "required": ["error"],
      "properties": {"error": {"type": "string", "description": "What went wrong, and what to do about it."}},
      "example": {"error": "Model with name nope does not exist."}
    },
    "Alive": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "example": "alive"}}},
    "ModelList": {"type": "object", "required": ["models"], "properties": {"models": {"type": "array", "items": {"type": "string"}}}},
    "ModelReady": {"type": "object", "required": ["name", "ready"], "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    "ServerLive": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "ServerReady": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ServerMetadata": {
      "type": "object", "required": ["name", "version", "extensions"],
      "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}}
    },
    "Datatype": {
      "type": "string",
      "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]
    },
    "Parameters": {
      "type": "object", "nullable": true, "description": "Free-form parameters: strings, numbers, booleans (null when none, as KServe).",
      "additionalProperties": true
    },
    "TensorData": {
      "description": "The tensor's elements in row-major order: a flat list, or nested lists of the tensor's shape. BYTES elements are strings. Absent when the tensor travels as binary data.",
      "type": "array", "items": {}
    },
    "MetadataTensor": {
      "type": "object", "required": ["name", "datatype", "shape"],
      "properties": {
        "name": {"type": "string"}, "datatype": {"$ref": "#/components/schemas/Datatype"},
        "shape": {"type": "array", "items": {"type": "integer", "format": "int64"}, "description": "-1 for a variable dimension."},
        "parameters": {"$ref": "#/components/schemas/Parameters"}
      }
    },
    "ModelMetadata": {
      "type": "object", "required": ["name", "platform", "inputs", "outputs"],
      "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}}, "platform": {"type": "string"},
        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/MetadataTensor"}},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/MetadataTensor"}}
      }
    },
    "RequestInput": {
      "type": "object", "required": ["name", "shape", "datatype"],
      "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "format": "int64", "minimum": 0}},
        "datatype": {"$ref": "#/components/schemas/Datatype"},
        "parameters": {"$ref": "#/components/schemas/Parameters"},
        "data": {"$ref": "#/components/schemas/TensorData"}
      }
    },
    "RequestOutput": {
      "type": "object", "required": ["name"],
      "properties": {"name": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/Parameters"}}
    },
    "InferenceRequest": {
      "type": "object", "required": ["inputs"],
      "properties": {
        "id": {"type": "string"},
        "parameters": {"$ref": "#/components/schemas/Parameters"},
        "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/RequestInput"}},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/RequestOutput"}}
      }
    },
    "ResponseOutput": {
      "type": "object", "required": ["name", "shape", "datatype"],
      "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "format": "int64", "minimum": 0}},
        "datatype": {"$ref": "#/components/schemas/Datatype"},
        "parameters": {"$ref": "#/components/schemas/Parameters"},
        "data": {"$ref": "#/components/schemas/TensorData"}
      }
    },
    "InferenceResponse": {
      "type": "object", "required": ["model_name", "outputs"],
      "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string", "nullable": true}, "id": {"type": "string"},
        "parameters": {"$ref": "#/components/schemas/Parameters"},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/ResponseOutput"}}
      }
    },
    "V1Request": {
      "type": "object",
      "description": "KServe v1: `instances` is the list of inputs (any JSON each); a model may take other keys too (`inputs`, ...).",
      "properties": {"instances": {"type": "array", "items": {}}},
      "additionalProperties": true
    },
    "V1Response": {
      "type": "object",
      "description": "The model's JSON answer: `predictions` for a predictor, `explanations` for an explainer, or what the model returns.",
      "properties": {"predictions": {"type": "array", "items": {}}, "explanations": {}},
      "additionalProperties": true
    },
    "GenerateRequest": {
      "type": "object", "required": ["text_input"],
      "properties": {"text_input": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/Parameters"}},
      "additionalProperties": true
    },
    "GenerateResponse": {
      "type": "object",
      "properties": {"text_output": {"type": "string"}, "model_name": {"type": "string"}, "model_version": {"type": "string"}},
      "additionalProperties": true
    },
    "ModelConfig": {
      "type": "object", "required": ["name", "input", "output"],
      "properties": {
        "name": {"type": "string"}, "platform": {"type": "string"}, "backend": {"type": "string"},
        "max_batch_size": {"type": "integer"},
        "input": {"type": "array", "items": {"type": "object"}}, "output": {"type": "array", "items": {"type": "object"}}
      }
    },
    "ModelStatistics": {
      "type": "object", "required": ["model_stats"],
      "properties": {"model_stats": {"type": "array", "items": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "inference_count": {"type": "integer"}, "execution_count": {"type": "integer"}, "inference_stats": {"type": "object"}}
      }}}
    },
    "RepositoryIndex": {
      "type": "array",
      "items": {
        "type": "object", "required": ["name", "state"],
        "properties": {
          "name": {"type": "string"}, "version": {"type": "string"},
          "state": {"type": "string", "enum": ["READY", "UNAVAILABLE"]}, "reason": {"type": "string"}
        }
      }
    },
    "RepositoryLoad": {"type": "object", "required": ["name", "load"], "properties": {"name": {"type": "string"}, "load": {"type": "boolean"}}},
    "RepositoryUnload": {"type": "object", "required": ["name", "unload"], "properties": {"name": {"type": "string"}, "unload": {"type": "boolean"}}},
    "PoolStatus": {
      "type": "object", "required": ["pool", "source", "total workers"],
      "description": "php-fpm's status page fields, for this pool (see the README, \"Status page and gauges\").",
      "properties": {
        "pool": {"type": "string"}, "source": {"type": "string", "enum": ["worker", "master"]},
        "accepted conn": {"type": "integer"}, "listen queue": {"type": "integer", "nullable": true},
        "idle workers": {"type": "integer"}, "active workers": {"type": "integer"}, "total workers": {"type": "integer"},
        "max_asyncio_workers": {"type": "integer", "description": "Accept loops per worker ([server] threads)."},
        "max_threads": {"type": "integer", "nullable": true, "description": "gRPC calls in flight ([grpc] max_concurrent_calls); null without gRPC."},
        "workers": {"type": "array", "items": {"type": "object"}}
      },
      "additionalProperties": true
    }
  }
}
"""#

/// `GET /docs`: the Swagger UI page. Its script and styles are served by this server from `/docs/` (the files of the
/// PyPI `swagger-ui-bundle` distribution, see the README); URLs are relative, so the page also works behind a path
/// prefix. `validatorUrl: null` keeps Swagger UI from asking validator.swagger.io: no request leaves the server.
let swaggerUIPage = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kserve-swift API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  oauth2RedirectUrl: new URL("docs/oauth2-redirect.html", window.location.href).href
});
</script>
</body>
</html>
"""#
