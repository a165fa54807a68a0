import GRPCCore
import KServeProtobuf
import KServeProtocol
import Logging

/// Forwards gRPC calls to the model workers as FastCGI requests on their Unix socket, with bounded concurrency.
///
/// REST (through nginx) and gRPC share the socket's one accept queue, so both are served first come, first
/// served by the same workers. At most ``CallLimiter/limit`` calls are in flight; a call that gets no slot within
/// the queue timeout, or finds the socket's backlog full, fails with UNAVAILABLE and says why.
final class WorkerBridge: Sendable {
    let client: FastCGIClient
    let limiter: CallLimiter
    let queueTimeout: Duration
    let logger: Logger

    init(socketPath: String, maxConcurrentCalls: Int, queueTimeout: Duration, logger: Logger) {
        self.client = FastCGIClient(socketPath: socketPath, threads: maxConcurrentCalls)
        self.limiter = CallLimiter(limit: maxConcurrentCalls)
        self.queueTimeout = queueTimeout
        self.logger = logger
    }

    /// Runs one RPC on a worker.
    /// - Parameters:
    ///   - rpc: the method.
    ///   - body: the serialized request message.
    ///   - metadata: the call's metadata, passed as `HTTP_*` parameters.
    ///   - connection: cancelling it ends the call (its worker connection is shut down).
    /// - Returns: the serialized response message (a slice of the worker's answer, not a copy).
    /// - Throws: `RPCError` with the worker's status code and message, or UNAVAILABLE when no worker could take
    ///   the call; `CancellationError` when the call was cancelled.
    func call(
        _ rpc: InferenceRPC, body: [UInt8], metadata: Metadata, connection: CancellableConnection = CancellableConnection()
    ) async throws -> ArraySlice<UInt8> {
        guard try await limiter.acquire(timeout: queueTimeout) else {
            throw RPCError(
                code: .unavailable,
                message: "all \(limiter.limit) gRPC call slots to the model workers stayed busy for \(queueTimeout); the server is overloaded, retry later")
        }
        defer { limiter.release() }
        if connection.isCancelled { throw CancellationError() }
        let params = Self.params(rpc, contentLength: body.count, metadata: metadata)
        let answer: (response: CGIResponse, stderr: [UInt8])
        do {
            answer = try await client.exchange(params: params, body: body, connection: connection)
        } catch let error as FastCGIClientError {
            throw Self.rpcError(error, rpc: rpc)
        }
        if !answer.stderr.isEmpty {
            logger.warning("worker stderr during \(rpc.rawValue): \(String(decoding: answer.stderr.prefix(2048), as: UTF8.self))")
        }
        return try Self.result(answer.response)
    }

    /// The FastCGI parameters of one call (see ``KServeProtobuf/GRPCBridgeContract``).
    static func params(_ rpc: InferenceRPC, contentLength: Int, metadata: Metadata) -> [(String, String)] {
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
        for (key, value) in metadata {
            guard case .string(let text) = value, let name = headerParameterName(key) else { continue }
            let clean = String(decoding: text.utf8.filter { $0 != 0 }, as: UTF8.self)
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

    /// The response message, or the worker's error as an `RPCError`.
    static func result(_ response: CGIResponse) throws -> ArraySlice<UInt8> {
        let grpcStatus = response.header(GRPCBridgeContract.statusHeader).flatMap { Int($0.trimmingCharacters()) }
        if response.status == 200 && (grpcStatus == nil || grpcStatus == 0) {
            return response.body
        }
        let code = grpcStatus.flatMap { Status.Code(rawValue: $0) }.flatMap { RPCError.Code($0) }
            ?? httpStatusCode(response.status)
        throw RPCError(code: code, message: errorMessage(response))
    }

    /// The gRPC code for an error answer without `Grpc-Status` (e.g. the FastCGI layer's own 413).
    static func httpStatusCode(_ status: Int) -> RPCError.Code {
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
        if let json = try? JSONValue.parse(response.body), case .string(let message)? = json["error"] {
            return message
        }
        let text = String(decoding: response.body.prefix(4096), as: UTF8.self)
        return text.isEmpty ? "the worker answered HTTP status \(response.status)" : text
    }

    /// A failed exchange as an `RPCError` (UNAVAILABLE unless the answer itself was malformed).
    static func rpcError(_ error: FastCGIClientError, rpc: InferenceRPC) -> RPCError {
        switch error {
        case .backlogFull:
            return RPCError(
                code: .unavailable,
                message: "all model workers are busy and the worker socket's accept queue is full; retry later")
        case .connect(let cause):
            return RPCError(code: .unavailable, message: "no model worker is reachable: \(cause)", cause: cause)
        case .closedEarly:
            return RPCError(
                code: .unavailable,
                message: "the model worker handling \(rpc.rawValue) exited before answering (it was stopped or crashed); retry the call")
        case .rejected:
            return RPCError(code: .unavailable, message: "\(error); retry the call")
        case .protocolError(let message):
            return RPCError(code: .internalError, message: "malformed answer from the model worker: \(message)")
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
