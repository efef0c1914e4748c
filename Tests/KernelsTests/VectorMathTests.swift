import Foundation
@testable import Kernels
import XCTest

/// Accuracy of vexp / vtanh / vlog against Foundation's Double exp / tanh / log, in ULPs
/// of the Float result, plus special values and the buffer helpers.
///
/// The dense sweeps take every `sweepStride`-th Float bit pattern. Debug
/// builds (plain `swift test`) run unoptimized SIMD code, ~100× slower, so
/// they sample every 1024th pattern; release builds every 64th. An exhaustive
/// run (every pattern) measured: exp 1.014 ULP max for normal results on
/// [-104, 89], 0.749 ULP (of 2^-149) for subnormal results; tanh 1.463 ULP
/// max over all finite Floats (worst just above the 0.55 switch point); log
/// 0.827 ULP max over all positive finite Floats, subnormal inputs included
/// (worst at 1.413642, just below √2).
final class VectorMathTests: XCTestCase {
    #if DEBUG
    static let sweepStride: UInt32 = 1024
    #else
    static let sweepStride: UInt32 = 64
    #endif

    // Bounds asserted (the measured maxima above, with a little slack).
    static let expMaxULP = 1.1          // normal results
    static let expMaxULPSubnormal = 1.0 // in units of 2^-149
    static let tanhMaxULP = 1.5
    static let logMaxULP = 0.9

    /// |f - y| in ULPs of the Float nearest y (ULP of the binade of y, never
    /// below 2^-149). Both NaN: 0. Infinite results must match exactly,
    /// except that a finite f is measured against ULP(2^127) = 2^104 where y
    /// only overflows in rounding.
    static func ulpError(_ f: Float, _ y: Double) -> Double {
        if y.isNaN || f.isNaN { return y.isNaN && f.isNaN ? 0 : .infinity }
        let expected = Float(y)
        if f.isInfinite || expected.isInfinite {
            if f == expected { return 0 }
            if f.isInfinite { return .infinity }
            return abs(y - Double(f)) / 0x1p104
        }
        let ay = abs(y)
        let e = ay == 0 ? -126 : max(Int(ay.exponent), -126)
        return abs(Double(f) - y) / Double(sign: .plus, exponent: e - 23, significand: 1)
    }

    struct Worst: CustomStringConvertible {
        var err = 0.0
        var x: Float = 0
        var count = 0
        mutating func add(_ x: Float, _ err: Double) {
            count += 1
            if !(err <= self.err) { self.err = err; self.x = x }  // NaN err counts as worst
        }
        var description: String { "max \(err) ULP at x = \(x) (\(count) values)" }
    }

    /// Sweeps the bit patterns between `a` and `b` (inclusive, in either
    /// order; both of one sign) with `stride`, splitting the errors by
    /// whether the reference result is subnormal.
    static func sweep(
        _ a: UInt32, _ b: UInt32, stride: UInt32,
        _ f: (SIMD16<Float>) -> SIMD16<Float>, _ ref: (Double) -> Double,
        normal: inout Worst, subnormal: inout Worst
    ) {
        let lo = min(a, b), hi = max(a, b)
        precondition(lo >> 31 == hi >> 31, "a sweep must not cross zero")
        var b = UInt64(lo)
        while b <= UInt64(hi) {
            var v = SIMD16<Float>()
            for j in 0..<16 {
                v[j] = Float(bitPattern: UInt32(min(b + UInt64(j) * UInt64(stride), UInt64(hi))))
            }
            let r = f(v)
            for j in 0..<16 {
                let y = ref(Double(v[j]))
                let err = ulpError(r[j], y)
                if abs(y) < 0x1p-126 { subnormal.add(v[j], err) } else { normal.add(v[j], err) }
            }
            b += 16 * UInt64(stride)
        }
    }

    static func lane0(_ f: (SIMD16<Float>) -> SIMD16<Float>, _ x: Float) -> Float {
        f(SIMD16(repeating: x))[0]
    }

    // MARK: exp

