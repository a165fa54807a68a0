import KServeModel
import KServeProtocol
import Testing

/// The README's transformer, verbatim except for the registration: its preprocess and postprocess run here, the
/// forwarding between them is covered end to end (Tests/e2e/test_transformer.py).
final class ImageTransformer: Model, @unchecked Sendable {
    override func preprocess(_ payload: Payload, headers: Headers) async throws -> Payload {
        var request = try payload.inferRequest()
        guard let image = request.input(named: "image") else { throw KServeError.invalidInput("expected an input named 'image'") }
        var scaled = InferInput(name: "input-0", shape: image.shape, datatype: .fp32)
        scaled.setData(try image.asArray(of: UInt8.self).map { Float($0) / 255 })   // raw (binary) when forwarded
        request.inputs = [scaled]
        return .request(request)
    }

    override func postprocess(_ result: Prediction, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        guard case .response(var response) = result, let scores = response.outputs.first else { return result }
        let labels = try scores.asArray(of: Float.self).map { $0 > 0.5 ? "cat" : "dog" }
        response.outputs = [InferOutput(name: "label", shape: [labels.count], datatype: .bytes,
                                        data: .bytes(labels.map { Array($0.utf8)[...] }))]
        return .response(response)
    }
}

@Suite("Transformers: the README example and the default predict without a predictor")
struct TransformerTests {
    @Test("preprocess scales UINT8 pixels to FP32 marked for binary forwarding")
    func preprocess() async throws {
        let t = ImageTransformer(name: "cifar10")
        let image = InferInput(name: "image", shape: [1, 3], datatype: .uint8, data: .raw([0, 51, 255]))
        let out = try await t.preprocess(.request(InferRequest(modelName: "cifar10", inputs: [image])), headers: [:])
        let request = try out.inferRequest()
        #expect(request.inputs.map(\.name) == ["input-0"])
        #expect(try request.inputs[0].asArray(of: Float.self) == [0, 0.2, 1])
        #expect(try request.toRest().isBinary)
    }

    @Test("postprocess turns scores into labels")
    func postprocess() async throws {
        let t = ImageTransformer(name: "cifar10")
        let scores = InferOutput(name: "output-0", shape: [3], values: [Float(0.9), 0.1, 0.5])
        let result = try await t.postprocess(
            .response(InferResponse(id: "1", modelName: "cifar10", outputs: [scores])), headers: [:], responseHeaders: nil)
        guard case .response(let response) = result else { Issue.record("expected a v2 response"); return }
        #expect(response.outputs.map(\.name) == ["label"])
        #expect(try response.outputs[0].asString() == ["cat", "dog", "dog"])
    }

    @Test("Without predictor_host / explainer_host the defaults answer KServe's 501s")
    func noHost() async throws {
        let m = Model(name: "t")
        let payload = Payload.json(.object(["instances": .array([.int(1)])]))
        await #expect(throws: KServeError.notImplemented("Could not find predictor_host.")) {
            _ = try await m.predict(payload, headers: [:], responseHeaders: nil)
        }
        await #expect(throws: KServeError.notImplemented("Could not find explainer_host.")) {
            _ = try await m.explain(payload, headers: [:])
        }
        #expect(await m.predictorReady())  // no health check: the predictor is not asked
    }

    @Test("A host but no client installed is an internal error that says what to do")
    func hostWithoutClient() async throws {
        let m = Model(name: "t", predictorConfig: PredictorConfig(predictorHost: "p:80", enableHealthCheck: true))
        await #expect(throws: KServeError.self) {
            _ = try await m.predict(.json(.null), headers: [:], responseHeaders: nil)
        }
        #expect(await m.predictorReady() == false)
    }
}
