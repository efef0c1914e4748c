import KernelSupport

/// Picks each product's register tile by timing every candidate at the
/// product's real shape on this machine (FFTW's "wisdom": measure once per
/// CPU, keep the answer). The tile changes only the speed, never the bits.
public enum GemmTuner {
    /// One product's measurement.
    public struct Result: Sendable {
        public var product: StepProduct
        public var m: Int, n: Int, k: Int
        public var transposedA: Bool
        /// GFLOP/s of each candidate (padded sizes: what the loop computes), fastest first.
        public var timings: [(tile: GemmTile, gflops: Double)]
        public var best: GemmTile { timings[0].tile }
    }

    /// The tile used where nothing was measured: 6×1 fills 12 of AVX2's 16
    /// ymm registers; 4×4 fills 16 of AVX-512's 32 zmm.
    public static func untuned(_ isa: ISA) -> GemmTile { isa == .avx2 ? GemmTile(6, 1) : GemmTile(4, 4) }

    /// Times `products` (default all six) for a row tile of `rows` rows (their
    /// folded shapes or not as `folded` says, else as the rows would); about
    /// `budget` seconds per candidate and product (best of `rounds` runs): a
    /// few tens of milliseconds in all for a release build.
    ///
    /// The candidates take turns, one run each per round, rather than each
    /// running all its repeats back to back: on a shared machine a burst of
    /// other work then slows one run of several candidates instead of every
    /// run of one, and the best of each candidate's runs stays comparable.
    public static func measure(shape: ModelShape, rows: Int, kernels: KernelSet,
                               products: [StepProduct] = StepProduct.allCases, folded: Bool? = nil,
                               budget: Double = 0.0005, rounds: Int = 5) -> [Result] {
        products.map { p in
            let d = p.dimensions(shape, rows: rows, folded: folded)
            let operands = Operands(m: d.m, n: d.n, k: d.k, transposedA: d.transposedA)
            let flops = 2 * Double(d.m) * Double(d.n) * Double(d.k)
            let calls = GemmTile.all.map { tile in
                // One untimed call warms the caches and tells how many calls make a run.
                let t0 = monotonicNanos()
                operands.run(kernels, tile: tile, calls: 1)
                let once = Double(max(monotonicNanos() &- t0, 1)) / 1e9
                return max(1, min(10_000, Int(budget / Double(rounds) / once)))
            }
            var fastestRun = [UInt64](repeating: .max, count: GemmTile.all.count)
            for _ in 0..<rounds {
                for (i, tile) in GemmTile.all.enumerated() {
                    let t0 = monotonicNanos()
                    operands.run(kernels, tile: tile, calls: calls[i])
                    fastestRun[i] = min(fastestRun[i], monotonicNanos() &- t0)
                }
            }
            var timings = GemmTile.all.indices.map { i in
                (tile: GemmTile.all[i], gflops: flops * Double(calls[i]) / Double(max(fastestRun[i], 1)))
            }
            // Fastest first, except that the best is the earliest candidate
            // within 2% of the fastest: closer than that is timing noise.
            let fastest = timings.map(\.gflops).max() ?? 0
            let best = GemmTile.all.first { t in timings.contains { $0.tile == t && $0.gflops >= fastest / 1.02 } }
            timings.sort { $0.gflops > $1.gflops }
            if let i = timings.firstIndex(where: { $0.tile == best }) { timings.insert(timings.remove(at: i), at: 0) }
            return Result(product: p, m: d.m, n: d.n, k: d.k, transposedA: d.transposedA, timings: timings)
        }
    }

    /// Buffers of one product's shape, filled with small values.
    final class Operands {
        let m: Int, n: Int, k: Int, transposedA: Bool
        let a: AlignedBuffer<Float>, b: AlignedBuffer<Float>, c: AlignedBuffer<Float>

        init(m: Int, n: Int, k: Int, transposedA: Bool) {
            (self.m, self.n, self.k, self.transposedA) = (m, n, k, transposedA)
            a = AlignedBuffer(count: m * paddedTo16(k) + paddedTo16(m) * k)
            b = AlignedBuffer(count: k * n)
            c = AlignedBuffer(count: m * n)
            for i in 0..<a.count { a.base[i] = Float(i % 7) * 0.01 }
            for i in 0..<b.count { b.base[i] = Float(i % 5) * 0.01 }
        }

        func run(_ kernels: KernelSet, tile: GemmTile, calls: Int) {
            // Aᵀ·B reads A as [k × lda] with lda = padded m, as dW = xᵀ·dy does.
            let (aRow, aCol) = transposedA ? (1, paddedTo16(m)) : (paddedTo16(k), 1)
            for _ in 0..<calls {
                kernels.gemm(m: m, n: n, k: k, a: a.base, aRow: aRow, aCol: aCol, b: b.base, ldb: n,
                             c: c.base, ldc: n, start: .zero, tile: tile)
            }
        }
    }
}
