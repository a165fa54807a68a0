public import KServeProtocol

/// A REST request as the transport decoded it: the router and data plane know nothing of FastCGI.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The percent-decoded path without the query (nginx's `$uri`).
    public var path: String
    /// The raw query string (without `?`).
    public var query: String
    /// Request headers with lower-cased, dash-separated names.
    public var headers: Headers
    /// The request body.
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: Headers = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The media type of the body without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        guard let ct = headers["content-type"] else { return nil }
        if ct == "application/json" { return ct }  // the common case, without splitting and lower-casing
        let base = ct.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ct
        return base.trimmingSpaces().lowercased()
    }
}

/// A REST response: status, headers and a body that is bytes, an encoded REST message in parts, or a stream.
public struct HTTPResponse: Sendable {
    /// The body forms a transport must be able to write.
    public enum Body: Sendable {
        case bytes([UInt8])
        /// A v2 message: JSON followed by raw tensor buffers, written without joining them.
        case rest(RestMessage)
        /// Chunks sent as they come.
        case stream(AsyncThrowingStream<[UInt8], any Error>)
        /// Bytes written in order without joining them (a serialized message whose tensor fields are the
        /// tensors' own buffers).
        case parts([ArraySlice<UInt8>])
    }

    public var status: Int
    public var headers: [(String, String)]
    public var body: Body

    public init(status: Int, headers: [(String, String)] = [], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ value: JSONValue, status: Int = 200, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: .bytes(value.serialized()))
    }

    /// The `{"error": "..."}` response for an error.
    public static func error(_ error: KServeError, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: error.httpStatus, headers: [("Content-Type", "application/json")] + headers, body: .bytes(error.jsonBody))
    }

    /// The body length when known up front.
    public var contentLength: Int? {
        switch body {
        case .bytes(let b): return b.count
        case .rest(let m): return m.byteCount
        case .stream: return nil
        case .parts(let parts): return parts.reduce(0) { $0 + $1.count }
        }
    }
}

/// The reason phrase for a status code (the FastCGI `Status:` line).
public func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 201: return "Created"
    case 204: return "No Content"
    case 400: return "Bad Request"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 413: return "Payload Too Large"
    case 415: return "Unsupported Media Type"
    case 422: return "Unprocessable Entity"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    case 504: return "Gateway Timeout"
    default: return "Status"
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// A random (version 4) UUID string, for response ids and CloudEvent ids.
public func uuid4() -> String { makeUUID4() }
