import GRPCCore
import KServeProtobuf
import Synchronization

/// `inference.GRPCInferenceService`, served by passing each call's serialized message to a worker unchanged.
///
/// The gRPC process never decodes the request or the response: the worker decodes the protobuf itself, so the
/// message reaches the model exactly as sent and a 64 MiB tensor costs no extra copy here. Only unary calls of the
/// eight methods exist; anything else is UNIMPLEMENTED (by grpc-swift). `[grpc] max_message_size` bounds both
/// directions: a larger request or response is RESOURCE_EXHAUSTED.
struct InferenceProxyService: RegistrableRPCService {
    let bridge: WorkerBridge
    let lifecycle: ProcessLifecycle
    /// The largest request message (`[grpc] max_receive_message_length`, else `max_message_size`).
    let maxMessageSize: Int
    /// The largest response message (`[grpc] max_send_message_length`, else `max_message_size`).
    var maxResponseSize: Int? = nil

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for rpc in InferenceRPC.allCases {
            let descriptor = MethodDescriptor(fullyQualifiedService: InferenceRPC.service, method: rpc.rawValue)
            router.registerHandler(
                forMethod: descriptor, deserializer: RawMessageDeserializer(), serializer: RawSliceSerializer()
            ) { request, context in
                do {
                    let message = try await singleMessage(request, rpc: rpc)
                    let response = try await forward(rpc, body: message, metadata: request.metadata)
                    let sendLimit = maxResponseSize ?? maxMessageSize
                    if response.count > sendLimit {
                        throw RPCError(
                            code: .resourceExhausted,
                            message: "the \(rpc.rawValue) response message of \(response.count) bytes is larger than the server's limit of \(sendLimit) bytes ([grpc] max_send_message_length / max_message_size, --grpc_max_send_message_length)")
                    }
                    CallRecord.current?.bytes.store(response.count, ordering: .relaxed)
                    return StreamingServerResponse(single: ServerResponse(message: response))
                } catch let error as RPCError {
                    throw error
                } catch {
                    // grpc-swift reports any other error as UNKNOWN, which this server never answers.
                    throw RPCError(code: .internalError, message: "\(type(of: error)): \(error)", cause: error)
                }
            }
        }
    }

    /// The one request message of a unary call, at most ``maxMessageSize`` bytes.
    ///
    /// The transport's own limit is set above ``maxMessageSize`` (see ``GRPCProcess``) because the transport
    /// answers an oversized message by resetting the stream (the client sees CANCELLED); checked here, the client
    /// gets RESOURCE_EXHAUSTED with a message that names the limit.
    private func singleMessage(_ request: StreamingServerRequest<[UInt8]>, rpc: InferenceRPC) async throws -> [UInt8] {
        var iterator = request.messages.makeAsyncIterator()
        guard let message = try await iterator.next() else {
            throw RPCError(code: .invalidArgument, message: "\(rpc.rawValue) is unary: the call carried no request message")
        }
        if message.count > maxMessageSize {
            throw RPCError(
                code: .resourceExhausted,
                message: "the \(rpc.rawValue) request message of \(message.count) bytes is larger than the server's limit of \(maxMessageSize) bytes ([grpc] max_receive_message_length / max_message_size, --grpc_max_receive_message_length)")
        }
        guard try await iterator.next() == nil else {
            throw RPCError(code: .invalidArgument, message: "\(rpc.rawValue) is unary: the call carried more than one request message")
        }
        return message
    }

    /// Forwards the call, unless the process is draining; a cancelled call (client gone, deadline passed) closes
    /// its worker connection, but a graceful shutdown lets in-flight calls finish.
    private func forward(_ rpc: InferenceRPC, body: [UInt8], metadata: Metadata) async throws -> ArraySlice<UInt8> {
        guard lifecycle.beginCall() else {
            throw RPCError(code: .unavailable, message: "the gRPC server is shutting down; retry on another replica")
        }
        defer { lifecycle.endCall() }
        let bridge = self.bridge
        let lifecycle = self.lifecycle
        let start = ContinuousClock.now
        // The exchange runs in the handler's own task (no extra `Task {}`: that was one more hop to the
        // cooperative pool per RPC); cancelling shuts the worker connection down, which ends the exchange at once.
        let connection = CancellableConnection()
        do {
            return try await withRPCCancellationHandler {
                try await withTaskCancellationHandler {
                    try await bridge.call(rpc, body: body, metadata: metadata, connection: connection)
                } onCancel: {
                    connection.cancel()
                }
            } onCancelRPC: {
                // grpc-swift also cancels every RPC when the server begins its graceful shutdown: keep those.
                if !lifecycle.isDraining { connection.cancel() }
            }
        } catch is CancellationError {
            if let timeout = grpcTimeout(metadata), ContinuousClock.now - start >= timeout - .milliseconds(1) {
                throw RPCError(code: .deadlineExceeded, message: "the call's deadline (\(timeout)) passed before the model answered")
            }
            throw RPCError(code: .cancelled, message: "the call was cancelled by the client")
        }
    }
}

/// The `grpc-timeout` of a call (`<digits><unit>`, unit one of H M S m u n), or `nil`.
func grpcTimeout(_ metadata: Metadata) -> Duration? {
    guard let text = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }), let unit = text.last,
          let amount = Int64(text.dropLast()), amount >= 0
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

/// Passes the message bytes through.
struct RawMessageDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// Passes the message bytes through, from the slice of the worker's answer that holds them.
struct RawSliceSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: ArraySlice<UInt8>) throws -> Bytes {
        Bytes(message)
    }
}


/// Whether the process is draining, and how many calls are in flight (so the drain can wait for them).
final class ProcessLifecycle: Sendable {
    private struct State {
        var draining = false
        var calls = 0
    }

    private let state = Mutex(State())

    /// Counts a new call in; `false` once draining.
    func beginCall() -> Bool {
        state.withLock { s in
            if s.draining { return false }
            s.calls += 1
            return true
        }
    }

    /// Counts a call out.
    func endCall() {
        state.withLock { $0.calls -= 1 }
    }

    /// Starts draining: new calls are refused from now on.
    func beginDrain() {
        state.withLock { $0.draining = true }
    }

    /// Whether a drain has begun.
    var isDraining: Bool { state.withLock { $0.draining } }

    /// Calls still in flight.
    var inFlight: Int { state.withLock { $0.calls } }
}
