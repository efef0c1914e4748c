import KernelSupport
// Vectorized exp, tanh and log on SIMD16<Float>, plus in-place buffer helpers.
//
// glibc's tanhf (11-15 ns) and expf (3-6 ns) per element would cost more
// than a whole training step at batch 32. These run at about
// 0.4 ns (tanh) and 0.25-0.3 ns (exp) per element on one Zen 4 core
// (bench/vector-math).
//
// Measured accuracy, exhaustively over every Float input (against Double
// exp/tanh, in ULPs of the Float result; the tests in
// Tests/KernelsTests/VectorMathTests.swift sample this and assert it):
//   vexp:  max 1.014 ULP for normal results on [-104, 89]; subnormal
//          results max 0.749 ULP of 2^-149 (they are rounded only once).
//   vtanh: max 1.463 ULP over all finite Floats (worst just above the 0.55
//          switch between the polynomial and the exp formula).
//
// The SIMD16 functions are @inlinable @inline(__always) so that callers in
// other modules get them inlined into their hot loops (checked: a loop in
// another module over vtanh compiles to the same call-free zmm code); everything is branch-free lane-wise
// arithmetic with no calls, allocation or ARC. Built for skylake-avx512 (and run
// on Zen 4) the bodies compile to straight zmm code (vfmadd…ps, vdivps,
// vpslld, …) with no calls to expf/fmaf.

// MARK: - Bit-level helpers

@inlinable @inline(__always)
internal func _vmBits(_ x: SIMD16<Float>) -> SIMD16<UInt32> {
    unsafeBitCast(x, to: SIMD16<UInt32>.self)
}

@inlinable @inline(__always)
internal func _vmFloat(_ b: SIMD16<UInt32>) -> SIMD16<Float> {
    unsafeBitCast(b, to: SIMD16<Float>.self)
}

@inlinable @inline(__always)
internal func _vmFloat(_ b: SIMD16<Int32>) -> SIMD16<Float> {
    unsafeBitCast(b, to: SIMD16<Float>.self)
}

/// Range reduction shared by `vexp` and `vtanh`: for `x` (NaN allowed, no
/// infinities, |x| ≤ 105) returns `k` (as Int32 lanes) and `p = e^r` with
/// `x = k·ln2 + r`, |r| ≤ ln2/2 (+ rounding), so that e^x = 2^k · p.
@inlinable @inline(__always)
internal func _vexpReduce(_ x: SIMD16<Float>) -> (k: SIMD16<Int32>, p: SIMD16<Float>) {
    let (t, r) = _vexpSplit(x)
    return (_vexpExponent(t), _vexpPolynomial(r))
}

/// The first half of `_vexpReduce`: t, whose low mantissa bits hold
/// k = round(x / ln2) (`_vexpExponent`), and r = x − k·ln2.
@inlinable @inline(__always)
internal func _vexpSplit(_ x: SIMD16<Float>) -> (t: SIMD16<Float>, r: SIMD16<Float>) {
    // k = round(x / ln2) by the 1.5·2^23 trick: adding the magic constant
    // rounds x·log2(e) to the nearest integer (ties to even; the FMA rounds
    // only once) and leaves k in the low mantissa bits, so the integer k
    // falls out of a bit subtraction without a float→int conversion (which
    // would need NaN care). Valid for |k| < 2^22.
    let magic = SIMD16<Float>(repeating: 12_582_912.0)  // 1.5 · 2^23
    let t = magic.addingProduct(x, SIMD16(repeating: 1.442_695_040_888_963_4))
    let kf = t - magic  // exact

    // Cody–Waite: ln2 = ln2Hi + ln2Lo, ln2Hi = 0x3F317200 has its low 9
    // mantissa bits clear, so x - k·ln2Hi is exact (and the FMA does it in
    // one rounding anyway); the second step folds in the tail.
    // The constants carry the minus sign: kf·(−c) is (−kf)·c exactly, and
    // negating kf cost a subtraction per vector.
    var r = x.addingProduct(kf, SIMD16(repeating: -0.693_145_751_953_125))
    r = r.addingProduct(kf, SIMD16(repeating: -1.428_606_820_309_417_232e-6))
    return (t, r)
}

/// k as Int32 lanes from `_vexpSplit`'s t.
@inlinable @inline(__always)
internal func _vexpExponent(_ t: SIMD16<Float>) -> SIMD16<Int32> {
    unsafeBitCast(_vmBits(t) &- 0x4B40_0000, to: SIMD16<Int32>.self)
}

