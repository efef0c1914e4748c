import KernelSupport
// Column-wise reductions over row-major [rows × cols] buffers, cols padded to 16.
// BatchNorm needs them per shard; the partial results of all shards are then
// combined in shard order so the result does not depend on the thread count.

/// sums[c] = Σ_r x[r, c], rows in order; with `continuing` the sum goes on
/// from what `sums` holds (a block of rows after the previous block: the same
/// chain as one call over both).
public func columnSums(
    _ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int,
    into sums: UnsafeMutablePointer<Float>, continuing: Bool = false
) {
    // Four column vectors at a time (see `columnGroup`), the rest one by one.
    var j = 0
    while j + columnGroup * vecWidth <= cols {
        _columnSums(x + j, rows: rows, ld: ld, into: sums + j, continuing: continuing, vectors: columnGroup)
        j += columnGroup * vecWidth
    }
    while j < cols {
        _columnSums(x + j, rows: rows, ld: ld, into: sums + j, continuing: continuing, vectors: 1)
        j += vecWidth
    }
}

/// Column vectors that one pass of `columnSums` or `accumulateColumnMoments`
/// walks down together. Each column's sum is a chain of dependent additions,
/// one per row; walking one vector at a time, the next vector's chain starts
/// only when this one's ends (rows later, beyond the core's reorder window),
/// so the loop ran at the adder's latency. Four chains side by side keep the
/// adders busy, and every column still adds its rows in order: the same bits.
/// The group's size is the accumulator array's, so the two cannot disagree.
typealias ColumnGroupAccumulators = InlineArray<4, Vec>
let columnGroup = ColumnGroupAccumulators.count

@inline(__always)
private func _columnSums(
    _ x: UnsafePointer<Float>, rows: Int, ld: Int, into sums: UnsafeMutablePointer<Float>,
    continuing: Bool, vectors g: Int
) {
    var s = ColumnGroupAccumulators(repeating: Vec())
    if continuing { for v in 0..<g { s[v] = load(sums + v * vecWidth) } }
    for r in 0..<rows {
        for v in 0..<g { s[v] += load(x + r * ld + v * vecWidth) }
    }
    for v in 0..<g { store(s[v], sums + v * vecWidth) }
}

/// Per-column mean and M2 = Σ (x − mean)² of `rows` more rows, merged into
/// `mean`/`m2`, which hold those of the `merged` rows before them (nothing
/// when `merged` is 0). The rows go in blocks of 16 from `x`: each block's
/// moments two-pass (the block is in L1), then merged by Chan's formula, as
/// `combineMoments` merges shards. So a caller that feeds a shard's rows
/// right after computing them, in pieces of a multiple of 16 rows, gets the
/// same bits as one call over the whole shard, and never reads the shard again.
public func accumulateColumnMoments(
    _ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, merged: Int,
    mean: UnsafeMutablePointer<Float>, m2: UnsafeMutablePointer<Float>
) {
    var countA = merged
    var r0 = 0
    while r0 < rows {
        let b = min(16, rows - r0)
        let block = x + r0 * ld
        let inv = Vec(repeating: 1 / Float(b))
        let n = Float(countA + b)
        let wB = Vec(repeating: Float(b) / n)
        let wAB = Vec(repeating: Float(countA) * Float(b) / n)
        // Four column vectors at a time (see `columnGroup`), the rest one by one.
        var j = 0
        while j + columnGroup * vecWidth <= cols {
            _blockMoments(block + j, b, ld, mean + j, m2 + j, first: countA == 0, inv, wB, wAB, vectors: columnGroup)
            j += columnGroup * vecWidth
        }
        while j < cols {
            _blockMoments(block + j, b, ld, mean + j, m2 + j, first: countA == 0, inv, wB, wAB, vectors: 1)
            j += vecWidth
        }
        countA += b
        r0 += b
    }
}

