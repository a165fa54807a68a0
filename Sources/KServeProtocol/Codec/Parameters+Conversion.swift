// The seed's `to_grpc_parameters` / `to_http_parameters`, as pure Swift (no gRPC types): gRPC's `InferParameter`
// carries only bool, int64 and string, while REST also accepts floating-point numbers and other JSON values.

extension ParameterValue {
    /// Whether gRPC's `InferParameter` (bool, int64, string) can carry this value.
    public var isGRPCCompatible: Bool {
        switch self {
        case .bool, .int, .string: return true
        case .double, .json: return false
        }
    }

    /// The value as gRPC can carry it (the seed's `to_grpc_parameters` for one value).
    /// - Throws: ``KServeError`` `invalidInput` `to_grpc: invalid parameter value: 1.3` for floating-point numbers
    ///   and other JSON values (printed as Python would).
    public func grpcCompatible() throws -> ParameterValue {
        guard isGRPCCompatible else {
            throw KServeError.invalidInput("to_grpc: invalid parameter value: \(pythonRepr(jsonValue))")
        }
        return self
    }
}

extension OrderedParameters {
    /// The seed's `to_grpc_parameters`: every value must be a bool, an integer or a string.
    /// - Throws: ``KServeError`` `invalidInput` `to_grpc: invalid parameter value: 1.3` for the first value that is
    ///   not (a float, or another JSON value).
    public func grpcCompatible() throws -> Parameters {
        for (_, value) in self { _ = try value.grpcCompatible() }
        return self
    }

    /// The seed's `to_http_parameters`: REST can carry every gRPC value unchanged, so this is the identity. It exists
    /// so that code converting between the two transports reads like the seed.
    public var httpCompatible: Parameters { self }

    /// Builds parameters from a JSON object (REST), keeping bools, integers, floats and strings typed.
    public init(json object: JSONObject) {
        self.init()
        for (key, value) in object.members { self[key] = ParameterValue(json: value) }
    }

    /// The parameters as a JSON object, in order.
    public var jsonObject: JSONObject {
        JSONObject(uniqueMembers: keys.compactMap { key in self[key].map { (key, $0.jsonValue) } })
    }
}

/// Python's `repr` of the value a JSON document decodes to (`None`, `True`, `1.3`, `'s'`, `[1, 2]`, `{'a': 1}`).
func pythonRepr(_ value: JSONValue) -> String {
    switch value {
    case .null: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .uint(let u): return String(u)
    case .bigInteger(let digits): return digits
    case .double(let d):
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        var out: [UInt8] = []
        JSONWriter.appendDouble(d, to: &out)
        return String(decoding: out, as: UTF8.self)
    case .string(let s):
        var r = "'"
        for c in s.unicodeScalars {
            switch c {
            case "\\": r += "\\\\"
            case "'": r += "\\'"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default: r.unicodeScalars.append(c)
            }
        }
        return r + "'"
    case .array(let a): return "[" + a.map(pythonRepr).joined(separator: ", ") + "]"
    case .object(let o):
        return "{" + o.members.map { pythonRepr(.string($0.key)) + ": " + pythonRepr($0.value) }.joined(separator: ", ")
            + "}"
    }
}
