import KernelSupport
// The embedding table lookup and its gradient.
//
//   gather:  emb[i, j·E ..< (j+1)·E] = table[idx[i, j], :]
//   scatter: dtable[idx[i, j], :] += demb[i, j·E ..< (j+1)·E]
//
// E is small (10) and not padded. A plain element loop here is turned into a
// memmove call per row piece by the optimizer (~10 ns each, ~1 µs a step), so
// rows move in SIMD8 pieces with a scalar tail instead.

public func embeddingGather(
    table: UnsafePointer<Float>, dim: Int,
    indices: UnsafePointer<Int32>, rows: Int, perRow: Int,
    out: UnsafeMutablePointer<Float>, ldo: Int
) {
    for i in 0..<rows {
        let o = out + i * ldo
        for j in 0..<perRow {
            let src = table + Int(indices[i * perRow + j]) * dim
            let dst = o + j * dim
            var e = 0
            while e + 8 <= dim {
                UnsafeMutableRawPointer(dst + e).storeBytes(
                    of: UnsafeRawPointer(src + e).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                e += 8
            }
            while e < dim { dst[e] = src[e]; e += 1 }
        }
    }
}

public func embeddingScatterAdd(
    grad: UnsafePointer<Float>, ldg: Int, dim: Int,
    indices: UnsafePointer<Int32>, rows: Int, perRow: Int,
    table: UnsafeMutablePointer<Float>
) {
    for i in 0..<rows {
        let g = grad + i * ldg
        for j in 0..<perRow {
            let dst = table + Int(indices[i * perRow + j]) * dim
            let src = g + j * dim
            var e = 0
            while e + 8 <= dim {
                let sum = UnsafeRawPointer(dst + e).loadUnaligned(as: SIMD8<Float>.self)
                    + UnsafeRawPointer(src + e).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(dst + e).storeBytes(of: sum, as: SIMD8<Float>.self)
                e += 8
            }
            while e < dim { dst[e] += src[e]; e += 1 }
        }
    }
}
