import Testing

@testable import KServeProtocol

@Suite("v2 request decoding (JSON and binary extension)")
struct RequestDecodingTests {
    @Test("a JSON request decodes every field")
    func jsonRequest() throws {
        let r = try InferRequest.fromJSON(
            body(
                #"{"id":"req-1","model_name":"ignored","parameters":{"binary_data_output":true,"n":3,"t":0.5,"s":"x","o":{"k":1}},"#
                    + #""inputs":[{"name":"a","shape":[2,2],"datatype":"INT32","parameters":{"p":"q"},"data":[[1,2],[3,4]]},"#
                    + #"{"name":"b","shape":[3],"datatype":"BOOL","data":[true,false,1]},"#
                    + #"{"name":"c","shape":[2],"datatype":"BYTES","data":["cat","\u00e9\n"]}],"#
                    + #""outputs":[{"name":"y","parameters":{"binary_data":true}},{"name":"z"}]}"#),
            modelName: "Echo")
        #expect(r.modelName == "Echo")
        #expect(r.id == "req-1")
        #expect(r.parameters["binary_data_output"] == .bool(true))
        #expect(r.parameters["n"] == .int(3))
        #expect(r.parameters["t"] == .double(0.5))
        #expect(r.parameters["s"] == .string("x"))
        #expect(r.parameters["o"] == .json(.object(["k": .int(1)])))
        #expect(r.useBinaryOutputs)
        #expect(r.wireFormat == .rest)
        #expect(r.inputs.count == 3)
        #expect(r.inputs[0].shape == [2, 2])
        #expect(r.inputs[0].datatype == .int32)
        #expect(r.inputs[0].parameters["p"] == .string("q"))
        #expect(try r.inputs[0].asArray(of: Int32.self) == [1, 2, 3, 4])
        #expect(r.inputs[1].data == .raw([1, 0, 1]))
        #expect(try r.inputs[1].asArray(of: Bool.self) == [true, false, true])
        #expect(try r.inputs[2].asString() == ["cat", "é\n"])
        #expect(r.requestOutputs == [RequestedOutput(name: "y", parameters: ["binary_data": .bool(true)]), RequestedOutput(name: "z")])
        #expect(r.requestOutputs?[0].binaryData == true)
        #expect(r.requestOutputs?[1].binaryData == nil)
    }

    @Test("pretty-printed JSON with CRLF line ends")
    func prettyJSON() throws {
        let doc = "{\r\n  \"inputs\" : [ {\r\n    \"name\" : \"a\",\r\n    \"shape\" : [ 2 ],\r\n    \"datatype\" : \"FP64\",\r\n"
            + "    \"data\" : [ [ 1e-05 ] ,\r\n [ -2.5E+3 ] ]\r\n  } ]\r\n}\r\n"
        let r = try InferRequest.fromJSON(body(doc), modelName: "m")
        #expect(try r.inputs[0].asArray(of: Double.self) == [1e-05, -2500])
    }

    @Test("data before datatype and shape takes the generic path with the same result")
    func dataFirst() throws {
        let r = try InferRequest.fromJSON(
            body(#"{"inputs":[{"data":[[1.5],[2.5]],"name":"a","shape":[2,1],"datatype":"FP32"}]}"#), modelName: "m")
        #expect(try r.inputs[0].asArray(of: Float.self) == [1.5, 2.5])
        let r2 = try InferRequest.fromJSON(
            body(#"{"inputs":[{"data":["x","y"],"datatype":"BYTES","shape":[2],"name":"s"}]}"#), modelName: "m")
        #expect(try r2.inputs[0].asString() == ["x", "y"])
    }

    @Test("missing id, null parameters and an empty outputs list")
    func optionalFields() throws {
        let r = try InferRequest.fromJSON(
            body(#"{"id":null,"parameters":null,"outputs":[],"inputs":[{"name":"a","shape":[0],"datatype":"FP16","data":[]}]}"#),
            modelName: "m")
        #expect(r.id == nil)
        #expect(r.parameters.isEmpty)
        #expect(r.requestOutputs == nil)
        #expect(r.inputs[0].data == .raw([]))
    }

    @Test("binary request: tensors are slices of the body and binary_data_size is dropped")
    func binaryRequest() throws {
        let floats: [Float] = [1, 2, 3]
        let header =
            #"{"inputs":[{"name":"f","shape":[3],"datatype":"FP32","parameters":{"binary_data_size":12,"keep":1}},"#
            + #"{"name":"j","shape":[1],"datatype":"INT64","data":[7]},"#
            + #"{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":13}}]}"#
        let (b, n) = binaryBody(header, leBytes(floats), [3, 0, 0, 0, 99, 97, 116, 2, 0, 0, 0, 111, 107])
        let r = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        #expect(try r.inputs[0].asArray(of: Float.self) == floats)
        #expect(r.inputs[0].parameters == ["keep": .int(1)])
        #expect(try r.inputs[1].asArray(of: Int64.self) == [7])
        #expect(try r.inputs[2].asString() == ["cat", "ok"])
        // Zero copy: the raw data shares the body's storage.
        guard case .raw(let raw)? = r.inputs[0].data else { Issue.record("not raw"); return }
        #expect(raw.startIndex == n)
        b.withUnsafeBytes { whole in
            raw.withUnsafeBytes { part in #expect(part.baseAddress == whole.baseAddress! + n) }
        }
    }

    @Test("golden: an FP16 and a BOOL binary input echo back byte for byte")
    func binaryFP16AndBoolEcho() throws {
        let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]  // 1.0, -2.0, 0.5
        let bools: [UInt8] = [1, 0, 1]
        let (b, n) = binaryBody(
            #"{"id":"7","inputs":[{"name":"h","shape":[3],"datatype":"FP16","parameters":{"binary_data_size":6}},"#
                + #"{"name":"b","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}],"#
                + #""parameters":{"binary_data_output":true}}"#,
            half, bools)
        let r = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        #expect(try r.inputs[0].asArray(of: Float16.self) == [1.0, -2.0, 0.5])
        #expect(try r.inputs[1].asArray(of: Bool.self) == [true, false, true])
        let response = InferResponse(
            id: r.id ?? "", modelName: "m",
            outputs: r.inputs.map { InferOutput(name: $0.name, shape: $0.shape, datatype: $0.datatype, data: $0.data) },
            useBinaryOutputs: r.useBinaryOutputs)
        let m = try response.toRest()
        let header =
            #"{"id":"7","model_name":"m","model_version":null,"outputs":["#
            + #"{"name":"h","shape":[3],"datatype":"FP16","parameters":{"binary_data_size":6}},"#
            + #"{"name":"b","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]}"#
        #expect(m.joined() == Array(header.utf8) + half + bools)
        #expect(m.jsonLength == header.utf8.count)
    }

    @Test("binary BYTES that are not UTF-8 decode as raw bytes")
    func binaryNonUTF8() throws {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}"#,
            [2, 0, 0, 0, 0xFF, 0xFE])
        let r = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        #expect(r.inputs[0].data == .bytes([[0xFF, 0xFE]]))
    }

    @Test("a binary request with a sliced body (non-zero startIndex)")
    func slicedBody() throws {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[2],"datatype":"UINT8","parameters":{"binary_data_size":2}}]}"#, [9, 8])
        let padded = [UInt8](repeating: 0, count: 5) + Array(b)
        let r = try InferRequest.fromBytes(padded[5...], jsonLength: n, modelName: "m")
        #expect(try r.inputs[0].asArray(of: UInt8.self) == [9, 8])
    }

    // MARK: Bad input: every case is a 400 (InvalidInput) that names the tensor where there is one.

    @Test("truncated JSON")
    func badTruncated() {
        expectKServeError(.invalidInput, "Unrecognized request format", "unexpected end of data", "char 45") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1],"datatype""#), modelName: "m")
        }
    }

    @Test("invalid JSON")
    func badJSON() {
        expectKServeError(.invalidInput, "Unrecognized request format", "line 2 column 3") {
            _ = try InferRequest.fromJSON(body("{\"inputs\":\n [x]}"), modelName: "m")
        }
        expectKServeError(.invalidInput, "Unrecognized request format", "expected a JSON object") {
            _ = try InferRequest.fromJSON(body("[1]"), modelName: "m")
        }
        expectKServeError(.invalidInput, "Unrecognized request format", "trailing characters") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"INT8","data":[1]}]} x"#), modelName: "m")
        }
    }

    @Test("JSON nested 100,000 levels deep")
    func badDeep() {
        let deep = #"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":"# + String(repeating: "[", count: 100_000)
        expectKServeError(.invalidInput, "nested deeper than the limit of 100") {
            _ = try InferRequest.fromJSON(body(deep), modelName: "m")
        }
        let deepParams = #"{"parameters":"# + String(repeating: #"{"a":["#, count: 100_000)
        expectKServeError(.invalidInput, "nested deeper") { _ = try InferRequest.fromJSON(body(deepParams), modelName: "m") }
        let deepUnknown = #"{"x":"# + String(repeating: "[", count: 100_000)
        expectKServeError(.invalidInput, "nested deeper") { _ = try InferRequest.fromJSON(body(deepUnknown), modelName: "m") }
        let deepDataFirst = #"{"inputs":[{"data":"# + String(repeating: "[", count: 100_000)
        expectKServeError(.invalidInput, "nested deeper") { _ = try InferRequest.fromJSON(body(deepDataFirst), modelName: "m") }
    }

    @Test("a negative dimension")
    func badNegativeShape() {
        expectKServeError(.invalidInput, "input 'a'", "negative dimension", "[-1, 2]") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[-1,2],"datatype":"FP32","data":[1,2]}]}"#), modelName: "m")
        }
    }

    @Test("a shape whose product overflows Int")
    func badOverflowShape() {
        expectKServeError(.invalidInput, "input 'a'", "overflows") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[4294967296,4294967296,4],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "invalid dimension 99999999999999999999") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[99999999999999999999],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
    }

    @Test("a shape too large for the limits is a 413")
    func badHugeShape() {
        expectKServeError(.payloadTooLarge, "input 'a'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1000000000000],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.payloadTooLarge, "input 'a'") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[3],"datatype":"FP64","data":[1,2,3]}]}"#), modelName: "m",
                limits: DecodingLimits(maxTensorBytes: 16))
        }
        expectKServeError(.payloadTooLarge, "input 'a'") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[3],"datatype":"BYTES","data":["aaaaaaaa","bbbbbbbbbb","c"]}]}"#),
                modelName: "m", limits: DecodingLimits(maxTensorBytes: 16))
        }
    }

    @Test("element count differs from the shape")
    func badCount() {
        expectKServeError(.invalidInput, "input 'a'", "[3]", "2 elements") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[3],"datatype":"INT32","data":[1,2]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "input 'a'", "4 elements") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[3],"datatype":"BYTES","data":["a","b","c","d"]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "input 'a'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"data":[1,2],"name":"a","shape":[1],"datatype":"INT32"}]}"#), modelName: "m")
        }
    }

    @Test("an unknown datatype")
    func badDatatype() {
        expectKServeError(.invalidInput, "invalid datatype FP8 in the input 'a'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP8","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "invalid datatype None in the input 'a'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1],"data":[1]}]}"#), modelName: "m")
        }
    }

    @Test("values of the wrong type or out of range")
    func badValues() {
        let cases: [(String, String, [String])] = [
            ("UINT8", "[256]", ["input 'a'", "256", "out of range for UINT8"]),
            ("UINT8", "[-1]", ["input 'a'", "-1", "out of range for UINT8"]),
            ("INT8", "[-129]", ["input 'a'", "out of range for INT8"]),
            ("INT64", "[9223372036854775808]", ["input 'a'", "out of range for INT64"]),
            ("UINT64", "[18446744073709551616]", ["input 'a'", "not a valid UINT64"]),
            ("INT32", "[1.5]", ["input 'a'", "1.5", "not a valid INT32"]),
            ("INT32", "[\"1\"]", ["input 'a'", "a string"]),
            ("FP32", "[true]", ["input 'a'", "a boolean"]),
            ("FP64", "[null]", ["input 'a'", "null"]),
            ("BOOL", "[2]", ["input 'a'", "not a valid BOOL"]),
            ("BOOL", "[\"true\"]", ["input 'a'", "a string"]),
            ("BYTES", "[1]", ["input 'a'", "a number"]),
            ("FP32", "[{}]", ["input 'a'", "an object"]),
            ("FP32", "1", ["input 'a'", "'data' must be an array"]),
        ]
        for (datatype, data, fragments) in cases {
            let doc = #"{"inputs":[{"name":"a","shape":[1],"datatype":"\#(datatype)","data":\#(data)}]}"#
            let e = expectKServeError(.invalidInput) { _ = try InferRequest.fromJSON(body(doc), modelName: "m") }
            for f in fragments { #expect(e?.message.contains(f) == true, "\(doc): \(e?.message ?? "")") }
        }
    }

    @Test("FP16 and BF16 data in JSON")
    func badFP16JSON() {
        expectKServeError(.invalidInput, "Receiving FP16 data via JSON is not supported. Please use the binary data format for input x") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1.0]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "Receiving BF16 data via JSON is not supported", "input x") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"data":[1.0],"name":"x","shape":[1],"datatype":"BF16"}]}"#), modelName: "m")
        }
        let (b, n) = binaryBody(#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}"#)
        expectKServeError(.invalidInput, "Receiving FP16 data via JSON is not supported") {
            _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        }
    }

    @Test("missing data and binary_data_size")
    func badMissingData() {
        expectKServeError(.invalidInput, "'data' field is missing for input 'a' for model 'M'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32"}]}"#), modelName: "M")
        }
        expectKServeError(.invalidInput, "'data' field is missing for input 'a' for model 'M'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":null}]}"#), modelName: "M")
        }
    }

    @Test("missing name or shape")
    func badMissingNameOrShape() {
        expectKServeError(.invalidInput, "no 'name'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "'shape' field is missing for input 'a'") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "'shape' must be an array of integers") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":"a","shape":["1"],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
        expectKServeError(.invalidInput, "'name' must be a string") {
            _ = try InferRequest.fromJSON(body(#"{"inputs":[{"name":1,"shape":[1],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
    }

    @Test("duplicate input names")
    func badDuplicateNames() {
        expectKServeError(.invalidInput, "duplicate input name 'a'") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},{"name":"a","shape":[1],"datatype":"FP32","data":[2]}]}"#),
                modelName: "m")
        }
    }

    @Test("empty or missing inputs")
    func badEmptyInputs() {
        expectKServeError(.invalidInput, "at least one input") { _ = try InferRequest.fromJSON(body(#"{"inputs":[]}"#), modelName: "m") }
        expectKServeError(.invalidInput, "'inputs' field is missing") { _ = try InferRequest.fromJSON(body(#"{"id":"1"}"#), modelName: "m") }
        expectKServeError(.invalidInput, "'inputs' field is missing") { _ = try InferRequest.fromJSON(body(#"{"inputs":null}"#), modelName: "m") }
        expectKServeError(.invalidInput, "'inputs' must be an array") { _ = try InferRequest.fromJSON(body(#"{"inputs":{}}"#), modelName: "m") }
    }

    @Test("an id that is not a string")
    func badID() {
        expectKServeError(.invalidInput, "'id' must be a string") {
            _ = try InferRequest.fromJSON(body(#"{"id":5,"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}"#), modelName: "m")
        }
    }

    @Test("header length negative or larger than the body")
    func badHeaderLength() {
        let (b, n) = binaryBody(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}"#)
        expectKServeError(.invalidInput, "must not be negative") { _ = try InferRequest.fromBytes(b, jsonLength: -1, modelName: "m") }
        expectKServeError(.invalidInput, "larger than the body") { _ = try InferRequest.fromBytes(b, jsonLength: n + 1, modelName: "m") }
        expectKServeError(.invalidInput, "unexpected end of data") { _ = try InferRequest.fromBytes(b, jsonLength: n - 3, modelName: "m") }
        expectKServeError(.invalidInput, "unexpected end of data") { _ = try InferRequest.fromBytes(b, jsonLength: 0, modelName: "m") }
    }

    @Test("binary_data_size that does not match shape x datatype")
    func badBinarySizeMismatch() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"#, [0, 0, 128, 63])
        expectKServeError(.invalidInput, "input 'a'", "binary_data_size is 4", "needs 8 bytes") {
            _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        }
    }

    @Test("binary_data_size that runs past the body")
    func badBinaryPastBody() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#, [0, 0, 128, 63])
        expectKServeError(.invalidInput, "input 'a'", "runs past the end of the body") {
            _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        }
        let (b2, n2) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":9223372036854775807}}]}"#, [0])
        expectKServeError(.payloadTooLarge, "input 'a'") { _ = try InferRequest.fromBytes(b2, jsonLength: n2, modelName: "m") }
        // In a plain JSON body there is nothing after the JSON.
        expectKServeError(.invalidInput, "input 'a'", "runs past the end of the body") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"#), modelName: "m")
        }
    }

    @Test("binary_data_size that is not a non-negative integer")
    func badBinarySizeValue() {
        for v in ["-4", "\"4\"", "4.5", "true", "null"] {
            let (b, n) = binaryBody(
                #"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":\#(v)}}]}"#, [0, 0, 128, 63])
            expectKServeError(.invalidInput, "input 'a'") { _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m") }
        }
    }

    @Test("both data and binary_data_size")
    func badBothDataAndBinary() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]}"#, [0, 0, 128, 63])
        expectKServeError(.invalidInput, "input 'a' has both") { _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m") }
    }

    @Test("extra bytes after the last binary tensor")
    func badTrailingBytes() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"#, [0, 0, 128, 63, 1])
        expectKServeError(.invalidInput, "1 bytes follow the last binary tensor") {
            _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m")
        }
        let (b2, n2) = binaryBody(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}"#, [7])
        expectKServeError(.invalidInput, "follow the last binary tensor") { _ = try InferRequest.fromBytes(b2, jsonLength: n2, modelName: "m") }
    }

    @Test("a BYTES length prefix that runs past the buffer")
    func badBytesPrefix() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}"#,
            [9, 0, 0, 0, 97, 98])
        expectKServeError(.invalidInput, "input 's'", "runs past the end") { _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m") }
        let (b2, n2) = binaryBody(
            #"{"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}"#,
            [1, 0, 0, 0, 97, 0, 0])
        expectKServeError(.invalidInput, "input 's'", "truncated length prefix") {
            _ = try InferRequest.fromBytes(b2, jsonLength: n2, modelName: "m")
        }
    }

    @Test("a BYTES buffer with the wrong element count")
    func badBytesCount() {
        let (b, n) = binaryBody(
            #"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":10}}]}"#,
            [1, 0, 0, 0, 97, 1, 0, 0, 0, 98])
        expectKServeError(.invalidInput, "input 's'", "more than the 1 elements") { _ = try InferRequest.fromBytes(b, jsonLength: n, modelName: "m") }
        let (b2, n2) = binaryBody(
            #"{"inputs":[{"name":"s","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":5}}]}"#, [1, 0, 0, 0, 97])
        expectKServeError(.invalidInput, "input 's'", "holds 1 elements but its shape needs 3") {
            _ = try InferRequest.fromBytes(b2, jsonLength: n2, modelName: "m")
        }
    }

    @Test("invalid UTF-8 inside a JSON string")
    func badUTF8() {
        var doc = Array(#"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","data":[""#.utf8)
        doc += [0xC3, 0x28]
        doc += Array(#""]}]}"#.utf8)
        expectKServeError(.invalidInput, "invalid UTF-8") { _ = try InferRequest.fromJSON(ArraySlice(doc), modelName: "m") }
    }

    @Test("requested outputs must have names")
    func badRequestedOutputs() {
        expectKServeError(.invalidInput, "requested output has no 'name'") {
            _ = try InferRequest.fromJSON(
                body(#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{"parameters":{}}]}"#), modelName: "m")
        }
    }
}
