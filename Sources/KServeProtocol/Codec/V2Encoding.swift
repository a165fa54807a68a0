// Encoding of v2 REST requests and responses (JSON, or JSON header + binary tensor data).

import Synchronization

/// Parameters as written on the wire for a tensor: the transport markers `binary_data` (set by `setData`) and
/// `binary_data_size` are dropped, and `binary_data_size` is added for a binary tensor.
func wireParameters(_ parameters: Parameters, binarySize: Int?) -> Parameters {
    var p = parameters
    p["binary_data"] = nil
    p["binary_data_size"] = nil
    if let binarySize { p["binary_data_size"] = .int(Int64(binarySize)) }
    return p
}

/// Writes `[d0,d1,...]`.
func appendShape(_ shape: [Int], to out: inout [UInt8]) {
    out.append(UInt8(ascii: "["))
    for (i, d) in shape.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        JSONWriter.appendInt(Int64(d), to: &out)
    }
    out.append(UInt8(ascii: "]"))
}

/// The raw binary form of a tensor's data (a slice of the original buffer for fixed-width types).
func binaryChunk(_ data: TensorData, tensor: String, code: KServeError.Code) throws -> ArraySlice<UInt8> {
    switch data {
    case .raw(let raw):
        return raw
    case .bytes(let elements):
        if let long = elements.first(where: { $0.count > Int(UInt32.max) }) {
            throw KServeError(code, "\(tensor): a BYTES element of \(long.count) bytes is too long for the binary format")
        }
        return ArraySlice(serializeByteTensor(elements))
    }
}

/// A random (version 4) UUID string, as Python's `str(uuid.uuid4())` (lower-case text form): 128 bits from the system generator in two draws (one
/// `getrandom` each, not one per byte).
public func makeUUID4() -> String {
    let high = RequestIDRandom.next(), low = RequestIDRandom.next()
    let hex = Array("0123456789abcdef".utf8)
    return String(unsafeUninitializedCapacity: 36) { out in
        var n = 0
        for i in 0..<16 {
            var b = UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (UInt64(7 - i % 8) * 8))
            if i == 6 { b = b & 0x0F | 0x40 }
            if i == 8 { b = b & 0x3F | 0x80 }
            if i == 4 || i == 6 || i == 8 || i == 10 {
                out[n] = UInt8(ascii: "-")
                n += 1
            }
            out[n] = hex[Int(b >> 4)]
            out[n + 1] = hex[Int(b & 0xF)]
            n += 2
        }
        return n
    }
}

/// The random bits of generated request ids: SplitMix64 over a per-process counter seeded once from the system's
/// generator (`getrandom`), lock-free. Ids are unique and unpredictable enough for correlation, and cost no system
/// call per response (the system generator cost two `getrandom` calls per id). Not for secrets.
enum RequestIDRandom {
    private static let state = Atomic<UInt64>({
        var g = SystemRandomNumberGenerator()
        return g.next()
    }())

