/// Every REST route the ``RESTRouter`` serves, as a table: its path template and methods.
///
/// The router matches a request against this table and then switches over the case (exhaustively), and
/// ``OpenAPIDocument`` documents each case (exhaustively too), so a route cannot be served without being
/// documented: a new case that is not documented does not compile. The pool's status page (`[server]
/// status_path`) is served by the worker in front of the router and documented by ``OpenAPIDocument`` from
/// the configured path.
public enum RESTRoute: String, CaseIterable, Sendable {
    // The order matters where templates overlap: the first route whose template matches the path and whose
    // methods allow the request's method wins (`/v2/models/stats` before `/v2/models/{model_name}`).
    case root
    case metrics
    case openAPI
    case docs
    case docsAsset
    case v1Models
    case v1Predict
    case v1Explain
    case v1ModelReady
    case v2Server
    case v2Live
    case v2Ready
    case v2Models
    case v2AllStats
    case v2ModelMetadata
    case v2ModelReady
    case v2Infer
    case v2Generate
    case v2ModelConfig
    case v2ModelStats
    case v2VersionMetadata
    case v2VersionReady
    case v2VersionInfer
    case v2VersionGenerate
    case v2VersionConfig
    case v2VersionStats
    case repositoryIndex
    case repositoryLoad
    case repositoryUnload

    /// The OpenAPI path template (`{model_name}` is a path parameter; `{model_name}:predict` is a segment that
    /// ends in `:predict`).
    public var template: String {
        switch self {
        case .root: return "/"
        case .metrics: return "/metrics"
        case .openAPI: return "/openapi.json"
        case .docs: return "/docs"
        case .docsAsset: return "/docs/{file}"
        case .v1Models: return "/v1/models"
        case .v1Predict: return "/v1/models/{model_name}:predict"
        case .v1Explain: return "/v1/models/{model_name}:explain"
        case .v1ModelReady: return "/v1/models/{model_name}"
        case .v2Server: return "/v2"
        case .v2Live: return "/v2/health/live"
        case .v2Ready: return "/v2/health/ready"
        case .v2Models: return "/v2/models"
        case .v2AllStats: return "/v2/models/stats"
        case .v2ModelMetadata: return "/v2/models/{model_name}"
        case .v2ModelReady: return "/v2/models/{model_name}/ready"
        case .v2Infer: return "/v2/models/{model_name}/infer"
        case .v2Generate: return "/v2/models/{model_name}/generate"
        case .v2ModelConfig: return "/v2/models/{model_name}/config"
        case .v2ModelStats: return "/v2/models/{model_name}/stats"
        case .v2VersionMetadata: return "/v2/models/{model_name}/versions/{model_version}"
        case .v2VersionReady: return "/v2/models/{model_name}/versions/{model_version}/ready"
        case .v2VersionInfer: return "/v2/models/{model_name}/versions/{model_version}/infer"
        case .v2VersionGenerate: return "/v2/models/{model_name}/versions/{model_version}/generate"
        case .v2VersionConfig: return "/v2/models/{model_name}/versions/{model_version}/config"
        case .v2VersionStats: return "/v2/models/{model_name}/versions/{model_version}/stats"
        case .repositoryIndex: return "/v2/repository/index"
        case .repositoryLoad: return "/v2/repository/models/{model_name}/load"
        case .repositoryUnload: return "/v2/repository/models/{model_name}/unload"
        }
    }

    /// The methods the route answers (`HEAD` is also answered wherever `GET` is).
    public var methods: [String] {
        switch self {
        case .v1Predict, .v1Explain, .v2Infer, .v2Generate, .v2VersionInfer, .v2VersionGenerate, .repositoryLoad,
             .repositoryUnload:
            return ["POST"]
        case .repositoryIndex:
            return ["GET", "POST"]
        case .root, .metrics, .openAPI, .docs, .docsAsset, .v1Models, .v1ModelReady, .v2Server, .v2Live, .v2Ready,
             .v2Models, .v2AllStats, .v2ModelMetadata, .v2ModelReady, .v2ModelConfig, .v2ModelStats,
             .v2VersionMetadata, .v2VersionReady, .v2VersionConfig, .v2VersionStats:
            return ["GET"]
        }
    }

