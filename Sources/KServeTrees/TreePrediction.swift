#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The result of a batch prediction: values in row-major order and their shape (`[rows]` or `[rows, width]`),
/// as the Python library's `predict` returns them.
public struct TreePrediction<Value: Sendable>: Sendable {
    /// The values, row-major.
    public var values: [Value]
    /// `[rows]` for one output per row, `[rows, width]` otherwise.
    public var shape: [Int]

    /// Creates a prediction.
    public init(values: [Value], shape: [Int]) {
        self.values = values
        self.shape = shape
    }
}

/// Reads a whole file; the error names the system's reason.
func readWholeFile(_ path: String) throws(TreeModelError) -> [UInt8] {
    guard let f = fopen(path, "rb") else {
        throw TreeModelError("cannot open: \(String(cString: strerror(errno)))")
    }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n > 0 { out.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count {
            if ferror(f) != 0 { throw TreeModelError("cannot read: \(String(cString: strerror(errno)))") }
            break
        }
    }
    return out
}

/// glibc `exp` (double), named so it cannot be confused with a `Transform.exp` case.
@inline(__always)
func libmExp(_ x: Double) -> Double { exp(x) }

/// glibc `expf` (float32).
@inline(__always)
func libmExpf(_ x: Float) -> Float { expf(x) }