    func testExpDenseSweep() {
        var normal = Worst(), sub = Worst()
        let s = Self.sweepStride
        Self.sweep(0, Float(89).bitPattern, stride: s, vexp, Foundation.exp,
                   normal: &normal, subnormal: &sub)
        Self.sweep(0x8000_0000, Float(-104).bitPattern, stride: s, vexp, Foundation.exp,
                   normal: &normal, subnormal: &sub)
        XCTAssertGreaterThan(normal.count, 1000)
        XCTAssertGreaterThan(sub.count, 100)
        XCTAssertLessThanOrEqual(normal.err, Self.expMaxULP, "exp normal results: \(normal)")
        XCTAssertLessThanOrEqual(sub.err, Self.expMaxULPSubnormal, "exp subnormal results: \(sub)")
    }

    func testExpDenseAroundLimits() {
        // Every pattern near the overflow threshold and the end of the
        // subnormal range, where the scaling by 2^k matters.
        var normal = Worst(), sub = Worst()
        Self.sweep(Float(88.6).bitPattern, Float(89).bitPattern, stride: 1, vexp, Foundation.exp,
                   normal: &normal, subnormal: &sub)
        Self.sweep(Float(-87.5).bitPattern, Float(-87.2).bitPattern, stride: 1, vexp,
                   Foundation.exp, normal: &normal, subnormal: &sub)
        Self.sweep(Float(-103.5).bitPattern, Float(-104).bitPattern, stride: 1, vexp,
                   Foundation.exp, normal: &normal, subnormal: &sub)
        XCTAssertLessThanOrEqual(normal.err, Self.expMaxULP, "exp normal results: \(normal)")
        XCTAssertLessThanOrEqual(sub.err, Self.expMaxULPSubnormal, "exp subnormal results: \(sub)")
    }

    func testExpSpecialValues() {
        let e = { (x: Float) in Self.lane0(vexp, x) }
        XCTAssertEqual(e(0), 1)
        XCTAssertEqual(e(-0.0), 1)
        XCTAssertEqual(e(.infinity), .infinity)
        XCTAssertEqual(e(-.infinity), 0)
        XCTAssertEqual(e(-.infinity).sign, .plus)
        XCTAssertTrue(e(.nan).isNaN)
        XCTAssertTrue(e(-.nan).isNaN)
        XCTAssertEqual(e(.greatestFiniteMagnitude), .infinity)
        XCTAssertEqual(e(-.greatestFiniteMagnitude), 0)
        XCTAssertEqual(e(.leastNonzeroMagnitude), 1)
        XCTAssertEqual(e(-.leastNonzeroMagnitude), 1)
        for x: Float in [1, -1, 0.5, 10, -10, 50, -50, 88.7] {
            XCTAssertLessThanOrEqual(Self.ulpError(e(x), Foundation.exp(Double(x))), Self.expMaxULP)
        }
        // Largest x with a finite result, and the next Float up.
        let xMax: Float = 88.722_831_726_074_218_75
        XCTAssertTrue(e(xMax).isFinite)
        XCTAssertLessThanOrEqual(Self.ulpError(e(xMax), Foundation.exp(Double(xMax))), Self.expMaxULP)
        XCTAssertEqual(e(xMax.nextUp), .infinity)
        XCTAssertEqual(e(89), .infinity)
        XCTAssertEqual(e(100), .infinity)
        XCTAssertEqual(e(1e30), .infinity)
        // Subnormal results and underflow to +0.
        for x: Float in [-87.336_54, -87.4, -90, -100] {
            XCTAssertLessThanOrEqual(Self.ulpError(e(x), Foundation.exp(Double(x))),
                                     Self.expMaxULPSubnormal, "exp(\(x))")
        }
        XCTAssertEqual(e(-103.278_93), .leastNonzeroMagnitude)  // e^x ≈ 2^-149
        XCTAssertEqual(e(-104), 0)
        XCTAssertEqual(e(-105), 0)
        XCTAssertEqual(e(-1e30), 0)
        // Lanes are independent.
        var v = SIMD16<Float>(repeating: 0)
        v[3] = .nan; v[5] = .infinity; v[7] = -.infinity; v[9] = 1
        let r = vexp(v)
        XCTAssertTrue(r[3].isNaN)
        XCTAssertEqual(r[5], .infinity)
        XCTAssertEqual(r[7], 0)
        XCTAssertLessThanOrEqual(Self.ulpError(r[9], M_E), Self.expMaxULP)
        XCTAssertEqual(r[0], 1)
        XCTAssertEqual(r[15], 1)
    }

