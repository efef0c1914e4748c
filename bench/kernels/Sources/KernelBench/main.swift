// Micro-benchmarks of the Kernels module at the shapes one shard of a training
// step uses (see Package.swift for how to run). Shapes, with K = 30 inputs
// (padded Kp = 32), V = 29 symbols (Vp = 32), H hidden (Hp = H, a multiple of 16)
// and r rows per shard (batch 32 in 2 shards: 16; batch 1024 and 4096 in 8
// shards: 128 and 512), plus r = the step's row tile (224 at H 64, 64 at H 256):
// a shard of more rows runs every phase tile by tile, so at batch 4096 these are
// the shapes its products actually run at (marked "step" in the table):
//
//   fwd  hprebn  = emb·W1 + b1      gemm m=r  n=Hp k=K    (A·B)
//   fwd  logits  = h·W2 + b2        gemm m=r  n=Vp k=Hp   (A·B)
//   bwd  dW2     = hᵀ·dlogits       gemm m=Hp n=Vp k=r    (Aᵀ·B)
//   bwd  dh      = dlogits·W2ᵀ      gemm m=r  n=Hp k=V    (A·B with a transposed copy of W2)
//   bwd  dW1     = embᵀ·dhprebn     gemm m=K  n=Hp k=r    (Aᵀ·B)
//   bwd  demb    = dhprebn·W1ᵀ      gemm m=r  n=Kp k=Hp
//   softmax-CE (fused loss + dlogits) over r × Vp, BN column moments and column sums
//   over r × Hp, Chan's merge of 8 shard partials, tanh and exp over r × Hp,
//   BatchNorm + tanh forward, tanh backward and BatchNorm backward as the step
//   calls them, the embedding gather and scatter-add (r × 3 × 10 floats).
//
// FLOP counts: gemm 2·m·n·k over the padded sizes it computes. The other
// kernels get a nominal count per element, printed beside them (softmax-CE 16:
// max, subtract, a 6-term exp, sum, scale; moments 4; sums 1; merge 8 per
// column and shard; tanh 20; BatchNorm + tanh 23; BatchNorm backward 5; tanh
// backward with its two column sums 7; exp 14; one per moved float for the
// embedding): their GFLOP/s compare kernels with each other, not with the FMA
// peak. In-place kernels (softmax-CE, tanh, tanh backward, exp) refill their
// input from a copy before each call; the copy is timed on its own ("copy")
// and subtracted.
import Benchmark
import Foundation
import Engine
import Kernels
import KernelsAVX512
import KernelSupport
import Parallel

// The peak every share in the table is of: the FMA throughput of one core on
// the ISA the kernels run (KernelSet's `measureFMAPeak`: 12 independent chains
// of 8 or 16 lanes, no memory traffic), or MAKEMORE_PEAK_GFLOPS where given.
let givenPeak = Double(ProcessInfo.processInfo.environment["MAKEMORE_PEAK_GFLOPS"] ?? "")

