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
/// and returns the GFLOP/s of this one thread: the best of the ~2 ms windows the
/// time is cut into, so that another process taking the CPU for a while
/// lowers only some windows, not the result (on a machine that stays busy the
/// whole time it is still low). Call it on every core at once to measure the
/// all-core peak (lower where turbo depends on the number of busy cores).
public func measureFMAPeak(seconds: Double) -> Double {
    let clock = ContinuousClock()
    var seed: Float = 1
    // Chunks of ~10-50 µs (4096 iterations × 12 FMAs): the clock is read rarely.
    let chunk = 4096
    let warmup = Duration.seconds(max(seconds / 10, 0.002))
    let t0 = clock.now
    while clock.now - t0 < warmup { seed = mm_fma_peak_loop(chunk, seed) }

    func inSeconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    let target = Duration.seconds(max(seconds, 1e-4))
    let window = Duration.seconds(min(0.002, max(seconds, 1e-4)))
    var best = 0.0
    let start = clock.now
    repeat {
        var iterations = 0
        let w0 = clock.now
        var elapsed = Duration.zero
        repeat {
            seed = mm_fma_peak_loop(chunk, seed)
            iterations += chunk
            elapsed = clock.now - w0
        } while elapsed < window
        best = max(best, Double(iterations) * Double(fmaPeakFlopsPerIteration) / inSeconds(elapsed) / 1e9)
    } while clock.now - start < target
    fmaPeakSink += seed
    return best
}
