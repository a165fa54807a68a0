import GRPCCore
import KServeProtobuf
import SwiftProtobuf

/// `grpc.health.v1.Health`, for Kubernetes' native gRPC probes and `grpc_health_probe`.
///
/// The server (service `""`) and `inference.GRPCInferenceService` are SERVING only when a worker answers
/// ServerReady with `ready: true`; NOT_SERVING when it says not ready, when no worker answers within
/// ``probeTimeout``, and from the start of a graceful shutdown. Other service names are NOT_FOUND for `Check`
/// and SERVICE_UNKNOWN for `Watch`, as the health protocol specifies. `Watch` sends the current status, then
/// every change (polled every ``pollInterval``), until the client goes away or the server shuts down.
struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    let bridge: WorkerBridge
    let lifecycle: ProcessLifecycle
    var pollInterval: Duration = .seconds(1)
    var probeTimeout: Duration = .seconds(10)

    /// The service names this server reports on.
    static let knownServices: Set<String> = ["", InferenceRPC.service]

    func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.knownServices.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        let status = await currentStatus()
        return .with { $0.status = status }
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        do {
            guard Self.knownServices.contains(request.service) else {
                try await response.write(.with { $0.status = .serviceUnknown })
                while !context.cancellation.isCancelled && !lifecycle.isDraining {
                    try await Task.sleep(for: pollInterval)
                }
                return
            }
            var last: Status?
            while !context.cancellation.isCancelled || lifecycle.isDraining {
                let status = await currentStatus()
                if status != last {
                    try await response.write(.with { $0.status = status })
                    last = status
                }
                if lifecycle.isDraining { return }  // NOT_SERVING was sent; let the shutdown finish
                try await Task.sleep(for: pollInterval)
            }
        } catch is CancellationError {
            return
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "health watch failed: \(error)", cause: error)
        }
    }

    /// SERVING iff not draining and a worker answers ServerReady with `ready: true` in time.
    func currentStatus() async -> Status {
        if lifecycle.isDraining { return .notServing }
        let bridge = self.bridge
        let timeout = probeTimeout
        let ready: Bool? = await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                guard let bytes = try? await bridge.call(.serverReady, body: [], metadata: [:]),
                      let message = try? Inference_ServerReadyResponse(serializedBytes: Array(bytes))
                else { return false }
                return message.ready
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return ready == true && !lifecycle.isDraining ? .serving : .notServing
    }
}
