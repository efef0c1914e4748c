import Foundation

/// What the processes of a multi-process run must hold identically before the
/// first step: the processes never send each other parameters or data, so one
/// that read another data file, another checkpoint or another config would
/// silently train a different model. Each part is a 64-bit FNV-1a hash.
public struct RankFingerprint: Equatable, CustomStringConvertible {
    /// The training examples (and vocabulary size).
    public var data: UInt64
    /// The parameters and BatchNorm running statistics.
    public var model: UInt64
    /// The step and the batch sampler's state.
    public var state: UInt64
    /// The settings that change the numbers: batch, steps, lr, momentum, seeds, shards.
    public var settings: UInt64

    public init(data: UInt64, model: UInt64, state: UInt64, settings: UInt64) {
        (self.data, self.model, self.state, self.settings) = (data, model, state, settings)
    }

    /// The four hashes in hex, comma-separated; `init?(_:)` reads it back.
    public var description: String {
        [data, model, state, settings].map { String($0, radix: 16) }.joined(separator: ",")
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard parts.count == 4 else { return nil }
        self.init(data: parts[0], model: parts[1], state: parts[2], settings: parts[3])
    }

    /// Names of the parts where `self` and `other` differ.
    public func differences(from other: RankFingerprint) -> [String] {
        var out = [String]()
        if data != other.data { out.append("training data (data.* or the data file)") }
        if model != other.model { out.append("initial parameters (model.* or the resumed checkpoint)") }
        if state != other.state { out.append("step and sampler state (the resumed checkpoint)") }
        if settings != other.settings { out.append("training settings (train.* or parallel.shards)") }
        return out
    }
}

extension Trainer {
    /// This process's fingerprint, compared across ranks before training.
    public func fingerprint() -> RankFingerprint {
        var d = FNV1a()
        d.add(UInt64(dataset.vocabulary.count))
        d.add(dataset.train.x)
        d.add(dataset.train.y)
        var m = FNV1a()
        m.add(UnsafeBufferPointer(start: model.parameters.base, count: model.layout.count))
        m.add(UnsafeBufferPointer(start: model.runningMean.base, count: model.shape.hiddenPadded))
        m.add(UnsafeBufferPointer(start: model.runningVar.base, count: model.shape.hiddenPadded))
        var s = FNV1a()
        s.add(UInt64(step))
        for w in rng.stateWords { s.add(w) }
        var c = FNV1a()
        let t = config.train
        c.add(UInt64(t.batchSize))
        c.add(UInt64(t.steps))
        c.add(UInt64(bitPattern: Int64(t.seed)))
        c.add(t.bnMomentum.bitPattern)
        for p in t.lr { c.add(UInt64(p.step)); c.add(p.rate.bitPattern) }
        c.add(UInt64(config.shards))
        return RankFingerprint(data: d.value, model: m.value, state: s.value, settings: c.value)
    }
}
