import Parallel

/// Everything a training run needs, as `configs/*.yaml` spell it.
/// Defaults are the reference notebook's run on municipis. Every key can also be set
/// by a command-line flag; `validate()` checks the combination.
public struct Config: Equatable, Sendable {
    public struct Data: Equatable, Sendable {
        public var path = "data/municipis.csv"
        public var column: String? = "Nom"
        public var clean = "municipis"
        public var split: [Double] = [0.8, 0.1, 0.1]
        public var seed = 42
    }

    public struct ModelSection: Equatable, Sendable {
        public var blockSize = 3
        public var nEmbd = 10
        public var nHidden = 64
        public var initSeed = 2_147_483_647
    }

    public struct Train: Equatable, Sendable {
        public var batchSize = 32
        public var steps = 200_000
        /// Piecewise-constant schedule: (first step, learning rate), sorted by step, first at 0.
        public var lr: [LearningRatePoint] = [.init(step: 0, rate: 0.1), .init(step: 100_000, rate: 0.01)]
        public var bnMomentum = 0.001
        public var seed = 1
        public var evalEvery = 10_000
        public var checkpoint = "runs/municipis.safetensors"
        /// 0: only at the end.
        public var checkpointEvery = 0
    }

    public struct Parallel: Equatable, Sendable {
        public typealias Threads = ThreadRequest
        public var threads = Threads.auto
        /// nil: every node.
        public var nodes: [Int]? = nil
        public var pin = true
        /// Fixed cut of each batch; the result is bit-identical for any thread
        /// count with the same shards. nil (`auto`): `Config.autoShards(batchSize:)`;
        /// `Config.shards` is the value in force.
        public var shards: Int? = nil
        public var oversubscribe = false
        /// Pretend topology: the CPUs of each virtual node (tests the multi-node path on one node).
        public var topology: [[Int]]? = nil
    }

    public var data = Data()
    public var model = ModelSection()
    public var train = Train()
    public var parallel = Parallel()

    /// Where each key was last set, for error messages: "configs/x.yaml:7"
    /// or "--steps". Not part of the config's value (`==` ignores it).
    public var origins: [String: String] = [:]

    public init() {}

    public static func == (a: Config, b: Config) -> Bool {
        a.data == b.data && a.model == b.model && a.train == b.train && a.parallel == b.parallel
    }

    /// The settings that decide the numbers of a run: everything but how it
    /// is executed (threads, nodes, pinning, oversubscription, pretend
    /// topology), which never changes a bit because `parallel.shards` fixes
    /// the result. This is what a checkpoint stores, so a run resumed with a
    /// different thread count ends in the same file.
    public var resultDefining: Config {
        var c = Config()
        (c.data, c.model, c.train) = (data, model, train)
        c.parallel.shards = shards
        return c
    }

    /// The shard count in force: `parallel.shards`, or for `auto` the default for the batch size.
    public var shards: Int { parallel.shards ?? Config.autoShards(batchSize: train.batchSize) }

    /// `parallel.shards: auto`: 2 up to batch 383 (the notebook's batch 32 runs
    /// best on one thread, and 2 shards keep its per-shard overhead small),
    /// then one shard per 128 rows, at most 32: 4 at batch 512, 8 at 1024,
    /// 16 at 2048, 32 from 4096 up. Shards of ≥128 rows keep the kernels
    /// efficient; several shards per thread let the threads that run faster
    /// take shards from a slowed one (a CPU shared with another process).
    /// A function of the batch size alone, never of the thread count: the
    /// shard count is what fixes the result.
    public static func autoShards(batchSize n: Int) -> Int {
        min(n, max(2, min(32, n / 128)))
    }

    /// `autoShards` in words, for the help of every command that offers `auto`
    /// (one text, so that no command's help describes an older rule).
    public static let autoShardsRule = "2 up to batch 383, then one per 128 rows, at most 32"
}

public struct LearningRatePoint: Equatable, Sendable {
    public var step: Int
    public var rate: Double
    public init(step: Int, rate: Double) { self.step = step; self.rate = rate }
}

extension Config {
    /// The learning rate in force at `step`.
    public func learningRate(at step: Int) -> Double {
        var rate = train.lr[0].rate
        for point in train.lr where point.step <= step { rate = point.rate }
        return rate
    }

    /// Most worker threads a run may ask for (far beyond any machine this
    /// trains on; it keeps absurd requests such as 1e12 from reaching the pool).
    public static let maxThreads = 4096
    /// Highest CPU number accepted in `parallel.topology`.
    public static let maxCPU = 65535

