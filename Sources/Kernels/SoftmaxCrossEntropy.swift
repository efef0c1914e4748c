import KernelSupport
import _KernelsShim

// Fused softmax + cross-entropy forward and backward.
//
//   loss_i    = log Σ_v exp(z_iv − m_i) − (z_{i,y_i} − m_i),   m_i = max_v z_iv
//   dlogits   = (softmax(z) − onehot(y)) · scale        (scale = 1/n for a mean)
//
// The notebook's exercise 2: one pass gives both the loss and its gradient, so the
// probabilities are never stored separately. Columns ≥ `valid` are row padding:
// they are masked to −∞ so they get probability 0 and a zero gradient.
//
// Rows go in blocks of 16 so that every per-row scalar step is one vector
// operation with row i of the block in lane i:
// * the row maxima and row sums: each row is first reduced lane-wise over its
//   vectors into one vector of 16 partials (as before), and the 16 partial
//   vectors of a block are then reduced together by one shuffle tree
//   (`mm_reduce_max16x16` / `mm_reduce_add16x16`): ~15 vector operations and
//   ~30 shuffles per block instead of 16 separate horizontal reductions;
// * log and the reciprocal scale/sum: one `vlog` and one vector division per
//   block instead of 16 libm `logf` calls and 16 scalar divisions.
// The exp itself stays lane-wise over each row's columns (the data is row-major,
// so that needs no transposition), and all three passes over a block's rows
// (max, exp + sum, scale) run while the block is in L1.
//
// The exp is `_vexpFlushToZero` (VectorMath.swift): `vexp`'s bits for every
// normal result, but results below 2^-126 (z − m < −87.3) become 0 and no lane
// ever multiplies into the subnormal range. The former version went through
// exp(−∞ → −104.5) for every padding lane, and each such underflowing multiply
// takes a microcode assist (~150 cycles on Intel: most of its time there).
//
// Bits: the tree adds and compares in exactly the order of `horizontalSum` /
// `horizontalMax`, so the row sums, and with them every dlogit, are bit for bit
// those of the former row-by-row version (except lanes whose exp was
// subnormal, now 0; and rows with a NaN logit, NaN in either version, since
// `vmax` no longer skips NaNs); the loss changes by `vlog` against libm's
// `logf` (both within 1 ULP). Nothing depends on the ISA (only lane-wise
// operations and fixed shuffles) or on where the 16-row blocks start beyond
// the rows themselves: a row's results depend on that row only.
//
// The returned loss is Σ_i Double(loss_i) in row order 0, 1, …, rows − 1
// (each row's Float loss converted to Double and added in turn), the same
// order as before.