/// e^r for |r| ≤ ln2/2 (+ rounding), the second half of `_vexpReduce`.
@inlinable @inline(__always)
internal func _vexpPolynomial(_ r: SIMD16<Float>) -> SIMD16<Float> {
    // e^r ≈ 1 + r + r²·Q(r), Q of degree 4 (total degree 6): minimax for
    // the relative error of e^r on [-ln2/2, ln2/2] (Remez, max relative
    // error 3.1e-9 = 0.03 ULP before Float rounding of the arithmetic).
    var q = SIMD16<Float>(repeating: 0.001_381_461_3)
    q = SIMD16(repeating: 0.008_368_71).addingProduct(q, r)
    q = SIMD16(repeating: 0.041_668_39).addingProduct(q, r)
    q = SIMD16(repeating: 0.166_665_21).addingProduct(q, r)
    q = SIMD16(repeating: 0.499_999_94).addingProduct(q, r)
    let r2 = r * r
    return r.addingProduct(r2, q) + 1
}

// MARK: - exp

/// e^x on 16 lanes.
///
/// Range reduction x = k·ln2 + r (Cody–Waite split of ln2, k by rounding
/// x·log2 e), a degree-6 minimax polynomial for e^r on |r| ≤ ln2/2, then
/// scaling by 2^k.
///
/// Scaling is done in two exact steps, 2^k = 2^(k>>1) · 2^(k - (k>>1)), so
/// that both factors are normal floats for every k in [-151, 128]. This gives
/// IEEE behaviour at the ends without extra selects:
/// * overflow: x > 88.722832 (the largest x with a finite result) → +inf;
/// * gradual underflow: results in the subnormal range (x < -87.336) are
///   rounded once, in the final multiply, so they are exact-ish (error
///   ≤ 1 ULP of 2^-149), and results below half the smallest subnormal
///   (x < about -103.97) become +0;
/// * NaN → NaN, +inf → +inf, -inf → +0.
/// Inputs are first clamped to [-104.5, 89] (NaN passes through the clamp),
/// which keeps k in range and still overflows/underflows correctly.
@_transparent
public func vexp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // Comparisons with NaN are false, so NaN lanes are left alone.
    var xc = x.replacing(with: 89.0, where: x .> 89.0)
    xc = xc.replacing(with: -104.5, where: xc .< -104.5)
    let (k, p) = _vexpReduce(xc)
    let k1 = k &>> 1
    let k2 = k &- k1
    let s1 = _vmFloat((k1 &+ 127) &<< 23)
    let s2 = _vmFloat((k2 &+ 127) &<< 23)
    return (p * s1) * s2
}

/// e^x on 16 lanes for x ≤ 88 (the softmax's x = z − max ≤ 0), with results
/// below 2^-126 flushed to +0 instead of rounded to subnormals.
///
/// Every normal result is bit for bit `vexp`'s (both scale p = e^r by 2^k
/// exactly); what is saved is the two-step scaling and the upper clamp (about
/// a third of the non-polynomial work), and, more important, no lane ever
/// multiplies into the subnormal range: such a multiply costs a microcode
/// assist (~150 cycles on Intel, tens on Zen) whenever FTZ is off, as it is
/// in Swift. NaN → NaN (either sign); −inf → +0. Not for x > 88.7: the
/// exponent addition would overflow into garbage instead of +inf.
@inlinable @inline(__always)
internal func _vexpFlushToZero(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let (t, r) = _vexpFlushToZeroSplit(x)
    return _vexpFlushToZeroFinish(t, r)
}

/// `_vexpFlushToZero` in two halves, for callers that overlap the first half
/// of one vector with the second half of another (software pipelining): the
/// range reduction (after the clamp) ...
@inlinable @inline(__always)
internal func _vexpFlushToZeroSplit(_ x: SIMD16<Float>) -> (t: SIMD16<Float>, r: SIMD16<Float>) {
    // Below −87.5 the result is subnormal or 0 anyway; the clamp keeps
    // k ≥ −126, so the biased exponent of p·2^k stays ≥ 0 (NaN passes).
    _vexpSplit(x.replacing(with: -87.5, where: x .< -87.5))
}

