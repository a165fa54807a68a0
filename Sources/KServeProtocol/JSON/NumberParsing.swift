// Decimal-to-binary conversion for JSON numbers: correctly rounded, and fast for the common cases.
//
// A scanned number is `mantissa × 10^exponent` with at most 19 significant digits kept in `mantissa`. Doubles use
// Clinger's exact fast path, then the Eisel-Lemire algorithm (always correct for 19 digits or fewer), and fall back
// to the C library (via `Double(String)`) only when digits were dropped. Floats are never computed by rounding a
// double blindly: the correctly rounded double is rounded to Float, which is provably the correctly rounded Float
// unless the double sits exactly on a midpoint between two Floats, and that case falls back to `strtof`.

/// A JSON number as scanned: sign, up to 19 significant digits and a decimal exponent.
struct JSONNumber {
    /// Whether the literal starts with `-`.
    var negative: Bool
    /// The first (up to) 19 significant digits.
    var mantissa: UInt64
    /// The value is `mantissa × 10^exponent` (exactly, unless ``truncated``).
    var exponent: Int
    /// Non-zero digits were dropped after the 19th significant digit.
    var truncated: Bool
    /// The literal has neither a fraction nor an exponent part.
    var isInteger: Bool
    /// Byte offsets of the literal in the scanned text.
    var start: Int
    var end: Int
}

/// Exact powers of ten as Double (10^0 ... 10^22).
private let exactDoublePowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]
/// Exact powers of ten as Float (10^0 ... 10^10).
private let exactFloatPowersOfTen: [Float] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]
/// Powers of ten as UInt64 (10^0 ... 10^19).
let uint64PowersOfTen: [UInt64] = [
    1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
    10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
    1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
]

/// The correctly rounded magnitude of `w × 10^q` as a Double, for `w < 10^19` (Eisel-Lemire, as in fast_float).
@usableFromInline
func eiselLemireDouble(_ w: UInt64, _ q: Int) -> Double {
    if w == 0 || q < -342 { return 0 }
    if q > 308 { return .infinity }
    let lz = w.leadingZeroBitCount
    let ws = w << UInt64(lz)
    let index = 2 * (q + 342)
    // 128-bit product of the normalized mantissa and the 128-bit approximation of 5^q.
    var (hi, lo) = ws.multipliedFullWidth(by: powersOfFive128[index])
    let precisionMask: UInt64 = 0x1FF  // ~0 >> (52 + 3)
    if hi & precisionMask == precisionMask {
        let (hi2, _) = ws.multipliedFullWidth(by: powersOfFive128[index + 1])
        let (sum, carry) = lo.addingReportingOverflow(hi2)
        lo = sum
        if carry { hi &+= 1 }
    }
    let upperBit = Int(hi >> 63)
    let shift = upperBit + 64 - 52 - 3
    var mantissa = hi >> UInt64(shift)
    // power(q) = floor(q * log2(10)) + 63, then re-biased (minimum exponent -1023).
    var power2 = ((((152_170 + 65_536) * q) >> 16) + 63) + upperBit - lz + 1023
    if power2 <= 0 {
        // Subnormal (or zero).
        if -power2 + 1 >= 64 { return 0 }
        mantissa >>= UInt64(-power2 + 1)
        mantissa += mantissa & 1
        mantissa >>= 1
        power2 = mantissa < (1 << 52) ? 0 : 1
        return Double(bitPattern: mantissa | (UInt64(power2) << 52))
    }
    // A product exactly between two doubles: round half to even.
    if lo <= 1 && q >= -4 && q <= 23 && mantissa & 3 == 1 && (mantissa << UInt64(shift)) == hi {
        mantissa &= ~1
    }
    mantissa += mantissa & 1
    mantissa >>= 1
    if mantissa >= (2 << 52) {
        mantissa = 1 << 52
        power2 += 1
    }
    mantissa &= ~(1 << 52)
    if power2 >= 0x7FF { return .infinity }
    return Double(bitPattern: mantissa | (UInt64(power2) << 52))
}

/// The value of a literal through the C library (correctly rounded, locale-independent); used only when more
/// than 19 significant digits were given or a Float lands on a midpoint.
private func slowParse<T: LosslessStringConvertible>(_ text: UnsafeRawBufferPointer, _ number: JSONNumber, as: T.Type)
    -> T?
{
    guard number.start >= 0, number.end <= text.count, number.start < number.end else { return nil }
    let s = String(decoding: UnsafeRawBufferPointer(rebasing: text[number.start..<number.end]), as: UTF8.self)
    return T(s)
}

extension JSONNumber {
    /// The correctly rounded Double value (`text` is the buffer the number was scanned from).
    @inline(__always)
    func doubleValue(in text: UnsafeRawBufferPointer) -> Double {
        if !truncated {
            let magnitude: Double
            if mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
                // Clinger: both operands exact, one correctly rounded operation.
                let m = Double(mantissa)
                magnitude = exponent < 0 ? m / exactDoublePowersOfTen[-exponent] : m * exactDoublePowersOfTen[exponent]
            } else {
                magnitude = eiselLemireDouble(mantissa, exponent)
            }
            return negative ? -magnitude : magnitude
        }
        return slowParse(text, self, as: Double.self) ?? (negative ? -.infinity : .infinity)
    }

    /// The correctly rounded Float value, never rounded twice.
    @inline(__always)
    func floatValue(in text: UnsafeRawBufferPointer) -> Float {
        if !truncated {
            if mantissa <= 1 << 24 && exponent >= -10 && exponent <= 10 {
                let m = Float(mantissa)
                let magnitude = exponent < 0 ? m / exactFloatPowersOfTen[-exponent] : m * exactFloatPowersOfTen[exponent]
                return negative ? -magnitude : magnitude
            }
            let d = mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22
                ? (exponent < 0
                    ? Double(mantissa) / exactDoublePowersOfTen[-exponent]
                    : Double(mantissa) * exactDoublePowersOfTen[exponent])
                : eiselLemireDouble(mantissa, exponent)
            if let f = floatRoundingUnambiguous(d) { return negative ? -f : f }
        }
        return slowParse(text, self, as: Float.self) ?? (negative ? -.infinity : .infinity)
    }
}

/// Rounds a correctly rounded, non-negative double to Float, or returns nil when `d` lies exactly on a midpoint
/// between two Floats (then the decimal may be on either side of it and must be rounded from the digits).
///
/// Float midpoints are exactly representable as doubles and rounding to double is monotonic, so when `d` is not a
/// midpoint the decimal and `d` lie strictly between the same two midpoints and round to the same Float.
@inline(__always)
func floatRoundingUnambiguous(_ d: Double) -> Float? {
    let f = Float(d)
    let back = Double(f)
    if back == d { return f }
    if f.isInfinite {
        // The midpoint between Float.greatestFiniteMagnitude and 2^128.
        return d == 0x1.ffff_ffp127 ? nil : f
    }
    let other = d > back ? f.nextUp : f.nextDown
    if other.isInfinite { return f }
    return (back + Double(other)) / 2 == d ? nil : f
}
