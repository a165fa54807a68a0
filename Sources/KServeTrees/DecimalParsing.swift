#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Correctly rounded decimal -> Float / Double conversion for model files.
//
// XGBoost stores float32 values as their shortest decimal and parses them straight to float; LightGBM prints
// doubles with 17 significant digits. Either must be read back to the exact same bits, so a value is never rounded
// twice: exact fast paths (Clinger) where both operands are exact, otherwise the standard library's correctly
// rounded, locale-independent `Float(_:)` / `Double(_:)` on the literal's text.

/// Exact powers of ten as Double (10^0 ... 10^22).
private let doublePowers: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]
#if arch(x86_64) && !os(Windows) && !os(Android)
/// Exact powers of ten as Float80 (10^0 ... 10^27): 10^e = 5^e * 2^e and 5^27 < 2^64.
private let extendedPowers: [Float80] = {
    var powers: [Float80] = [1]
    var five: UInt64 = 1
    for e in 1...27 {
        five *= 5
        powers.append(Float80(five) * Float80(sign: .plus, exponent: e, significand: 1))
    }
    return powers
}()
#endif

/// Exact powers of ten as Float (10^0 ... 10^10).
private let floatPowers: [Float] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]


/// A decimal literal as scanned: up to 19 significant digits, a decimal exponent, and where it came from.
/// Packed into 24 bytes: a model holds hundreds of thousands of them until the loader converts them.
struct DecimalLiteral: Sendable {
    var mantissa: UInt64 = 0
    /// The literal's bytes (kept for the slow path); documents are limited to 2 GiB.
    var start: Int32 = 0
    var end: Int32 = 0
    var exponent: Int32 = 0
    var negative = false
    /// Non-zero digits were dropped after the 19th.
    var truncated = false
    /// No fraction and no exponent part.
    var isInteger = true
}

enum DecimalParsing {
    /// Scans a JSON-grammar number at `pos` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`); returns nil if there is none.
    static func scan(_ p: UnsafeRawBufferPointer, _ pos: inout Int) -> DecimalLiteral? {
        var lit = DecimalLiteral()
        lit.start = Int32(truncatingIfNeeded: pos)
        var i = pos
        let n = p.count
        if i < n && p[i] == UInt8(ascii: "-") {
            lit.negative = true
            i += 1
        }
        var digits = 0
        var sawDigit = false
        var dropped = 0
        while i < n, p[i] &- 48 < 10 {
            sawDigit = true
            let d = UInt64(p[i] &- 48)
            if digits < 19 {
                if !(digits == 0 && d == 0) {
                    lit.mantissa = lit.mantissa &* 10 &+ d
                    digits += 1
                }
            } else {
                dropped += 1
                if d != 0 { lit.truncated = true }
            }
            i += 1
        }
        guard sawDigit else { return nil }
        var exp = dropped
        if i < n && p[i] == UInt8(ascii: ".") {
            lit.isInteger = false
            i += 1
            var fracDigits = false
            while i < n, p[i] &- 48 < 10 {
                fracDigits = true
                // Past the leading zeros, eight digits at a time while they fit the 19 kept (LightGBM writes 17).
                if digits > 0 && digits <= 11 && i + 8 <= n, let eight = eightDigits(p, i) {
                    lit.mantissa = lit.mantissa &* 100_000_000 &+ eight
                    digits += 8
                    exp -= 8
                    i += 8
                    continue
                }
                let d = UInt64(p[i] &- 48)
                if digits < 19 {
                    if !(digits == 0 && d == 0) {
                        lit.mantissa = lit.mantissa &* 10 &+ d
                        digits += 1
                    }
                    exp -= 1
                } else if d != 0 {
                    lit.truncated = true
                }
                i += 1
            }
            guard fracDigits else { return nil }
        }
        if i < n && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
            lit.isInteger = false
            i += 1
            var eneg = false
            if i < n && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) {
                eneg = p[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var sawExp = false
            while i < n, p[i] &- 48 < 10 {
                sawExp = true
                if e < 100_000 { e = e * 10 + Int(p[i] &- 48) }
                i += 1
            }
            guard sawExp else { return nil }
            exp += eneg ? -e : e
        }
        lit.exponent = Int32(clamping: exp)
        lit.end = Int32(truncatingIfNeeded: i)
        pos = i
        return lit
    }

