// Binary-to-decimal conversion for JSON output.
//
// Floats and doubles print as the shortest decimal that parses back to the same value of that type, laid out like
// Python's `repr` (what KServe's `json.dumps` writes): `0.1`, `1.0`, `1e-05`, `1e+16`, `1234.5`. FP32 uses Ryu
// (Ulf Adams, 2018) directly on the float, so a float is never widened to double. Non-finite values have no JSON
// form and are written as `null`.

// MARK: - Layout

/// Writes `digits × 10^exponent` (digits without trailing zeros) Python-`repr` style and returns the byte count.
/// The caller provides at least 32 writable bytes.
@inline(__always)
func writeDecimal(_ digits: UInt64, exponent: Int, negative: Bool, to out: UnsafeMutablePointer<UInt8>) -> Int {
    var n = 0
    if negative {
        out[0] = UInt8(ascii: "-")
        n = 1
    }
    if digits == 0 {
        out[n] = UInt8(ascii: "0")
        out[n + 1] = UInt8(ascii: ".")
        out[n + 2] = UInt8(ascii: "0")
        return n + 3
    }
    // The digits, most significant first, into a small scratch buffer.
    var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, enough for 20 digits
    let count = withUnsafeMutableBytes(of: &scratch) { raw -> Int in
        var v = digits
        var tmp = 20
        while v > 0 {
            tmp -= 1
            raw[tmp] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
        }
        let c = 20 - tmp
        if tmp > 0 {
            for i in 0..<c { raw[i] = raw[tmp + i] }
        }
        return c
    }
    return withUnsafeBytes(of: &scratch) { d -> Int in
        let decpt = exponent + count  // digits d1 d2 ... with the point after `decpt` of them
        if decpt > -4 && decpt <= 16 {
            if decpt <= 0 {
                out[n] = UInt8(ascii: "0")
                out[n + 1] = UInt8(ascii: ".")
                n += 2
                for _ in 0 ..< -decpt {
                    out[n] = UInt8(ascii: "0")
                    n += 1
                }
                for i in 0..<count {
                    out[n] = d[i]
                    n += 1
                }
            } else if decpt >= count {
                for i in 0..<count {
                    out[n] = d[i]
                    n += 1
                }
                for _ in 0 ..< decpt - count {
                    out[n] = UInt8(ascii: "0")
                    n += 1
                }
                out[n] = UInt8(ascii: ".")
                out[n + 1] = UInt8(ascii: "0")
                n += 2
            } else {
                for i in 0..<decpt {
                    out[n] = d[i]
                    n += 1
                }
                out[n] = UInt8(ascii: ".")
                n += 1
                for i in decpt..<count {
                    out[n] = d[i]
                    n += 1
                }
            }
            return n
        }
        out[n] = d[0]
        n += 1
        if count > 1 {
            out[n] = UInt8(ascii: ".")
            n += 1
            for i in 1..<count {
                out[n] = d[i]
                n += 1
            }
        }
        var e = decpt - 1
        out[n] = UInt8(ascii: "e")
        out[n + 1] = e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+")
        n += 2
        e = abs(e)
        if e >= 100 {
            out[n] = UInt8(truncatingIfNeeded: e / 100) &+ 48
            n += 1
        }
        out[n] = UInt8(truncatingIfNeeded: (e / 10) % 10) &+ 48
        out[n + 1] = UInt8(truncatingIfNeeded: e % 10) &+ 48
        return n + 2
    }
}

/// Writes `null` and returns 4.
@inline(__always)
private func writeNull(_ out: UnsafeMutablePointer<UInt8>) -> Int {
    out[0] = UInt8(ascii: "n")
    out[1] = UInt8(ascii: "u")
    out[2] = UInt8(ascii: "l")
    out[3] = UInt8(ascii: "l")
    return 4
}

/// Writes the shortest round-trip form of a Float (or `null` if not finite); needs 32 bytes. Returns the count.
@inline(__always)
func writeFloat(_ value: Float, to out: UnsafeMutablePointer<UInt8>) -> Int {
    guard value.isFinite else { return writeNull(out) }
    let bits = value.bitPattern
    let negative = bits >> 31 != 0
    let ieeeMantissa = bits & ((1 << 23) - 1)
    let ieeeExponent = (bits >> 23) & 0xFF
    if ieeeExponent == 0 && ieeeMantissa == 0 {
        return writeDecimal(0, exponent: 0, negative: negative, to: out)
    }
    let (m, e) = ryuFloatToDecimal(ieeeMantissa: ieeeMantissa, ieeeExponent: ieeeExponent)
    var digits = UInt64(m)
    var exponent = Int(e)
    while digits % 10 == 0 {
        digits /= 10
        exponent += 1
    }
    return writeDecimal(digits, exponent: exponent, negative: negative, to: out)
}