@inline(never)
func fmaPeak(_ n: Int, _ out: UnsafeMutablePointer<Float>) {
    let m = SIMD16<Float>(repeating: 0.999_9), c = SIMD16<Float>(repeating: 1e-4)
    var a0 = SIMD16<Float>(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
    var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
    for _ in 0..<n {
        a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
        a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
        a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
        a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
    }
    let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
    out.pointee = sum.sum()
}

// tanh and exp alone are not step kernels (KernelSet has only the fused ones
// that call them), so the harness picks their build itself.
func tanhInPlace(_ isa: ISA, _ p: UnsafeMutablePointer<Float>, count: Int) {
    switch isa {
    case .avx512: KernelsAVX512.tanhInPlace(p, count: count)
    case .avx2: Kernels.tanhInPlace(p, count: count)
    }
}

func expInPlace(_ isa: ISA, _ p: UnsafeMutablePointer<Float>, count: Int) {
    switch isa {
    case .avx512: KernelsAVX512.expInPlace(p, count: count)
    case .avx2: Kernels.expInPlace(p, count: count)
    }
}

/// A buffer of `n` floats, uniform in [-1, 1).
func filled(_ n: Int, _ seed: inout UInt64) -> UnsafeMutablePointer<Float> {
    let b = AlignedBuffer<Float>(count: n)
    keep.append(b)
    for i in 0..<n {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        b.base[i] = Float(Int64(bitPattern: seed >> 11) % 2_000_000) / 1_000_000 - 1
    }
    return b.base
}
nonisolated(unsafe) var keep = [AnyObject]()

struct Case {
    let name: String
    let flops: Double     // per call
    let note: String
    let refill: Int       // floats copied before each call (0: none)
    var copyCase: String? = nil  // the benchmark timing that copy alone, subtracted
    let body: () -> Void
}

var cases = [Case]()
var seed: UInt64 = 42
let peakSink = filled(16, &seed)
cases.append(Case(name: "fma peak (12 chains)", flops: 1000 * 12 * 32, note: "no memory", refill: 0) {
    fmaPeak(1000, peakSink)
})
let (Kp, K, Vp, V) = (32, 30, 32, 29)
let kernels = KernelSet.default
print("\(cpuModelName()): \(kernels.isa.label) kernels (MAKEMORE_ISA=avx2 forces AVX2)")

for H in [64, 256] {
    let stepTile = StepEngine.rowTile(ModelShape(vocabSize: V, blockSize: 3, nEmbd: 10, nHidden: H))
    for r in Set([16, 128, 512, stepTile]).sorted() {
        let Hp = H
        let emb = filled(r * Kp, &seed), W1 = filled(K * Hp, &seed), b1 = filled(Hp, &seed)
        let h = filled(r * Hp, &seed), W2 = filled(Hp * Vp, &seed), b2 = filled(Vp, &seed)
        let act = filled(r * Hp, &seed), logits = filled(r * Vp, &seed), dW2 = filled(Hp * Vp, &seed)
        let w2T = filled(Vp * Hp, &seed), dh = filled(r * Hp, &seed), dW1 = filled(K * Hp, &seed)
        let w1T = filled(Hp * Kp, &seed), demb = filled(r * Kp, &seed)
        let tag = "r\(r) H\(H)" + (r == stepTile ? " step" : "")
        // Each product with the tile the tuner picks for it on this CPU (as `makemore train` does), at
        // the per-row shapes; the folded products (shards of 38+ rows) are timed apart, below.
        let shape = ModelShape(vocabSize: V, blockSize: 3, nEmbd: 10, nHidden: H)
        let plan = GemmTuner.measure(shape: shape, rows: r, kernels: kernels, folded: false)
        func tile(_ p: StepProduct) -> GemmTile { plan.first { $0.product == p }!.best }
        func gemmCase(_ what: String, m: Int, n: Int, k: Int, _ p: StepProduct, tiles: (StepProduct) -> GemmTile = tile,
                      _ body: @escaping (GemmTile) -> Void) {
            let tile = tiles(p)
            cases.append(Case(name: "gemm \(what) \(tag)", flops: 2 * Double(m * n * k), note: "\(m)×\(n)×\(k) \(tile)", refill: 0, body: { body(tile) }))
        }
        gemmCase("emb·W1", m: r, n: Hp, k: K, .preactivation) { tile in
            kernels.gemm(m: r, n: Hp, k: K, a: emb, aRow: Kp, aCol: 1, b: W1, ldb: Hp, c: act, ldc: Hp, start: .bias(b1), tile: tile)
        }
        gemmCase("h·W2", m: r, n: Vp, k: Hp, .logits) { tile in
            kernels.gemm(m: r, n: Vp, k: Hp, a: h, aRow: Hp, aCol: 1, b: W2, ldb: Vp, c: logits, ldc: Vp, start: .bias(b2), tile: tile)
        }
        gemmCase("hT·dlogits", m: Hp, n: Vp, k: r, .outputWeightGrad) { tile in
            kernels.gemm(m: Hp, n: Vp, k: r, a: h, aRow: 1, aCol: Hp, b: logits, ldb: Vp, c: dW2, ldc: Vp, start: .zero, tile: tile)
        }
        gemmCase("dlogits·W2T", m: r, n: Hp, k: V, .hiddenGrad) { tile in
            kernels.gemm(m: r, n: Hp, k: V, a: logits, aRow: Vp, aCol: 1, b: w2T, ldb: Hp, c: dh, ldc: Hp, start: .zero, tile: tile)
        }
        gemmCase("embT·dh", m: K, n: Hp, k: r, .inputWeightGrad) { tile in
            kernels.gemm(m: K, n: Hp, k: r, a: emb, aRow: 1, aCol: Kp, b: dh, ldb: Hp, c: dW1, ldc: Hp, start: .zero, tile: tile)
        }
        gemmCase("dh·W1T", m: r, n: Kp, k: Hp, .embeddingGrad) { tile in
            kernels.gemm(m: r, n: Kp, k: Hp, a: dh, aRow: Hp, aCol: 1, b: w1T, ldb: Kp, c: demb, ldc: Kp, start: .zero, tile: tile)
        }

        // In-place kernels: a source to refill from.
        let logitsSrc = filled(r * Vp, &seed), hSrc = filled(r * Hp, &seed)
        let targets = AlignedBuffer<Int32>(count: r)
        keep.append(targets)
        for i in 0..<r { targets.base[i] = Int32(i % V) }
        let mean = filled(Hp, &seed), m2 = filled(Hp, &seed)
        cases.append(Case(name: "copy \(r)×\(Vp) \(tag)", flops: 0, note: "refill", refill: 0) {
            Kernels.copy(logits, logitsSrc, count: r * Vp)
        })
        cases.append(Case(name: "softmaxCE \(tag)", flops: 16 * Double(r * Vp), note: "\(r)×\(Vp), 16/elem", refill: r * Vp,
                          copyCase: "copy \(r)×\(Vp) \(tag)") {
            Kernels.copy(logits, logitsSrc, count: r * Vp)
            _ = kernels.softmaxCrossEntropy(logits: logits, rows: r, valid: V, ld: Vp, targets: targets.base, scale: 1 / 1024)
        })
        cases.append(Case(name: "copy \(r)×\(Hp) \(tag)", flops: 0, note: "refill", refill: 0) {
            Kernels.copy(act, hSrc, count: r * Hp)
        })
        cases.append(Case(name: "tanh \(tag)", flops: 20 * Double(r * Hp), note: "\(r)×\(Hp), 20/elem", refill: r * Hp,
                          copyCase: "copy \(r)×\(Hp) \(tag)") {
            Kernels.copy(act, hSrc, count: r * Hp)
            tanhInPlace(kernels.isa, act, count: r * Hp)
        })
        let gain = filled(Hp, &seed), rstd = filled(Hp, &seed)
        cases.append(Case(name: "batchNormTanh \(tag)", flops: 23 * Double(r * Hp), note: "\(r)×\(Hp), 23/elem", refill: 0) {
            kernels.batchNormTanhForward(act: hSrc, h: act, rows: r, cols: Hp, mean: mean, rstd: rstd, gain: gain, bias: m2)
        })
        cases.append(Case(name: "batchNormBackward \(tag)", flops: 5 * Double(r * Hp), note: "\(r)×\(Hp), 5/elem", refill: 0) {
            kernels.batchNormBackward(dhpre: dh, act: hSrc, dhprebn: act, rows: r, cols: Hp, mean: mean, rstd: rstd,
                              coefDh: gain, coefBias: m2, coefRaw: b1)
        })
        let sumD = filled(Hp, &seed), sumDRaw = filled(Hp, &seed)
        cases.append(Case(name: "tanhBackward \(tag)", flops: 7 * Double(r * Hp), note: "\(r)×\(Hp), 7/elem", refill: r * Hp,
                          copyCase: "copy \(r)×\(Hp) \(tag)") {
            Kernels.copy(dh, hSrc, count: r * Hp)
            kernels.tanhBackward(dh: dh, h: h, act: act, rows: r, cols: Hp, mean: mean, rstd: rstd, sumD: sumD, sumDRaw: sumDRaw,
                                 continuing: false)
        })
        cases.append(Case(name: "exp \(tag)", flops: 14 * Double(r * Hp), note: "\(r)×\(Hp), 14/elem", refill: r * Hp,
                          copyCase: "copy \(r)×\(Hp) \(tag)") {
            Kernels.copy(act, hSrc, count: r * Hp)
            expInPlace(kernels.isa, act, count: r * Hp)
        })
        cases.append(Case(name: "columnMoments \(tag)", flops: 4 * Double(r * Hp), note: "\(r)×\(Hp), 4/elem", refill: 0) {
            kernels.accumulateColumnMoments(h, rows: r, cols: Hp, ld: Hp, merged: 0, mean: mean, m2: m2)
        })
        cases.append(Case(name: "columnSums \(tag)", flops: Double(r * Hp), note: "\(r)×\(Hp), 1/elem", refill: 0) {
            kernels.columnSums(dh, rows: r, cols: Hp, ld: Hp, into: mean, continuing: false)
        })
        if r == stepTile {  // the folded embedding products and their row kernels, at a step's tile
            let folded = GemmTuner.measure(shape: shape, rows: r, kernels: kernels, folded: true)
            func foldedTile(_ p: StepProduct) -> GemmTile { folded.first { $0.product == p }!.best }
            let (B, E, Ep) = (3, 10, 16)
            let C = filled(V * E, &seed), tables = filled(B * V * Hp, &seed), sums = filled(Vp * B * Hp, &seed)
            let w1S = filled(B * Hp * Ep, &seed), dC = filled(Vp * Ep, &seed)
            let idx = AlignedBuffer<Int32>(count: r * B)
            keep.append(idx)
            for i in 0..<(r * B) { idx.base[i] = Int32((i * 7) % V) }
            gemmCase("C·W1j ×3", m: V * B, n: Hp, k: E, .preactivation, tiles: foldedTile) { tile in
                kernels.tokenTables(shape, C: C, W1: W1, b1: b1, into: tables, tile: tile)
            }
            gemmCase("CT·S ×3", m: E * B, n: Hp, k: V, .inputWeightGrad, tiles: foldedTile) { tile in
                for j in 0..<B {
                    kernels.gemm(m: E, n: Hp, k: V, a: C, aRow: 1, aCol: E, b: sums + j * Hp, ldb: B * Hp, c: dW1 + j * E * Hp,
                                 ldc: Hp, start: .zero, tile: tile)
                }
            }
            gemmCase("S·W1S", m: Vp, n: Ep, k: B * Hp, .embeddingGrad, tiles: foldedTile) { tile in
                kernels.gemm(m: Vp, n: Ep, k: B * Hp, a: sums, aRow: B * Hp, aCol: 1, b: w1S, ldb: Ep, c: dC, ldc: Ep,
                             start: .zero, tile: tile)
            }
            cases.append(Case(name: "tokenTableSums \(tag)", flops: 2 * Double(r * Hp), note: "\(r)×\(Hp), 2/elem", refill: 0) {
                kernels.tokenTableSums(tables, vocab: V, cols: Hp, indices: idx.base, perRow: B, rows: r, out: act, ldo: Hp)
            })
            cases.append(Case(name: "embeddingRowSums \(tag)", flops: 3 * Double(r * Hp), note: "\(r)×\(Hp), 3/elem", refill: 0) {
                kernels.embeddingRowSums(dh, count: r, cols: Hp, indices: idx.base, vocab: V, perRow: B, sums: sums)
            })
        }
        if H == 64 {  // the embedding does not depend on H
            let table = filled(V * 10, &seed), dtable = filled(V * 10, &seed)
            let idx = AlignedBuffer<Int32>(count: r * 3)
            keep.append(idx)
            for i in 0..<(r * 3) { idx.base[i] = Int32((i * 7) % V) }
            cases.append(Case(name: "embeddingGather r\(r)", flops: Double(r * K), note: "\(r)×3×10, 1/elem", refill: 0) {
                Kernels.embeddingGather(table: table, dim: 10, indices: idx.base, rows: r, perRow: 3, out: emb, ldo: Kp)
            })
            cases.append(Case(name: "embeddingScatterAdd r\(r)", flops: Double(r * K), note: "\(r)×3×10, 1/elem", refill: 0) {
                Kernels.embeddingScatterAdd(grad: demb, ldg: Kp, dim: 10, indices: idx.base, rows: r, perRow: 3, table: dtable)
            })
        }
        if r == 16 {  // the merge does not depend on r: once per H
            let pm = filled(8 * Hp, &seed), pq = filled(8 * Hp, &seed)
            cases.append(Case(name: "combineMoments 8 shards H\(H)", flops: 8 * 8 * Double(Hp), note: "8×\(Hp), 8/elem", refill: 0) {
                Kernels.copy(mean, pm, count: Hp)
                Kernels.copy(m2, pq, count: Hp)
                for s in 1..<8 {
                    Kernels.combineMoments(countA: s * 128, meanA: mean, m2A: m2, countB: 128,
                                   meanB: pm + s * Hp, m2B: pq + s * Hp, cols: Hp)
                }
            })
            // The reducer at batch 4096's 32 shards: one thread's pass over the
            // whole parameter vector (the step's reduce chunks are slices of it).
            // Here the shard buffers are in cache; in the step, at large batches,
            // the activations written since have pushed them out (docs/kernels.md).
            let count = ParameterLayout(ModelShape(vocabSize: V, blockSize: 3, nEmbd: 10, nHidden: H)).count
            let shardGrads = filled(32 * count, &seed), grad = filled(count, &seed), params = filled(count, &seed)
            cases.append(Case(name: "reduceShards 32 shards H\(H)", flops: 32 * Double(count), note: "32×\(count), 1/elem", refill: 0) {
                _ = Kernels.reduceShards(shardGrads, stride: count, count: 32, into: grad, length: count, update: params, lr: 0)
            })
        }
    }
}

// Calls per benchmark iteration: about 20 µs of work at 40 GFLOP/s, so the
// iteration's own clock reads are noise.
func reps(_ c: Case) -> Int { max(1, min(10_000, Int(800_000 / max(c.flops, Double(c.refill) * 4, 1)))) }
for c in cases {
    let n = reps(c)
    benchmark(c.name) { for _ in 0..<n { c.body() } }
}

var runner = BenchmarkRunner(suites: [defaultBenchmarkSuite], settings: parseArguments(), customDefaults: defaultSettings)
try runner.run()

// Per call, from the median iteration.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
// The median says what a run typically gets; the fastest iteration is the one
// least disturbed by other processes and the host (on a shared VM the median
// can sit 20-40% above it), so both are printed.
var perCall = [String: (median: Double, best: Double)]()
for r in runner.results {
    guard let c = cases.first(where: { $0.name == r.benchmarkName }) else { continue }
    let n = Double(reps(c))
    perCall[c.name] = (median(r.measurements) / n, (r.measurements.min() ?? .nan) / n)
}
// The peak: the kernels' ISA's measureFMAPeak (12 chains of its vector width, best
// 2 ms window), as `makemore bench` uses it. The "fma peak (12 chains)" case above
// uses 12 SIMD16 chains, which need 24 ymm registers on AVX2 and spill there.
let peak = givenPeak ?? kernels.measureFMAPeak(seconds: 0.3)
print(String(format: "\nper call (median iteration / calls per iteration). Peak: %.1f GFLOP/s %@",
             peak, givenPeak != nil ? "(MAKEMORE_PEAK_GFLOPS)" : "(\(kernels.fmaPeakVectorWidth)-lane FMAs, measureFMAPeak)"))
print("kernel".padding(toLength: 34, withPad: " ", startingAt: 0) + "shape".padding(toLength: 20, withPad: " ", startingAt: 0)
      + "      ns/call   GFLOP/s  % of peak    best ns  best % of peak")
for c in cases where c.flops > 0 {
    guard var t = perCall[c.name] else { continue }
    if let copyName = c.copyCase, let copy = perCall[copyName] {
        t = (max(t.median - copy.median, 0.001), max(t.best - copy.best, 0.001))
    }
    let gflops = c.flops / t.median
    print(c.name.padding(toLength: 34, withPad: " ", startingAt: 0) + c.note.padding(toLength: 20, withPad: " ", startingAt: 0)
          + String(format: "%13.1f %9.1f %9.0f%% %10.1f %14.0f%%", t.median, gflops, 100 * gflops / peak,
                   t.best, 100 * c.flops / t.best / peak))
}