/// Overwrites `logits` [rows × ld] with dlogits and returns Σ_i loss_i.
/// `targets` must be in 0..<valid (the caller validates user data); `ld` must be
/// a multiple of 16 and 1 ≤ valid ≤ ld. Columns valid..<ld come back as +0.
public func softmaxCrossEntropy(
    logits: UnsafeMutablePointer<Float>, rows: Int, valid: Int, ld: Int,
    targets: UnsafePointer<Int32>, scale: Float
) -> Double {
    assert(ld % vecWidth == 0 && valid >= 1 && valid <= ld, "softmaxCrossEntropy: bad valid \(valid) / ld \(ld)")
    let vectors = ld / vecWidth                   // vectors per row
    let used = (valid + vecWidth - 1) / vecWidth  // those holding valid columns
    let last = used - 1
    // Padding inside the last used vector: adding −∞ masks it without a
    // compare per row. Vectors after it are all padding and only get zeros.
    // For the exp pass the padding lanes are instead zeroed by a bit mask
    // before and after the exp: exp(−∞) would go through a result below the
    // subnormal range (vexp clamps to −104.5), and every such multiply costs a
    // microcode assist (~150 cycles on Intel, tens on Zen) unless FTZ is set.
    var tailMask = Vec()
    var keep = SIMD16<UInt32>(repeating: ~0)
    for lane in 0..<vecWidth where last * vecWidth + lane >= valid {
        tailMask[lane] = -.infinity
        keep[lane] = 0
    }

    // The common shapes get their own copy of the loops with `used` a
    // constant, so that the per-row vector loops are straight-line code. The
    // width is a type (`_RowWidth`), not an Int argument: with three calls
    // that differ only in a constant argument, the optimizer merged them into
    // one out-of-line call with `used` a variable again.
    // Scratch on the stack: a 16 × 16 tile of row partials, and the block's
    // m, z_y, scale/sum and loss lanes. A fixed-size array, not
    // withUnsafeTemporaryAllocation: for 1280 bytes that asks the runtime
    // whether the stack has room and, on a worker thread, fell back to malloc
    // and free on every call.
    var scratch = InlineArray<320, Float>(repeating: 0)
    return withUnsafeMutablePointer(to: &scratch) { $0.withMemoryRebound(to: Float.self, capacity: 320) { tile in
        switch used {
        case 1: return _softmaxCrossEntropyBlocks(_OneVector.self, logits, rows, ld, targets, scale, used, vectors, tailMask, keep, tile)
        case 2: return _softmaxCrossEntropyBlocks(_TwoVectors.self, logits, rows, ld, targets, scale, used, vectors, tailMask, keep, tile)
        default: return _softmaxCrossEntropyBlocks(_AnyVectors.self, logits, rows, ld, targets, scale, used, vectors, tailMask, keep, tile)
        }
    } }
}

/// The number of vectors of a row that hold valid columns, when it is fixed.
private protocol _RowWidth { static var used: Int? { get } }
private enum _OneVector: _RowWidth { static var used: Int? { 1 } }
private enum _TwoVectors: _RowWidth { static var used: Int? { 2 } }
private enum _AnyVectors: _RowWidth { static var used: Int? { nil } }

@inline(__always)
private func _softmaxCrossEntropyBlocks<W: _RowWidth>(
    _ width: W.Type, _ logits: UnsafeMutablePointer<Float>, _ rows: Int, _ ld: Int,
    _ targets: UnsafePointer<Int32>, _ scale: Float, _ usedAtRunTime: Int, _ vectors: Int,
    _ tailMask: Vec, _ keep: SIMD16<UInt32>, _ tile: UnsafeMutablePointer<Float>
) -> Double {
    let used = W.used ?? usedAtRunTime
    let last = used - 1
    // Column numbers of a row's first vector, for the one-hot: a Float
    // compare and a select, where a scalar `z[y] -= scale` after the vector
    // stores stalled on reading back a just-stored vector.
    var columns = Vec()
    for lane in 0..<vecWidth { columns[lane] = Float(lane) }
    let rowScalars = tile + 16 * 16
    let mOut = rowScalars, zyOut = rowScalars + 16, invOut = rowScalars + 32, lossOut = rowScalars + 48
    var total = 0.0
    var i0 = 0
    while i0 < rows {
        let n = min(16, rows - i0)
        let block = logits + i0 * ld
        // Rows n..<16 of a last, short block: neutral partials (max 0, sum 1)
        // so that their lanes stay finite; their results are not used.
        if n < 16 { for r in n..<16 { store(Vec(), tile + r * 16) } }

        // Pass 1: row maxima, lane i = m_i.
        for r in 0..<n {
            let z = block + r * ld
            var mx = load(z + last * vecWidth) + tailMask
            for k in 0..<last { mx = vmax(mx, load(z + k * vecWidth)) }
            store(mx, tile + r * 16)
        }
        let m = mm_reduce_max16x16(tile)
        store(m, mOut)
        // z_{i,y_i}, read before pass 2 overwrites it. Through memory and one
        // vector load: inserting lanes into a SIMD16 one by one compiles to
        // a store/reload of the whole vector per lane (store-forwarding stalls).
        for r in 0..<n { zyOut[r] = block[r * ld + Int(targets[i0 + r])] }
        if n < 16 { for r in n..<16 { zyOut[r] = 0 } }
        let zy = load(zyOut)

        // Pass 2: e = exp(z − m_i) in place, and the row sums, software-
        // pipelined: row r + 1's range reductions before row r's polynomials
        // (see `_SplitRow`). (Two rows per iteration without the split, so
        // that their exps interleave, measured no faster.)
        var next = _SplitRow(block, mOut[0], used: used, keep)
        for r in 0..<n {
            let current = next
            if r + 1 < n { next = _SplitRow(block + (r + 1) * ld, mOut[r + 1], used: used, keep) }
            store(current.finish(block + r * ld, mOut[r], used: used, keep), tile + r * 16)
        }
        if n < 16 { for r in n..<16 { store(Vec(repeating: 1), tile + r * 16) } }
        let sum = mm_reduce_add16x16(tile)
        store(Vec(repeating: scale) / sum, invOut)
        store(vlog(sum) - (zy - m), lossOut)

        // Pass 3: softmax · scale minus the one-hot · scale (the same two
        // roundings as scaling the row and then `z[y] -= scale`; x − 0 is x),
        // zero the padding vectors; the losses in row order.
        for r in 0..<n {
            let z = block + r * ld
            let inv = Vec(repeating: invOut[r])
            let y = Vec(repeating: Float(targets[i0 + r]))
            for k in 0...last {
                let hot = Vec().replacing(with: scale, where: columns + Vec(repeating: Float(k * vecWidth)) .== y)
                store(load(z + k * vecWidth) * inv - hot, z + k * vecWidth)
            }
            for k in used..<vectors { store(Vec(), z + k * vecWidth) }
            total += Double(lossOut[r])
        }
        i0 += 16
    }
    return total
}