    /// Checks values that are wrong on their own or together; the error names
    /// the key and where its value came from (file and line, or the flag).
    public func validate() throws {
        func fail(_ key: String, _ why: String) throws -> Never {
            throw MakemoreError((origins[key].map { "\(oneLine($0)): " } ?? "") + "\(key): \(oneLine(why))")
        }
        if data.path.isEmpty { try fail("data.path", "must not be empty") }
        if data.split.count != 3 || data.split.contains(where: { !($0 >= 0 && $0.isFinite) })
            || abs(data.split.reduce(0, +) - 1) > 1e-9 {
            try fail("data.split", "must be three non-negative fractions that sum to 1, got \(data.split)")
        }
        if model.blockSize < 1 || model.blockSize > 64 { try fail("model.block_size", "must be in 1...64, got \(model.blockSize)") }
        if model.nEmbd < 1 || model.nEmbd > 4096 { try fail("model.n_embd", "must be in 1...4096, got \(model.nEmbd)") }
        if model.nHidden < 1 || model.nHidden > 65536 { try fail("model.n_hidden", "must be in 1...65536, got \(model.nHidden)") }
        if model.blockSize * model.nEmbd > 65536 {
            try fail("model.n_embd", "block_size × n_embd must be at most 65536, got \(model.blockSize) × \(model.nEmbd)")
        }
        if train.batchSize < 2 {
            try fail("train.batch_size", "must be at least 2 (BatchNorm's variance divides by n−1), got \(train.batchSize)")
        }
        if train.batchSize > 1 << 24 { try fail("train.batch_size", "must be at most \(1 << 24), got \(train.batchSize)") }
        if train.steps < 0 { try fail("train.steps", "must not be negative, got \(train.steps)") }
        if train.lr.isEmpty || train.lr[0].step != 0 { try fail("train.lr", "the schedule must start at step 0") }
        for (a, b) in zip(train.lr, train.lr.dropFirst()) where b.step <= a.step {
            try fail("train.lr", "steps must increase, got \(a.step) then \(b.step)")
        }
        for p in train.lr where !(p.rate > 0 && Float(p.rate) > 0 && Float(p.rate).isFinite) {
            try fail("train.lr", "learning rates must be positive and finite in float32, got \(p.rate) at step \(p.step)")
        }
        if !(train.bnMomentum >= 0 && train.bnMomentum <= 1) { try fail("train.bn_momentum", "must be in [0, 1], got \(train.bnMomentum)") }
        if train.evalEvery < 0 { try fail("train.eval_every", "must not be negative, got \(train.evalEvery)") }
        if train.checkpointEvery < 0 { try fail("train.checkpoint_every", "must not be negative, got \(train.checkpointEvery)") }
        if train.checkpoint.isEmpty { try fail("train.checkpoint", "must not be empty") }
        if train.checkpoint.hasSuffix("/") || train.checkpoint.hasSuffix("/.") || train.checkpoint.hasSuffix("/..")
            || train.checkpoint == "." || train.checkpoint == ".." {
            try fail("train.checkpoint", "'\(shown(train.checkpoint))' is a folder, not a file path")
        }
        if let s = parallel.shards, s < 1 { try fail("parallel.shards", "must be at least 1, got \(s)") }
        if shards > train.batchSize {
            try fail("parallel.shards", "\(shards) shards cannot split a batch of \(train.batchSize) rows")
        }
        switch parallel.threads {
        case .count(let n) where n < 1, .perNode(let n) where n < 1:
            try fail("parallel.threads", "must be at least 1, got \(n)")
        case .count(let n) where n > Config.maxThreads, .perNode(let n) where n > Config.maxThreads:
            try fail("parallel.threads", "\(n) threads is more than makemore runs (at most \(Config.maxThreads))")
        case .count(let n) where n > shards:
            try fail("parallel.threads", "\(n) threads but parallel.shards is \(shards)\(parallel.shards == nil ? " (auto)" : ""); use at least as many shards "
                + "as threads (the shard count, not the thread count, fixes the result)")
        default: break
        }
        if let nodes = parallel.nodes, nodes.isEmpty || nodes.contains(where: { $0 < 0 || $0 > Config.maxCPU }) {
            try fail("parallel.nodes", "must be 'auto' or a non-empty list of node numbers")
        }
        if let topo = parallel.topology,
           topo.isEmpty || topo.count > Config.maxThreads || topo.contains(where: { $0.isEmpty || $0.contains { $0 < 0 || $0 > Config.maxCPU } }) {
            try fail("parallel.topology", "nodes must be non-empty lists of CPU numbers in 0...\(Config.maxCPU)")
        }
    }
}
