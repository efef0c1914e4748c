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
/// token there. `sums` is [vocab·perRow × cols] in column blocks
/// (`ColumnBlocks`; row v·perRow + j is token v at position j), `rows`
/// [count × cols], cols a multiple of 16.
///
/// The engine's folded embedding gradient (dW1 = Cᵀ·sums, dC = sums·W1ᵀ per
/// position): a shard's rows collapse onto V·B sums, so the two products
/// with the batch's rows in them become products with V rows.
public func embeddingRowSums(
    _ rows: UnsafePointer<Float>, count: Int, cols: Int,
    indices: UnsafePointer<Int32>, vocab: Int, perRow: Int, sums: UnsafeMutablePointer<Float>
) {
    // Block by block: each sum gets the rows in row order whatever the blocks.
    var c0 = 0
    while c0 < cols {
        let w = ColumnBlocks.width(at: c0, cols: cols)
        let block = sums + c0 * vocab * perRow
        if w == ColumnBlocks.width && perRow == 3 {
            _addRows(rows + c0, ld: cols, count: count, indices: indices, perRow: 3, into: block, width: ColumnBlocks.width)
        } else if w == ColumnBlocks.width {
            _addRows(rows + c0, ld: cols, count: count, indices: indices, perRow: perRow, into: block, width: ColumnBlocks.width)
        } else {
            _addRows(rows + c0, ld: cols, count: count, indices: indices, perRow: perRow, into: block, width: w)
        }
        c0 += w
    }
}

/// One column block of `embeddingRowSums`; inlined with `width` (and for
/// block size 3, `perRow`) a constant, so a row's adds are straight-line code.
@inline(__always)
private func _addRows(_ rows: UnsafePointer<Float>, ld: Int, count: Int, indices: UnsafePointer<Int32>, perRow: Int,
                      into block: UnsafeMutablePointer<Float>, width w: Int) {
    for i in 0..<count {
        let src = rows + i * ld
        let context = indices + i * perRow
        for j in 0..<perRow {
            let dst = block + (Int(context[j]) * perRow + j) * w
            var c = 0
            while c < w {
                store(load(dst + c) + load(src + c), dst + c)
                c += vecWidth
            }
        }
    }
}

/// out[i, :] = Σⱼ tables[j, idx[i, j], :], j in order: the folded forward's
/// hprebn, each table Tⱼ [V × cols] being C·W1ⱼ (the first with b1 in it).
/// `tables` is [perRow·vocab × cols] in column blocks (`ColumnBlocks`; row
/// j·vocab + v is Tⱼ's row v), cols a multiple of 16.
public func tokenTableSums(
    _ tables: UnsafePointer<Float>, vocab: Int, cols: Int,
    indices: UnsafePointer<Int32>, perRow: Int, rows: Int,
    out: UnsafeMutablePointer<Float>, ldo: Int
) {
    // The same sums in the same order, whatever the blocks. Block size 3
    // (the default) and full blocks get straight-line rows.
    var c0 = 0
    while c0 < cols {
        let w = ColumnBlocks.width(at: c0, cols: cols)
        let block = tables + c0 * vocab * perRow
        let dst = out + c0
        if perRow == 3 && w == ColumnBlocks.width {
            _sumRows3(block, vocab: vocab, indices: indices, rows: rows, out: dst, ldo: ldo, width: ColumnBlocks.width)
        } else if perRow == 3 {
            _sumRows3(block, vocab: vocab, indices: indices, rows: rows, out: dst, ldo: ldo, width: w)
        } else {
            for i in 0..<rows {
                let context = indices + i * perRow
                var c = 0
                while c < w {
                    var sum = load(block + Int(context[0]) * w + c)
                    for j in 1..<perRow { sum += load(block + (j * vocab + Int(context[j])) * w + c) }
                    store(sum, dst + i * ldo + c)
                    c += vecWidth
                }
            }
        }
        c0 += w
    }
}

/// One column block of `tokenTableSums` for block size 3: the three
/// tables' rows' addresses taken once per row.
@inline(__always)
private func _sumRows3(_ block: UnsafePointer<Float>, vocab: Int, indices: UnsafePointer<Int32>, rows: Int,
                       out: UnsafeMutablePointer<Float>, ldo: Int, width w: Int) {
    let (t0, t1, t2) = (block, block + vocab * w, block + 2 * vocab * w)
    for i in 0..<rows {
        let context = indices + 3 * i
        let (a, b, c) = (t0 + Int(context[0]) * w, t1 + Int(context[1]) * w, t2 + Int(context[2]) * w)
        let dst = out + i * ldo
        var o = 0
        while o < w {
            store(load(a + o) + load(b + o) + load(c + o), dst + o)
            o += vecWidth
        }
    }
}
