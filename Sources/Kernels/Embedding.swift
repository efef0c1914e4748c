// The embedding table lookup and its gradient.
//
//   gather:  emb[i, j·E ..< (j+1)·E] = table[idx[i, j], :]
//   scatter: dtable[idx[i, j], :] += demb[i, j·E ..< (j+1)·E]
//
// E is small (10) and not padded, so these are scalar loops; they move
// ~1 k floats per step and are not worth vectorizing.

public func embeddingGather(
    table: UnsafePointer<Float>, dim: Int,
    indices: UnsafePointer<Int32>, rows: Int, perRow: Int,
    out: UnsafeMutablePointer<Float>, ldo: Int
) {
    for i in 0..<rows {
        let o = out + i * ldo
        for j in 0..<perRow {
            let t = table + Int(indices[i * perRow + j]) * dim
            let oj = o + j * dim
            for e in 0..<dim { oj[e] = t[e] }
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
            let t = table + Int(indices[i * perRow + j]) * dim
            let gj = g + j * dim
            for e in 0..<dim { t[e] += gj[e] }
        }
    }
}
