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

/// The FastCGI contract for the calls nginx's own HTTP/2 listener passes straight to the workers (`[grpc]
/// through_nginx`, the default when the master runs nginx): the gRPC wire, unchanged.
///
/// Request: what nginx passes for any request (`REQUEST_METHOD`, `CONTENT_TYPE`, `DOCUMENT_URI` = the gRPC path,
/// `REMOTE_ADDR`, the call's metadata as `HTTP_*`, `grpc-timeout` and `grpc-encoding` among them), and
/// ``GRPCBridgeContract/protocolParameter`` = ``protocolValue``; STDIN is the call's HTTP/2 body: the request
/// message with its 5-byte prefix (a compressed flag, then the length, big-endian).
///
/// Response: `Status: 200`, `Content-Type: application/grpc`, the body the length-prefixed response message (none
/// on failure), and the headers ``statusHeader`` (the numeric code) and ``messageHeader`` (percent-encoded),
/// which nginx hides and sends as the trailers `grpc-status` and `grpc-message`.
public enum GRPCWireContract {
    /// The value of ``GRPCBridgeContract/protocolParameter`` that marks a call from nginx's HTTP/2 listener.
    public static let protocolValue = "grpc-wire"
    /// The response's content type.
    public static let contentType = "application/grpc"
    /// The response header carrying the numeric status code (0 for OK).
    public static let statusHeader = "Grpc-Status"
    /// The response header carrying the status message.
    public static let messageHeader = "Grpc-Message"

    /// The name gRPC's libraries print for a status code (`NOT_FOUND`), or `CODE_<n>` outside 0...16.
    public static func statusName(_ code: Int) -> String {
        let names = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
            "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
            "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        ]
        return names.indices.contains(code) ? names[code] : "CODE_\(code)"
    }

    /// `grpc-message` as the gRPC spec encodes it: UTF-8, with every byte outside printable ASCII and `%` written
    /// as `%XX`.
    public static func encodeMessage(_ message: String) -> String {
        var out = ""
        out.reserveCapacity(message.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in message.utf8 {
            if b >= 0x20 && b <= 0x7E && b != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 0x0F)]))
            }
        }
        return out
    }

    /// A `grpc-timeout` value (`<1-8 digits><unit>`, unit one of H M S m u n), or `nil` when it is not one.
    public static func timeout(_ text: String) -> Duration? {
        guard let unit = text.last, text.count >= 2, text.count <= 9, let amount = Int64(text.dropLast()), amount >= 0
        else { return nil }
        switch unit {
        case "H": return .seconds(amount * 3600)
        case "M": return .seconds(amount * 60)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }
}
