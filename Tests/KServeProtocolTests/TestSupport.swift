import Testing

@testable import KServeProtocol

/// The UTF-8 bytes of `s` as a slice (a request body).
func body(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }

/// A binary-extension body: the JSON header followed by the chunks; returns the body and the header length.
func binaryBody(_ header: String, _ chunks: [UInt8]...) -> (body: ArraySlice<UInt8>, jsonLength: Int) {
    var b = Array(header.utf8)
    let n = b.count
    for c in chunks { b += c }
    return (ArraySlice(b), n)
}

/// The little-endian bytes of typed values.
func leBytes<T: BitwiseCopyable>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// Runs `body`, expecting a KServeError with `code` whose message contains every fragment.
@discardableResult
func expectKServeError(
    _ code: KServeError.Code, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> KServeError? {
    do {
        try body()
        Issue.record("expected a \(code) error containing \(fragments)", sourceLocation: sourceLocation)
        return nil
    } catch let e as KServeError {
        #expect(e.code == code, "code \(e.code), message: \(e.message)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(e.message.contains(f), "message '\(e.message)' lacks '\(f)'", sourceLocation: sourceLocation)
        }
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The text of a JSON message.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
