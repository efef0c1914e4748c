import KernelSupport
// The embedding table lookup and its gradient.
//
//   gather:  emb[i, j·E ..< (j+1)·E] = table[idx[i, j], :]
//   scatter: dtable[idx[i, j], :] += demb[i, j·E ..< (j+1)·E]
//
// E is small (10) and not padded, so a row piece is a few vector moves, and
// what costs is the loop around them: with E unknown the compiler emits a
// vector loop, a runtime overlap check and a scalar tail per piece (~10
// cycles each). So the body is written once for a constant E, in pieces of
// 8, 4, 2 and 1 floats, and the common widths get their own straight-line
// copy of it; any other E takes the same body with E at run time. The
// scatter adds each element in the same (row, piece) order whichever copy
// runs, so the sums are the same bits.

public func embeddingGather(
    table: UnsafePointer<Float>, dim: Int,
    indices: UnsafePointer<Int32>, rows: Int, perRow: Int,
    out: UnsafeMutablePointer<Float>, ldo: Int
) {
    let table = UnsafeMutablePointer(mutating: table)  // only read: `add` is false
    switch dim {
    case 10: _embeddingRows(table, dim: 10, indices, rows, perRow, out, ldo, add: false)
    case 16: _embeddingRows(table, dim: 16, indices, rows, perRow, out, ldo, add: false)
    default: _embeddingRows(table, dim: dim, indices, rows, perRow, out, ldo, add: false)
    }
}

public func embeddingScatterAdd(
    grad: UnsafePointer<Float>, ldg: Int, dim: Int,
    indices: UnsafePointer<Int32>, rows: Int, perRow: Int,
    table: UnsafeMutablePointer<Float>
) {
    let grad = UnsafeMutablePointer(mutating: grad)  // only read: `add` is true
    switch dim {
    case 10: _embeddingRows(table, dim: 10, indices, rows, perRow, grad, ldg, add: true)
    case 16: _embeddingRows(table, dim: 16, indices, rows, perRow, grad, ldg, add: true)
    default: _embeddingRows(table, dim: dim, indices, rows, perRow, grad, ldg, add: true)
    }
}

/// For every row i and piece j: `add` false copies table row idx[i, j] into
/// the row piece of `out`; `add` true adds the row piece into that table row.
@inline(__always)
private func _embeddingRows(
    _ table: UnsafeMutablePointer<Float>, dim: Int, _ indices: UnsafePointer<Int32>, _ rows: Int, _ perRow: Int,
    _ out: UnsafeMutablePointer<Float>, _ ldo: Int, add: Bool
) {
    for i in 0..<rows {
        for j in 0..<perRow {
            let t = UnsafeMutableRawPointer(table + Int(indices[i * perRow + j]) * dim)
            let o = UnsafeMutableRawPointer(out + i * ldo + j * dim)
            var e = 0
            while e + 8 <= dim { _move(SIMD8<Float>.self, t, o, e, add: add); e += 8 }
            if e + 4 <= dim { _move(SIMD4<Float>.self, t, o, e, add: add); e += 4 }
            if e + 2 <= dim { _move(SIMD2<Float>.self, t, o, e, add: add); e += 2 }
            if e < dim {  // one float
                let p = t.assumingMemoryBound(to: Float.self) + e, q = o.assumingMemoryBound(to: Float.self) + e
                if add { p.pointee += q.pointee } else { q.pointee = p.pointee }
            }
        }
    }
}

/// One piece of `V` at float offset `e`: table → row, or table += row.
@inline(__always)
private func _move<V: SIMD>(_: V.Type, _ t: UnsafeMutableRawPointer, _ o: UnsafeMutableRawPointer, _ e: Int, add: Bool)
where V.Scalar == Float {
    if add {
        let sum = t.loadUnaligned(fromByteOffset: 4 * e, as: V.self) + o.loadUnaligned(fromByteOffset: 4 * e, as: V.self)
        t.storeBytes(of: sum, toByteOffset: 4 * e, as: V.self)
    } else {
        o.storeBytes(of: t.loadUnaligned(fromByteOffset: 4 * e, as: V.self), toByteOffset: 4 * e, as: V.self)
    }
}

/// sums[idx[i, j], j, :] += rows[i, :] for every row i, and position j in
/// order: per (token, position) the sum of the rows whose context has that
/// token there. `sums` is [V × perRow × cols], `rows` [count × cols], cols a
/// multiple of 16.
///
/// The engine's folded embedding gradient (dW1 = Cᵀ·sums, dC = sums·W1ᵀ per
/// position): a shard's rows collapse onto V·B sums, so the two products
/// with the batch's rows in them become products with V rows.
public func embeddingRowSums(
    _ rows: UnsafePointer<Float>, count: Int, cols: Int,
    indices: UnsafePointer<Int32>, perRow: Int, sums: UnsafeMutablePointer<Float>
) {
    for i in 0..<count {
        let src = rows + i * cols
        for j in 0..<perRow {
            let dst = sums + (Int(indices[i * perRow + j]) * perRow + j) * cols
            var c = 0
            while c < cols {
                store(load(dst + c) + load(src + c), dst + c)
                c += vecWidth
            }
        }
    }
}

/// out[i, :] = Σⱼ tables[j, idx[i, j], :], j in order: the folded forward's
/// hprebn, each table Tⱼ [V × cols] being C·W1ⱼ (the first with b1 in it).
/// `tables` is [perRow × vocab × cols], cols a multiple of 16.
public func tokenTableSums(
    _ tables: UnsafePointer<Float>, vocab: Int, cols: Int,
    indices: UnsafePointer<Int32>, perRow: Int, rows: Int,
    out: UnsafeMutablePointer<Float>, ldo: Int
) {
    // Block size 3 (the default) with the three table rows' addresses taken
    // once per row: with the loop over j inside, each vector reloaded the
    // context and recomputed them. The same sums in the same order.
    for i in 0..<rows {
        let context = indices + i * perRow
        let dst = out + i * ldo
        let t0 = tables + Int(context[0]) * cols
        var c = 0
        if perRow == 3 {
            let t1 = tables + (vocab + Int(context[1])) * cols, t2 = tables + (2 * vocab + Int(context[2])) * cols
            while c < cols {
                store(load(t0 + c) + load(t1 + c) + load(t2 + c), dst + c)
                c += vecWidth
            }
            continue
        }
        while c < cols {
            var sum = load(t0 + c)
            for j in 1..<perRow { sum += load(tables + (j * vocab + Int(context[j])) * cols + c) }
            store(sum, dst + c)
            c += vecWidth
        }
    }
}
