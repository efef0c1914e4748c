import KernelSupport
// dst[c×r] = transpose(src[r×c]), with explicit leading dimensions so padded
// rows stay padded. Used once per step to turn W1 and W2 into the row layout
// the `gemm` broadcast-FMA needs for dx = dy·Wᵀ (a few thousand floats).

/// The columns `cols` of src only (rows `cols` of dst): lets T workers split
/// one transpose into disjoint, contiguous pieces of the destination.
public func transpose(
    rows: Int, columns cols: Range<Int>,
    src: UnsafePointer<Float>, lds: Int,
    dst: UnsafeMutablePointer<Float>, ldd: Int
) {
    for c in cols {
        let d = dst + c * ldd
        for r in 0..<rows { d[r] = src[r * lds + c] }
    }
}
