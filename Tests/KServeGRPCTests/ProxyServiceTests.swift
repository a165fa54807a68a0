import NIOCore
import Testing

@testable import KServeGRPC

@Suite("gRPC wire helpers")
struct ProxyServiceTests {
    @Test("grpc-timeout values")
    func timeouts() {
        #expect(grpcTimeout("300m") == .milliseconds(300))
        #expect(grpcTimeout("2S") == .seconds(2))
        #expect(grpcTimeout("1H") == .seconds(3600))
        #expect(grpcTimeout("5u") == .microseconds(5))
        #expect(grpcTimeout("x") == nil)
        #expect(grpcTimeout("m") == nil)
        #expect(grpcTimeout("123456789S") == nil)  // more than 8 digits
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

    @Test("grpc-message is percent-encoded: printable ASCII as is, everything else and % as %XX")
    func messages() {
        #expect(GRPCStatus(.notFound, "Model with name x does not exist.").encodedMessage == "Model with name x does not exist.")
        #expect(GRPCStatus(.internalError, "100% bad\nline é").encodedMessage == "100%25 bad%0Aline %C3%A9")
    }

    @Test("a unary request is exactly one uncompressed length-prefixed message")
    func unaryFraming() throws {
        func framed(_ payload: [UInt8], flag: UInt8 = 0, declared: Int? = nil) -> ByteBuffer {
            var b = ByteBuffer()
            b.writeInteger(flag)
            b.writeInteger(UInt32(declared ?? payload.count))
            b.writeBytes(payload)
            return b
        }
        let ok = try GRPCCallHandler.unaryMessage(framed([1, 2, 3]), name: "ModelInfer").get()
        #expect(Array(ok.readableBytesView) == [1, 2, 3])
        let empty = try GRPCCallHandler.unaryMessage(framed([]), name: "ServerLive").get()
        #expect(empty.readableBytes == 0)
        func code(_ r: Result<ByteBuffer, GRPCStatus>) -> GRPCCode? {
            if case .failure(let s) = r { return s.code }
            return nil
        }
        #expect(code(GRPCCallHandler.unaryMessage(nil, name: "M")) == .invalidArgument)
        #expect(code(GRPCCallHandler.unaryMessage(ByteBuffer(bytes: [0, 0]), name: "M")) == .internalError)
        #expect(code(GRPCCallHandler.unaryMessage(framed([1], flag: 1), name: "M")) == .internalError)
        #expect(code(GRPCCallHandler.unaryMessage(framed([1, 2], declared: 5), name: "M")) == .internalError)
        var two = framed([1])
        var second = framed([2])
        two.writeBuffer(&second)
        #expect(code(GRPCCallHandler.unaryMessage(two, name: "M")) == .invalidArgument)
    }
}
