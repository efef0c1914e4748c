import KernelSupport
import _KernelsShim
// dst[c×r] = transpose(src[r×c]), with explicit leading dimensions so padded
// rows stay padded. Used once per step to turn W1 and W2 into the row layout
// the `gemm` broadcast-FMA needs for dx = dy·Wᵀ (a few thousand floats:
// at batch 32 one float a column at a time was ~7% of the step, so whole
// 8×8 blocks go through registers, and so do the rows below the last full 8
// where dst's rows have room for 8; only the rest moves one float at a time).

/// The columns `cols` of src only (rows `cols` of dst): lets T workers split
/// one transpose into disjoint, contiguous pieces of the destination. A row
/// of dst may get zeros past `rows`, up to the next multiple of 8 that fits
/// in `ldd` (its padding); nothing past that is written.
public func transpose(
    rows: Int, columns cols: Range<Int>,
    src: UnsafePointer<Float>, lds: Int,
    dst: UnsafeMutablePointer<Float>, ldd: Int
) {
    var c = cols.lowerBound
    while c < cols.upperBound {
        let width = min(8, cols.upperBound - c)
        var r = 0
        if width == 8 {
            while r + 8 <= rows {
                mm_transpose8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd)
                r += 8
            }
        }
        if width == 8 && r < rows && r + 8 <= ldd {
            mm_transpose8xn(src + r * lds + c, lds, Int32(rows - r), dst + c * ldd + r, ldd)
        } else {
            for cc in c..<(c + width) {
                let d = dst + cc * ldd
                for rr in r..<rows { d[rr] = src[rr * lds + cc] }
            }
        }
        c += width
    }
}