/// ... and the polynomial, the scaling by 2^k and the flush.
@inlinable @inline(__always)
internal func _vexpFlushToZeroFinish(_ t: SIMD16<Float>, _ r: SIMD16<Float>) -> SIMD16<Float> {
    let k = _vexpExponent(t), p = _vexpPolynomial(r)
    let bits = unsafeBitCast(p, to: SIMD16<Int32>.self) &+ (k &<< 23)
    // Exponent field 0: a subnormal result (or the clamp's) → +0. The sign
    // bit is masked off so that a NaN with its sign bit set stays NaN. By
    // shifts, not a compare: SIMD16<Int32> comparisons compile to per-lane code.
    let subnormal = ((bits & 0x7FFF_FFFF) &- 0x0080_0000) &>> 31  // all ones or 0
    return _vmFloat(bits & ~subnormal)
}

// MARK: - tanh

/// tanh(x) on 16 lanes.
///
/// Computed on a = |x| with the sign copied back at the end (so tanh(±0) =
/// ±0 and the function is exactly odd):
/// * a < 0.55: a + a³·P(a²), P of degree 4, a minimax fit of the relative
///   error (1.0e-9 before Float rounding), so tanh(x)/x is accurate down to
///   the smallest subnormals (where the result is x itself);
/// * a ≥ 0.55: 1 - 2/(e^(2a) + 1) with the exp kernel above; a is clamped
///   to 9.5, where this already rounds to 1, so large |x| and ±inf give ±1.
///   The result is exactly ±1 from |x| ≈ 9.0109 (13·ln2) on, where the true
///   tanh rounds to 1; for |x| in [9, 9.0109] it is the correctly rounded
///   ±(1 - 2^-24).
/// NaN → NaN. Both branches are evaluated for all lanes and blended.
@inlinable @inline(__always)
public func vtanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let (t, r) = _vtanhSplit(x)
    return _vtanhFinish(x, t, r)
}

/// `vtanh` in two halves, for loops that overlap the first half of one
/// vector with the second half of another (software pipelining; the same
/// bits): the range reduction of the exp branch's 2a ...
@inlinable @inline(__always)
internal func _vtanhSplit(_ x: SIMD16<Float>) -> (t: SIMD16<Float>, r: SIMD16<Float>) {
    // 2a ∈ [1.1, 19], so k ∈ [2, 28] and the single-step scaling by adding
    // k to the exponent bits cannot overflow.
    let a = _vmFloat(_vmBits(x) & 0x7FFF_FFFF)
    let ac = a.replacing(with: 9.5, where: a .> 9.5)  // NaN stays NaN
    return _vexpSplit(ac + ac)
}

/// ... and the rest: the small-|x| polynomial, e^(2a) from t and r, and the blend.
@inlinable @inline(__always)
internal func _vtanhFinish(_ x: SIMD16<Float>, _ t: SIMD16<Float>, _ r: SIMD16<Float>) -> SIMD16<Float> {
    let bits = _vmBits(x)
    let sign = bits & 0x8000_0000
    let a = _vmFloat(bits & 0x7FFF_FFFF)

    // Small |x|: odd polynomial.
    let s = a * a
    var poly = SIMD16<Float>(repeating: -0.006_274_239_6)
    poly = SIMD16(repeating: 0.021_071_68).addingProduct(poly, s)
    poly = SIMD16(repeating: -0.053_852_31).addingProduct(poly, s)
    poly = SIMD16(repeating: 0.133_325_86).addingProduct(poly, s)
    poly = SIMD16(repeating: -0.333_333_16).addingProduct(poly, s)
    let small = a.addingProduct(a * s, poly)

    // Larger |x|: 1 − 2/(e^(2a) + 1).
    let k = _vexpExponent(t), p = _vexpPolynomial(r)
    let e = _vmFloat(unsafeBitCast(p, to: SIMD16<Int32>.self) &+ (k &<< 23))
    let one = SIMD16<Float>(repeating: 1)
    let large = one - SIMD16(repeating: 2) / (e + one)

    // NaN lanes compare false and keep `small`, which is NaN.
    let blended = small.replacing(with: large, where: a .>= 0.55)
    return _vmFloat(_vmBits(blended) | sign)
}

// MARK: - log

