import Testing

@testable import KServeProtocol

@Suite("v2 response encoding: layout, precedence of binary outputs, golden bytes")
struct ResponseEncodingTests {
    /// Two outputs: A (FP32 [1, 2]) and B (INT32 [3, 4]).
    func response(
        useBinary: Bool = false, requested: [RequestedOutput]? = nil, parameters: Parameters = [:]
    ) -> InferResponse {
        InferResponse(
            id: "1", modelName: "m",
            outputs: [
                InferOutput(name: "A", shape: [2], values: [Float(1), Float(2)]),
                InferOutput(name: "B", shape: [2], values: [Int32(3), Int32(4)]),
            ],
            parameters: parameters, useBinaryOutputs: useBinary, requestedOutputs: requested)
    }

    let aBytes: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]
    let bBytes: [UInt8] = [3, 0, 0, 0, 4, 0, 0, 0]

    @Test("JSON response: pydantic key order with nulls, flat data")
    func jsonLayout() throws {
        let m = try response().toRest()
        #expect(m.jsonLength == nil)
        #expect(m.binaryChunks.isEmpty)
        #expect(
            text(m.json)
                == #"{"model_name":"m","model_version":null,"id":"1","parameters":null,"outputs":["#
                + #"{"name":"A","shape":[2],"datatype":"FP32","parameters":null,"data":[1.0,2.0]},"#
                + #"{"name":"B","shape":[2],"datatype":"INT32","parameters":null,"data":[3,4]}]}"#)
    }

    @Test("JSON response with parameters, a model version and a 2-D shape")
    func jsonLayoutWithParameters() throws {
        var r = InferResponse(
            id: "abc", modelName: "TestModel",
            outputs: [InferOutput(name: "output-0", shape: [1, 2], values: [Int32(1), Int32(2)], parameters: ["q": .string("s")])],
            modelVersion: "3", parameters: ["p": .int(1)])
        r.outputs[0].parameters["binary_data"] = .bool(true)  // a setData marker never reaches the wire
        #expect(
            text(try r.toRest().json)
                == #"{"model_name":"TestModel","model_version":"3","id":"abc","parameters":{"p":1},"outputs":[{"name":"output-0","shape":[1,2],"datatype":"INT32","parameters":{"q":"s"},"data":[1,2]}]}"#)
    }

    @Test("precedence: no requested outputs, binary_data_output false -> every output JSON")
    func precedenceDefaultJSON() throws {
        let m = try response(useBinary: false).toRest()
        #expect(m.jsonLength == nil)
        #expect(text(m.json).contains(#""data":[1.0,2.0]"#))
    }

    @Test("precedence: no requested outputs, binary_data_output true -> every output binary")
    func precedenceAllBinary() throws {
        let m = try response(useBinary: true).toRest()
        #expect(
            text(m.json)
                == #"{"id":"1","model_name":"m","model_version":null,"outputs":["#
                + #"{"name":"A","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},"#
                + #"{"name":"B","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}}]}"#)
        #expect(m.jsonLength == m.json.count)
        #expect(m.binaryChunks.map(Array.init) == [aBytes, bBytes])
        #expect(m.joined() == m.json + aBytes + bBytes)
        #expect(m.byteCount == m.json.count + 16)
    }

    @Test("precedence: requested outputs without binary_data are JSON even if binary_data_output is true")
    func precedenceRequestedOverridesFlag() throws {
        let m = try response(useBinary: true, requested: [RequestedOutput(name: "B"), RequestedOutput(name: "A")]).toRest()
        #expect(m.jsonLength == nil)
        #expect(
            text(m.json)
                == #"{"model_name":"m","model_version":null,"id":"1","parameters":null,"outputs":["#
                + #"{"name":"B","shape":[2],"datatype":"INT32","parameters":null,"data":[3,4]},"#
                + #"{"name":"A","shape":[2],"datatype":"FP32","parameters":null,"data":[1.0,2.0]}]}"#)
    }

    @Test("precedence: only the requested outputs, in request order")
    func precedenceOnlyRequested() throws {
        let m = try response(requested: [RequestedOutput(name: "B")]).toRest()
        #expect(text(m.json).contains(#""outputs":[{"name":"B""#))
        #expect(!text(m.json).contains(#""name":"A""#))
    }

    @Test("precedence: a requested output with binary_data true is binary")
    func precedenceRequestedBinary() throws {
        let m = try response(requested: [RequestedOutput(name: "A", parameters: ["binary_data": .bool(true)])]).toRest()
        #expect(
            text(m.json)
                == #"{"id":"1","model_name":"m","model_version":null,"outputs":[{"name":"A","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#)
        #expect(m.binaryChunks.map(Array.init) == [aBytes])
    }

    @Test("precedence: binary_data false on a requested output wins over binary_data_output true")
    func precedenceRequestedFalse() throws {
        let m = try response(useBinary: true, requested: [RequestedOutput(name: "A", parameters: ["binary_data": .bool(false)])]).toRest()
        #expect(m.jsonLength == nil)
        #expect(text(m.json).contains(#""data":[1.0,2.0]"#))
    }

    @Test("precedence: an empty requested list means every output")
    func precedenceEmptyRequested() throws {
        let m = try response(useBinary: true, requested: []).toRest()
        #expect(m.binaryChunks.count == 2)
    }

    @Test("golden: a mixed binary and JSON message")
    func goldenMixed() throws {
        let m = try response(
            requested: [RequestedOutput(name: "A", parameters: ["binary_data": .bool(true)]), RequestedOutput(name: "B")],
            parameters: ["p": .string("v")]
        ).toRest()
        let expectedJSON =
            #"{"id":"1","model_name":"m","model_version":null,"outputs":["#
            + #"{"name":"A","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},"#
            + #"{"name":"B","shape":[2],"datatype":"INT32","data":[3,4]}],"parameters":{"p":"v"}}"#
        #expect(text(m.json) == expectedJSON)
        #expect(m.jsonLength == expectedJSON.utf8.count)
        #expect(m.joined() == Array(expectedJSON.utf8) + aBytes)
        // And it decodes back.
        let back = try InferResponse.fromBytes(ArraySlice(m.joined()), jsonLength: m.jsonLength ?? 0)
        #expect(try back.outputs[0].asArray(of: Float.self) == [1, 2])
        #expect(try back.outputs[1].asArray(of: Int32.self) == [3, 4])
        #expect(back.parameters == ["p": .string("v")])
        #expect(back.outputs[0].parameters.isEmpty)
    }

    @Test("golden: BYTES outputs, binary and JSON")
    func goldenBytes() throws {
        var r = InferResponse(
            id: "1", modelName: "m",
            outputs: [InferOutput(name: "s", shape: [2], datatype: .bytes, data: .from(strings: ["cat", "ok"]))],
            useBinaryOutputs: true)
        let binary = try r.toRest()
        #expect(binary.binaryChunks.map(Array.init) == [[3, 0, 0, 0, 99, 97, 116, 2, 0, 0, 0, 111, 107]])
        #expect(text(binary.json).contains(#""parameters":{"binary_data_size":13}"#))
        r.useBinaryOutputs = false
        #expect(text(try r.toRest().json).contains(#""datatype":"BYTES","parameters":null,"data":["cat","ok"]"#))
    }

    @Test("golden: FP16 output goes binary as IEEE half, little-endian")
    func goldenFP16() throws {
        let r = InferResponse(
            id: "1", modelName: "m", outputs: [InferOutput(name: "h", shape: [3], values: [Float16(1.0), Float16(-2.0), Float16(0.5)])],
            useBinaryOutputs: true)
        let m = try r.toRest()
        #expect(m.binaryChunks.map(Array.init) == [[0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]])
        #expect(text(m.json).contains(#""datatype":"FP16","parameters":{"binary_data_size":6}"#))
    }

    @Test("golden: BOOL output, one byte per element, true/false in JSON")
    func goldenBool() throws {
        var r = InferResponse(
            id: "1", modelName: "m", outputs: [InferOutput(name: "b", shape: [3], values: [true, false, true])],
            useBinaryOutputs: true)
        #expect(try r.toRest().binaryChunks.map(Array.init) == [[1, 0, 1]])
        r.useBinaryOutputs = false
        #expect(text(try r.toRest().json).contains(#""data":[true,false,true]"#))
    }

    @Test("FP16 and BF16 outputs cannot be JSON")
    func fp16JSONOutput() {
        let r = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "fp16_output", shape: [1], values: [Float16(1)])])
        expectKServeError(.invalidInput, "Sending FP16 data via JSON is not supported. Please use the binary data format for output fp16_output") {
            _ = try r.toRest()
        }
        let bf = InferResponse(
            id: "1", modelName: "m", outputs: [InferOutput(name: "bf", shape: [1], datatype: .bf16, data: .raw([0, 0x3F]))])
        expectKServeError(.invalidInput, "Sending BF16 data via JSON is not supported", "output bf") { _ = try bf.toRest() }
    }

    @Test("an unknown requested output")
    func unknownRequestedOutput() {
        expectKServeError(.invalidInput, "Unexpected inference output 'zzz' for model 'm'") {
            _ = try response(requested: [RequestedOutput(name: "zzz")]).toRest()
        }
    }

    @Test("BYTES that are not UTF-8 fail as JSON and pass through as binary")
    func nonUTF8Bytes() throws {
        var r = InferResponse(
            id: "1", modelName: "m", outputs: [InferOutput(name: "s", shape: [1], datatype: .bytes, data: .bytes([[0xFF, 0x61]]))])
        expectKServeError(
            .inferenceError, #"Failed to encode "b'\xffa'" using UTF-8. Please use binary_data=True, if you want to pass a byte array."#
        ) { _ = try r.toRest() }
        r.useBinaryOutputs = true
        #expect(try r.toRest().binaryChunks.map(Array.init) == [[2, 0, 0, 0, 0xFF, 0x61]])
    }

    @Test("output data that does not match its shape is a 500")
    func malformedOutput() {
        let r = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [3], values: [Float(1)])])
        expectKServeError(.inferenceError, "output 'x'", "needs 12") { _ = try r.toRest() }
        let noData = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [1], datatype: .fp32)])
        expectKServeError(.invalidInput, "'data' field is missing for output 'x' for model 'm'") { _ = try noData.toRest() }
    }

    @Test("non-finite floats are written as null")
    func nonFiniteOutputs() throws {
        let r = InferResponse(id: "1", modelName: "m", outputs: [InferOutput(name: "x", shape: [3], values: [Float.nan, .infinity, 1])])
        #expect(text(try r.toRest().json).contains(#""data":[null,null,1.0]"#))
    }

    @Test("an echo of a binary request: the response shares the request body's bytes")
    func zeroCopyEcho() throws {
        let floats: [Float] = (0..<1000).map { Float($0) * 0.5 }
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"x","shape":[1000],"datatype":"FP32","parameters":{"binary_data_size":4000}}],"parameters":{"binary_data_output":true}}"#,
            leBytes(floats))
        let request = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        let response = InferResponse(
            id: "1", modelName: "m",
            outputs: request.inputs.map { InferOutput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data) },
            useBinaryOutputs: request.useBinaryOutputs)
        let m = try response.toRest()
        #expect(m.binaryChunks.count == 1)
        b.withUnsafeBytes { whole in
            m.binaryChunks[0].withUnsafeBytes { chunk in #expect(chunk.baseAddress == whole.baseAddress! + n) }
        }
    }

    @Test("response decoding: missing outputs and a missing data field")
    func responseDecodingErrors() {
        expectKServeError(.invalidInput, "Unrecognized response format", "'outputs' field is missing") {
            _ = try InferResponse.fromRest(body(#"{"model_name":"m","id":"1"}"#))
        }
        expectKServeError(.invalidInput, "'data' field is missing for output 'x' for model 'm'") {
            _ = try InferResponse.fromRest(body(#"{"model_name":"m","outputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#))
        }
    }

    @Test("response decoding keeps model name, version, id and parameters")
    func responseDecoding() throws {
        let r = try InferResponse.fromRest(
            body(#"{"model_name":"m","model_version":"2","id":"7","parameters":{"a":true},"outputs":[{"name":"x","shape":[1],"datatype":"UINT16","parameters":null,"data":[65535]}]}"#))
        #expect(r.modelName == "m")
        #expect(r.modelVersion == "2")
        #expect(r.id == "7")
        #expect(r.parameters == ["a": .bool(true)])
        #expect(try r.outputs[0].asArray(of: UInt16.self) == [65535])
        #expect(try InferResponse.fromRest(body(#"{"outputs":[]}"#)).outputs.isEmpty)
    }
}
