import KServeProtobuf
import KServeProtocol
import Logging
import NIOCore
import NIOHPACK

/// Forwards gRPC calls to the model workers as FastCGI requests on their Unix socket, with bounded concurrency.
///
/// REST (through nginx) and gRPC share the socket's one accept queue, so both are served first come, first
/// served by the same workers. At most ``CallLimiter/limit`` calls are in flight; a call that gets no slot within
/// the queue timeout, or finds the socket's backlog full, fails with UNAVAILABLE and says why.
final class WorkerBridge: Sendable {
    /// The workers' listening socket.
    let socketPath: String
    let limiter: CallLimiter
    let queueTimeout: TimeAmount
    let logger: Logger

    init(socketPath: String, maxConcurrentCalls: Int, queueTimeout: Duration, logger: Logger) {
        self.socketPath = socketPath
        self.limiter = CallLimiter(limit: maxConcurrentCalls)
        let (seconds, attoseconds) = queueTimeout.components
        self.queueTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        self.logger = logger
    }

    /// The UNAVAILABLE status of a call that got no slot in time.
    var overloaded: GRPCStatus {
        GRPCStatus(
            .unavailable,
            "all \(limiter.limit) gRPC call slots to the model workers stayed busy for \(queueTimeout.prettyDescription); the server is overloaded, retry later")
    }

    /// Starts one exchange with a worker on `eventLoop` (the caller holds a slot of ``limiter``).
    func exchange(
        _ rpc: InferenceRPC, body: ByteBuffer, metadata: HPACKHeaders, on eventLoop: any EventLoop
    ) -> FastCGIExchange {
        FastCGIExchange(
            socketPath: socketPath, params: Self.params(rpc, contentLength: body.readableBytes, metadata: metadata),
            body: body, on: eventLoop)
    }

    /// The response message of a finished exchange, or the status to answer with.
    func outcome(_ result: Result<FastCGIAnswer, any Error>, rpc: InferenceRPC) -> Result<ByteBuffer, GRPCStatus> {
        switch result {
        case .success(let answer):
            if !answer.stderr.isEmpty {
                logger.warning("worker stderr during \(rpc.rawValue): \(String(decoding: answer.stderr.prefix(2048), as: UTF8.self))")
            }
            do {
                return .success(try Self.result(answer.response))
            } catch {
                return .failure(error)
            }
        case .failure(let error as FastCGIClientError):
            return .failure(Self.status(error, rpc: rpc))
        case .failure(let error):
            return .failure(GRPCStatus(.internalError, "\(type(of: error)): \(error)"))
        }
    }

    /// The FastCGI parameters of one call (see ``KServeProtobuf/GRPCBridgeContract``).
    static func params(_ rpc: InferenceRPC, contentLength: Int, metadata: HPACKHeaders) -> [(String, String)] {
        var params: [(String, String)] = [
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", rpc.path),
            ("DOCUMENT_URI", rpc.path),
            ("CONTENT_TYPE", GRPCBridgeContract.contentType),
            ("CONTENT_LENGTH", String(contentLength)),
            ("SERVER_PROTOCOL", "HTTP/2.0"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            (GRPCBridgeContract.protocolParameter, GRPCBridgeContract.protocolValue),
        ]
        var headers: [(String, String)] = []
        for (key, value, _) in metadata {
            guard let name = headerParameterName(key) else { continue }
            let clean = String(decoding: value.utf8.filter { $0 != 0 }, as: UTF8.self)
            if let i = headers.firstIndex(where: { $0.0 == name }) {
                headers[i].1 += ", " + clean  // repeated metadata joined as nginx >= 1.23 joins headers
            } else {
                headers.append((name, clean))
            }
        }
        params.append(contentsOf: headers)
        return params
    }

    /// `x-request-id` -> `HTTP_X_REQUEST_ID`; `nil` for transport-level keys (pseudo headers, `content-type`,
    /// `te`, `grpc-*`), binary (`-bin`) keys and names with other characters than letters, digits, `-`, `_`, `.`.
    static func headerParameterName(_ key: String) -> String? {
        let lower = key.lowercased()
        if lower.isEmpty || lower.hasPrefix(":") || lower.hasPrefix("grpc-") || lower.hasSuffix("-bin") { return nil }
        if ["content-type", "content-length", "te", "connection", "host"].contains(lower) { return nil }
        var out = "HTTP_"
        for c in lower.utf8 {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): out.unicodeScalars.append(Unicode.Scalar(c - 32))
            case UInt8(ascii: "0")...UInt8(ascii: "9"): out.unicodeScalars.append(Unicode.Scalar(c))
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): out.append("_")
            default: return nil
            }
        }
        return out
    }

    /// The response message, or the worker's error as a ``GRPCStatus``.
    static func result(_ response: CGIResponse) throws(GRPCStatus) -> ByteBuffer {
        let grpcStatus = response.header(GRPCBridgeContract.statusHeader).flatMap { Int($0.trimmingCharacters()) }
        if response.status == 200 && (grpcStatus == nil || grpcStatus == 0) {
            return response.body
        }
        let code = grpcStatus.flatMap { GRPCCode(rawValue: $0) }.flatMap { $0 == .ok || $0 == .unknown ? nil : $0 }
            ?? httpStatusCode(response.status)
        throw GRPCStatus(code, errorMessage(response))
    }

    /// The gRPC code for an error answer without `Grpc-Status` (e.g. the FastCGI layer's own 413).
    static func httpStatusCode(_ status: Int) -> GRPCCode {
        switch status {
        case 400, 422: return .invalidArgument
        case 404: return .notFound
        case 405, 501: return .unimplemented
        case 408, 504: return .deadlineExceeded
        case 413: return .resourceExhausted
        case 502, 503: return .unavailable
        default: return .internalError
        }
    }

    /// The `error` member of a `{"error": "..."}` body, or the body as text.
    static func errorMessage(_ response: CGIResponse) -> String {
        let bytes = Array(response.body.readableBytesView)
        if let json = try? JSONValue.parse(bytes[...]), case .string(let message)? = json["error"] {
            return message
        }
        let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
        return text.isEmpty ? "the worker answered HTTP status \(response.status)" : text
    }

    /// A failed exchange as a status (UNAVAILABLE unless the answer itself was malformed).
    static func status(_ error: FastCGIClientError, rpc: InferenceRPC) -> GRPCStatus {
        switch error {
        case .backlogFull:
            return GRPCStatus(.unavailable, "all model workers are busy and the worker socket's accept queue is full; retry later")
        case .connect(let cause):
            return GRPCStatus(.unavailable, "no model worker is reachable: \(cause)")
        case .closedEarly:
            return GRPCStatus(.unavailable, "the model worker handling \(rpc.rawValue) exited before answering (it was stopped or crashed); retry the call")
        case .rejected:
            return GRPCStatus(.unavailable, "\(error); retry the call")
        case .protocolError(let message):
            return GRPCStatus(.internalError, "malformed answer from the model worker: \(message)")
        case .cancelled:
            return GRPCStatus(.cancelled, "the call was cancelled by the client")
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

extension TimeAmount {
    /// `30 s`, `500 ms`.
    var prettyDescription: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000) s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000) ms" }
        return "\(Double(nanoseconds) / 1e9) s"
    }
}