    static func next() -> UInt64 {
        let (_, old) = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed)
        var z = old &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension InferResponse {
    /// Encodes the response for REST (the seed's `to_rest`).
    ///
    /// Which outputs are sent, and which of them are binary (kserve-behaviour.md §2):
    /// - if ``requestedOutputs`` is non-empty, only those outputs, in that order; each is binary iff its own
    ///   `binary_data` parameter is true (without it, JSON, whatever ``useBinaryOutputs`` says);
    /// - otherwise every output, all binary iff ``useBinaryOutputs``.
    ///
    /// Without binary outputs the body is the JSON document
    /// `{"model_name","model_version","id","parameters","outputs":[{"name","shape","datatype","parameters","data"}]}`
    /// with nulls included. With any, the JSON header is `{"id","model_name","model_version","outputs":[...]}`
    /// (`parameters` only if non-empty), binary outputs carry `"parameters":{"binary_data_size":n}` and no `data`,
    /// and their raw buffers follow in order (fixed-width data is not copied).
    ///
    /// - Throws: ``KServeError`` `invalidInput` for a requested output the model did not produce
    ///   (`Unexpected inference output 'zzz' for model 'Echo'`), an output without data, or FP16/BF16 data that would
    ///   go as JSON; `inferenceError` for data that does not match its shape or BYTES that are not UTF-8 in JSON.
    public func toRest() throws -> RestMessage {
        var selected: [(output: InferOutput, binary: Bool)] = []
        if let requested = requestedOutputs, !requested.isEmpty {
            for r in requested {
                guard let o = output(named: r.name) else {
                    throw KServeError.invalidInput("Unexpected inference output '\(r.name)' for model '\(modelName)'")
                }
                selected.append((o, r.binaryData ?? false))
            }
        } else {
            selected = outputs.map { ($0, useBinaryOutputs) }
        }
        let binary = selected.contains { $0.binary }

        var json: [UInt8] = []
        var chunks: [ArraySlice<UInt8>] = []
        json.reserveCapacity(256)
        if binary {
            JSONWriter.appendRaw(#"{"id":"#, to: &json)
            JSONWriter.appendString(id, to: &json)
            JSONWriter.appendRaw(#","model_name":"#, to: &json)
            JSONWriter.appendString(modelName, to: &json)
            JSONWriter.appendRaw(#","model_version":"#, to: &json)
        } else {
            JSONWriter.appendRaw(#"{"model_name":"#, to: &json)
            JSONWriter.appendString(modelName, to: &json)
            JSONWriter.appendRaw(#","model_version":"#, to: &json)
        }
        if let modelVersion { JSONWriter.appendString(modelVersion, to: &json) } else { JSONWriter.appendRaw("null", to: &json) }
        if !binary {
            JSONWriter.appendRaw(#","id":"#, to: &json)
            JSONWriter.appendString(id, to: &json)
            JSONWriter.appendRaw(#","parameters":"#, to: &json)
            if parameters.isEmpty {
                JSONWriter.appendRaw("null", to: &json)
            } else {
                JSONWriter.appendParameters(parameters, to: &json)
            }
        }
        JSONWriter.appendRaw(#","outputs":["#, to: &json)
        for (i, (output, isBinary)) in selected.enumerated() {
            if i > 0 { json.append(UInt8(ascii: ",")) }
            let label = "output '\(output.name)'"
            guard let data = output.data else {
                throw KServeError.invalidInput(
                    "'data' field is missing for output '\(output.name)' for model '\(modelName)'")
            }
            let count = try validatedElementCount(
                data, shape: output.shape, datatype: output.datatype, tensor: label, code: .inferenceError)
            JSONWriter.appendRaw(#"{"name":"#, to: &json)
            JSONWriter.appendString(output.name, to: &json)
            JSONWriter.appendRaw(#","shape":"#, to: &json)
            appendShape(output.shape, to: &json)
            JSONWriter.appendRaw(#","datatype":""#, to: &json)
            json.append(contentsOf: output.datatype.rawValue.utf8)
            json.append(UInt8(ascii: "\""))
            if isBinary {
                let chunk = try binaryChunk(data, tensor: label, code: .inferenceError)
                JSONWriter.appendRaw(#","parameters":"#, to: &json)
                JSONWriter.appendParameters(wireParameters(output.parameters, binarySize: chunk.count), to: &json)
                chunks.append(chunk)
            } else {
                let parameters = wireParameters(output.parameters, binarySize: nil)
                if !parameters.isEmpty {
                    JSONWriter.appendRaw(#","parameters":"#, to: &json)
                    JSONWriter.appendParameters(parameters, to: &json)
                } else if !binary {
                    JSONWriter.appendRaw(#","parameters":null"#, to: &json)
                }
                JSONWriter.appendRaw(#","data":"#, to: &json)
                try appendTensorJSONData(
                    data, datatype: output.datatype, count: count, role: .output, name: output.name, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        json.append(UInt8(ascii: "]"))
        if binary && !parameters.isEmpty {
            JSONWriter.appendRaw(#","parameters":"#, to: &json)
            JSONWriter.appendParameters(parameters, to: &json)
        }
        json.append(UInt8(ascii: "}"))
        return RestMessage(json: json, binaryChunks: chunks, jsonLength: binary ? json.count : nil)
    }
}

extension InferRequest {
    /// Encodes the request for REST, e.g. to forward it to a predictor (the seed's `to_rest`).
    ///
    /// The message is binary iff some input has the parameter `binary_data` set to true (as ``InferInput/setData``
    /// does by default): those inputs carry `binary_data_size` and their raw buffers follow the JSON in order, the
    /// others keep JSON `data`. The JSON is `{"id","model_name","inputs":[...]}` plus `outputs` (requested outputs)
    /// and `parameters` when present; a missing id is filled with a new UUID.
    ///
    /// - Parameter rawInputs: send every input as raw binary data, whatever its `binary_data` parameter says (a
    ///   transformer forwarding a request that arrived binary, see ``InferRequest/hasRawInputs``).
    /// - Throws: ``KServeError`` `invalidInput` for an input without data, with data that does not match its shape,
    ///   or FP16/BF16 data that would go as JSON.
    public func toRest(rawInputs: Bool = false) throws -> RestMessage {
        var json: [UInt8] = []
        var chunks: [ArraySlice<UInt8>] = []
        json.reserveCapacity(256)
        JSONWriter.appendRaw(#"{"id":"#, to: &json)
        JSONWriter.appendString(id ?? makeUUID4(), to: &json)
        JSONWriter.appendRaw(#","model_name":"#, to: &json)
        JSONWriter.appendString(modelName, to: &json)
        JSONWriter.appendRaw(#","inputs":["#, to: &json)
        for (i, input) in inputs.enumerated() {
            if i > 0 { json.append(UInt8(ascii: ",")) }
            let label = "input '\(input.name)'"
            guard let data = input.data else {
                throw KServeError.invalidInput(
                    "'data' field is missing for input '\(input.name)' for model '\(modelName)'")
            }
            let count = try validatedElementCount(
                data, shape: input.shape, datatype: input.datatype, tensor: label, code: .invalidInput)
            let isBinary = rawInputs || input.parameters["binary_data"]?.boolValue == true
            JSONWriter.appendRaw(#"{"name":"#, to: &json)
            JSONWriter.appendString(input.name, to: &json)
            JSONWriter.appendRaw(#","shape":"#, to: &json)
            appendShape(input.shape, to: &json)
            JSONWriter.appendRaw(#","datatype":""#, to: &json)
            json.append(contentsOf: input.datatype.rawValue.utf8)
            json.append(UInt8(ascii: "\""))
            var chunk: ArraySlice<UInt8>?
            if isBinary { chunk = try binaryChunk(data, tensor: label, code: .invalidInput) }
            let parameters = wireParameters(input.parameters, binarySize: chunk?.count)
            if !parameters.isEmpty {
                JSONWriter.appendRaw(#","parameters":"#, to: &json)
                JSONWriter.appendParameters(parameters, to: &json)
            }
            if let chunk {
                chunks.append(chunk)
            } else {
                JSONWriter.appendRaw(#","data":"#, to: &json)
                try appendTensorJSONData(
                    data, datatype: input.datatype, count: count, role: .input, name: input.name, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        json.append(UInt8(ascii: "]"))
        if let requested = requestOutputs, !requested.isEmpty {
            JSONWriter.appendRaw(#","outputs":["#, to: &json)
            for (i, r) in requested.enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                JSONWriter.appendRaw(#"{"name":"#, to: &json)
                JSONWriter.appendString(r.name, to: &json)
                if !r.parameters.isEmpty {
                    JSONWriter.appendRaw(#","parameters":"#, to: &json)
                    JSONWriter.appendParameters(r.parameters, to: &json)
                }
                json.append(UInt8(ascii: "}"))
            }
            json.append(UInt8(ascii: "]"))
        }
        if !parameters.isEmpty {
            JSONWriter.appendRaw(#","parameters":"#, to: &json)
            JSONWriter.appendParameters(parameters, to: &json)
        }
        json.append(UInt8(ascii: "}"))
        let binary = !chunks.isEmpty || rawInputs || inputs.contains { $0.parameters["binary_data"]?.boolValue == true }
        return RestMessage(json: json, binaryChunks: chunks, jsonLength: binary ? json.count : nil)
    }
}
