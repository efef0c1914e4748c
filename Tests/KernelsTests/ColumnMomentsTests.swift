import KernelSupport
import Kernels
import KernelsAVX512
import XCTest
import _KernelsShim

/// Phase 1 feeds a shard's rows to `accumulateColumnMoments` tile by tile,
/// as each tile is computed. Its moments must not depend on where the tiles
/// end (only on 16-row blocks), must be those of the rows in double precision,
/// and must be the same bits on both ISA builds.
final class ColumnMomentsTests: XCTestCase {
    static let cols = 32

    /// `rows` rows of values `offset` + noise: a large offset is where Σx² − n·mean² would cancel.
    static func rows(_ n: Int, offset: Float, seed: UInt64) -> AlignedBuffer<Float> {
        var state = seed
        let x = AlignedBuffer<Float>(count: n * cols)
        for i in 0..<(n * cols) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            x.base[i] = offset + Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
        return x
    }

    /// Mean and M2 after feeding the rows in pieces of `piece` rows (the last one shorter).
    static func moments(_ x: AlignedBuffer<Float>, rows: Int, piece: Int, avx512: Bool = false) -> (mean: [Float], m2: [Float]) {
        let mean = AlignedBuffer<Float>(count: cols), m2 = AlignedBuffer<Float>(count: cols)
        var start = 0
        while start < rows {
            let r = min(piece, rows - start)
            if avx512 {
                KernelsAVX512.accumulateColumnMoments(x.base + start * cols, rows: r, cols: cols, ld: cols, merged: start,
                                                      mean: mean.base, m2: m2.base)
            } else {
                Kernels.accumulateColumnMoments(x.base + start * cols, rows: r, cols: cols, ld: cols, merged: start,
                                                mean: mean.base, m2: m2.base)
            }
            start += r
        }
        return (Array(UnsafeBufferPointer(start: mean.base, count: cols)), Array(UnsafeBufferPointer(start: m2.base, count: cols)))
    }

    func testPiecesOfWholeBlocksGiveTheSameBits() {
        let n = 211
        let x = Self.rows(n, offset: 0.5, seed: 3)
        let whole = Self.moments(x, rows: n, piece: n)
        for piece in [16, 32, 48, 112, 208] {
            let tiled = Self.moments(x, rows: n, piece: piece)
            XCTAssertEqual(tiled.mean.map(\.bitPattern), whole.mean.map(\.bitPattern), "pieces of \(piece) rows: mean")
            XCTAssertEqual(tiled.m2.map(\.bitPattern), whole.m2.map(\.bitPattern), "pieces of \(piece) rows: M2")
        }
    }

    func testMatchesDoublePrecisionEvenFarFromZero() {
        for (n, offset) in [(1, 0), (2, 0), (17, 3), (300, 0), (300, 1000)] as [(Int, Float)] {
            let x = Self.rows(n, offset: offset, seed: UInt64(n))
            let got = Self.moments(x, rows: n, piece: 64)
            for c in 0..<Self.cols {
                let column = (0..<n).map { Double(x.base[$0 * Self.cols + c]) }
                let mean = column.reduce(0, +) / Double(n)
                let m2 = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
                XCTAssertEqual(Double(got.mean[c]), mean, accuracy: 1e-6 * max(1, abs(mean)), "n \(n) offset \(offset) col \(c)")
                // M2 ≈ n/3 for noise in [−1, 1]: relative error, whatever the offset.
                XCTAssertEqual(Double(got.m2[c]), m2, accuracy: 1e-4 * max(m2, 1e-30) + (n == 1 ? 0 : 1e-6),
                               "n \(n) offset \(offset) col \(c)")
            }
        }
    }

    /// Both kernels walk four column vectors at a time and the rest one by
    /// one; each column must get the bits a call over that column's vector
    /// alone gives (one chain per column, rows in order).
    func testColumnGroupsGiveEachColumnItsOwnChain() {
        let (n, ld) = (53, 5 * 16)  // one group of four vectors and one single vector
        var state: UInt64 = 17
        let x = AlignedBuffer<Float>(count: n * ld)
        for i in 0..<(n * ld) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            x.base[i] = 3 + Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000
        }
        let (mean, m2, sums) = (AlignedBuffer<Float>(count: ld), AlignedBuffer<Float>(count: ld), AlignedBuffer<Float>(count: ld))
        let (oneMean, oneM2, oneSums) = (AlignedBuffer<Float>(count: ld), AlignedBuffer<Float>(count: ld), AlignedBuffer<Float>(count: ld))
        for (start, r) in [(0, 32), (32, n - 32)] {  // the second piece continues the first
            let rows = x.base + start * ld
            Kernels.accumulateColumnMoments(rows, rows: r, cols: ld, ld: ld, merged: start, mean: mean.base, m2: m2.base)
            Kernels.columnSums(rows, rows: r, cols: ld, ld: ld, into: sums.base, continuing: start > 0)
            for v in stride(from: 0, to: ld, by: 16) {
                Kernels.accumulateColumnMoments(rows + v, rows: r, cols: 16, ld: ld, merged: start,
                                                mean: oneMean.base + v, m2: oneM2.base + v)
                Kernels.columnSums(rows + v, rows: r, cols: 16, ld: ld, into: oneSums.base + v, continuing: start > 0)
            }
        }
        for c in 0..<ld {
            XCTAssertEqual(mean.base[c].bitPattern, oneMean.base[c].bitPattern, "mean, column \(c)")
            XCTAssertEqual(m2.base[c].bitPattern, oneM2.base[c].bitPattern, "M2, column \(c)")
            XCTAssertEqual(sums.base[c].bitPattern, oneSums.base[c].bitPattern, "sum, column \(c)")
        }
        // And the sums are the columns' sums in row order.
        for c in 0..<ld {
            var s: Float = 0
            for r in 0..<n { s += x.base[r * ld + c] }
            XCTAssertEqual(sums.base[c].bitPattern, s.bitPattern, "sum, column \(c), against a scalar chain")
        }
    }

    func testBothISABuildsGiveTheSameBits() throws {
        try XCTSkipUnless(makemore_cpu_has_avx512() != 0, "this CPU has no AVX-512: the AVX-512 build cannot run here")
        let x = Self.rows(300, offset: 2, seed: 9)
        let a = Self.moments(x, rows: 300, piece: 64), b = Self.moments(x, rows: 300, piece: 64, avx512: true)
        XCTAssertEqual(a.mean.map(\.bitPattern), b.mean.map(\.bitPattern))
        XCTAssertEqual(a.m2.map(\.bitPattern), b.m2.map(\.bitPattern))
    }
}