    /// The value of the eight ASCII digits at `i`, or nil if one of the eight bytes is not a digit (SWAR: one load,
    /// three multiply-and-mask steps).
    @inline(__always)
    static func eightDigits(_ p: UnsafeRawBufferPointer, _ i: Int) -> UInt64? {
        let v = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        // Every byte is 0x30...0x39: high nibble 3, and adding 6 does not carry into the high nibble.
        guard (v & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030,
            ((v &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) == 0x3030_3030_3030_3030
        else { return nil }
        var x = v &- 0x3030_3030_3030_3030
        x = (x &* 10 &+ (x >> 8)) & 0x00FF_00FF_00FF_00FF
        x = (x &* 100 &+ (x >> 16)) & 0x0000_FFFF_0000_FFFF
        x = (x &* 10_000 &+ (x >> 32)) & 0x0000_0000_FFFF_FFFF
        return x
    }

    /// The correctly rounded Double of a scanned literal.
    @inline(__always)
    static func double(_ lit: DecimalLiteral, in p: UnsafeRawBufferPointer) -> Double {
        if !lit.truncated {
            if lit.mantissa == 0 { return lit.negative ? -0.0 : 0.0 }
            if lit.mantissa <= 1 << 53 && lit.exponent >= -22 && lit.exponent <= 22 {
                let m = Double(lit.mantissa)
                let e = Int(lit.exponent)
                let v = e < 0 ? m / doublePowers[-e] : m * doublePowers[e]
                return lit.negative ? -v : v
            }
            #if arch(x86_64) && !os(Windows) && !os(Android)
            if lit.exponent >= -27 && lit.exponent <= 27, let v = extendedDouble(lit.mantissa, Int(lit.exponent)) {
                return lit.negative ? -v : v
            }
            #endif
        }
        return slowDouble(p, Int(lit.start), Int(lit.end))
    }

    #if arch(x86_64) && !os(Windows) && !os(Android)
    /// `mantissa * 10^exponent` correctly rounded to Double through x87 extended precision, or nil when only the
    /// digits can decide (LightGBM writes 17 significant digits, past Clinger's 2^53, and the standard library's
    /// parser costs ~0.25 us per value: most of a model's load time).
    ///
    /// Both operands are exact in Float80 (64-bit significand: any 19-digit mantissa, and 10^e = 5^e * 2^e with
    /// 5^27 < 2^64), so one multiplication or division gives the correctly rounded Float80 `r` of the true value
    /// `q`. Rounding `r` to Double then gives the correctly rounded Double of `q` unless `r` is exactly halfway
    /// between two Doubles: every such midpoint (54 bits) is a Float80, so if `q` and `r` were on different sides
    /// of one, that midpoint would be nearer to `q` than `r` is. Results below Double's normal range are left to
    /// the standard library (subnormal rounding), and so is a midpoint.
    @inline(__always)
    static func extendedDouble(_ mantissa: UInt64, _ exponent: Int) -> Double? {
        let m = Float80(mantissa)
        let r = exponent < 0 ? m / extendedPowers[-exponent] : m * extendedPowers[exponent]
        let d = Double(r)
        guard d.isNormal else { return nil }
        let back = Float80(d)
        if back == r { return d }
        let other = Float80(r > back ? d.nextUp : d.nextDown)
        return (back + other) / 2 == r ? nil : d
    }
    #endif

    /// The correctly rounded Float of a scanned literal (never a rounded Double).
    @inline(__always)
    static func float(_ lit: DecimalLiteral, in p: UnsafeRawBufferPointer) -> Float {
        if !lit.truncated {
            if lit.mantissa == 0 { return lit.negative ? -0.0 : 0.0 }
            let e = Int(lit.exponent)
            if lit.mantissa <= 1 << 24 && e >= -10 && e <= 10 {
                let m = Float(lit.mantissa)
                let v = e < 0 ? m / floatPowers[-e] : m * floatPowers[e]
                return lit.negative ? -v : v
            }
            if lit.mantissa <= 1 << 53 && e >= -22 && e <= 22 {
                let m = Double(lit.mantissa)
                let d = e < 0 ? m / doublePowers[-e] : m * doublePowers[e]
                if let f = unambiguousFloat(d) { return lit.negative ? -f : f }
            }
        }
        return slowFloat(p, Int(lit.start), Int(lit.end))
    }

    /// Rounds an exactly rounded, non-negative Double to Float, or nil when it sits on a Float midpoint (then only
    /// the digits can decide).
    @inline(__always)
    static func unambiguousFloat(_ d: Double) -> Float? {
        let f = Float(d)
        let back = Double(f)
        if back == d { return f }
        if f.isInfinite { return d == 0x1.ffff_ffp127 ? nil : f }
        let other = d > back ? f.nextUp : f.nextDown
        if other.isInfinite { return f }
        return (back + Double(other)) / 2 == d ? nil : f
    }

    /// The text `p[start..<end]`.
    static func text(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        guard start >= 0, end <= p.count, start < end else { return "" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
    }

    /// Correctly rounded Double of `p[start..<end]` (standard library, locale-independent).
    static func slowDouble(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Double {
        Double(text(p, start, end)) ?? .nan
    }

    /// Correctly rounded Float of `p[start..<end]`.
    static func slowFloat(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Float {
        Float(text(p, start, end)) ?? .nan
    }

    /// Parses a whole token (LightGBM text: decimal, `inf`, `-inf`, `nan`) as a Double; nil if it is not a number.
    static func parseDoubleToken(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Double? {
        var pos = start
        if let lit = scan(p, &pos), pos == end {
            return double(lit, in: p)
        }
        // Other spellings LightGBM's own parser accepts (inf, -inf, nan, a leading '+'): the whole token must
        // be a number for the standard library.
        guard start < end, end - start < 64 else { return nil }
        return Double(text(p, start, end))
    }

    /// Parses a whole token as a Float (XGBoost's base_score strings such as `6.274165E-1`).
    static func parseFloatToken(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Float? {
        var pos = start
        guard let lit = scan(p, &pos), pos == end else { return nil }
        return float(lit, in: p)
    }

    /// Parses a whole token as an integer.
    static func parseIntToken(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        var i = start
        var neg = false
        if i < end && (p[i] == UInt8(ascii: "-") || p[i] == UInt8(ascii: "+")) {
            neg = p[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < end else { return nil }
        var v = 0
        while i < end {
            let d = p[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return neg ? -v : v
    }
}

extension DecimalLiteral {
    /// The integer value when the literal is an integer that fits `Int`.
    var intValue: Int? {
        guard isInteger, !truncated, exponent >= 0 else { return nil }
        var v = Int(exactly: mantissa)
        for _ in 0..<exponent {
            guard let cur = v else { return nil }
            let (m, o) = cur.multipliedReportingOverflow(by: 10)
            v = o ? nil : m
        }
        guard let mag = v else { return nil }
        return negative ? -mag : mag
    }
}