/// Writes the shortest round-trip form of a Double (or `null` if not finite); needs 32 bytes. Returns the count.
///
/// The digits come from the standard library's shortest round-trip conversion (`description`), laid out again.
func writeDouble(_ value: Double, to out: UnsafeMutablePointer<UInt8>) -> Int {
    guard value.isFinite else { return writeNull(out) }
    if value == 0 { return writeDecimal(0, exponent: 0, negative: value.sign == .minus, to: out) }
    var text = value.magnitude.description
    var digits: UInt64 = 0
    var exponent = 0
    text.withUTF8 { utf8 in
        var i = 0
        var afterPoint = false
        while i < utf8.count {
            let c = utf8[i]
            if c >= 48 && c <= 57 {
                if digits != 0 || c != 48 {
                    digits = digits &* 10 &+ UInt64(c - 48)
                    if afterPoint { exponent -= 1 }
                } else if afterPoint {
                    exponent -= 1
                }
            } else if c == UInt8(ascii: ".") {
                afterPoint = true
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                var j = i + 1
                var sign = 1
                if j < utf8.count && (utf8[j] == UInt8(ascii: "-") || utf8[j] == UInt8(ascii: "+")) {
                    if utf8[j] == UInt8(ascii: "-") { sign = -1 }
                    j += 1
                }
                var e = 0
                while j < utf8.count, utf8[j] >= 48, utf8[j] <= 57 {
                    e = e * 10 + Int(utf8[j] - 48)
                    j += 1
                }
                exponent += sign * e
                break
            }
            i += 1
        }
    }
    while digits != 0 && digits % 10 == 0 {
        digits /= 10
        exponent += 1
    }
    return writeDecimal(digits, exponent: exponent, negative: value.sign == .minus, to: out)
}

/// Writes a signed integer; needs 20 bytes. Returns the count.
@inline(__always)
func writeInt64(_ value: Int64, to out: UnsafeMutablePointer<UInt8>) -> Int {
    if value < 0 {
        out[0] = UInt8(ascii: "-")
        return 1 + writeUInt64(value.magnitude, to: out + 1)
    }
    return writeUInt64(UInt64(value), to: out)
}

