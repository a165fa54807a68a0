/// An encoded REST body, kept in parts so that tensor bytes are never copied into one buffer.
///
/// For a plain JSON message ``binaryChunks`` is empty and ``json`` is the whole body. For the binary tensor
/// extension the body is ``json`` followed by every chunk in order, and ``jsonLength`` is the value of the
/// `Inference-Header-Content-Length` header. A writer sends the parts one after the other (e.g. `writev`).
public struct RestMessage: Sendable, Hashable {
    /// The JSON document (the whole body when ``binaryChunks`` is empty).
    public var json: [UInt8]
    /// Raw tensor buffers that follow the JSON, in order (slices of the original data where possible).
    public var binaryChunks: [ArraySlice<UInt8>]
    /// Non-nil iff the message uses the binary extension: the JSON length for `Inference-Header-Content-Length`.
    public var jsonLength: Int?

    /// Creates a message from its parts.
    public init(json: [UInt8], binaryChunks: [ArraySlice<UInt8>] = [], jsonLength: Int? = nil) {
        self.json = json
        self.binaryChunks = binaryChunks
        self.jsonLength = jsonLength
    }

    /// Whether the message uses the binary extension.
    public var isBinary: Bool { jsonLength != nil }

    /// Total body size: the JSON plus every chunk.
    public var byteCount: Int { binaryChunks.reduce(json.count) { $0 + $1.count } }

    /// The whole body as one contiguous buffer (one copy; for tests and clients).
    public func joined() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        out.append(contentsOf: json)
        for chunk in binaryChunks { out.append(contentsOf: chunk) }
        return out
    }
}
