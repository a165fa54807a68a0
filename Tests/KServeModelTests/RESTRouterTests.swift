import KServeModel
import KServeProtocol
import KServeSamples
import Testing

/// Drives the real router and data plane with the sample models, in process (no transport).
struct RESTRouterTests {
    static func makeRouter(unloadable: Bool = false) async throws -> RESTRouter {
        let repository = ModelRepository()
        repository.update(EchoModel(name: "echo"))
        repository.update(BrokenModel(name: "broken"))
        repository.update(FP16OutputModel(name: "fp16-output"))
        for (name, _) in repository.models { try? await repository.load(name) }
        let metrics = ServerMetrics(storage: InMemoryCounterStorage())
        for (_, m) in repository.models { (m as? Model)?.addObserver(metrics) }
        let dataPlane = DataPlane(repository: repository, metrics: metrics, options: DataPlaneOptions(), stateStore: nil)
        return RESTRouter(dataPlane: dataPlane)
    }

    static func body(_ r: HTTPResponse) -> [UInt8] {
        switch r.body {
        case .bytes(let b): return b
        case .rest(let m): return m.joined()
        case .stream: return []
        case .parts(let parts): return Array(parts.joined())
        }
    }

    static func json(_ r: HTTPResponse) throws -> JSONValue { try JSONValue.parse(body(r)[...]) }

    static func post(_ path: String, _ text: String, headers: [String: String] = ["content-type": "application/json"]) -> HTTPRequest {
        HTTPRequest(method: "POST", path: path, headers: headers, body: Array(text.utf8))
    }

    @Test func rootAndHealth() async throws {
        let router = try await Self.makeRouter()
        let root = await router.handle(HTTPRequest(method: "GET", path: "/"))
        #expect(root.status == 200)
        #expect(try Self.json(root) == .object(["status": .string("alive")]))
        let live = await router.handle(HTTPRequest(method: "GET", path: "/v2/health/live"))
        #expect(try Self.json(live) == .object(["live": .bool(true)]))
    }

    @Test func brokenModelIsListedButNotReady() async throws {
        let router = try await Self.makeRouter()
        let list = await router.handle(HTTPRequest(method: "GET", path: "/v1/models"))
        #expect(try Self.json(list)["models"] == .array([.string("echo"), .string("broken"), .string("fp16-output")]))
        let ready = await router.handle(HTTPRequest(method: "GET", path: "/v2/models/broken/ready"))
        #expect(ready.status == 503)
    }

    @Test func v1PredictKeepsIntegersAndFloatsExact() async throws {
        let router = try await Self.makeRouter()
        let r = await router.handle(Self.post("/v1/models/echo:predict", #"{"instances":[[1,2.5,9007199254740993]]}"#))
        #expect(r.status == 200)
        #expect(String(decoding: Self.body(r), as: UTF8.self) == #"{"predictions":[[1,2.5,9007199254740993]]}"#)
    }

    @Test func v1InstancesMustBeAList() async throws {
        let router = try await Self.makeRouter()
        let r = await router.handle(Self.post("/v1/models/echo:predict", #"{"instances":"x"}"#))
        #expect(r.status == 400)
        #expect(try Self.json(r) == .object(["error": .string(#"Expected "instances" to be a list"#)]))
    }

    @Test func unknownModelIs404AndUnreadyIs503() async throws {
        let router = try await Self.makeRouter()
        let missing = await router.handle(Self.post("/v2/models/nope/infer", "{}"))
        #expect(missing.status == 404)
        #expect(try Self.json(missing) == .object(["error": .string("Model with name nope does not exist.")]))
        let broken = await router.handle(Self.post("/v1/models/broken:predict", #"{"instances":[]}"#))
        #expect(broken.status == 503)
        guard case .string(let message)? = try Self.json(broken)["error"] else { Issue.record("no error"); return }
        #expect(message.hasPrefix("Model with name broken is not ready."))
    }

    @Test func unknownPathAndWrongMethod() async throws {
        let router = try await Self.makeRouter()
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/nope")).status == 404)
        #expect(await router.handle(HTTPRequest(method: "POST", path: "/v2/health/live")).status == 405)
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/v2/models/echo/infer")).status == 405)
    }

    @Test func v2InferEchoesTensorsAndId() async throws {
        let router = try await Self.makeRouter()
        let r = await router.handle(Self.post(
            "/v2/models/echo/infer",
            #"{"id":"abc","parameters":{"p":1},"inputs":[{"name":"a","shape":[1,2],"datatype":"FP32","data":[[1.5,6.8]]}]}"#))
        #expect(r.status == 200)
        let j = try Self.json(r)
        #expect(j["id"] == .string("abc"))
        #expect(j["model_name"] == .string("echo"))
        #expect(j["parameters"] == .object(["p": .int(1)]))
        guard case .array(let outputs)? = j["outputs"], let first = outputs.first else { Issue.record("no outputs"); return }
        #expect(first["name"] == .string("output-0"))
        #expect(first["shape"] == .array([.int(1), .int(2)]))
        #expect(first["data"] == .array([.double(1.5), .double(6.8)]))
    }

    @Test func versionRoutes() async throws {
        let router = try await Self.makeRouter()
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/v2/models/echo/versions/1/ready")).status == 200)
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/v2/models/echo/versions/2/ready")).status == 404)
    }

    @Test func unloadThenLoad() async throws {
        let router = try await Self.makeRouter()
        let u = await router.handle(Self.post("/v2/repository/models/echo/unload", ""))
        #expect(try Self.json(u) == .object(JSONObject([("name", .string("echo")), ("unload", .bool(true))])))
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/v2/models/echo/ready")).status == 404)
        let l = await router.handle(Self.post("/v2/repository/models/echo/load", ""))
        #expect(l.status == 200)
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/v2/models/echo/ready")).status == 200)
    }

    @Test func metricsCountPredictCalls() async throws {
        let router = try await Self.makeRouter()
        for _ in 0..<3 { _ = await router.handle(Self.post("/v1/models/echo:predict", #"{"instances":[1]}"#)) }
        let m = await router.handle(HTTPRequest(method: "GET", path: "/metrics"))
        let text = String(decoding: Self.body(m), as: UTF8.self)
        #expect(text.contains(#"request_predict_seconds_count{model_name="echo"} 3.0"#))
        #expect(text.contains(#"kserve_requests_total{model_name="echo",status="200"} 3.0"#))
    }

    @Test func generateIsNotImplementedForEcho() async throws {
        let router = try await Self.makeRouter()
        let r = await router.handle(Self.post("/v2/models/echo/generate", #"{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]}]}"#))
        #expect(r.status == 501)
    }
}
