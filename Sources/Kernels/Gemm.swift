import KernelSupport

// Matrix products for the model's shapes.
//
//   gemm: C[m×n] = (C, bias or 0) + A[m×k] · B[k×n]
//
// A is addressed through two strides so the same loop serves A·B
// (aRow = lda, aCol = 1) and Aᵀ·B (aRow = 1, aCol = lda): the model needs
// hprebn = emb·W1, logits = h·W2 and dW = xᵀ·dy. The third shape, dx = dy·Wᵀ,
// is done as dy · transpose(W) (see Transpose.swift), which keeps every product
// a broadcast-FMA over rows of B; a dot-product formulation would need a
// horizontal sum per output element.
//
// n must be a multiple of 16 (rows of B and C are padded). C is covered by
// tiles of `tile.rows` × `tile.vectors` (GemmTile); the edges by narrower or
// shorter tiles of the same kind, and a long k in blocks that stay in the L2.
// Every tile runs one FMA chain per output in k order, so neither the tiling
// nor the blocks change a bit.

public func gemm(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    start: GemmInit, tile: GemmTile
) {
    // Every tile reads all k rows of B, and for Aᵀ·B a column block of all k
    // rows of A. Where those rows outgrow a small L2 (dW2 = hᵀ·dlogits over 512
    // rows at H 256 reads 576 KB; a Zen 3 core has 512 KB) every tile fetches
    // them again from L3. So a product runs in blocks of k rows that stay in
    // the L2, each block continuing every output's chain where the last one
    // stored it: the same chain, bit for bit.
    let kBlock = gemmKBlock(ldb: ldb, aRow: aRow, aCol: aCol)
    var k0 = 0
    var first = start
    while k - k0 > kBlock {
        gemmPanel(m: m, n: n, k: kBlock, a: a + k0 * aCol, aRow: aRow, aCol: aCol, b: b + k0 * ldb, ldb: ldb,
                  c: c, ldc: ldc, start: first, tile: tile)
        k0 += kBlock
        first = .accumulate
    }
    gemmPanel(m: m, n: n, k: k - k0, a: a + k0 * aCol, aRow: aRow, aCol: aCol, b: b + k0 * ldb, ldb: ldb,
              c: c, ldc: ldc, start: first, tile: tile)
}

/// The rows of A and B that one block of k reads, at most: a quarter of
/// Zen 3's 512 KB L2, half of the 256 KB of older client cores.
public let gemmKBlockBytes = 128 * 1024

/// The most k rows `gemm` runs in one block, for these strides: B's rows,
/// and for Aᵀ·B (aRow 1) A's too, within `gemmKBlockBytes`; 16 at least.
public func gemmKBlock(ldb: Int, aRow: Int, aCol: Int) -> Int {
    max(16, gemmKBlockBytes / (4 * (ldb + (aRow == 1 ? aCol : 0))))
}

/// One block of k of `gemm`: its tiles over the whole of C.
func gemmPanel(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRow: Int, aCol: Int,
    b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    start: GemmInit, tile: GemmTile
) {
    let p = GemmOperands(k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, start: start)
    switch (tile.rows, tile.vectors) {
    case (4, 4): Tiling<4, 4>.run(m: m, n: n, p)
    case (6, 4): Tiling<6, 4>.run(m: m, n: n, p)
    case (8, 2): Tiling<8, 2>.run(m: m, n: n, p)
    case (12, 2): Tiling<12, 2>.run(m: m, n: n, p)
    case (14, 2): Tiling<14, 2>.run(m: m, n: n, p)
    case (8, 3): Tiling<8, 3>.run(m: m, n: n, p)
    case (16, 1): Tiling<16, 1>.run(m: m, n: n, p)
    case (24, 1): Tiling<24, 1>.run(m: m, n: n, p)
    case (6, 1): Tiling<6, 1>.run(m: m, n: n, p)
    case (3, 2): Tiling<3, 2>.run(m: m, n: n, p)
    case (2, 2): Tiling<2, 2>.run(m: m, n: n, p)
    case (4, 2): Tiling<4, 2>.run(m: m, n: n, p)
    default: Tiling<4, 1>.run(m: m, n: n, p)
    }
}

/// Everything about a product but its size, passed by value to the tiles.
struct GemmOperands {
    let k: Int
    let a: UnsafePointer<Float>, aRow: Int, aCol: Int
    let b: UnsafePointer<Float>, ldb: Int
    let c: UnsafeMutablePointer<Float>, ldc: Int
    let start: GemmInit
}

/// C covered by R × V tiles; the row tail by 1-row tiles, the column tail by 1-vector tiles.
enum Tiling<let R: Int, let V: Int> {
    @inline(__always)
    static func run(m: Int, n: Int, _ p: GemmOperands) {
        let vectors = n / vecWidth
        var i = 0
        while i + R <= m {
            var j = 0
            while j + V <= vectors {
                Tile<R, V>.run(i: i, j: j * vecWidth, p)
                j += V
            }
            while j < vectors {
                Tile<R, 1>.run(i: i, j: j * vecWidth, p)
                j += 1
            }
            i += R
        }
        while i < m {
            var j = 0
            while j + V <= vectors {
                Tile<1, V>.run(i: i, j: j * vecWidth, p)
                j += V
            }
            while j < vectors {
                Tile<1, 1>.run(i: i, j: j * vecWidth, p)
                j += 1
            }
            i += 1
        }
    }
}

/// R rows × V vectors of C at (i, j), in registers for the whole k loop: with
/// constant R and V the compiler unrolls every inner loop and keeps each
/// InlineArray element in its own register.
enum Tile<let R: Int, let V: Int> {
    @inline(__always)
    static func run(i: Int, j: Int, _ p: GemmOperands) {
        var acc = InlineArray<R, InlineArray<V, Vec>>(repeating: InlineArray(repeating: Vec()))
        let cp = p.c + i * p.ldc + j
        switch p.start {
        case .zero: break
        case .accumulate:
            for r in 0..<R { for v in 0..<V { acc[r][v] = load(cp + r * p.ldc + v * vecWidth) } }
        case .bias(let bias):
            for v in 0..<V {
                let x = load(bias + j + v * vecWidth)
                for r in 0..<R { acc[r][v] = x }
            }
        }
        // One loop-invariant pointer per row of A and one offset that moves: the
        // loads of a step do not wait on each other's address arithmetic (one
        // pointer stepped R times a step made a chain as long as the FMAs).
        var rows = InlineArray<R, UnsafePointer<Float>>(repeating: p.a)
        for r in 0..<R { rows[r] = p.a + (i + r) * p.aRow }
        var o = 0
        var bp = p.b + j
        for _ in 0..<p.k {
            var bv = InlineArray<V, Vec>(repeating: Vec())
            for v in 0..<V { bv[v] = load(bp + v * vecWidth) }
            // Two loops of R/2 rows: LLVM unrolls each, where it left one loop
            // of 12 or more rows × 2 vectors rolled, with the accumulators in
            // memory (the 12x2, 14x2 and 24x1 tiles ran at a quarter of the
            // others' speed). Rows in the same order: the same code otherwise.
            for r in 0..<(R / 2) {
                let x = Vec(repeating: rows[r][o])
                for v in 0..<V { acc[r][v].addProduct(x, bv[v]) }
            }
            for r in (R / 2)..<R {
                let x = Vec(repeating: rows[r][o])
                for v in 0..<V { acc[r][v].addProduct(x, bv[v]) }
            }
            o += p.aCol
            bp += p.ldb
        }
        for r in 0..<R { for v in 0..<V { store(acc[r][v], cp + r * p.ldc + v * vecWidth) } }
    }
}
