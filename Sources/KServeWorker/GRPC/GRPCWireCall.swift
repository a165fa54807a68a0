import KServeModel
import KServeProtobuf
import KServeProtocol

/// A gRPC call that nginx's HTTP/2 listener passed straight to this worker (``KServeProtobuf/GRPCWireContract``):
/// the request body is the call's HTTP/2 body and the answer is the response's, so nginx relays bytes and only
/// turns the ``KServeProtobuf/GRPCWireContract/statusHeader`` and ``KServeProtobuf/GRPCWireContract/messageHeader``
/// headers into trailers.
///
/// This is where such a call is checked as the gRPC process checks its own calls, with the same status codes and
/// messages: POST with an `application/grpc` content type (else HTTP 405 / 415), identity encoding only
/// (UNIMPLEMENTED, with `grpc-accept-encoding: identity`), exactly one uncompressed message of at most the
/// receive limit (RESOURCE_EXHAUSTED naming the key), a response of at most the send limit, and `grpc-timeout`:
/// an answer that comes after the call's deadline is DEADLINE_EXCEEDED (the client has given up by then; its
/// reset reaches this worker as a closed connection).
struct GRPCWireCall {
    /// `[grpc] max_receive_message_length` (else `max_message_size`).
    let maxReceive: Int
    /// `[grpc] max_send_message_length` (else `max_message_size`).
    let maxSend: Int

    /// The outcome of one call: the HTTP answer for nginx, and what the access line shows.
    struct Outcome {
        var response: HTTPResponse
        /// The gRPC status code (`nil`: not a gRPC answer, e.g. a GET).
        var code: Int?
        /// The response message's bytes (without its prefix).
        var messageBytes: Int
    }

    /// Answers one call.
    /// - Parameters:
    ///   - request: the call as the FastCGI layer decoded it (body: the 5-byte prefix and the message).
    ///   - dataPlane: this worker's data plane.
    ///   - started: the monotonic time (s) the request reached this worker, the origin of its deadline.
    ///   - clock: the monotonic clock (s).
    func answer(
        _ request: HTTPRequest, dataPlane: DataPlane, started: Double, clock: () -> Double
    ) async -> Outcome {
        if request.method != "POST" {
            return Outcome(response: HTTPResponse(status: 405, headers: [("Allow", "POST")], body: .bytes([])), code: nil, messageBytes: 0)
        }
        guard let contentType = request.headers["content-type"], contentType.hasPrefix("application/grpc") else {
            return Outcome(response: HTTPResponse(status: 415, body: .bytes([])), code: nil, messageBytes: 0)
        }
        let name = InferenceRPC(path: request.path)?.rawValue ?? request.path
        if let encoding = request.headers["grpc-encoding"], encoding != "identity" {
            return failure(
                12, "grpc-encoding '\(encoding)' is not supported; this server accepts identity only",
                extra: [("Grpc-Accept-Encoding", "identity")])
        }
        let message: ArraySlice<UInt8>
        switch unaryMessage(request.body, name: name) {
        case .failure(let status): return failure(status.code, status.message)
        case .success(let bytes): message = bytes
        }
        // The model sees the call's metadata as through the gRPC process: not the transport's own headers, not
        // binary (`-bin`) metadata.
        var call = request
        for key in request.headers.keys where Self.isTransportHeader(key) { call.headers[key] = nil }
        let result = await answerGRPC(call, message: message, dataPlane: dataPlane)
        if let text = request.headers["grpc-timeout"], let timeout = GRPCWireContract.timeout(text) {
            let (seconds, attoseconds) = timeout.components
            let limit = Double(seconds) + Double(attoseconds) / 1e18
            if clock() - started > limit {
                return failure(4, "the call's deadline (\(text)) passed before the model answered")
            }
        }
        switch result {
        case .failure(let error):
            return failure(error.grpcStatusCode, error.message)
        case .success(let parts):
            let length = parts.reduce(0) { $0 + $1.count }
            if length > maxSend {
                return failure(8, "the \(name) response message of \(length) bytes is larger than the server's limit of \(maxSend) bytes ([grpc] max_send_message_length / max_message_size, --grpc_max_send_message_length)")
            }
            let prefix: [UInt8] = [
                0, UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length),
            ]
            let response = HTTPResponse(
                status: 200,
                headers: [("Content-Type", GRPCWireContract.contentType), (GRPCWireContract.statusHeader, "0")],
                body: .parts([prefix[...]] + parts))
            return Outcome(response: response, code: 0, messageBytes: length)
        }
    }

    /// `grpc-*`, `-bin` metadata and the HTTP/2 transport's headers, which are not the call's metadata.
    static func isTransportHeader(_ key: String) -> Bool {
        switch key {
        case "te", "content-type", "content-length", "connection", "host": return true
        default: return key.hasPrefix("grpc-") || key.hasSuffix("-bin")
        }
    }

    /// A status carried by the request's own framing.
    struct FramingError: Error {
        let code: Int
        let message: String
    }

    /// The one message of a unary request, without its 5-byte prefix (a slice: nothing is copied).
    func unaryMessage(_ body: [UInt8], name: String) -> Result<ArraySlice<UInt8>, FramingError> {
        if body.isEmpty {
            return .failure(FramingError(code: 3, message: "\(name) is unary: the call carried no request message"))
        }
        guard body.count >= 5 else {
            return .failure(FramingError(code: 13, message: "\(name): the request ended inside a message's 5-byte prefix"))
        }
        let length = Int(body[1]) << 24 | Int(body[2]) << 16 | Int(body[3]) << 8 | Int(body[4])
        if length > maxReceive {
            return .failure(FramingError(code: 8, message: tooLargeMessage(length, name: name)))
        }
        if body[0] != 0 {
            return .failure(FramingError(code: 13, message: "\(name): the request message is compressed but the call's grpc-encoding is identity"))
        }
        if body.count < 5 + length {
            return .failure(FramingError(code: 13, message: "\(name): the request ended \(5 + length - body.count) bytes before the end of its message"))
        }
        if body.count > 5 + length {
            return .failure(FramingError(code: 3, message: "\(name) is unary: the call carried more than one request message"))
        }
        return .success(body[5...])
    }

    /// The answer to a request body over the receive limit (read no further).
    func tooLarge(messageBytes: Int, path: String) -> Outcome {
        failure(8, tooLargeMessage(messageBytes, name: InferenceRPC(path: path)?.rawValue ?? path))
    }

    private func tooLargeMessage(_ length: Int, name: String) -> String {
        "the \(name) request message of \(length) bytes is larger than the server's limit of \(maxReceive) bytes ([grpc] max_receive_message_length / max_message_size, --grpc_max_receive_message_length)"
    }

    /// A call that ends without a message: status 200, no body, the code and message as headers.
    private func failure(_ code: Int, _ message: String, extra: [(String, String)] = []) -> Outcome {
        var headers: [(String, String)] = [
            ("Content-Type", GRPCWireContract.contentType), (GRPCWireContract.statusHeader, String(code)),
        ]
        if !message.isEmpty { headers.append((GRPCWireContract.messageHeader, GRPCWireContract.encodeMessage(message))) }
        return Outcome(response: HTTPResponse(status: 200, headers: headers + extra, body: .bytes([])), code: code, messageBytes: 0)
    }
}