    func testExpFlushToZeroIsVexpForNormalResults() {
        // The softmax's exp: vexp's bits for normal results, +0 below 2^-126.
        var b = UInt64(0x8000_0000)
        let end = UInt64(Float(-110).bitPattern)
        var flushed = 0
        while b <= end {
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = Float(bitPattern: UInt32(min(b + UInt64(j) * 997, end))) }
            let f = _vexpFlushToZero(v), e = vexp(v)
            for j in 0..<16 {
                if e[j] >= 0x1p-126 {
                    XCTAssertEqual(f[j].bitPattern, e[j].bitPattern, "x = \(v[j])")
                } else {
                    XCTAssertEqual(f[j].bitPattern, 0, "x = \(v[j]): \(f[j])")
                    flushed += 1
                }
            }
            b += 16 * 997
        }
        XCTAssertGreaterThan(flushed, 100)
        var v = SIMD16<Float>(repeating: 0)
        v[1] = .nan; v[2] = -.nan; v[3] = -.infinity; v[4] = -87.4; v[5] = -87.3; v[6] = 88
        let f = _vexpFlushToZero(v)
        XCTAssertEqual(f[0], 1)
        XCTAssertTrue(f[1].isNaN)
        XCTAssertTrue(f[2].isNaN)
        XCTAssertEqual(f[3].bitPattern, 0)
        XCTAssertEqual(f[4].bitPattern, 0)
        XCTAssertEqual(f[5], vexp(v)[5])
        XCTAssertEqual(f[6], vexp(v)[6])
    }

    // MARK: tanh

    func testTanhDenseSweep() {
        var normal = Worst(), sub = Worst()
        let s = Self.sweepStride
        // Whole finite range, both signs (covers subnormals, tiny, the switch
        // point, the exp branch and the saturated range).
        Self.sweep(0, 0x7F7F_FFFF, stride: s, vtanh, Foundation.tanh,
                   normal: &normal, subnormal: &sub)
        Self.sweep(0x8000_0000, 0xFF7F_FFFF, stride: s, vtanh, Foundation.tanh,
                   normal: &normal, subnormal: &sub)
        XCTAssertGreaterThan(sub.count, 100)
        XCTAssertLessThanOrEqual(normal.err, Self.tanhMaxULP, "tanh: \(normal)")
        XCTAssertLessThanOrEqual(sub.err, Self.tanhMaxULP, "tanh, subnormal: \(sub)")
    }

    func testTanhDenseAroundSwitchAndSaturation() {
        // Finer sweeps of [0.5, 0.6] (polynomial → exp branch at 0.55) and
        // [8, 10] (where the result reaches 1).
        var normal = Worst(), sub = Worst()
        #if DEBUG
        let s: UInt32 = 16
        #else
        let s: UInt32 = 1
        #endif
        for (lo, hi) in [(Float(0.5), Float(0.6)), (Float(8), Float(10))] {
            Self.sweep(lo.bitPattern, hi.bitPattern, stride: s, vtanh, Foundation.tanh,
                       normal: &normal, subnormal: &sub)
            Self.sweep((-lo).bitPattern, (-hi).bitPattern, stride: s, vtanh, Foundation.tanh,
                       normal: &normal, subnormal: &sub)
        }
        XCTAssertLessThanOrEqual(normal.err, Self.tanhMaxULP, "tanh: \(normal)")
    }

    func testTanhSpecialValues() {
        let t = { (x: Float) in Self.lane0(vtanh, x) }
        XCTAssertEqual(t(0), 0)
        XCTAssertEqual(t(0).sign, .plus)
        XCTAssertEqual(t(-0.0), 0)
        XCTAssertEqual(t(-0.0).sign, .minus)
        XCTAssertEqual(t(.infinity), 1)
        XCTAssertEqual(t(-.infinity), -1)
        XCTAssertTrue(t(.nan).isNaN)
        XCTAssertTrue(t(-.nan).isNaN)
        XCTAssertEqual(t(.greatestFiniteMagnitude), 1)
        XCTAssertEqual(t(-.greatestFiniteMagnitude), -1)
        XCTAssertEqual(t(.leastNonzeroMagnitude), .leastNonzeroMagnitude)
        XCTAssertEqual(t(-.leastNonzeroMagnitude), -.leastNonzeroMagnitude)
        XCTAssertEqual(t(.leastNormalMagnitude), .leastNormalMagnitude)
        XCTAssertEqual(t(1e-20), 1e-20)
        XCTAssertEqual(t(-1e-5), -1e-5)
        // tanh(x) rounds to 1 from x > 13·ln2 ≈ 9.0109 on; just below, the
        // correctly rounded result is 1 - 2^-24, which vtanh returns.
        XCTAssertEqual(t(9), 1 - 0x1p-24)
        XCTAssertEqual(t(-9), -(1 - 0x1p-24))
        for x: Float in [9.011, 9.5, 10, 20, 88.8, 1e10] {
            XCTAssertEqual(t(x), 1, "tanh(\(x))")
            XCTAssertEqual(t(-x), -1, "tanh(\(-x))")
        }
        // Exactly odd, everywhere.
        for x: Float in [1e-30, 0.1, 0.549_999_9, 0.55, 0.550_000_1, 1, 3.7, 8.99] {
            XCTAssertEqual(t(-x), -t(x))
            XCTAssertLessThanOrEqual(Self.ulpError(t(x), Foundation.tanh(Double(x))), Self.tanhMaxULP)
        }
        var v = SIMD16<Float>(repeating: 0.25)
        v[1] = .nan; v[2] = -.infinity; v[4] = -0.0; v[6] = 2
        let r = vtanh(v)
        XCTAssertTrue(r[1].isNaN)
        XCTAssertEqual(r[2], -1)
        XCTAssertEqual(r[4].sign, .minus)
        XCTAssertEqual(r[4], 0)
        XCTAssertEqual(r[6], Float(Foundation.tanh(2.0)), accuracy: 2 * Float(1).ulp)
        XCTAssertEqual(r[0], Float(Foundation.tanh(0.25)), accuracy: 2 * Float(0.25).ulp)
    }

    // MARK: log

    func testLogDenseSweep() {
        // Every positive finite Float pattern with the stride: subnormal
        // inputs, (0, 1), around 1 (tiny results), and up to the largest Float.
        var normal = Worst(), sub = Worst()
        Self.sweep(1, 0x7F7F_FFFF, stride: Self.sweepStride, vlog, Foundation.log,
                   normal: &normal, subnormal: &sub)
        XCTAssertGreaterThan(normal.count, 100_000)
        XCTAssertLessThanOrEqual(normal.err, Self.logMaxULP, "log: \(normal)")
        XCTAssertLessThanOrEqual(sub.err, Self.logMaxULP, "log, subnormal results: \(sub)")
    }

    func testLogDenseAroundOneAndSubnormals() {
        // Every pattern in [0.5, 2] (both mantissa ranges, the √½ / √2 switch
        // points, and results near 0), and every 16th subnormal input.
        var normal = Worst(), sub = Worst()
        #if DEBUG
        let s: UInt32 = 64
        #else
        let s: UInt32 = 1
        #endif
        Self.sweep(Float(0.5).bitPattern, Float(2).bitPattern, stride: s, vlog, Foundation.log,
                   normal: &normal, subnormal: &sub)
        Self.sweep(1, 0x007F_FFFF, stride: 16 * s, vlog, Foundation.log, normal: &normal, subnormal: &sub)
        XCTAssertLessThanOrEqual(normal.err, Self.logMaxULP, "log: \(normal)")
        XCTAssertLessThanOrEqual(sub.err, Self.logMaxULP, "log, subnormal results: \(sub)")
    }

    func testLogSpecialValues() {
        let l = { (x: Float) in Self.lane0(vlog, x) }
        XCTAssertEqual(l(1), 0)
        XCTAssertEqual(l(1).sign, .plus)
        XCTAssertEqual(l(0), -.infinity)
        XCTAssertEqual(l(-0.0), -.infinity)
        XCTAssertEqual(l(.infinity), .infinity)
        XCTAssertTrue(l(-.infinity).isNaN)
        XCTAssertTrue(l(-1).isNaN)
        XCTAssertTrue(l(-.leastNonzeroMagnitude).isNaN)
        XCTAssertTrue(l(.nan).isNaN)
        XCTAssertTrue(l(-.nan).isNaN)
        for x: Float in [.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                         Float(M_E), 2, 0.5, 10, 0.1, 1e-30, 1e30, 29, 1.000_001, 0.999_999,
                         Float(0.5).squareRoot(), Float(2).squareRoot()] {
            XCTAssertLessThanOrEqual(Self.ulpError(l(x), Foundation.log(Double(x))), Self.logMaxULP, "log(\(x))")
        }
        XCTAssertEqual(Double(l(.leastNonzeroMagnitude)), -149 * M_LN2, accuracy: 1e-5)
        // Lanes are independent.
        var v = SIMD16<Float>(repeating: 1)
        v[2] = .nan; v[4] = 0; v[6] = -3; v[8] = .infinity; v[10] = Float(M_E); v[12] = 0x1p-140
        let r = vlog(v)
        XCTAssertTrue(r[2].isNaN)
        XCTAssertEqual(r[4], -.infinity)
        XCTAssertTrue(r[6].isNaN)
        XCTAssertEqual(r[8], .infinity)
        XCTAssertLessThanOrEqual(Self.ulpError(r[10], 1), Self.logMaxULP)
        XCTAssertLessThanOrEqual(Self.ulpError(r[12], -140 * M_LN2), Self.logMaxULP)
        for j in [0, 1, 3, 5, 15] { XCTAssertEqual(r[j], 0) }
    }

    // MARK: buffer helpers

    func testInPlaceHelpersMatchSIMDAndRespectCount() {
        let counts = [0, 1, 5, 15, 16, 17, 31, 32, 33, 64 * 32, 64 * 32 + 7]
        for offset in 0..<3 {  // unaligned starts
            for count in counts {
                let total = offset + count + 5
                let input: [Float] = (0..<total).map { i in Float(i % 97) * 0.37 - 17.0 }
                for (name, helper, simd) in [
                    ("tanh", tanhInPlace, vtanh),
                    ("exp", expInPlace, vexp),
                ] as [(String, (UnsafeMutablePointer<Float>, Int) -> Void,
                       (SIMD16<Float>) -> SIMD16<Float>)] {
                    var buf = input
                    buf.withUnsafeMutableBufferPointer { b in
                        helper(b.baseAddress! + offset, count)
                    }
                    for i in 0..<total {
                        let inside = i >= offset && i < offset + count
                        let want = inside ? Self.lane0(simd, input[i]) : input[i]
                        if buf[i] != want {
                            XCTFail("\(name)InPlace offset \(offset) count \(count): "
                                    + "element \(i) is \(buf[i]), expected \(want)")
                            break
                        }
                    }
                }
            }
        }
    }

    func testInPlaceSpecialValuesInTail() {
        var buf: [Float] = [.nan, .infinity, -.infinity, -0.0, 1]
        buf.withUnsafeMutableBufferPointer { tanhInPlace($0.baseAddress!, count: $0.count) }
        XCTAssertTrue(buf[0].isNaN)
        XCTAssertEqual(Array(buf[1...3]), [1, -1, 0])
        XCTAssertEqual(buf[3].sign, .minus)
        var e: [Float] = [.nan, .infinity, -.infinity, 0, 100]
        e.withUnsafeMutableBufferPointer { expInPlace($0.baseAddress!, count: $0.count) }
        XCTAssertTrue(e[0].isNaN)
        XCTAssertEqual(Array(e[1...4]), [.infinity, 0, 1, .infinity])
    }
}
