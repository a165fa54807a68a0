extension JSONValue {
    /// Parses a complete JSON document (one value, optionally surrounded by whitespace).
    ///
    /// Integers stay integers (`.int`, or `.uint` above `Int64.max`; larger ones become `.double`), other numbers
    /// are correctly rounded doubles, object members keep their order (a repeated key keeps its first position and
    /// its last value), strings must be valid UTF-8. The parser is iterative: nesting deeper than
    /// `limits.maxDepth` is a clean error at any depth.
    ///
    /// - Throws: ``KServeError`` `invalidInput` with a message such as
    ///   `Unrecognized request format: unexpected end of data: line 1 column 21 (char 20)`.
    public static func parse(_ bytes: ArraySlice<UInt8>, limits: DecodingLimits = .default) throws -> JSONValue {
        try bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw, maxDepth: limits.maxDepth)
            let value = try scanner.parseValue()
            try scanner.expectEnd()
            return value
        }
    }

    /// Parses a complete JSON document from a string.
    public static func parse(_ text: String, limits: DecodingLimits = .default) throws -> JSONValue {
        try parse(ArraySlice(text.utf8), limits: limits)
    }

    /// The value as JSON text: compact (`{"a":1}`), or with `json.dumps` separators (`{"a": 1}`) when `spaced`.
    public func serialized(spaced: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        JSONWriter.append(self, to: &out, spaced: spaced)
        return out
    }

    /// The value as a JSON string (see ``serialized(spaced:)``).
    public func jsonString(spaced: Bool = false) -> String {
        String(decoding: serialized(spaced: spaced), as: UTF8.self)
    }
}