    /// Whether the route is served only with `enable_docs_url` (the Swagger UI page and its files).
    public var isDocsPage: Bool { self == .docs || self == .docsAsset }

    /// The route's template split into segments (computed once per case).
    var segments: [RouteSegment] { RouteTable.segments[self] ?? [] }

    /// Whether `method` is one of ``methods`` (or `HEAD` on a `GET` route).
    public func allows(_ method: String) -> Bool {
        methods.contains(method) || (method == "HEAD" && methods.contains("GET"))
    }
}

/// One segment of a route template.
enum RouteSegment: Sendable, Hashable {
    /// A fixed word.
    case literal(String)
    /// `{name}`, optionally followed by a fixed suffix (`{model_name}:predict`): any non-empty text.
    case parameter(String, suffix: String)

    init(_ text: Substring) {
        if text.first == "{", let close = text.firstIndex(of: "}") {
            let name = text[text.index(after: text.startIndex)..<close]
            self = .parameter(String(name), suffix: String(text[text.index(after: close)...]))
        } else {
            self = .literal(String(text))
        }
    }
}

/// A request path matched to a route, with the path parameters' values.
public struct RouteMatch: Sendable, Equatable {
    /// The route.
    public var route: RESTRoute
    /// `model_name`, `model_version`, `file` as they appear in the (decoded) path.
    public var parameters: [String: String]

    /// Creates a match.
    public init(route: RESTRoute, parameters: [String: String]) {
        self.route = route
        self.parameters = parameters
    }
}

/// What a path and method resolve to.
public enum RouteResolution: Sendable, Equatable {
    /// A route that serves this method.
    case matched(RouteMatch)
    /// The path is a route's, but none of the routes with this path answers the method; `allowed` lists the ones
    /// that do.
    case methodNotAllowed(allowed: [String])
    /// No route has this path.
    case notFound
}

/// The route table's lookup.
public enum RouteTable {
    static let segments: [RESTRoute: [RouteSegment]] = {
        var table: [RESTRoute: [RouteSegment]] = [:]
        for route in RESTRoute.allCases {
            table[route] = route.template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(RouteSegment.init)
        }
        return table
    }()

    /// Resolves a decoded path (without the query) and a method.
    /// - Parameters:
    ///   - method: `GET`, `POST`, ...
    ///   - path: the percent-decoded path.
    ///   - docs: whether the Swagger UI page is served (`enable_docs_url`); without it `/docs` is not a route.
    public static func resolve(method: String, path: String, docs: Bool) -> RouteResolution {
        let path = path == "/v2/" ? "/v2" : path
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var allowed: [String] = []
        guard parts.count < candidates.count else { return .notFound }
        for (route, segments) in candidates[parts.count] where docs || !route.isDocsPage {
            guard let parameters = match(parts, segments) else { continue }
            if route.allows(method) { return .matched(RouteMatch(route: route, parameters: parameters)) }
            for m in route.methods where !allowed.contains(m) { allowed.append(m) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    /// The routes by their number of segments, in declaration order (only those can match a path).
    private static let candidates: [[(route: RESTRoute, segments: [RouteSegment])]] = {
        let longest = RESTRoute.allCases.map { $0.segments.count }.max() ?? 0
        var out = [[(route: RESTRoute, segments: [RouteSegment])]](repeating: [], count: longest + 1)
        for route in RESTRoute.allCases { out[route.segments.count].append((route, route.segments)) }
        return out
    }()

    private static func match(_ parts: ArraySlice<Substring>, _ segments: [RouteSegment]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        // Check every segment first: the parameters are collected only for the route that matches.
        // Compared as UTF-8 bytes: the templates are ASCII, and Character-wise `count` / `hasSuffix` on every
        // request were most of the route lookup's time.
        for (part, segment) in zip(parts, segments) {
            switch segment {
            case .literal(let word):
                guard part.utf8.elementsEqual(word.utf8) else { return nil }
            case .parameter(_, let suffix):
                let bytes = part.utf8
                let tail = suffix.utf8
                guard bytes.count > tail.count, bytes.suffix(tail.count).elementsEqual(tail) else { return nil }
            }
        }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(parts, segments) {
            if case .parameter(let name, let suffix) = segment {
                parameters[name] = String(Substring(part.utf8.dropLast(suffix.utf8.count)))
            }
        }
        return parameters
    }
}
