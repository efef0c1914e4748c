import KernelSupport
import Parallel

/// Training steps, run the one way `train` and `bench` both run them: batches
/// drawn uniformly with replacement (the notebook's randint) from examples the
/// engine reads itself, steps dispatched to the pool in chunks, the next
/// batch drawn by worker 0 inside the step.
public final class StepDriver {
    public let engine: StepEngine
    public let pool: WorkerPool
    /// The batch-sampling generator: part of a checkpoint, so a resumed run draws the same batches.
    public var rng: Xoshiro
    let examples: Int
    let rates = AlignedBuffer<Float>(count: StepDriver.maxChunk)
    let lossBuffer = AlignedBuffer<Double>(count: StepDriver.maxChunk)
    /// Nanoseconds spent drawing batches while `timeSampling` is on (bench's breakdown).
    public var samplingNanos: UInt64 = 0
    public var timeSampling = false

    /// The most steps one dispatch runs.
    public static let maxChunk = 256

    /// Steps per dispatch for a batch size: 256 at small batches, fewer for
    /// large ones so a signal is answered within tens of milliseconds (64
    /// steps at batch 1024, 16 at 4096: ~50 ms on one core). Each dispatch
    /// ends with the pool's join barrier, which every worker must reach, so
    /// a worker on a CPU shared with another process can hold it up for a
    /// time slice; longer dispatches pay that less often. A function of the
    /// batch alone, so every process of a multi-process run agrees.
    public static func chunkSize(batchSize: Int) -> Int { max(1, min(maxChunk, 65536 / batchSize)) }

    /// `x` [examples × block], `y` [examples]: the engine keeps copies of them.
    public init(engine: StepEngine, pool: WorkerPool, x: UnsafePointer<Int32>, y: UnsafePointer<Int32>,
                examples: Int, rng: Xoshiro) {
        precondition(examples >= 1 && pool.placements.count == engine.workerCount)
        self.engine = engine
        self.pool = pool
        self.examples = examples
        self.rng = rng
        engine.attachTrainingData(x: x, y: y, count: examples)
    }

    /// The mean losses of the steps of the last `run`.
    public var losses: UnsafeBufferPointer<Double> { UnsafeBufferPointer(start: lossBuffer.base, count: completed) }
    private var completed = 0

    /// Up to `count` steps (at most `maxChunk`) in one dispatch; step i uses
    /// `learningRate(i)`. Stops after the first step whose loss or gradient is
    /// not finite (`diverged`); the steps done are `losses.count`.
    public func run(_ count: Int, learningRate: (Int) -> Float, momentum: Float) -> (completed: Int, diverged: Bool) {
        let n = min(count, StepDriver.maxChunk)
        guard n > 0 else { return (0, false) }
        for i in 0..<n { rates.base[i] = learningRate(i) }
        sample()
        let (done, diverged) = engine.steps(n, on: pool, learningRates: rates.base, momentum: momentum,
                                            losses: lossBuffer.base, sampleNext: sample)
        completed = done
        return (done, diverged)
    }

    /// Draws the next batch into the engine's batch index.
    private func sample() {
        let t0 = timeSampling ? monotonicNanos() : 0
        // A local copy: a stored property of a class would cost a dynamic
        // exclusivity check per draw (~15 ns, 60 µs at batch 4096).
        var r = rng
        let index = engine.batchIndex.base
        for i in 0..<engine.batchSize { index[i] = Int32(truncatingIfNeeded: r.below(examples)) }
        rng = r
        // The first rows' lines are asked for now, so that phase 1 finds them in
        // cache when it copies them a stage later (a batch of 32: all of them;
        // more at once would stall the draw on the core's miss buffers).
        engine.prefetchTrainingRows(0..<min(engine.batchSize, 32), worker: 0)
        if timeSampling { samplingNanos &+= monotonicNanos() &- t0 }
    }
}
