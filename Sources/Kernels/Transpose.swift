// dst[c×r] = transpose(src[r×c]), with explicit leading dimensions so padded
// rows stay padded. Used once per step per worker to turn W1 and W2 into the
// row layout the `gemm` broadcast-FMA needs for dx = dy·Wᵀ (a few thousand
// floats, well under a microsecond).
public func transpose(
    rows: Int, cols: Int,
    src: UnsafePointer<Float>, lds: Int,
    dst: UnsafeMutablePointer<Float>, ldd: Int
) {
    for r in 0..<rows {
        let s = src + r * lds
        for c in 0..<cols { dst[c * ldd + r] = s[c] }
    }
}
