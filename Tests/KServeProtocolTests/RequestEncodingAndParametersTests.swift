import Testing

@testable import KServeProtocol

@Suite("v2 request encoding, BYTES layout and parameter conversion")
struct RequestEncodingAndParametersTests {
    @Test("golden: serialize_byte_tensor / deserialize_bytes_tensor")
    func bytesGolden() throws {
        let golden: [UInt8] = [3, 0, 0, 0, 99, 97, 116, 2, 0, 0, 0, 111, 107]
        #expect(serializeByteTensor([ArraySlice("cat".utf8), ArraySlice("ok".utf8)]) == golden)
        #expect(try deserializeBytesTensor(ArraySlice(golden)).map(Array.init) == [Array("cat".utf8), Array("ok".utf8)])
        #expect(serializeByteTensor([]) == [])
        #expect(try deserializeBytesTensor([]) == [])
        #expect(try deserializeBytesTensor([0, 0, 0, 0]) == [[]])
        let long = [UInt8](repeating: 7, count: 300)
        #expect(Array(serializeByteTensor([ArraySlice(long)]).prefix(4)) == [44, 1, 0, 0])
    }

    @Test("deserialize_bytes_tensor rejects truncated buffers")
    func bytesErrors() {
        expectKServeError(.invalidInput, "truncated length prefix") { _ = try deserializeBytesTensor([1, 0]) }
        expectKServeError(.invalidInput, "runs past the end") { _ = try deserializeBytesTensor([5, 0, 0, 0, 1]) }
        expectKServeError(.invalidInput, "runs past the end") { _ = try deserializeBytesTensor([0xFF, 0xFF, 0xFF, 0xFF]) }
    }

    @Test("request to_rest: JSON when no input is marked binary")
    func requestJSON() throws {
        let r = InferRequest(
            modelName: "m",
            inputs: [InferInput(name: "a", shape: [2], datatype: .fp32, data: .from([Float(1.5), 2]), parameters: ["k": .int(1)])],
            id: "x", parameters: ["binary_data_output": .bool(true)],
            requestOutputs: [RequestedOutput(name: "o", parameters: ["binary_data": .bool(true)])])
        let m = try r.toRest()
        #expect(m.jsonLength == nil)
        #expect(
            text(m.json)
                == #"{"id":"x","model_name":"m","inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"k":1},"data":[1.5,2.0]}],"outputs":[{"name":"o","parameters":{"binary_data":true}}],"parameters":{"binary_data_output":true}}"#)
        let back = try InferRequest.fromJSON(ArraySlice(m.json), modelName: "m")
        #expect(back.inputs == r.inputs)
        #expect(back.requestOutputs == r.requestOutputs)
        #expect(back.parameters == r.parameters)
    }

    @Test("request to_rest: binary inputs via setData, mixed with JSON inputs")
    func requestBinary() throws {
        var a = InferInput(name: "a", shape: [2], datatype: .fp32)
        a.setData([Float(1), 2])  // binaryData: true by default
        var s = InferInput(name: "s", shape: [2], datatype: .bytes)
        s.setData(strings: ["cat", "ok"], binaryData: false)
        let r = InferRequest(modelName: "m", inputs: [a, s], id: "x")
        let m = try r.toRest()
        let expected =
            #"{"id":"x","model_name":"m","inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},"#
            + #"{"name":"s","shape":[2],"datatype":"BYTES","data":["cat","ok"]}]}"#
        #expect(text(m.json) == expected)
        #expect(m.jsonLength == expected.utf8.count)
        #expect(m.binaryChunks.map(Array.init) == [[0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]])
        let back = try InferRequest.fromBytes(ArraySlice(m.joined()), jsonLength: m.jsonLength ?? 0, modelName: "m")
        #expect(try back.inputs[0].asArray(of: Float.self) == [1, 2])
        #expect(try back.inputs[1].asString() == ["cat", "ok"])
        #expect(back.inputs[0].parameters.isEmpty)
    }