/// One block of `b` ≤ 16 rows of `g` column vectors: mean and M2 two-pass,
/// merged into `mean`/`m2` (or stored, for the first block).
@inline(__always)
private func _blockMoments(
    _ block: UnsafePointer<Float>, _ b: Int, _ ld: Int, _ mean: UnsafeMutablePointer<Float>,
    _ m2: UnsafeMutablePointer<Float>, first: Bool, _ inv: Vec, _ wB: Vec, _ wAB: Vec, vectors g: Int
) {
    var s = ColumnGroupAccumulators(repeating: Vec())
    for r in 0..<b {
        for v in 0..<g { s[v] += load(block + r * ld + v * vecWidth) }
    }
    var mu = ColumnGroupAccumulators(repeating: Vec())
    for v in 0..<g { mu[v] = s[v] * inv }
    var q = ColumnGroupAccumulators(repeating: Vec())
    for r in 0..<b {
        for v in 0..<g {
            let d = load(block + r * ld + v * vecWidth) - mu[v]
            q[v].addProduct(d, d)
        }
    }
    for v in 0..<g {
        let o = v * vecWidth
        if first {
            store(mu[v], mean + o)
            store(q[v], m2 + o)
        } else {
            let ma = load(mean + o)
            let delta = mu[v] - ma
            store(ma + delta * wB, mean + o)
            store(load(m2 + o) + q[v] + delta * delta * wAB, m2 + o)
        }
    }
}

/// Merges the moments of a block of `countB` rows into a running set of
/// `countA` rows (Chan, Golub & LeVeque): exact in exact arithmetic and, unlike
/// Σx² − n·mean², free of cancellation.
public func combineMoments(
    countA: Int, meanA: UnsafeMutablePointer<Float>, m2A: UnsafeMutablePointer<Float>,
    countB: Int, meanB: UnsafePointer<Float>, m2B: UnsafePointer<Float>,
    cols: Int
) {
    let n = Float(countA + countB)
    let wB = Vec(repeating: Float(countB) / n)
    let wAB = Vec(repeating: Float(countA) * Float(countB) / n)
    var j = 0
    while j < cols {
        let ma = load(meanA + j), mb = load(meanB + j)
        let delta = mb - ma
        store(ma + delta * wB, meanA + j)
        store(load(m2A + j) + load(m2B + j) + delta * delta * wAB, m2A + j)
        j += vecWidth
    }
}

/// dst = src over `count` floats (count a multiple of 16).
public func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    dst.update(from: src, count: count)
}

/// The reducer's one pass over a slice of `length` floats (a multiple of 16):
///   sum[j] = ((g₀[j] + g₁[j]) + g₂[j]) + …   over `count` shard buffers `stride` apart
///            (continuing: ((grad[j] + g₀[j]) + g₁[j]) + …, the same fold resumed),
///   then params[j] −= lr · sum[j], or, when `params` is nil, grad[j] = sum[j].
/// Returns whether every sum[j] was finite. The shard order of the sum is
/// fixed, which is what makes the result independent of the thread count.
/// An update does not store the sum: nothing reads it after one, and at batch
/// 32 the slice is in L2, not L1, where a store costs a read for ownership
/// and a write-back, a third of the pass's traffic.
public func reduceShards(
    _ shards: UnsafePointer<Float>, stride: Int, count: Int, continuing: Bool = false,
    into grad: UnsafeMutablePointer<Float>, length: Int,
    update params: UnsafeMutablePointer<Float>?, lr: Float
) -> Bool {
    let nlr = Vec(repeating: -lr)
    var probe = Vec()
    var j = 0
    while j < length {
        var g = continuing ? load(grad + j) + load(shards + j) : load(shards + j)
        var s = 1
        while s < count { g += load(shards + s * stride + j); s += 1 }
        probe.addProduct(g, Vec())
        if let params {
            var v = load(params + j)
            v.addProduct(nlr, g)
            store(v, params + j)
        } else {
            store(g, grad + j)
        }
        j += vecWidth
    }
    return horizontalSum(probe) == 0
}

/// Whether all `count` floats (a multiple of 16) are finite: NaN and ±∞ turn
/// x·0 into NaN, which then sticks in the accumulator. One pass, no branches.
public func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    var acc = Vec()
    var j = 0
    while j < count {
        acc.addProduct(load(p + j), Vec())
        j += vecWidth
    }
    return horizontalSum(acc) == 0
}
