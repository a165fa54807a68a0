import KServeProtobuf
import NIOCore
import NIOHPACK
import SwiftProtobuf

/// `grpc.health.v1.Health`, for Kubernetes' native gRPC probes and `grpc_health_probe`.
///
/// The server (service `""`) and `inference.GRPCInferenceService` are SERVING only when a worker answers
/// ServerReady with `ready: true`; NOT_SERVING when it says not ready, when no worker answers within
/// ``probeTimeout``, and from the start of a graceful shutdown. Other service names are NOT_FOUND for `Check`
/// and SERVICE_UNKNOWN for `Watch`, as the health protocol specifies. `Watch` sends the current status, then
/// every change (polled every ``pollInterval``), until the client goes away or the server drains (it then sends
/// NOT_SERVING and ends the stream with OK).
final class HealthMonitor: Sendable {
    typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    static let checkPath = "/grpc.health.v1.Health/Check"
    static let watchPath = "/grpc.health.v1.Health/Watch"
    /// The service names this server reports on.
    static let knownServices: Set<String> = ["", InferenceRPC.service]

    let bridge: WorkerBridge
    let lifecycle: ProcessLifecycle
    let pollInterval: TimeAmount
    let probeTimeout: TimeAmount

    init(bridge: WorkerBridge, lifecycle: ProcessLifecycle, pollInterval: TimeAmount = .seconds(1), probeTimeout: TimeAmount = .seconds(10)) {
        self.bridge = bridge
        self.lifecycle = lifecycle
        self.pollInterval = pollInterval
        self.probeTimeout = probeTimeout
    }

    /// SERVING iff not draining and a worker answers ServerReady with `ready: true` within ``probeTimeout``.
    func status(on eventLoop: any EventLoop) -> EventLoopFuture<Status> {
        if lifecycle.isDraining { return eventLoop.makeSucceededFuture(.notServing) }
        let exchange = bridge.exchange(.serverReady, body: ByteBuffer(), metadata: [:], on: eventLoop)
        let timer = eventLoop.scheduleTask(in: probeTimeout) { exchange.cancel() }
        let bridge = self.bridge
        let lifecycle = self.lifecycle
        return exchange.futureResult.map { answer -> Status in
            timer.cancel()
            guard case .success(let body) = bridge.outcome(.success(answer), rpc: .serverReady),
                  let message = try? Inference_ServerReadyResponse(serializedBytes: Array(body.readableBytesView))
            else { return .notServing }
            return message.ready && !lifecycle.isDraining ? .serving : .notServing
        }.recover { _ in
            timer.cancel()
            return .notServing
        }
    }

    /// The service a `HealthCheckRequest` names, or INVALID_ARGUMENT.
    static func service(_ body: ByteBuffer) -> Result<String, GRPCStatus> {
        do {
            return .success(try Grpc_Health_V1_HealthCheckRequest(serializedBytes: Array(body.readableBytesView)).service)
        } catch {
            return .failure(GRPCStatus(.invalidArgument, "the request is not a valid grpc.health.v1.HealthCheckRequest message (\(error))"))
        }
    }

    /// A serialized `HealthCheckResponse`.
    static func encode(_ status: Status) -> ByteBuffer {
        let message = Grpc_Health_V1_HealthCheckResponse.with { $0.status = status }
        return ByteBuffer(bytes: (try? message.serializedBytes() as [UInt8]) ?? [])
    }
}
