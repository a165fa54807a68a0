import GRPCCore
import Testing

@testable import KServeGRPC

@Suite("Proxy service helpers")
struct ProxyServiceTests {
    @Test("grpc-timeout values")
    func timeouts() {
        #expect(grpcTimeout(["grpc-timeout": "300m"]) == .milliseconds(300))
        #expect(grpcTimeout(["grpc-timeout": "2S"]) == .seconds(2))
        #expect(grpcTimeout(["grpc-timeout": "1H"]) == .seconds(3600))
        #expect(grpcTimeout(["grpc-timeout": "5u"]) == .microseconds(5))
        #expect(grpcTimeout(["grpc-timeout": "x"]) == nil)
        #expect(grpcTimeout([:]) == nil)
    }

    @Test("the transport accepts more than max_message_size so the service can answer RESOURCE_EXHAUSTED")
    func transportLimit() {
        #expect(GRPCProcess.transportPayloadLimit(64 << 20) == (128 << 20) + (1 << 20))
        #expect(GRPCProcess.transportPayloadLimit(1) == 2 + (1 << 20))
        #expect(GRPCProcess.transportPayloadLimit(Int.max) == Int(UInt32.max))
        #expect(GRPCProcess.transportPayloadLimit(3 << 30) == Int(UInt32.max))
    }

    @Test("metadata keys become FastCGI parameter names")
    func names() {
        #expect(WorkerBridge.headerParameterName("x-request-id") == "HTTP_X_REQUEST_ID")
        #expect(WorkerBridge.headerParameterName("Authorization") == "HTTP_AUTHORIZATION")
        #expect(WorkerBridge.headerParameterName("a.b_c") == "HTTP_A_B_C")
        #expect(WorkerBridge.headerParameterName(":path") == nil)
        #expect(WorkerBridge.headerParameterName("grpc-accept-encoding") == nil)
        #expect(WorkerBridge.headerParameterName("weird key") == nil)
    }
}
