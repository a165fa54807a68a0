import KServe

/// `echo`: v1 answers `{"predictions": <instances or inputs>}`; v2 returns each input `i` as `output-<i>` with the
/// same shape, datatype and data, the request id and parameters, and each input's parameters on its output.
/// `explain` answers like `predict`.
open class EchoModel: Model, @unchecked Sendable {
    public init(name: String, returnResponseHeaders: Bool = false) {
        super.init(name: name, returnResponseHeaders: returnResponseHeaders)
    }

    open override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        try echo(payload)
    }

    open override func explain(_ payload: Payload, headers: Headers) async throws -> Prediction {
        try echo(payload)
    }

    func echo(_ payload: Payload) throws -> Prediction {
        switch payload {
        case .json(let json):
            guard let instances = json["instances"] ?? json["inputs"] else {
                throw KServeError.invalidInput(#"Expected "instances" or "inputs" in the request body"#)
            }
            return .json(.object(["predictions": instances]))
        case .bytes(let bytes, let contentType):
            return .bytes(bytes, contentType: contentType ?? "application/octet-stream")
        case .request(let request):
            let outputs = request.inputs.enumerated().map { i, input in
                InferOutput(
                    name: "output-\(i)", shape: input.shape, datatype: input.datatype, data: input.data,
                    parameters: input.parameters.removing("binary_data_size"))
            }
            return .response(InferResponse(
                id: request.id ?? uuid4(), modelName: name, outputs: outputs, parameters: request.parameters))
        }
    }
}

/// `sleep`: waits `delay_ms` (config option, overridden by a request parameter `delay_ms`), then echoes.
public final class SleepModel: EchoModel, @unchecked Sendable {
    let delayMilliseconds: Int

    public init(name: String, delayMilliseconds: Int) {
        self.delayMilliseconds = delayMilliseconds
        super.init(name: name)
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        var delay = delayMilliseconds
        switch payload {
        case .request(let r): delay = r.parameters["delay_ms"]?.intValue.map(Int.init) ?? delay
        case .json(let j): if case .int(let v)? = j["parameters"]?["delay_ms"] ?? j["delay_ms"] { delay = Int(v) }
        case .bytes: break
        }
        if delay > 0 { try await Task.sleep(for: .milliseconds(min(delay, 3_600_000))) }
        return try echo(payload)
    }
}

/// `broken`: `load()` always fails, so readiness reporting can be seen.
public final class BrokenModel: Model, @unchecked Sendable {
    public override func load() async throws {
        throw KServeError(.internalError, "load() of the 'broken' sample fails on purpose")
    }
}

/// `stream`: a v1 predict answers with `count` chunks (`{"chunk": i}` lines), `interval_ms` apart.
public final class StreamModel: Model, @unchecked Sendable {
    let count: Int
    let intervalMilliseconds: Int

    public init(name: String, count: Int, intervalMilliseconds: Int) {
        self.count = count
        self.intervalMilliseconds = intervalMilliseconds
        super.init(name: name)
    }

    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let count = self.count, interval = self.intervalMilliseconds
        let stream = AsyncThrowingStream<[UInt8], any Error> { continuation in
            let task = Task {
                for i in 0..<count {
                    if i > 0 && interval > 0 { try? await Task.sleep(for: .milliseconds(interval)) }
                    continuation.yield(Array("{\"chunk\": \(i)}\n".utf8))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
        return .stream(stream, contentType: "application/x-ndjson")
    }
}

/// `echo-headers`: echoes like `echo` and also returns the request headers the model received, so that a test can
/// see what a transformer forwarded: v1 adds `"headers": {name: value}` next to `predictions`; v2 adds a response
/// parameter `headers` holding the same object as a JSON string.
public final class HeaderEchoModel: EchoModel, @unchecked Sendable {
    public override func predict(_ payload: Payload, headers: Headers, responseHeaders: ResponseHeaders?) async throws -> Prediction {
        let seen = JSONValue.object(JSONObject(headers.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        switch try echo(payload) {
        case .json(let json):
            guard case .object(var object) = json else { return .json(json) }
            object["headers"] = seen
            return .json(.object(object))
        case .response(var response):
            response.parameters["headers"] = .string(seen.jsonString())
            return .response(response)
        case let other:
            return other
        }
    }
}
