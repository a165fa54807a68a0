/// The RPCs of `inference.GRPCInferenceService`, as the gRPC process names them to the workers.
public enum InferenceRPC: String, Sendable, CaseIterable {
    case serverLive = "ServerLive"
    case serverReady = "ServerReady"
    case modelReady = "ModelReady"
    case serverMetadata = "ServerMetadata"
    case modelMetadata = "ModelMetadata"
    case modelInfer = "ModelInfer"
    case repositoryModelLoad = "RepositoryModelLoad"
    case repositoryModelUnload = "RepositoryModelUnload"

    /// The fully qualified service name.
    public static let service = "inference.GRPCInferenceService"

    /// The gRPC path, `/inference.GRPCInferenceService/<Method>`, used as `REQUEST_URI` and `DOCUMENT_URI`.
    public var path: String { "/\(Self.service)/\(rawValue)" }

    /// The RPC named by a gRPC path, or `nil` for another service or an unknown method.
    public init?(path: String) {
        let prefix = "/\(Self.service)/"
        guard path.hasPrefix(prefix) else { return nil }
        self.init(rawValue: String(path.dropFirst(prefix.count)))
    }
}

/// The FastCGI contract between the gRPC process (a FastCGI client of the worker socket) and the workers.
///
/// Request: `REQUEST_METHOD=POST`, `REQUEST_URI` = `DOCUMENT_URI` = ``InferenceRPC/path``,
/// `CONTENT_TYPE` = ``contentType``, `CONTENT_LENGTH`, ``protocolParameter`` = ``protocolValue``, and the
/// call's metadata as `HTTP_<NAME>` (`x-request-id` -> `HTTP_X_REQUEST_ID`); STDIN is the serialized request
/// message.
///
/// Response: `Status: 200 OK`, `Content-Type:` ``contentType``, body the serialized response message; or, on
/// failure, the HTTP status of the ``KServeProtocol/KServeError``, the header ``statusHeader`` with its numeric
/// gRPC code, and the body `{"error": "<message>"}`.
public enum GRPCBridgeContract {
    /// The FastCGI parameter that marks a request from the gRPC process.
    public static let protocolParameter = "KSERVE_PROTOCOL"
    /// Its value.
    public static let protocolValue = "grpc"
    /// The content type of request and response bodies (serialized protobuf messages).
    public static let contentType = "application/grpc+proto"
    /// The response header carrying the numeric gRPC status code of an error.
    public static let statusHeader = "Grpc-Status"
}
