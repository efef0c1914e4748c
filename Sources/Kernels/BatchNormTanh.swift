import KernelSupport

// The element-wise part of BatchNorm → tanh, forward and backward, over one
// shard's rows [rows × cols] (cols padded to 16; row stride = cols). The
// column statistics and coefficients come from the engine, combined over
// every shard; these loops only apply them. Column-major order over vectors
// keeps each column's constants in registers across the rows.

/// bnraw = (act − mean)·rstd, written over `act`; h = tanh(gain·bnraw + bias).
public func batchNormTanhForward(
    act: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gain: UnsafePointer<Float>, bias: UnsafePointer<Float>
) {
    var j = 0
    while j < cols {
        let mu = load(mean + j), r = load(rstd + j), g = load(gain + j), b = load(bias + j)
        for i in 0..<rows {
            let raw = (load(act + i * cols + j) - mu) * r
            store(raw, act + i * cols + j)
            var pre = b
            pre.addProduct(g, raw)
            store(vtanh(pre), h + i * cols + j)
        }
        j += vecWidth
    }
}

/// dhpre = (1 − h²)·dh, written over `dh`; and per column, summed over the
/// rows in order: Σ dhpre (into `sumD`, the shard's dbnbias) and
/// Σ dhpre·bnraw (into `sumDRaw`, its dbngain); with `continuing`, both
/// sums go on from what they hold (see `columnSums`).
public func tanhBackward(
    dh: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>, bnraw: UnsafePointer<Float>, rows: Int, cols: Int,
    sumD: UnsafeMutablePointer<Float>, sumDRaw: UnsafeMutablePointer<Float>, continuing: Bool = false
) {
    let one = Vec(repeating: 1)
    var j = 0
    while j < cols {
        var sd = continuing ? load(sumD + j) : Vec(), sdr = continuing ? load(sumDRaw + j) : Vec()
        for i in 0..<rows {
            let o = i * cols + j
            let hv = load(h + o)
            var d = one
            d.addProduct(-hv, hv)
            d *= load(dh + o)
            store(d, dh + o)
            sd += d
            sdr.addProduct(d, load(bnraw + o))
        }
        store(sd, sumD + j)
        store(sdr, sumDRaw + j)
        j += vecWidth
    }
}

/// dhprebn = coefDh·dhpre + coefBias + coefRaw·bnraw, written over `dhpre`:
/// the fused BatchNorm backward with its batch-wide sums folded into three
/// per-column coefficients.
public func batchNormBackward(
    dhpre: UnsafeMutablePointer<Float>, bnraw: UnsafePointer<Float>, rows: Int, cols: Int,
    coefDh: UnsafePointer<Float>, coefBias: UnsafePointer<Float>, coefRaw: UnsafePointer<Float>
) {
    var j = 0
    while j < cols {
        let cd = load(coefDh + j), cb = load(coefBias + j), cr = load(coefRaw + j)
        for i in 0..<rows {
            let p = dhpre + i * cols + j
            var v = cb
            v.addProduct(cd, load(p))
            v.addProduct(cr, load(bnraw + i * cols + j))
            store(v, p)
        }
        j += vecWidth
    }
}
