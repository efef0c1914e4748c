import Foundation
import KernelSupport
import Kernels
import KernelsAVX512
import XCTest
import _KernelsShim

/// Every register tile, on both ISA builds, computes each output as the same
/// single FMA chain (init, then k = 0, 1, … in order): the tile the tuner
/// picks can never change a bit. Checked against a scalar chain of `fma`.
final class GemmTileTests: XCTestCase {
    /// Shapes the step uses (n = 32 and 64 columns, K = 30 with a tail of 2
    /// rows, transposed A) and awkward ones (m below every tile, 5 vectors).
    static let shapes: [(m: Int, n: Int, k: Int, transposed: Bool)] = [
        (16, 64, 30, false), (16, 32, 64, false), (64, 32, 16, true), (30, 64, 17, true),
        (7, 80, 5, false), (1, 16, 3, false), (29, 48, 33, true), (53, 96, 9, false),
        // k beyond one block of `gemmKBlock`, with a short last block.
        (5, 272, 150, false), (7, 256, 130, true),
    ]

    struct Case {
        var m: Int, n: Int, k: Int, aRow: Int, aCol: Int
        var a: [Float], b: [Float], bias: [Float]
    }

    static func makeCase(_ s: (m: Int, n: Int, k: Int, transposed: Bool), seed: UInt64) -> Case {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
        }
        let lda = s.transposed ? s.m + 3 : s.k + 1  // unpadded strides too
        let a = (0..<(max(s.m, s.k) * (lda + 1))).map { _ in next() }
        let (aRow, aCol) = s.transposed ? (1, lda) : (lda, 1)
        return Case(m: s.m, n: s.n, k: s.k, aRow: aRow, aCol: aCol,
                    a: a, b: (0..<(s.k * s.n)).map { _ in next() }, bias: (0..<s.n).map { _ in next() })
    }

    /// The scalar chain every tile must reproduce bit for bit.
    static func reference(_ c: Case, bias: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var acc: Float = bias ? c.bias[j] : 0
                for p in 0..<c.k { acc.addProduct(c.a[i * c.aRow + p * c.aCol], c.b[p * c.n + j]) }  // fused, as the kernels
                out[i * c.n + j] = acc
            }
        }
        return out
    }

    typealias Gemm = (Int, Int, Int, UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, Int,
                      UnsafeMutablePointer<Float>, Int, GemmInit, GemmTile) -> Void

    static let avx2: Gemm = {
        Kernels.gemm(m: $0, n: $1, k: $2, a: $3, aRow: $4, aCol: $5, b: $6, ldb: $7, c: $8, ldc: $9, start: $10, tile: $11)
    }
    static let avx512: Gemm = {
        KernelsAVX512.gemm(m: $0, n: $1, k: $2, a: $3, aRow: $4, aCol: $5, b: $6, ldb: $7, c: $8, ldc: $9, start: $10, tile: $11)
    }

    static func run(_ gemm: Gemm, _ c: Case, tile: GemmTile, bias: Bool) -> [Float] {
        var out = [Float](repeating: .nan, count: c.m * c.n)
        c.a.withUnsafeBufferPointer { a in
            c.b.withUnsafeBufferPointer { b in
                c.bias.withUnsafeBufferPointer { bi in
                    out.withUnsafeMutableBufferPointer { o in
                        gemm(c.m, c.n, c.k, a.baseAddress!, c.aRow, c.aCol, b.baseAddress!, c.n,
                             o.baseAddress!, c.n, bias ? .bias(bi.baseAddress!) : .zero, tile)
                    }
                }
            }
        }
        return out
    }

    func check(_ gemm: Gemm, isa: String) {
        for (index, shape) in Self.shapes.enumerated() {
            let c = Self.makeCase(shape, seed: UInt64(index + 1))
            for bias in [false, true] {
                let expected = Self.reference(c, bias: bias).map(\.bitPattern)
                for tile in GemmTile.all {
                    let got = Self.run(gemm, c, tile: tile, bias: bias).map(\.bitPattern)
                    XCTAssertTrue(got == expected, "\(isa) tile \(tile) differs from the FMA chain at m \(c.m) n \(c.n) k \(c.k) bias \(bias)")
                }
            }
        }
    }

    /// The last two shapes run in more than one block of k, as dW2 over a shard at H 256 does.
    func testSomeShapesCrossKBlocks() {
        for s in Self.shapes.suffix(2) {
            let c = Self.makeCase(s, seed: 1)
            XCTAssertGreaterThan(c.k, Kernels.gemmKBlock(ldb: c.n, aRow: c.aRow, aCol: c.aCol), "m \(c.m) n \(c.n) k \(c.k) fits one block")
        }
    }

    func testEveryAVX2TileIsTheSameFMAChain() {
        check(Self.avx2, isa: "AVX2")
    }

    func testEveryAVX512TileIsTheSameFMAChain() throws {
        try XCTSkipUnless(makemore_cpu_has_avx512() != 0, "this CPU has no AVX-512: the AVX-512 build cannot run here")
        check(Self.avx512, isa: "AVX-512")
    }

    /// k split over two calls, the second `.accumulate`: the same chain as one call.
    func testAccumulateContinuesTheChain() {
        let c = Self.makeCase((m: 37, n: 64, k: 29, transposed: true), seed: 5)
        let whole = Self.run(Self.avx2, c, tile: GemmTile(4, 1), bias: false).map(\.bitPattern)
        for tile in GemmTile.all {
            var out = [Float](repeating: .nan, count: c.m * c.n)
            let split = 11
            c.a.withUnsafeBufferPointer { a in
                c.b.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { o in
                        Kernels.gemm(m: c.m, n: c.n, k: split, a: a.baseAddress!, aRow: c.aRow, aCol: c.aCol,
                                     b: b.baseAddress!, ldb: c.n, c: o.baseAddress!, ldc: c.n, start: .zero, tile: tile)
                        Kernels.gemm(m: c.m, n: c.n, k: c.k - split, a: a.baseAddress! + split * c.aCol, aRow: c.aRow, aCol: c.aCol,
                                     b: b.baseAddress! + split * c.n, ldb: c.n, c: o.baseAddress!, ldc: c.n, start: .accumulate, tile: tile)
                    }
                }
            }
            XCTAssertTrue(out.map(\.bitPattern) == whole, "tile \(tile): k in two calls differs from one chain")
        }
    }

    func testTileSpellingRoundTrips() {
        for tile in GemmTile.all { XCTAssertEqual(GemmTile(tile.description), tile) }
        XCTAssertNil(GemmTile("5x5"))
        XCTAssertNil(GemmTile("x"))
        XCTAssertNil(GemmTile("4x4x4"))
    }
}
