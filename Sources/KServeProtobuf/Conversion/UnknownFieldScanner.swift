#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads fields that KServe's proto does not declare but Triton's clients send, from a message's unknown-field
/// bytes (protobuf wire format).
///
/// Triton's `grpc_service.proto` shares the package, service and most field numbers with KServe's
/// `grpc_predict_v2.proto`, but declares a few more fields: `RepositoryModelLoadRequest.model_name` is field 2
/// (field 1 is `repository_name`), and `InferParameter` also has `double_param` (4) and `uint64_param` (5).
/// SwiftProtobuf keeps such fields as unknown bytes; this scanner finds them.
struct UnknownFieldScanner {
    /// A field value in its wire form.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: [UInt8]

    init(_ data: Data) { bytes = Array(data) }

    /// The last occurrence of `field` (protobuf's "last one wins" for scalars), or `nil` when absent or when the
    /// bytes are malformed.
    func last(field: Int) -> Value? {
        var found: Value?
        var i = 0
        while i < bytes.count {
            guard let key = readVarint(&i) else { return found }
            let number = Int(truncatingIfNeeded: key >> 3)
            let value: Value
            switch key & 7 {
            case 0:
                guard let v = readVarint(&i) else { return found }
                value = .varint(v)
            case 1:
                guard i + 8 <= bytes.count else { return found }
                var v: UInt64 = 0
                for k in 0..<8 { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
                i += 8
                value = .fixed64(v)
            case 2:
                guard let length = readVarint(&i), length <= UInt64(bytes.count - i) else { return found }
                let end = i + Int(length)
                value = .lengthDelimited(bytes[i..<end])
                i = end
            case 5:
                guard i + 4 <= bytes.count else { return found }
                var v: UInt32 = 0
                for k in 0..<4 { v |= UInt32(bytes[i + k]) << (8 * UInt32(k)) }
                i += 4
                value = .fixed32(v)
            default:
                return found  // groups (3, 4) are not used by either proto
            }
            if number == field { found = value }
        }
        return found
    }

    private func readVarint(_ i: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count, shift < 64 {
            let b = bytes[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
}