/// A row halfway through pass 2: the range reductions
/// (`_vexpFlushToZeroSplit`) of its first and its last vector, the last one's
/// padding lanes masked to +0 by `keep`.
///
/// The exp is a chain of ~48 cycles of latency, and the core's scheduler
/// holds only a few vectors' worth of waiting work: row by row the exp pass
/// ran at about twice its FMA ports' bound. Reducing row r + 1 before row r
/// is finished gives the second halves inputs that are long ready (7% faster
/// on AVX2 in spite of spills: 16 ymm registers hold two rows in flight
/// badly; AVX-512 has 32). Middle vectors (rows of more than 32 columns) go
/// unsplit in `finish`.
private struct _SplitRow {
    var t0 = Vec(), r0 = Vec(), tLast = Vec(), rLast = Vec()

    @inline(__always)
    init(_ z: UnsafeMutablePointer<Float>, _ m: Float, used: Int, _ keep: SIMD16<UInt32>) {
        let last = used - 1, vm = Vec(repeating: m)
        (tLast, rLast) = _vexpFlushToZeroSplit(_vmFloat(_vmBits(load(z + last * vecWidth) - vm) & keep))
        if last > 0 { (t0, r0) = _vexpFlushToZeroSplit(load(z) - vm) }
    }

    /// Stores e = exp(z − m) over the row's `used` vectors and returns their
    /// lane-wise sum in vector order. The sum starts from the first vector's
    /// e, not from 0 + e: the same bits (e ≥ +0), one addition less per row.
    @inline(__always)
    func finish(_ z: UnsafeMutablePointer<Float>, _ m: Float, used: Int, _ keep: SIMD16<UInt32>) -> Vec {
        let last = used - 1
        let eLast = _vmFloat(_vmBits(_vexpFlushToZeroFinish(tLast, rLast)) & keep)
        store(eLast, z + last * vecWidth)
        guard last > 0 else { return eLast }
        var s = _vexpFlushToZeroFinish(t0, r0)
        store(s, z)
        let vm = Vec(repeating: m)
        for k in 1..<last {
            let e = _vexpFlushToZero(load(z + k * vecWidth) - vm)
            store(e, z + k * vecWidth)
            s += e
        }
        return s + eLast
    }
}
