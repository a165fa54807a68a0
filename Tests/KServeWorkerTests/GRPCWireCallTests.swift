import KServeModel
import KServeProtobuf
import KServeProtocol
import SwiftProtobuf
import Testing

@testable import KServeWorker

/// Calls as nginx's HTTP/2 listener passes them (`KSERVE_PROTOCOL=grpc-wire`): the gRPC wire body in, the wire
/// body and the status headers out.
@Suite("gRPC calls straight from nginx's HTTP/2 listener")
struct GRPCWireCallTests {
    static let wire = GRPCWireCall(maxReceive: 1 << 20, maxSend: 1 << 20)

    static func framed(_ message: [UInt8], flag: UInt8 = 0) -> [UInt8] {
        let n = message.count
        return [flag, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + message
    }

    static func echoRequest(_ values: [Int32]) throws -> [UInt8] {
        try Inference_ModelInferRequest.with {
            $0.modelName = "echo"
            $0.inputs = [.with { $0.name = "a"; $0.datatype = "INT32"; $0.shape = [Int64(values.count)]; $0.contents.intContents = values }]
        }.serializedBytes()
    }

    static func request(_ body: [UInt8], headers: Headers = [:], method: String = "POST") -> HTTPRequest {
        var h = headers
        if h["content-type"] == nil { h["content-type"] = "application/grpc" }
        return HTTPRequest(method: method, path: InferenceRPC.modelInfer.path, headers: h, body: body)
    }

    static func header(_ r: HTTPResponse, _ name: String) -> String? {
        r.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    static func answer(
        _ request: HTTPRequest, dataPlane: DataPlane, elapsed: Double = 0, wire: GRPCWireCall = wire
    ) async -> GRPCWireCall.Outcome {
        await wire.answer(request, dataPlane: dataPlane, started: 100, clock: { 100 + elapsed })
    }

    @Test("The message is the slice after its 5-byte prefix; every other framing is refused with its code")
    func framing() {
        let w = Self.wire
        let ok = Self.framed([1, 2, 3])
        #expect((try? w.unaryMessage(ok, name: "ModelInfer").get()).map(Array.init) == [1, 2, 3])
        func code(_ body: [UInt8]) -> Int? {
            if case .failure(let e) = w.unaryMessage(body, name: "ModelInfer") { return e.code }
            return nil
        }
        #expect(code([]) == 3)  // no message
        #expect(code([0, 0, 0]) == 13)  // inside the prefix
        #expect(code(Self.framed([1], flag: 1)) == 13)  // compressed, identity encoding
        #expect(code(Array(ok.dropLast())) == 13)  // ends inside the message
        #expect(code(ok + [0]) == 3)  // more than one message
        #expect(code([0, 0x10, 0, 0, 0]) == 8)  // 256 MiB announced: over the limit
        if case .failure(let e) = w.unaryMessage([0, 0x10, 0, 0, 0], name: "ModelInfer") {
            #expect(e.message.contains("max_receive_message_length"))
            #expect(e.message.contains("268435456 bytes"))
        }
    }

    @Test("A call answers 200 with the framed response message and Grpc-Status 0")
    func success() async throws {
        let (dp, echo) = await GRPCDispatcherTests.makeDataPlane()
        let outcome = await Self.answer(
            Self.request(Self.framed(try Self.echoRequest([4, 5])),
                         headers: ["x-trace": "t1", "grpc-timeout": "10S", "te": "trailers", "x-blob-bin": "AAE="]),
            dataPlane: dp)
        #expect(outcome.code == 0)
        #expect(outcome.response.status == 200)
        #expect(Self.header(outcome.response, "Grpc-Status") == "0")
        #expect(Self.header(outcome.response, "Content-Type") == "application/grpc")
        let body = GRPCDispatcherTests.body(outcome.response)
        let length = Int(body[1]) << 24 | Int(body[2]) << 16 | Int(body[3]) << 8 | Int(body[4])
        #expect(body[0] == 0 && length == body.count - 5 && length == outcome.messageBytes)
        let message = try Inference_ModelInferResponse(serializedBytes: Array(body[5...]))
        #expect(message.outputs.first?.contents.intContents == [4, 5])
        // The model sees the call's metadata, not the transport's headers.
        #expect(echo.seenHeaders.value["x-trace"] == "t1")
        #expect(echo.seenHeaders.value["grpc-timeout"] == nil && echo.seenHeaders.value["te"] == nil)
        #expect(echo.seenHeaders.value["x-blob-bin"] == nil && echo.seenHeaders.value["content-type"] == nil)
    }

    @Test("Errors are status 200 without a body, the code and the percent-encoded message as headers")
    func errors() async throws {
        let (dp, _) = await GRPCDispatcherTests.makeDataPlane()
        let missing: [UInt8] = try Inference_ModelInferRequest.with { $0.modelName = "nopé" }.serializedBytes()
        let notFound = await Self.answer(Self.request(Self.framed(missing)), dataPlane: dp)
        #expect(notFound.code == 5 && notFound.response.status == 200)
        #expect(GRPCDispatcherTests.body(notFound.response).isEmpty)
        #expect(Self.header(notFound.response, "Grpc-Message")?.contains("nop%C3%A9") == true)

        let gzip = await Self.answer(Self.request(Self.framed([]), headers: ["grpc-encoding": "gzip"]), dataPlane: dp)
        #expect(gzip.code == 12)
        #expect(Self.header(gzip.response, "Grpc-Accept-Encoding") == "identity")

        let small = GRPCWireCall(maxReceive: 1 << 20, maxSend: 8)
        let tooBig = await Self.answer(Self.request(Self.framed(try Self.echoRequest([1, 2, 3]))), dataPlane: dp, wire: small)
        #expect(tooBig.code == 8)
        #expect(Self.header(tooBig.response, "Grpc-Message")?.contains("response message") == true)

        let late = await Self.answer(
            Self.request(Self.framed(try Self.echoRequest([1])), headers: ["grpc-timeout": "100m"]), dataPlane: dp,
            elapsed: 0.5)
        #expect(late.code == 4)

        let get = await Self.answer(Self.request([], method: "GET"), dataPlane: dp)
        #expect(get.code == nil && get.response.status == 405)
        let text = await Self.answer(Self.request([], headers: ["content-type": "text/plain"]), dataPlane: dp)
        #expect(text.code == nil && text.response.status == 415)

        let over = Self.wire.tooLarge(messageBytes: 2 << 20, path: InferenceRPC.modelInfer.path)
        #expect(over.code == 8)
        #expect(Self.header(over.response, "Grpc-Message")?.contains("ModelInfer request message of 2097152 bytes") == true)
    }
}
