// Matrix products for the model's shapes.
//
//   gemm: C[m×n] = (C or bias or 0) + A[m×k] · B[k×n]
//
// A is addressed through two strides so the same loop serves A·B
// (aRow = lda, aCol = 1) and Aᵀ·B (aRow = 1, aCol = lda): the model needs
// hprebn = emb·W1, logits = h·W2 and dW = xᵀ·dy. The third shape, dx = dy·Wᵀ,
// is done as dy · transpose(W) (see Transpose.swift), which keeps every product
// a broadcast-FMA over rows of B; a dot-product formulation would need a
// horizontal sum per output element.
//
// n must be a multiple of 16 (rows of B and C are padded). The register block
// is 4 rows × 64 columns = 16 accumulators, enough to hide the FMA latency
// (4 cycles, one zmm FMA per cycle on Zen 4) while B's 4 vectors are reused by
// 4 rows.

/// Where the accumulators of `gemm` start.
public enum GemmInit {
    /// C = A·B
    case zero
    /// C += A·B
    case accumulate
    /// C = bias + A·B, bias broadcast over rows (length n).
    case bias(UnsafePointer<Float>)
}

public func gemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    start: GemmInit
) {
    precondition(n % vecWidth == 0, "gemm: n must be padded to 16")
    var i = 0
    while i + 4 <= m {
        var j = 0
        while j + 64 <= n {
            block4x4(i: i, j: j, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start)
            j += 64
        }
        while j < n {
            block4x1(i: i, j: j, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start)
            j += 16
        }
        i += 4
    }
    while i < m {
        var j = 0
        while j < n {
            block1x1(i: i, j: j, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start)
            j += 16
        }
        i += 1
    }
}

@inline(__always)
func initial(_ start: GemmInit, _ c: UnsafeMutablePointer<Float>, _ j: Int) -> Vec {
    switch start {
    case .zero: return Vec()
    case .accumulate: return load(c)
    case .bias(let bias): return load(bias + j)
    }
}

/// 4 rows × 4 vectors of C.
@inline(__always)
func block4x4(
    i: Int, j: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, start: GemmInit
) {
    let c0 = c + i * ldc + j, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
    var s00 = initial(start, c0, j), s01 = initial(start, c0 + 16, j + 16)
    var s02 = initial(start, c0 + 32, j + 32), s03 = initial(start, c0 + 48, j + 48)
    var s10 = initial(start, c1, j), s11 = initial(start, c1 + 16, j + 16)
    var s12 = initial(start, c1 + 32, j + 32), s13 = initial(start, c1 + 48, j + 48)
    var s20 = initial(start, c2, j), s21 = initial(start, c2 + 16, j + 16)
    var s22 = initial(start, c2 + 32, j + 32), s23 = initial(start, c2 + 48, j + 48)
    var s30 = initial(start, c3, j), s31 = initial(start, c3 + 16, j + 16)
    var s32 = initial(start, c3 + 32, j + 32), s33 = initial(start, c3 + 48, j + 48)
    var a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow
    var bp = b + j
    for _ in 0..<k {
        let b0 = load(bp), b1 = load(bp + 16), b2 = load(bp + 32), b3 = load(bp + 48)
        let x0 = Vec(repeating: a0.pointee), x1 = Vec(repeating: a1.pointee)
        let x2 = Vec(repeating: a2.pointee), x3 = Vec(repeating: a3.pointee)
        s00.addProduct(x0, b0); s01.addProduct(x0, b1); s02.addProduct(x0, b2); s03.addProduct(x0, b3)
        s10.addProduct(x1, b0); s11.addProduct(x1, b1); s12.addProduct(x1, b2); s13.addProduct(x1, b3)
        s20.addProduct(x2, b0); s21.addProduct(x2, b1); s22.addProduct(x2, b2); s23.addProduct(x2, b3)
        s30.addProduct(x3, b0); s31.addProduct(x3, b1); s32.addProduct(x3, b2); s33.addProduct(x3, b3)
        a0 += aCol; a1 += aCol; a2 += aCol; a3 += aCol
        bp += ldb
    }
    store(s00, c0); store(s01, c0 + 16); store(s02, c0 + 32); store(s03, c0 + 48)
    store(s10, c1); store(s11, c1 + 16); store(s12, c1 + 32); store(s13, c1 + 48)
    store(s20, c2); store(s21, c2 + 16); store(s22, c2 + 32); store(s23, c2 + 48)
    store(s30, c3); store(s31, c3 + 16); store(s32, c3 + 32); store(s33, c3 + 48)
}

/// 4 rows × 1 vector of C: the column tail when n is not a multiple of 64.
@inline(__always)
func block4x1(
    i: Int, j: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, start: GemmInit
) {
    let c0 = c + i * ldc + j, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
    var s0 = initial(start, c0, j), s1 = initial(start, c1, j)
    var s2 = initial(start, c2, j), s3 = initial(start, c3, j)
    var a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow
    var bp = b + j
    for _ in 0..<k {
        let bv = load(bp)
        s0.addProduct(Vec(repeating: a0.pointee), bv)
        s1.addProduct(Vec(repeating: a1.pointee), bv)
        s2.addProduct(Vec(repeating: a2.pointee), bv)
        s3.addProduct(Vec(repeating: a3.pointee), bv)
        a0 += aCol; a1 += aCol; a2 += aCol; a3 += aCol
        bp += ldb
    }
    store(s0, c0); store(s1, c1); store(s2, c2); store(s3, c3)
}

/// 1 row × 1 vector of C: the row tail when m is not a multiple of 4.
@inline(__always)
func block1x1(
    i: Int, j: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, start: GemmInit
) {
    let c0 = c + i * ldc + j
    // Two accumulators over alternating k halve the FMA dependency chain.
    var s0 = initial(start, c0, j), s1 = Vec()
    var ap = a + i * aRow
    var bp = b + j
    var p = 0
    while p + 2 <= k {
        s0.addProduct(Vec(repeating: ap.pointee), load(bp))
        s1.addProduct(Vec(repeating: (ap + aCol).pointee), load(bp + ldb))
        ap += 2 * aCol; bp += 2 * ldb; p += 2
    }
    if p < k { s0.addProduct(Vec(repeating: ap.pointee), load(bp)) }
    store(s0 + s1, c0)
}
