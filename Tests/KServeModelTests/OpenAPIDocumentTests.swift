import KServeModel
import KServeProtocol
import Testing

/// The route table, the router's dispatch through it, and the OpenAPI document built from it.
struct OpenAPIDocumentTests {
    /// A concrete path for a template (`{model_name}` -> `echo`, `{model_version}` -> `1`, `{file}` -> `a.css`).
    static func example(_ template: String) -> String {
        template.replacingOccurrences("{model_name}", "echo").replacingOccurrences("{model_version}", "1")
            .replacingOccurrences("{file}", "a.css")
    }

    @Test("Every route's example path resolves to that route, for each of its methods")
    func everyRouteResolvesToItself() {
        for route in RESTRoute.allCases {
            for method in route.methods {
                let resolution = RouteTable.resolve(method: method, path: Self.example(route.template), docs: true)
                guard case .matched(let match) = resolution else {
                    Issue.record("\(method) \(route.template) did not resolve: \(resolution)")
                    continue
                }
                #expect(match.route == route, "\(method) \(route.template) resolved to \(match.route)")
            }
        }
    }

    @Test("Parameters, suffix segments, 404 and 405")
    func resolution() {
        #expect(RouteTable.resolve(method: "POST", path: "/v1/models/m:predict", docs: false)
            == .matched(RouteMatch(route: .v1Predict, parameters: ["model_name": "m"])))
        // GET on a :predict path is the readiness of a model with that name (as KServe: 404 for it)
        #expect(RouteTable.resolve(method: "GET", path: "/v1/models/m:predict", docs: false)
            == .matched(RouteMatch(route: .v1ModelReady, parameters: ["model_name": "m:predict"])))
        #expect(RouteTable.resolve(method: "GET", path: "/v2/models/stats", docs: false)
            == .matched(RouteMatch(route: .v2AllStats, parameters: [:])))
        #expect(RouteTable.resolve(method: "GET", path: "/v2/models/m/versions/7/ready", docs: false)
            == .matched(RouteMatch(route: .v2VersionReady, parameters: ["model_name": "m", "model_version": "7"])))
        #expect(RouteTable.resolve(method: "GET", path: "/v2/", docs: false) == .matched(RouteMatch(route: .v2Server, parameters: [:])))
        #expect(RouteTable.resolve(method: "HEAD", path: "/v2/health/ready", docs: false) == .matched(RouteMatch(route: .v2Ready, parameters: [:])))
        #expect(RouteTable.resolve(method: "DELETE", path: "/v2/models/m/infer", docs: false) == .methodNotAllowed(allowed: ["POST"]))
        #expect(RouteTable.resolve(method: "GET", path: "/v2/models/m/infer", docs: false) == .methodNotAllowed(allowed: ["POST"]))
        for path in ["/v2/models/", "/v1/models/", "/v2/health/live/", "/nope", "/v2/models/m/versions//infer"] {
            #expect(RouteTable.resolve(method: "GET", path: path, docs: true) == .notFound, "\(path)")
        }
        #expect(RouteTable.resolve(method: "GET", path: "/docs", docs: false) == .notFound)
        // Segments are compared as UTF-8: non-ASCII model names keep every byte, and a name that is only the
        // suffix is no match for the suffixed route.
        #expect(RouteTable.resolve(method: "POST", path: "/v1/models/modèle-ü😀:explain", docs: false)
            == .matched(RouteMatch(route: .v1Explain, parameters: ["model_name": "modèle-ü😀"])))
        #expect(RouteTable.resolve(method: "POST", path: "/v1/models/e\u{301}:predict", docs: false)
            == .matched(RouteMatch(route: .v1Predict, parameters: ["model_name": "e\u{301}"])))
        #expect(RouteTable.resolve(method: "POST", path: "/v1/models/:predict", docs: false) != .matched(RouteMatch(route: .v1Predict, parameters: ["model_name": ""])))
        #expect(RouteTable.resolve(method: "POST", path: "/v2/models/ü/infer", docs: false)
            == .matched(RouteMatch(route: .v2Infer, parameters: ["model_name": "ü"])))
        #expect(RouteTable.resolve(method: "GET", path: "/docs", docs: true) == .matched(RouteMatch(route: .docs, parameters: [:])))
    }

    static func document(docs: Bool, status: String = "/status") throws -> JSONObject {
        let options = APIDocumentationOptions(statusPath: status, docsFiles: docs ? [:] : nil)
        guard case .object(let doc) = OpenAPIDocument.build(serverName: "kserve", version: "1", options: options) else {
            throw DocumentError()
        }
        return doc
    }

    struct DocumentError: Error {}

    @Test("The document has every route with each method, its path parameters and responses")
    func documentCoversTheTable() throws {
        let doc = try Self.document(docs: true)
        #expect(doc["openapi"] == .string("3.0.3"))
        guard case .object(let paths)? = doc["paths"] else { throw DocumentError() }
        for route in RESTRoute.allCases {
            guard case .object(let item)? = paths[route.template] else {
                Issue.record("\(route.template) is not documented")
                continue
            }
            for method in route.methods {
                guard case .object(let op)? = item[method.lowercased()] else {
                    Issue.record("\(method) \(route.template) is not documented")
                    continue
                }
                guard case .object(let responses)? = op["responses"] else {
                    Issue.record("\(method) \(route.template) has no responses")
                    continue
                }
                #expect(responses["200"] != nil, "\(method) \(route.template): no 200")
                let names = route.template.split(separator: "{").dropFirst().map { $0.prefix { $0 != "}" } }
                let documented: [String] = {
                    guard case .array(let ps)? = op["parameters"] else { return [] }
                    return ps.compactMap { p in
                        if p["in"] == .string("path"), case .string(let n)? = p["name"] { return n }
                        return nil
                    }
                }()
                #expect(documented == names.map(String.init), "\(route.template): path parameters \(documented)")
            }
        }
        #expect(paths["/status"] != nil)
        #expect(paths["/docs"] != nil)
    }

    @Test("Without enable_docs_url /docs is neither served nor documented; the status page follows its path")
    func documentFollowsOptions() throws {
        let doc = try Self.document(docs: false, status: "/pool")
        guard case .object(let paths)? = doc["paths"] else { throw DocumentError() }
        #expect(paths["/docs"] == nil && paths["/docs/{file}"] == nil)
        #expect(paths["/pool"] != nil && paths["/status"] == nil)
        #expect(paths["/openapi.json"] != nil)
    }

    @Test("Every $ref in the document names a schema in components")
    func referencesResolve() throws {
        let doc = try Self.document(docs: true)
        guard case .object(let components)? = doc["components"], case .object(let schemas)? = components["schemas"] else {
            throw DocumentError()
        }
        var refs: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let o):
                for (k, child) in o.members {
                    if k == "$ref", case .string(let r) = child { refs.append(r) } else { walk(child) }
                }
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(.object(doc))
        #expect(!refs.isEmpty)
        for r in refs {
            let name = String(r.dropFirst("#/components/schemas/".count))
            #expect(r.hasPrefix("#/components/schemas/") && schemas[name] != nil, "dangling \(r)")
        }
    }

    @Test("The router serves /openapi.json, and /docs only with its files")
    func routerServesTheDocument() async throws {
        let router = try await RESTRouterTests.makeRouter()
        let r = await router.handle(HTTPRequest(method: "GET", path: "/openapi.json"))
        #expect(r.status == 200)
        let json = try RESTRouterTests.json(r)
        #expect(json["openapi"] == .string("3.0.3"))
        #expect(await router.handle(HTTPRequest(method: "GET", path: "/docs")).status == 404)
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
