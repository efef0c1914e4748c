import Foundation
import Makemore

/// What a step of one (batch, n_hidden, shards) costs a process of 1 thread,
/// from the run's 1-thread cell, in µs per step: the compute part of
/// `RankScalingModel`, which predicts R ranks of 1 thread each.
///
/// From the 1-thread cell (its breakdown scaled so it sums to the unprofiled median):
///   serial    sample (batch draw) + pool overhead + barrier wait: once per step, not divided
///   parallel  forward + backward: per shard, so divided by the R ranks
///   bnSync    every rank combines all S' shard partials and transposes W1, W2 itself;
///             the per-shard part (φ, from element counts: 4·S / (4·S + Kp + Vp)) grows with S'
///   reduce    reduce + SGD: each rank sums all S' shard gradients itself, so it
///             costs reduce·(S'+2)/(S+2)
/// From the 2-thread cell, where the run has one:
///   g         the cache gain: where half the batch per core ran faster than the whole
///             (2-thread compute below half the 1-thread one), g = E / (parallel/2) < 0
///             on the per-rank work when R > 1, E being the 2-thread cell's compute minus
///             half the 1-thread one; 0 otherwise, and clamped at −20% (a noisy cell).
/// The shard count on R ranks is S' = R·⌈S/R⌉ (at least one shard per rank).
///
///   compute(R) = serial + parallel/R·(1 + g·[R>1]) + bnSync·(1 − φ + φ·S'/S) + reduce·(S'+2)/(S+2)
public struct StepCost: Codable, Equatable, Sendable {
    public var serial: Double
    public var parallel: Double
    public var bnSync: Double
    public var bnSyncShardFraction: Double
    public var reduce: Double
    /// g: the per-rank work's relative change from R = 2 on (≤ 0: a cache gain).
    public var cacheGain: Double
    public var batchSize: Int
    public var baseShards: Int
    public var source: String

    enum CodingKeys: String, CodingKey {
        case serial, parallel, bnSync = "bn_sync", bnSyncShardFraction = "bn_sync_shard_fraction", reduce
        case cacheGain = "cache_gain", batchSize = "batch_size", baseShards = "shards", source
    }

    /// The cost of `c1` (a 1-thread cell of 1 rank), with g from `c2` (its 2-thread cell), if any.
    static func calibrate(one c1: BenchCell, two c2: BenchCell?, report: BenchReport) -> StepCost {
        func scale(_ c: BenchCell) -> Double { c.profiledUsPerStep > 0 ? c.usPerStepMedian / c.profiledUsPerStep : 1 }
        let k1 = scale(c1), b1 = c1.breakdown
        let Kp = paddedTo16(report.blockSize * report.nEmbd), Vp = paddedTo16(report.vocabSize)
        let S = Double(c1.shards)
        var cost = StepCost(
            serial: (b1.sample + b1.pool + b1.barrierWait) * k1,
            parallel: (b1.forward + b1.backward) * k1,
            bnSync: b1.bnSync * k1,
            bnSyncShardFraction: roundTo(4 * S / (4 * S + Double(Kp + Vp)), 3),
            reduce: b1.reduceUpdate * k1,
            cacheGain: 0, batchSize: c1.batchSize, baseShards: c1.shards,
            source: "1 thread measured; no 2-thread cell: g = 0")
        if let c2, c2.shards >= 2 {
            let k2 = scale(c2), b2 = c2.breakdown
            let compute2 = (b2.forward + b2.backward + b2.reduceUpdate + b2.bnSync) * k2
            let excess = compute2 - (cost.parallel + cost.reduce) / 2 - cost.bnSync
            cost.cacheGain = min(0, excess) / (cost.parallel / 2)
            cost.source = "1 thread measured; g from the 2-thread cell"
            if cost.cacheGain < -0.2 {
                cost.cacheGain = -0.2
                cost.source += "; clamped at −20% (a noisy 1- or 2-thread cell)"
            }
        }
        cost.serial = roundTo(cost.serial, 3)
        cost.parallel = roundTo(cost.parallel, 3)
        cost.bnSync = roundTo(cost.bnSync, 3)
        cost.reduce = roundTo(cost.reduce, 3)
        cost.cacheGain = roundTo(cost.cacheGain, 4)
        return cost
    }

    /// S' = R·⌈S/R⌉: at least one shard per rank, the same shards per rank.
    public func shards(ranks R: Int) -> Int { R * ((baseShards + R - 1) / R) }

    /// The step on R ranks of 1 thread without the exchange between them (`compute(R)`
    /// above), or nil where S' shards would hold fewer than 2 rows each.
    public func compute(ranks R: Int) -> Double? {
        let s2 = shards(ranks: R)
        guard batchSize / s2 >= 2 else { return nil }
        let ratio = Double(s2) / Double(baseShards)
        return serial + parallel / Double(R) * (R > 1 ? 1 + cacheGain : 1)
            + bnSync * (1 - bnSyncShardFraction + bnSyncShardFraction * ratio)
            + reduce * (Double(s2) + 2) / (Double(baseShards) + 2)
    }
}