/// Natural logarithm on 16 lanes.
///
/// x = 2^e · m with m in [√½, √2) (the exponent split by integer arithmetic
/// on the bits, subnormal inputs first scaled by 2^23), f = m − 1 (exact),
/// and log(1 + f) = f − f²/2 + f³·P(f), P of degree 8 (Cephes `logf`'s
/// minimax coefficients), evaluated with FMAs; e·ln2 is added in two parts
/// (Cody–Waite: ln2 = 0.693359375 − 2.12194440e-4, the first exact in
/// e·0.693359375) so that the large term is added last with one rounding.
///
/// Accuracy (Tests/KernelsTests/VectorMathTests.swift asserts it): measured
/// over every positive finite Float (normal and subnormal) against Double
/// log, max 0.827 ULP of the Float result (at x = 1.413642, just below √2;
/// subnormal inputs max 0.503 ULP); the tests assert 0.9 (`logMaxULP`).
///
/// Special values, as IEEE `logf`: log(±0) = −inf, log(+inf) = +inf,
/// log(x < 0) = NaN, log(−inf) = NaN, NaN → NaN; log(1) = +0 exactly.
/// Subnormal inputs are handled exactly like normals (no flush to zero).
/// Branch-free: every lane takes the same path, and the specials are blended
/// in at the end.
@_transparent
public func vlog(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // Subnormals (and ±0, negatives: fixed up at the end): scale by 2^23.
    let tiny = x .< 0x1p-126
    let xs = x.replacing(with: x * 0x1p23, where: tiny)

    // Shift the bits so that the exponent field counts from √½, not 1: then
    // (bits >> 23) − 127 is e and the mantissa bits + bits(√½) give m.
    let ix = _vmBits(xs) &+ (0x3F80_0000 &- 0x3F35_04F3)
    // e as a Float without an int→float conversion: the magic-number trick
    // (bits 0x4B400000 + n are the Float 1.5·2^23 + n for |n| < 2^22).
    var e = _vmFloat((ix &>> 23) &+ (0x4B40_0000 &- 127)) - 12_582_912.0
    e = e.replacing(with: e - 23, where: tiny)
    let m = _vmFloat((ix & 0x007F_FFFF) &+ 0x3F35_04F3)
    let f = m - 1  // exact (Sterbenz)

    var p = SIMD16<Float>(repeating: 7.037_683_629_2e-2)
    p = SIMD16(repeating: -1.151_461_031_0e-1).addingProduct(p, f)
    p = SIMD16(repeating: 1.167_699_874_0e-1).addingProduct(p, f)
    p = SIMD16(repeating: -1.242_014_084_6e-1).addingProduct(p, f)
    p = SIMD16(repeating: 1.424_932_278_7e-1).addingProduct(p, f)
    p = SIMD16(repeating: -1.666_805_766_5e-1).addingProduct(p, f)
    p = SIMD16(repeating: 2.000_071_476_5e-1).addingProduct(p, f)
    p = SIMD16(repeating: -2.499_999_399_3e-1).addingProduct(p, f)
    p = SIMD16(repeating: 3.333_333_117_4e-1).addingProduct(p, f)
    let z = f * f
    var y = (f * z) * p
    y = y.addingProduct(e, SIMD16(repeating: -2.121_944_40e-4))
    y = y.addingProduct(z, SIMD16(repeating: -0.5))
    var r = (f + y).addingProduct(e, SIMD16(repeating: 0.693_359_375))

    // Specials. NaN compares false everywhere, so it needs its own test.
    r = r.replacing(with: .infinity, where: x .== .infinity)
    r = r.replacing(with: -.infinity, where: x .== 0)
    r = r.replacing(with: .nan, where: x .< 0)
    r = r.replacing(with: x, where: x .!= x)
    return r
}

// MARK: - Buffer helpers
//
// Each helper spells its loop out: a shared closure-taking helper let the
// optimizer keep the closure out of line and merge the two functions into
// one that calls the SIMD body through a function pointer per vector.

/// p[i] = tanh(p[i]) for i in 0..<count (any count ≥ 0, any alignment).
public func tanhInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    let raw = UnsafeMutableRawPointer(p)
    var i = 0
    while i + 16 <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
        raw.storeBytes(of: vtanh(v), toByteOffset: i &* 4, as: SIMD16<Float>.self)
        i &+= 16
    }
    if i < count {  // tail through a zero-padded temporary
        var v = SIMD16<Float>()
        for j in 0..<(count - i) { v[j] = p[i + j] }
        v = vtanh(v)
        for j in 0..<(count - i) { p[i + j] = v[j] }
    }
}

/// p[i] = e^p[i] for i in 0..<count (any count ≥ 0, any alignment).
public func expInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    let raw = UnsafeMutableRawPointer(p)
    var i = 0
    while i + 16 <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
        raw.storeBytes(of: vexp(v), toByteOffset: i &* 4, as: SIMD16<Float>.self)
        i &+= 16
    }
    if i < count {  // tail through a zero-padded temporary
        var v = SIMD16<Float>()
        for j in 0..<(count - i) { v[j] = p[i + j] }
        v = vexp(v)
        for j in 0..<(count - i) { p[i + j] = v[j] }
    }
}