/// Writes an unsigned integer; needs 20 bytes. Returns the count.
@inline(__always)
func writeUInt64(_ value: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
    if value < 10 {
        out[0] = UInt8(truncatingIfNeeded: value) &+ 48
        return 1
    }
    var digits = 0
    var v = value
    while v > 0 {
        digits += 1
        v /= 10
    }
    v = value
    var i = digits
    while i > 0 {
        i -= 1
        out[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48
        v /= 10
    }
    return digits
}

// MARK: - Ryu for binary32 (f2s)

@inline(__always) private func pow5bits(_ e: Int32) -> Int32 {
    Int32(truncatingIfNeeded: ((UInt32(bitPattern: e) &* 1_217_359) >> 19) &+ 1)
}
@inline(__always) private func log10Pow2(_ e: Int32) -> UInt32 { (UInt32(bitPattern: e) &* 78_913) >> 18 }
@inline(__always) private func log10Pow5(_ e: Int32) -> UInt32 { (UInt32(bitPattern: e) &* 732_923) >> 20 }

@inline(__always) private func pow5Factor(_ value: UInt32) -> UInt32 {
    var v = value
    var count: UInt32 = 0
    while v != 0 && v % 5 == 0 {
        v /= 5
        count += 1
    }
    return count
}

@inline(__always) private func mulShift32(_ m: UInt32, _ factor: UInt64, _ shift: Int32) -> UInt32 {
    let factorLo = UInt64(UInt32(truncatingIfNeeded: factor))
    let factorHi = factor >> 32
    let bits0 = UInt64(m) &* factorLo
    let bits1 = UInt64(m) &* factorHi
    let sum = (bits0 >> 32) &+ bits1
    return UInt32(truncatingIfNeeded: sum >> UInt64(shift - 32))
}

private let floatMantissaBits: Int32 = 23
private let floatBias: Int32 = 127
private let floatPow5InvBitCount: Int32 = 59
private let floatPow5BitCount: Int32 = 61

/// The shortest decimal `mantissa × 10^exponent` that rounds to the float with these fields (finite, non-zero).
func ryuFloatToDecimal(ieeeMantissa: UInt32, ieeeExponent: UInt32) -> (mantissa: UInt32, exponent: Int32) {
    let e2: Int32
    let m2: UInt32
    if ieeeExponent == 0 {
        e2 = 1 - floatBias - floatMantissaBits - 2
        m2 = ieeeMantissa
    } else {
        e2 = Int32(ieeeExponent) - floatBias - floatMantissaBits - 2
        m2 = (1 << 23) | ieeeMantissa
    }
    let acceptBounds = m2 & 1 == 0

    // The interval of decimals that round to this float.
    let mv = 4 &* m2
    let mp = 4 &* m2 &+ 2
    let mmShift: UInt32 = (ieeeMantissa != 0 || ieeeExponent <= 1) ? 1 : 0
    let mm = 4 &* m2 &- 1 &- mmShift

    var vr: UInt32, vp: UInt32, vm: UInt32
    let e10: Int32
    var vmIsTrailingZeros = false
    var vrIsTrailingZeros = false
    var lastRemovedDigit: UInt8 = 0
    if e2 >= 0 {
        let q = log10Pow2(e2)
        e10 = Int32(q)
        let k = floatPow5InvBitCount + pow5bits(Int32(q)) - 1
        let i = -e2 + Int32(q) + k
        vr = mulShift32(mv, floatPow5InvSplit[Int(q)], i)
        vp = mulShift32(mp, floatPow5InvSplit[Int(q)], i)
        vm = mulShift32(mm, floatPow5InvSplit[Int(q)], i)
        if q != 0 && (vp &- 1) / 10 <= vm / 10 {
            let l = floatPow5InvBitCount + pow5bits(Int32(q) - 1) - 1
            lastRemovedDigit = UInt8(
                truncatingIfNeeded: mulShift32(mv, floatPow5InvSplit[Int(q) - 1], -e2 + Int32(q) - 1 + l) % 10)
        }
        if q <= 9 {
            // Only one of mp, mv and mm can be a multiple of 5, if any.
            if mv % 5 == 0 {
                vrIsTrailingZeros = pow5Factor(mv) >= q
            } else if acceptBounds {
                vmIsTrailingZeros = pow5Factor(mm) >= q
            } else if pow5Factor(mp) >= q {
                vp &-= 1
            }
        }
    } else {
        let q = log10Pow5(-e2)
        e10 = Int32(q) + e2
        let i = -e2 - Int32(q)
        let k = pow5bits(i) - floatPow5BitCount
        var j = Int32(q) - k
        vr = mulShift32(mv, floatPow5Split[Int(i)], j)
        vp = mulShift32(mp, floatPow5Split[Int(i)], j)
        vm = mulShift32(mm, floatPow5Split[Int(i)], j)
        if q != 0 && (vp &- 1) / 10 <= vm / 10 {
            j = Int32(q) - 1 - (pow5bits(i + 1) - floatPow5BitCount)
            lastRemovedDigit = UInt8(truncatingIfNeeded: mulShift32(mv, floatPow5Split[Int(i) + 1], j) % 10)
        }
        if q <= 1 {
            // mv = 4 * m2 always has at least two trailing zero bits.
            vrIsTrailingZeros = true
            if acceptBounds {
                vmIsTrailingZeros = mmShift == 1
            } else {
                vp &-= 1
            }
        } else if q < 31 {
            vrIsTrailingZeros = (mv & ((1 << (q - 1)) - 1)) == 0
        }
    }

    // The shortest decimal in the interval.
    var removed: Int32 = 0
    let output: UInt32
    if vmIsTrailingZeros || vrIsTrailingZeros {
        while vp / 10 > vm / 10 {
            vmIsTrailingZeros = vmIsTrailingZeros && vm % 10 == 0
            vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0
            lastRemovedDigit = UInt8(truncatingIfNeeded: vr % 10)
            vr /= 10
            vp /= 10
            vm /= 10
            removed += 1
        }
        if vmIsTrailingZeros {
            while vm % 10 == 0 {
                vrIsTrailingZeros = vrIsTrailingZeros && lastRemovedDigit == 0
                lastRemovedDigit = UInt8(truncatingIfNeeded: vr % 10)
                vr /= 10
                vp /= 10
                vm /= 10
                removed += 1
            }
        }
        if vrIsTrailingZeros && lastRemovedDigit == 5 && vr % 2 == 0 {
            lastRemovedDigit = 4  // round half to even
        }
        let roundUp = (vr == vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5
        output = vr &+ (roundUp ? 1 : 0)
    } else {
        while vp / 10 > vm / 10 {
            lastRemovedDigit = UInt8(truncatingIfNeeded: vr % 10)
            vr /= 10
            vp /= 10
            vm /= 10
            removed += 1
        }
        output = vr &+ ((vr == vm || lastRemovedDigit >= 5) ? 1 : 0)
    }
    return (output, e10 + removed)
}
