import KernelSupport
import Kernels
import KernelsAVX512
import XCTest
import _KernelsShim

/// The reducer's pass (`reduceShards`): the shard-order sum and SGD update,
/// and its report of a non-finite sum, which is what stops training on a
/// diverged step; `allFinite`, the same check on a buffer. Both ISA builds.
final class ReduceShardsTests: XCTestCase {
    static let length = 64, shards = 3

    struct Build {
        let name: String
        let reduce: (UnsafePointer<Float>, Int, Int, Bool, UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>?, Float) -> Bool
        let allFinite: (UnsafePointer<Float>, Int) -> Bool
    }

    static let avx2 = Build(name: "AVX2", reduce: {
        Kernels.reduceShards($0, stride: $1, count: $2, continuing: $3, into: $4, length: $5, update: $6, lr: $7)
    }, allFinite: { Kernels.allFinite($0, count: $1) })
    static let avx512 = Build(name: "AVX-512", reduce: {
        KernelsAVX512.reduceShards($0, stride: $1, count: $2, continuing: $3, into: $4, length: $5, update: $6, lr: $7)
    }, allFinite: { KernelsAVX512.allFinite($0, count: $1) })

    func builds() -> [Build] { makemore_cpu_has_avx512() != 0 ? [Self.avx2, Self.avx512] : [Self.avx2] }

    /// Shard gradients g_s[j] = (s + 1)·0.25 + j/64, with `poke` written at (shard, index).
    func shardGrads(poke: (shard: Int, index: Int, value: Float)? = nil) -> AlignedBuffer<Float> {
        let g = AlignedBuffer<Float>(count: Self.shards * Self.length)
        for s in 0..<Self.shards {
            for j in 0..<Self.length { g.base[s * Self.length + j] = Float(s + 1) * 0.25 + Float(j) / 64 }
        }
        if let p = poke { g.base[p.shard * Self.length + p.index] = p.value }
        return g
    }

    func testSumsInShardOrderAndUpdates() {
        for b in builds() {
            let g = shardGrads(), grad = AlignedBuffer<Float>(count: Self.length), params = AlignedBuffer<Float>(count: Self.length)
            for j in 0..<Self.length { params.base[j] = 1 }
            XCTAssertTrue(b.reduce(g.base, Self.length, Self.shards, false, grad.base, Self.length, nil, 0), b.name)
            XCTAssertTrue(b.reduce(g.base, Self.length, Self.shards, false, grad.base, Self.length, params.base, 0.5), b.name)
            for j in 0..<Self.length {
                let s = (g.base[j] + g.base[Self.length + j]) + g.base[2 * Self.length + j]
                XCTAssertEqual(grad.base[j].bitPattern, s.bitPattern, "\(b.name): sum \(j)")
                XCTAssertEqual(params.base[j].bitPattern, (1 as Float).addingProduct(-0.5, s).bitPattern, "\(b.name): update \(j)")
            }
        }
    }

    /// A single ±∞ or NaN anywhere (any shard, any lane, the last vector's
    /// last lane too) makes the pass report it, with or without an update;
    /// the largest finite floats and subnormals do not.
    func testReportsAnyNonFiniteSum() {
        let bad: [Float] = [.infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7fc0_1234)]
        let fine: [Float] = [.greatestFiniteMagnitude / 4, -.greatestFiniteMagnitude / 4, .leastNonzeroMagnitude, -0.0]
        for b in builds() {
            for (value, finite) in bad.map({ ($0, false) }) + fine.map({ ($0, true) }) {
                for (shard, index) in [(0, 0), (1, 17), (2, Self.length - 1)] {
                    let g = shardGrads(poke: (shard, index, value))
                    let grad = AlignedBuffer<Float>(count: Self.length), params = AlignedBuffer<Float>(count: Self.length)
                    let what = "\(b.name): \(value) in shard \(shard) at \(index)"
                    XCTAssertEqual(b.reduce(g.base, Self.length, Self.shards, false, grad.base, Self.length, nil, 0), finite, what)
                    XCTAssertEqual(b.reduce(g.base, Self.length, Self.shards, false, grad.base, Self.length, params.base, 0.1),
                                   finite, what)
                    XCTAssertEqual(b.allFinite(g.base + shard * Self.length, Self.length), finite, what)
                }
            }
            // Finite shards whose sum overflows.
            let big = AlignedBuffer<Float>(count: Self.shards * Self.length)
            for i in 0..<(Self.shards * Self.length) { big.base[i] = .greatestFiniteMagnitude / 2 }
            let grad = AlignedBuffer<Float>(count: Self.length)
            XCTAssertFalse(b.reduce(big.base, Self.length, Self.shards, false, grad.base, Self.length, nil, 0), b.name)
            XCTAssertTrue(b.allFinite(big.base, Self.shards * Self.length), b.name)
        }
    }
}