    @Test("A request that arrived binary remembers it and is forwarded binary again (transformers)")
    func rawInputsForwardedBinary() throws {
        let header = #"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},"#
            + #"{"name":"b","shape":[1],"datatype":"INT32","data":[7]}]}"#
        let body = Array(header.utf8) + [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]
        let r = try InferRequest.fromBytes(ArraySlice(body), jsonLength: header.utf8.count, modelName: "m")
        #expect(r.hasRawInputs)
        #expect(!(try InferRequest.fromJSON(ArraySlice(Array(#"{"inputs":[{"name":"b","shape":[1],"datatype":"INT32","data":[7]}]}"#.utf8)), modelName: "m").hasRawInputs))
        let m = try r.toRest(rawInputs: r.hasRawInputs)
        #expect(m.isBinary)
        // every input goes raw, the JSON one too
        #expect(m.binaryChunks.map(Array.init) == [[0, 0, 0x80, 0x3F, 0, 0, 0, 0x40], [7, 0, 0, 0]])
        let back = try InferRequest.fromBytes(ArraySlice(m.joined()), jsonLength: m.jsonLength ?? 0, modelName: "m")
        #expect(try back.inputs[0].asArray(of: Float.self) == [1, 2])
        #expect(try back.inputs[1].asArray(of: Int32.self) == [7])
        #expect(!(try r.toRest()).isBinary)  // without rawInputs, JSON as before
    }

    @Test("request to_rest: a missing id becomes a uuid4")
    func requestUUID() throws {
        let r = InferRequest(modelName: "m", inputs: [InferInput(name: "a", shape: [1], datatype: .int8, data: .raw([5]))])
        let json = try JSONValue.parse(ArraySlice(try r.toRest().json))
        guard case .string(let id)? = json["id"] else { Issue.record("no id"); return }
        #expect(id.count == 36)
        #expect(Array(id)[14] == "4")
    }

    @Test("request to_rest: errors")
    func requestErrors() {
        let noData = InferRequest(modelName: "m", inputs: [InferInput(name: "a", shape: [1], datatype: .fp32)])
        expectKServeError(.invalidInput, "'data' field is missing for input 'a' for model 'm'") { _ = try noData.toRest() }
        let fp16 = InferRequest(
            modelName: "m", inputs: [InferInput(name: "h", shape: [1], datatype: .fp16, data: .from([Float16(1)]))])
        expectKServeError(.invalidInput, "Sending FP16 data via JSON is not supported. Please use the binary data format for input h") {
            _ = try fp16.toRest()
        }
        let wrong = InferRequest(modelName: "m", inputs: [InferInput(name: "a", shape: [2], datatype: .fp32, data: .raw([0, 0, 0, 0]))])
        expectKServeError(.invalidInput, "input 'a'", "needs 8") { _ = try wrong.toRest() }
    }

    @Test("to_grpc_parameters: bool, int and string pass; floats and other JSON fail")
    func grpcParameters() throws {
        let ok: Parameters = ["b": .bool(true), "i": .int(-3), "s": .string("x")]
        #expect(try ok.grpcCompatible() == ok)
        #expect(ok.httpCompatible == ok)
        expectKServeError(.invalidInput, "to_grpc: invalid parameter value: 1.3") {
            _ = try (["t": .double(1.3)] as Parameters).grpcCompatible()
        }
        expectKServeError(.invalidInput, "to_grpc: invalid parameter value: {'a': [1, None, True, 'x']}") {
            _ = try (["o": .json(.object(["a": .array([.int(1), .null, .bool(true), .string("x")])]))] as Parameters).grpcCompatible()
        }
        expectKServeError(.invalidInput, "to_grpc: invalid parameter value: 18446744073709551615") {
            _ = try ParameterValue.json(.uint(.max)).grpcCompatible()
        }
        #expect(ParameterValue.int(1).isGRPCCompatible)
        #expect(!ParameterValue.double(1).isGRPCCompatible)
    }

    @Test("parameters from and to JSON objects keep their order and types")
    func parametersJSON() throws {
        guard case .object(let o) = try JSONValue.parse(#"{"z":1,"a":2.5,"m":"s","b":false,"n":null}"#) else { return }
        let p = Parameters(json: o)
        #expect(p.keys == ["z", "a", "m", "b", "n"])
        #expect(p["z"] == .int(1))
        #expect(p["a"] == .double(2.5))
        #expect(p["n"] == .json(.null))
        #expect(text(JSONValue.object(p.jsonObject).serialized()) == #"{"z":1,"a":2.5,"m":"s","b":false,"n":null}"#)
    }
}
