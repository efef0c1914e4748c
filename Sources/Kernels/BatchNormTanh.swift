import KernelSupport
import _KernelsShim

// The element-wise part of BatchNorm → tanh, forward and backward, over one
// tile of rows [rows × cols] (cols padded to 16; row stride = cols). The
// column statistics and coefficients come from the engine, combined over
// every shard; these loops only apply them. Column-major order over vectors
// keeps each column's constants in registers across the rows.
//
// None of them stores bnraw = (act − mean)·rstd: each recomputes it from the
// pre-BatchNorm activation `act` by that same expression, so it is the same
// bits in all three, and `act`, which phase 1 wrote for the whole batch, is
// only read afterwards. At large batches these arrays live in DRAM, not in a
// cache, and writing bnraw back over them cost a write-back of every line.

@inline(__always)
func bnraw(_ act: UnsafePointer<Float>, _ mean: Vec, _ rstd: Vec) -> Vec { (load(act) - mean) * rstd }

/// h = tanh(gain·bnraw + bias), bnraw = (act − mean)·rstd.
///
/// Two column vectors go side by side through each row iteration: the tanh
/// is bound by its dependency chain (~60 cycles from `act` to `h`), not by a
/// port, and a second independent vector in program order fills the wait
/// (9-10% faster per 224 × 64 tile on a Zen 5 with AVX-512, no slower with
/// AVX2). Each element's operations are the same either way.
public func batchNormTanhForward(
    act: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gain: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    @inline(__always) func column(_ j: Int) -> _BatchNormColumn {
        _BatchNormColumn(act: act + j, cols: cols, mean: load(mean + j), rstd: load(rstd + j), gain: load(gain + j), bias: load(bias + j))
    }
    var j = 0
    while j + 2 * vecWidth <= cols {
        _batchNormTanhRows(column(j), column(j + vecWidth), h + j, rows, cols, pair: true)
        j += 2 * vecWidth
    }
    while j < cols {
        _batchNormTanhRows(column(j), column(j), h + j, rows, cols, pair: false)
        j += vecWidth
    }
}

/// One column vector of the tile and its BatchNorm constants.
private struct _BatchNormColumn {
    let act: UnsafePointer<Float>, cols: Int
    let mean: Vec, rstd: Vec, gain: Vec, bias: Vec

    /// gain·bnraw + bias of row i.
    @inline(__always) func normalized(_ i: Int) -> Vec {
        var pre = bias
        pre.addProduct(gain, bnraw(act + i * cols, mean, rstd))
        return pre
    }
}

/// tanh of column `a` (and, with `pair`, of column `b`, whose h is 16 floats
/// further) over the rows, software-pipelined: row i + 1's normalize and exp
/// range reduction, then row i's polynomials, division and blend.
@inline(__always)
private func _batchNormTanhRows(_ a: _BatchNormColumn, _ b: _BatchNormColumn, _ h: UnsafeMutablePointer<Float>,
                                _ rows: Int, _ cols: Int, pair: Bool) {
    var nextA = a.normalized(0), nextB = pair ? b.normalized(0) : Vec()
    var (tA, rA) = _vtanhSplit(nextA), (tB, rB) = pair ? _vtanhSplit(nextB) : (Vec(), Vec())
    for i in 0..<rows {
        let (preA, tA0, rA0, preB, tB0, rB0) = (nextA, tA, rA, nextB, tB, rB)
        if i + 1 < rows {
            nextA = a.normalized(i + 1)
            (tA, rA) = _vtanhSplit(nextA)
            if pair {
                nextB = b.normalized(i + 1)
                (tB, rB) = _vtanhSplit(nextB)
            }
        }
        store(_vtanhFinish(preA, tA0, rA0), h + i * cols)
        if pair { store(_vtanhFinish(preB, tB0, rB0), h + i * cols + vecWidth) }
    }
}

