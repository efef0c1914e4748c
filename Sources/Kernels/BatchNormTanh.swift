import KernelSupport

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
public func batchNormTanhForward(
    act: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gain: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    var j = 0
    while j < cols {
        let mu = load(mean + j), r = load(rstd + j), g = load(gain + j), b = load(bias + j)
        // Software-pipelined over the rows: row i + 1's normalize and exp
        // range reduction, then row i's polynomials, division and blend, so
        // that the core has two rows' independent work at hand.
        @inline(__always) func normalized(_ i: Int) -> Vec {
            var pre = b
            pre.addProduct(g, bnraw(act + i * cols + j, mu, r))
            return pre
        }
        var next = normalized(0)
        var (nextT, nextR) = _vtanhSplit(next)
        for i in 0..<rows {
            let (pre, t, rr) = (next, nextT, nextR)
            if i + 1 < rows {
                next = normalized(i + 1)
                (nextT, nextR) = _vtanhSplit(next)
            }
            store(_vtanhFinish(pre, t, rr), h + i * cols + j)
        }
        j += vecWidth
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
    let one = Vec(repeating: 1)
    var j = 0
    while j < cols {
        let mu = load(mean + j), r = load(rstd + j)
        var sd = continuing ? load(sumD + j) : Vec(), sdr = continuing ? load(sumDRaw + j) : Vec()
        for i in 0..<rows {
            let o = i * cols + j
            let hv = load(h + o)
            var d = one
            d.addProduct(-hv, hv)
            d *= load(dh + o)
            store(d, dh + o)
            sd += d
            sdr.addProduct(d, bnraw(act + o, mu, r))
        }
        store(sd, sumD + j)
        store(sdr, sumDRaw + j)
        j += vecWidth
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
