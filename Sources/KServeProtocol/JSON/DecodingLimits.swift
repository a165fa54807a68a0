/// Bounds applied while decoding untrusted request and response bodies.
///
/// The decoders never recurse per nesting level and never trust a declared size before checking it against the
/// body, so these limits are about resource use, not memory safety: a JSON document nested deeper than
/// ``maxDepth`` is answered with 400 (`invalidInput`), a tensor over ``maxTensorBytes`` or ``maxElements`` with
/// 413 (`payloadTooLarge`).
public struct DecodingLimits: Sendable, Hashable {
    /// Maximum JSON nesting depth (arrays and objects); the top-level value is depth 1. Default 100.
    public var maxDepth: Int
    /// Maximum size in bytes of one tensor's data (raw bytes, or the element bytes of a BYTES tensor). Default 1 GiB.
    public var maxTensorBytes: Int
    /// Maximum number of elements of one tensor (the product of its shape). Default 2^28.
    public var maxElements: Int

    /// Creates limits; the defaults suit a server accepting requests of up to about 1 GiB.
    public init(maxDepth: Int = 100, maxTensorBytes: Int = 1 << 30, maxElements: Int = 1 << 28) {
        self.maxDepth = maxDepth
        self.maxTensorBytes = maxTensorBytes
        self.maxElements = maxElements
    }

    /// The default limits: depth 100, 1 GiB and 2^28 elements per tensor.
    public static let `default` = DecodingLimits()
}