/// dhpre = (1 − h²)·dh, written over `dh`; and per column, summed over the
/// rows in order: Σ dhpre (into `sumD`, the shard's dbnbias) and
/// Σ dhpre·bnraw (into `sumDRaw`, its dbngain); with `continuing`, both
/// sums go on from what they hold (see `columnSums`).
public func tanhBackward(
    dh: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>, act: UnsafePointer<Float>, rows: Int, cols: Int,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    sumD: UnsafeMutablePointer<Float>, sumDRaw: UnsafeMutablePointer<Float>, continuing: Bool = false
) {
    // Column groups as in `columnSums`: one column's sums are a chain of
    // dependent adds and FMAs down the rows (4 cycles a row), so a group of
    // columns side by side keeps several chains going. Each sum still adds
    // its rows in order. Two sums a column: a group of 4 takes 8 of AVX-512's
    // 32 registers (Zen 5: 20% faster per 224 × 64 tile than one column at a
    // time). With AVX2 a SIMD16 is two registers, so one column already runs
    // four chains, and groups of 4 or 2 measured 14-29% slower (spills).
    var j = 0
    while mm_vector_registers() >= 32 && j + columnGroup * vecWidth <= cols {
        _tanhBackwardGroup(dh + j, h + j, act + j, rows, cols, mean + j, rstd + j, sumD + j, sumDRaw + j, continuing)
        j += columnGroup * vecWidth
    }
    // One column at a time (plain variables: through an InlineArray of one
    // the AVX2 loop ran 10% slower).
    while j < cols {
        let mu = load(mean + j), r = load(rstd + j)
        var sd = continuing ? load(sumD + j) : Vec(), sdr = continuing ? load(sumDRaw + j) : Vec()
        for i in 0..<rows {
            let o = i * cols + j
            let d = _tanhGradient(dh + o, h + o)
            sd += d
            sdr.addProduct(d, bnraw(act + o, mu, r))
        }
        store(sd, sumD + j)
        store(sdr, sumDRaw + j)
        j += vecWidth
    }
}

/// dhpre = (1 − h²)·dh of one vector, stored over dh and returned.
@inline(__always)
private func _tanhGradient(_ dh: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>) -> Vec {
    let hv = load(h)
    var d = Vec(repeating: 1)
    d.addProduct(-hv, hv)
    d *= load(dh)
    store(d, dh)
    return d
}

/// `columnGroup` columns side by side (see `tanhBackward`).
@inline(__always)
private func _tanhBackwardGroup(
    _ dh: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>, _ act: UnsafePointer<Float>, _ rows: Int, _ cols: Int,
    _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
    _ sumD: UnsafeMutablePointer<Float>, _ sumDRaw: UnsafeMutablePointer<Float>, _ continuing: Bool
) {
    let g = columnGroup
    var sd = ColumnGroupAccumulators(repeating: Vec()), sdr = ColumnGroupAccumulators(repeating: Vec())
    if continuing {
        for v in 0..<g {
            sd[v] = load(sumD + v * vecWidth)
            sdr[v] = load(sumDRaw + v * vecWidth)
        }
    }
    for i in 0..<rows {
        for v in 0..<g {
            let o = i * cols + v * vecWidth
            let d = _tanhGradient(dh + o, h + o)
            sd[v] += d
            // Not `sdr[v].addProduct`: mutating an InlineArray element in
            // place compiled to a lane-by-lane loop through the stack.
            sdr[v] = sdr[v].addingProduct(d, bnraw(act + o, load(mean + v * vecWidth), load(rstd + v * vecWidth)))
        }
    }
    for v in 0..<g {
        store(sd[v], sumD + v * vecWidth)
        store(sdr[v], sumDRaw + v * vecWidth)
    }
}

/// dhprebn = coefDh·dhpre + coefBias + coefRaw·bnraw: the fused BatchNorm
/// backward with its batch-wide sums folded into three per-column
/// coefficients. Into `dhprebn`, a tile of scratch, so that `dhpre`, like
/// `act`, is only read (no write-back of the batch-sized array).
public func batchNormBackward(
    dhpre: UnsafePointer<Float>, act: UnsafePointer<Float>, dhprebn: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    coefDh: UnsafePointer<Float>, coefBias: UnsafePointer<Float>, coefRaw: UnsafePointer<Float>
) {
    for i in 0..<rows {
        var j = 0
        while j < cols {
            let o = i * cols + j
            var v = load(coefBias + j)
            v.addProduct(load(coefDh + j), load(dhpre + o))
            v.addProduct(load(coefRaw + j), bnraw(act + o, load(mean + j), load(rstd + j)))
            store(v, dhprebn + o)
            j += vecWidth
        }
    }
}
