/// The one error family of the server: every failure a client can see is a ``KServeError``.
///
/// Each code maps to an HTTP status (the REST body is always `{"error": "<message>"}`) and to a gRPC status code,
/// following KServe's intended mapping (see the README's "Differences from KServe").
public struct KServeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure; decides the HTTP status and the gRPC status code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Wrapped: String, Hashable, Sendable {
            case invalidInput, inferenceError, modelNotFound, modelNotReady, serverNotReady, serverNotLive
            case unsupportedProtocol, notImplemented, notFound, methodNotAllowed, payloadTooLarge
            case timeout, badGateway, unavailable, internalError
        }
        let wrapped: Wrapped
        /// The client sent something malformed: 400, INVALID_ARGUMENT.
        public static let invalidInput = Code(wrapped: .invalidInput)
        /// The model failed while running: 500, INVALID_ARGUMENT (as KServe).
        public static let inferenceError = Code(wrapped: .inferenceError)
        /// No model of that name: 404, NOT_FOUND.
        public static let modelNotFound = Code(wrapped: .modelNotFound)
        /// The model is registered but not ready: 503, UNAVAILABLE.
        public static let modelNotReady = Code(wrapped: .modelNotReady)
        /// 503, UNAVAILABLE.
        public static let serverNotReady = Code(wrapped: .serverNotReady)
        /// 503, UNAVAILABLE.
        public static let serverNotLive = Code(wrapped: .serverNotLive)
        /// 501, INVALID_ARGUMENT (as KServe).
        public static let unsupportedProtocol = Code(wrapped: .unsupportedProtocol)
        /// The model does not implement the verb: 501, UNIMPLEMENTED.
        public static let notImplemented = Code(wrapped: .notImplemented)
        /// Unknown route: 404, NOT_FOUND.
        public static let notFound = Code(wrapped: .notFound)
        /// Known route, wrong method: 405, UNIMPLEMENTED.
        public static let methodNotAllowed = Code(wrapped: .methodNotAllowed)
        /// A configured size limit was exceeded: 413, RESOURCE_EXHAUSTED.
        public static let payloadTooLarge = Code(wrapped: .payloadTooLarge)
        /// A deadline passed: 504, DEADLINE_EXCEEDED.
        public static let timeout = Code(wrapped: .timeout)
        /// An upstream (predictor, explainer) could not be reached: 502, UNAVAILABLE.
        public static let badGateway = Code(wrapped: .badGateway)
        /// Temporarily unable to serve (all workers busy, draining): 503, UNAVAILABLE.
        public static let unavailable = Code(wrapped: .unavailable)
        /// Anything else: 500, INTERNAL.
        public static let internalError = Code(wrapped: .internalError)

        public var description: String { wrapped.rawValue }
    }

    /// What went wrong, in a form the client can act on.
    public var code: Code
    /// The human-readable message sent as `{"error": message}`.
    public var message: String
    /// Overrides the status implied by ``code`` (used to pass an upstream's status through).
    public var statusOverride: Int?

    /// Creates an error with a code and a message.
    public init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.statusOverride = status
    }

    public var description: String { message }

    /// The HTTP status code for the REST reply.
    public var httpStatus: Int {
        if let statusOverride { return statusOverride }
        switch code.wrapped {
        case .invalidInput: return 400
        case .inferenceError, .internalError: return 500
        case .modelNotFound, .notFound: return 404
        case .modelNotReady, .serverNotReady, .serverNotLive, .unavailable: return 503
        case .unsupportedProtocol, .notImplemented: return 501
        case .methodNotAllowed: return 405
        case .payloadTooLarge: return 413
        case .timeout: return 504
        case .badGateway: return 502
        }
    }

    /// The numeric gRPC status code (grpc/status.proto numbering) for the gRPC reply. Never UNKNOWN (2).
    public var grpcStatusCode: Int {
        switch code.wrapped {
        case .invalidInput, .inferenceError, .unsupportedProtocol: return 3  // INVALID_ARGUMENT
        case .modelNotFound, .notFound: return 5  // NOT_FOUND
        case .modelNotReady, .serverNotReady, .serverNotLive, .unavailable, .badGateway: return 14  // UNAVAILABLE
        case .notImplemented, .methodNotAllowed: return 12  // UNIMPLEMENTED
        case .payloadTooLarge: return 8  // RESOURCE_EXHAUSTED
        case .timeout: return 4  // DEADLINE_EXCEEDED
        case .internalError: return 13  // INTERNAL
        }
    }

    /// The REST body: `{"error":"<message>"}`.
    public var jsonBody: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count + 16)
        out.append(contentsOf: #"{"error":"#.utf8)
        JSONWriter.appendString(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func == (lhs: KServeError, rhs: KServeError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

extension KServeError {
    /// 400: the request is malformed.
    public static func invalidInput(_ reason: String) -> KServeError { KServeError(.invalidInput, reason) }
    /// 500: the model failed.
    public static func inferenceError(_ reason: String, status: Int? = nil) -> KServeError {
        KServeError(.inferenceError, status.map { "[\($0)] \(reason)" } ?? reason)
    }
    /// 404: `Model with name X does not exist.`
    public static func modelNotFound(_ name: String) -> KServeError {
        KServeError(.modelNotFound, "Model with name \(name) does not exist.")
    }
    /// 503: `Model with name X is not ready.` plus an optional detail.
    public static func modelNotReady(_ name: String, detail: String? = nil) -> KServeError {
        var message = "Model with name \(name) is not ready."
        if let detail, !detail.isEmpty { message += " " + detail }
        return KServeError(.modelNotReady, message)
    }
    /// 503: `Server is not ready.`
    public static var serverNotReady: KServeError { KServeError(.serverNotReady, "Server is not ready.") }
    /// 503: `Server is not live.`
    public static var serverNotLive: KServeError { KServeError(.serverNotLive, "Server is not live.") }
    /// 501: `Unsupported protocol v.`
    public static func unsupportedProtocol(_ version: String) -> KServeError {
        KServeError(.unsupportedProtocol, "Unsupported protocol \(version).")
    }
    /// 501: the verb is not implemented by the model.
    public static func notImplemented(_ message: String) -> KServeError { KServeError(.notImplemented, message) }
}
