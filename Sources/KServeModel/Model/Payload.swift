public import KServeProtocol

/// The inference verbs a model can answer.
public enum InferenceVerb: String, Sendable, Hashable {
    case predict, explain, generate
}

/// Request headers as a model sees them: lower-cased names (`x-request-id`, `content-type`).
public typealias Headers = [String: String]

/// What flows into `preprocess` and `predict` (the seed's `Union[Dict, InferRequest]`).
public enum Payload: Sendable {
    /// A v1 JSON body (`{"instances": [...]}` or any JSON value).
    case json(JSONValue)
    /// A v2 (REST or gRPC) inference request.
    case request(InferRequest)
    /// A v1 body whose content type is not JSON: the raw bytes, handed to the model unchanged.
    case bytes([UInt8], contentType: String?)

    /// The v2 request, or `InvalidInput` if this is a v1 payload.
    public func inferRequest() throws -> InferRequest {
        guard case .request(let r) = self else { throw KServeError.invalidInput("expected a v2 inference request") }
        return r
    }
    /// The v1 JSON body, or `InvalidInput` if this is not JSON.
    public func json() throws -> JSONValue {
        guard case .json(let j) = self else { throw KServeError.invalidInput("expected a JSON (v1) request body") }
        return j
    }
}

/// What comes out of `predict` / `explain` / `generate` and `postprocess` (the seed's
/// `Union[Dict, InferResponse, AsyncIterator]`).
public enum Prediction: Sendable {
    /// A JSON (v1) answer, e.g. `{"predictions": [...]}`.
    case json(JSONValue)
    /// A v2 inference response.
    case response(InferResponse)
    /// Raw bytes with a content type.
    case bytes([UInt8], contentType: String)
    /// A stream of chunks, sent to the client as they come (chunked transfer through nginx).
    case stream(AsyncThrowingStream<[UInt8], any Error>, contentType: String)
}

/// Mutable response headers handed to `predict` / `postprocess` when the model sets ``Model/returnResponseHeaders``.
public final class ResponseHeaders: Sendable {
    private let storage = Locked<[(String, String)]>([])

    public init() {}

    /// Sets (replacing) a header.
    public subscript(name: String) -> String? {
        get { storage.withLock { $0.last { $0.0.lowercased() == name.lowercased() }?.1 } }
        set {
            storage.withLock { headers in
                headers.removeAll { $0.0.lowercased() == name.lowercased() }
                if let newValue { headers.append((name, newValue)) }
            }
        }
    }

    /// All headers in the order they were set.
    public var all: [(String, String)] { storage.withLock { $0 } }
}
