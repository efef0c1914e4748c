import Foundation
import Makemore
import Yams

/// What `makemore bench` measures: a grid of thread counts × batch sizes ×
/// hidden sizes on synthetic data of the municipis shape, with how long and how
/// often to time each cell. `configs/scaling.yaml` spells it as a `bench:`
/// section; every key is also a flag of `makemore bench`.
///
/// The data is synthetic (uniform random indices, a fixed seed) with the shape
/// of the municipis training split: V = 29 symbols, block 3, n_embd 10, 85 122
/// windows, drawn per step exactly as training draws batches. The speed of a
/// step does not depend on the values, and PyTorch's side
/// (`bench/torch_baseline.py`) uses the same synthetic shape.
public struct BenchSpec: Equatable, Sendable {
    /// MPI processes (ranks) per cell; `threads` is per rank. Cells with more
    /// than one rank run under `mpirun` (see `makemore bench --ranks`).
    public var ranks: [Int] = [1]
    public var threads: [Int] = [1, 2]
    public var batchSizes: [Int] = [32, 256, 1024, 4096]
    public var nHidden: [Int] = [64, 256]
    /// nil: per batch size, see `shards(batch:)`.
    public var shards: Int? = nil
    /// Timed steps per repeat; 0: per cell, about `targetSeconds` per repeat.
    public var steps = 0
    public var targetSeconds = 0.25
    /// Seconds of each FMA-peak probe before the cells (one core alone, then the
    /// largest thread count's cores at once); 0: no probe, no peak shares.
    public var peakSeconds = 0.25
    /// Untimed steps before the first repeat of a cell.
    public var warmup = 50
    /// Timed runs per cell; the table gives their min and median.
    public var repeats = 5
    public var pin = true
    public var oversubscribe = false

    // The synthetic data's shape (municipis).
    public var vocabSize = 29
    public var blockSize = 3
    public var nEmbd = 10
    public var examples = 85_122
    public var seed = 42
    /// The rank count the `auto` shard rule assumes (nil: the largest of
    /// `ranks`). A sub-grid run under mpirun for one rank count gets the whole
    /// grid's, so its cells keep the whole grid's shards.
    public var autoShardRanks: Int? = nil

    public init() {}

    // What a grid may ask for. A real run stays far below these; beyond them a
    // cell would not finish in any useful time (10 million steps of the
    // smallest cell take minutes, of the largest years) or memory, and their
    // products could overflow. `--help` and the errors state them.
    public static let rankRange = 1...4096
    public static let threadRange = 1...4096
    /// At least 2 rows: BatchNorm divides by n − 1.
    public static let batchRange = 2...(1 << 24)
    public static let hiddenRange = 1...65536
    /// 0: per cell, about `targetSeconds` per repeat.
    public static let stepRange = 0...10_000_000
    public static let warmupRange = 0...10_000_000
    public static let repeatRange = 1...1000
    public static let vocabRange = 2...65536
    public static let blockRange = 1...64
    public static let embeddingRange = 1...4096

    /// The shard count of a cell: the given one, else what `train` uses at this
    /// batch (`parallel.shards: auto`, `Config.autoShards`), so that a cell
    /// times the step a training run takes; raised where needed to the largest
    /// ranks × threads of the grid (`train` refuses fewer shards than that, and
    /// every rank and thread count of a cell so runs the same shards, the same
    /// arithmetic); never more than the batch.
    public func shards(batch: Int) -> Int {
        let workers = (autoShardRanks ?? ranks.max() ?? 1) * (threads.max() ?? 1)
        let wanted = shards ?? max(workers, Config.autoShards(batchSize: batch))
        return min(wanted, batch)
    }

    /// The cells in run order: model size, then batch, then ranks, then threads
    /// in increasing order (so a cell is timed seconds, not a whole grid, after
    /// its one-thread baseline, under the same machine load). Cells of more
    /// than one rank run in one mpirun per rank count, after the others.
    public var cells: [(threads: Int, batch: Int, nHidden: Int)] {
        rankedCells.map { ($0.threads, $0.batch, $0.nHidden) }
    }

    public var rankedCells: [(ranks: Int, threads: Int, batch: Int, nHidden: Int)] {
        var out = [(ranks: Int, threads: Int, batch: Int, nHidden: Int)]()
        for h in unique(nHidden) {
            for b in unique(batchSizes) {
                for r in unique(ranks).sorted() { for t in unique(threads).sorted() { out.append((r, t, b, h)) } }
            }
        }
        return out
    }

    /// The same grid for one rank count (what one mpirun of `makemore bench` runs).
    public func restricted(ranks r: Int) -> BenchSpec {
        var s = self
        s.autoShardRanks = autoShardRanks ?? ranks.max()
        s.ranks = [r]
        return s
    }

    private func unique(_ xs: [Int]) -> [Int] {
        var seen = Set<Int>()
        return xs.filter { seen.insert($0).inserted }
    }

