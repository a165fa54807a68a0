import KServeModel
import KServeProtocol
import Testing

@testable import KServeRemote

@Suite("RemotePredictorClient: targets and error mapping")
struct RemotePredictorClientTests {
    @Test(
        "gRPC targets: host:port, default port 80 / 443, IPv6 in brackets",
        arguments: [
            ("predictor:8081", false, "predictor", 8081), ("predictor", false, "predictor", 80),
            ("predictor", true, "predictor", 443), ("[::1]:9000", false, "::1", 9000), ("[::1]", true, "::1", 443),
            ("10.0.0.7:50051", true, "10.0.0.7", 50051),
        ])
    func grpcTargets(host: String, tls: Bool, name: String, port: Int) {
        let t = RemotePredictorClient.grpcTarget(host, tls: tls)
        #expect(t.host == name)
        #expect(t.port == port)
    }

    @Test(
        "A predictor's HTTP status keeps its meaning (and its gRPC code) when passed on",
        arguments: [
            (400, KServeError.Code.invalidInput, 3), (404, .modelNotFound, 5), (413, .payloadTooLarge, 8),
            (422, .invalidInput, 3), (500, .inferenceError, 3), (501, .notImplemented, 12), (502, .badGateway, 14),
            (503, .unavailable, 14), (504, .timeout, 4),
        ])
    func statusCodes(status: Int, code: KServeError.Code, grpc: Int) {
        let c = RemotePredictorClient.code(forStatus: status)
        #expect(c == code)
        let e = KServeError(c, "m", status: status)
        #expect(e.httpStatus == status)
        #expect(e.grpcStatusCode == grpc)
    }

    @Test("Nothing is forwarded to a host that is not configured: KServe's 501s")
    func noHosts() async {
        let client = RemotePredictorClient()
        await #expect(throws: KServeError.notImplemented("Could not find predictor_host.")) {
            _ = try await client.predict(model: "m", payload: .json(.null), headers: [:], config: PredictorConfig())
        }
        await #expect(throws: KServeError.notImplemented("Could not find explainer_host.")) {
            _ = try await client.explain(model: "m", payload: .json(.null), headers: [:], config: PredictorConfig())
        }
        #expect(await client.modelReady(model: "m", config: PredictorConfig()) == false)
    }

    @Test("A v2 request cannot go to a v1 predictor, nor JSON to a grpc-v2 one: 400 saying what to change")
    func protocolMismatch() async {
        let client = RemotePredictorClient()
        let request = InferRequest(modelName: "m", inputs: [InferInput(name: "a", shape: [1], datatype: .int8, data: .raw([1]))])
        await #expect(throws: KServeError.self) {
            _ = try await client.predict(
                model: "m", payload: .request(request), headers: [:],
                config: PredictorConfig(predictorHost: "127.0.0.1:1", predictorProtocol: .v1))
        }
        do {
            _ = try await client.predict(
                model: "m", payload: .json(.null), headers: [:],
                config: PredictorConfig(predictorHost: "127.0.0.1:1", predictorProtocol: .grpcV2))
            Issue.record("expected an error")
        } catch let e as KServeError {
            #expect(e.httpStatus == 400)
            #expect(e.message.contains("grpc-v2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
