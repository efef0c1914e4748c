import _KernelsShim

// The FMA peak of one core, measured: what the step's achieved GFLOP/s are
// compared with in `makemore bench`.
//
// The loop (`mm_fma_peak_loop` in KernelsShim.h) runs 12 independent chains
// of vector FMAs, 8 lanes wide (AVX2: one ymm each, 12 of the 16 registers,
// no spills) or 16 (AVX-512: one zmm each), compiled with this module's
// -target-cpu: two FMA pipes of 4-5 cycles latency need 8-10 FMAs in flight,
// so it runs at the pipes' throughput: 2 pipes × lanes × 2 FLOP per cycle
// (32 per cycle on Zen 3/4 and Haswell…Ice Lake client, 64 with two 512-bit
// pipes). The result of each chunk seeds the next, so the compiler can
// neither drop nor hoist the work.

/// FLOPs of one iteration of the probe loop (2 × 12 chains × lanes).
public var fmaPeakFlopsPerIteration: Int { Int(mm_fma_peak_flops_per_iteration()) }

/// Lanes per FMA in the probe: 16 when compiled for AVX-512, else 8.
public var fmaPeakVectorWidth: Int { Int(mm_fma_peak_width()) }

nonisolated(unsafe) private var fmaPeakSink: Float = 0

/// Runs the FMA loop on the calling thread for about `seconds` (after a short
/// untimed warm-up of a tenth of that, at least 2 ms, for the clock to ramp up)
/// and returns the achieved GFLOP/s of this one thread. Call it on every core
/// at once to measure the all-core peak (lower where turbo depends on the
/// number of busy cores). Deterministic work, not deterministic time: a busy
/// machine lowers the result.
public func measureFMAPeak(seconds: Double) -> Double {
    let clock = ContinuousClock()
    var seed: Float = 1
    // Chunks of ~50 µs at 32 FLOP/cycle and 3 GHz: the clock is read rarely.
    let chunk = 4096
    let warmup = Duration.seconds(max(seconds / 10, 0.002))
    let t0 = clock.now
    while clock.now - t0 < warmup { seed = mm_fma_peak_loop(chunk, seed) }

    let target = Duration.seconds(max(seconds, 1e-4))
    var iterations = 0
    let start = clock.now
    var elapsed = Duration.zero
    repeat {
        seed = mm_fma_peak_loop(chunk, seed)
        iterations += chunk
        elapsed = clock.now - start
    } while elapsed < target
    fmaPeakSink += seed
    let s = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    return Double(iterations) * Double(fmaPeakFlopsPerIteration) / s / 1e9
}