    public func validate() throws {
        func fail(_ key: String, _ why: String) throws -> Never { throw MakemoreError("bench.\(key): \(why)") }
        func list(_ key: String, _ values: [Int], _ range: ClosedRange<Int>, _ why: String = "") throws {
            if values.isEmpty || values.contains(where: { !range.contains($0) }) {
                try fail(key, "must be a non-empty list of numbers in \(range)\(why), got \(values)")
            }
        }
        try list("ranks", ranks, Self.rankRange)
        try list("threads", threads, Self.threadRange)
        try list("batch_size", batchSizes, Self.batchRange, " (BatchNorm divides by n−1)")
        try list("n_hidden", nHidden, Self.hiddenRange)
        if let r = autoShardRanks, !Self.rankRange.contains(r) { try fail("auto_shard_ranks", "must be in \(Self.rankRange), got \(r)") }
        if let s = shards, s < 1 { try fail("shards", "must be at least 1 (or auto), got \(s)") }
        if let s = shards, let b = batchSizes.min(), s > b {
            try fail("shards", "\(s) shards cannot split a batch of \(b) rows (auto never uses more shards than rows)")
        }
        if let s = shards, let t = threads.max(), let r = ranks.max(), s < r * t {
            try fail("shards", r == 1 ? "\(s) shards cannot keep \(t) threads busy; use at least as many shards as threads"
                : "\(s) shards cannot keep \(r) ranks × \(t) threads busy; use at least ranks × threads shards")
        }
        if let b = batchSizes.min(), let t = threads.max(), let r = ranks.max(), r > 1, b < r * t {
            try fail("batch_size", "batch \(b) has fewer rows than \(r) ranks × \(t) threads need shards")
        }
        if !Self.stepRange.contains(steps) { try fail("steps", "must be in \(Self.stepRange) (0: about target_s seconds per repeat), got \(steps)") }
        if !(targetSeconds > 0 && targetSeconds <= 600) { try fail("target_s", "must be in (0, 600] seconds, got \(targetSeconds)") }
        if !(peakSeconds >= 0 && peakSeconds <= 60) { try fail("peak_s", "must be in [0, 60] seconds, got \(peakSeconds)") }
        if !Self.warmupRange.contains(warmup) { try fail("warmup", "must be in \(Self.warmupRange), got \(warmup)") }
        if !Self.repeatRange.contains(repeats) { try fail("repeats", "must be in \(Self.repeatRange), got \(repeats)") }
        if !Self.vocabRange.contains(vocabSize) { try fail("vocab_size", "must be in \(Self.vocabRange), got \(vocabSize)") }
        if !Self.blockRange.contains(blockSize) { try fail("block_size", "must be in \(Self.blockRange), got \(blockSize)") }
        if !Self.embeddingRange.contains(nEmbd) { try fail("n_embd", "must be in \(Self.embeddingRange), got \(nEmbd)") }
        if examples < 1 || examples > 1 << 26 { try fail("examples", "must be in 1...\(1 << 26), got \(examples)") }
    }
}

extension BenchSpec {
    /// Loads a `bench:` file (configs/scaling.yaml), starting from the defaults.
    public static func load(path: String) throws -> BenchSpec {
        try parse(yaml: YAMLReader.text(ofConfig: path), source: path)
    }

    /// Unknown keys and wrong types are errors naming the file, line and key, as for training configs.
    public static func parse(yaml text: String, source: String) throws -> BenchSpec {
        let root = try YAMLReader.compose(text, source: source)
        var spec = BenchSpec()
        guard let root else { return spec }
        let r = YAMLReader(source: source)
        func ints(_ node: Node, _ key: String) throws -> [Int] {
            if case .scalar = node { return [try r.int(node, key)] }
            return try r.list(node, key) { try r.int($0, $1) }
        }
        try r.mapping(root, "", [
            "bench": { node, key in
                try r.mapping(node, key, [
                    "ranks": { spec.ranks = try ints($0, $1) },
                    "threads": { spec.threads = try ints($0, $1) },
                    "batch_size": { spec.batchSizes = try ints($0, $1) },
                    "n_hidden": { spec.nHidden = try ints($0, $1) },
                    "shards": { spec.shards = try r.autoOr($0, $1) { try r.int($0, $1) } },
                    "steps": { spec.steps = try r.int($0, $1) },
                    "target_s": { spec.targetSeconds = try r.double($0, $1) },
                    "peak_s": { spec.peakSeconds = try r.double($0, $1) },
                    "warmup": { spec.warmup = try r.int($0, $1) },
                    "repeats": { spec.repeats = try r.int($0, $1) },
                    "pin": { spec.pin = try r.bool($0, $1) },
                    "oversubscribe": { spec.oversubscribe = try r.bool($0, $1) },
                    "vocab_size": { spec.vocabSize = try r.int($0, $1) },
                    "block_size": { spec.blockSize = try r.int($0, $1) },
                    "n_embd": { spec.nEmbd = try r.int($0, $1) },
                    "examples": { spec.examples = try r.int($0, $1) },
                    "seed": { spec.seed = try r.int($0, $1) },
                ])
            },
        ])
        return spec
    }
}
