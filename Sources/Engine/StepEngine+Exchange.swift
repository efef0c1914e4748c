import Parallel

// Multi-process steps (one engine per process, `ShardExchange` between them).
//
// Every process draws the same batch (same sampler state) but computes only
// its own block of shards. After each phase, one thread per process gathers
// every shard's result from its owner:
//   after phase 1: each shard's BatchNorm moments (mean, M2: 2·Hp floats);
//   after phase 2: each shard's partial dbngain, dbnbias (2·Hp) and loss sum;
//   after phase 3: each shard's whole gradient (P floats), and its token sums
//   (V·B·Hp floats) when shards fold (and before that, after phase 1, each
//   process copies the other processes' folding rows' contexts).
// Then every process combines and reduces all S shards in shard order exactly
// as a single process would, so all processes hold the same parameters and
// the run is bit-identical to one process with the same shards.

/// Pointers to each shard's pieces for the three exchanges, made once.
struct ExchangePieces {
    let moments: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let batchNorm: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let losses: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let gradients: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let tokenSums: UnsafeMutablePointer<UnsafeMutableRawPointer>?

    func deallocate() {
        for p in [moments, batchNorm, losses, gradients] { p.deallocate() }
        tokenSums?.deallocate()
    }
}

extension StepEngine {
    /// Makes this engine one process of a multi-process run.
    public func attach(exchange ex: ShardExchange) {
        precondition(exchange == nil && ex.rankCount >= 1)
        exchange = ex
        localShards = ex.ownedShards(of: ex.rank, shards: shardCount)
        precondition(localShards.count >= workerCount, "each worker needs a shard")
        setHomeShards()
        func pieces(_ f: (Int) -> UnsafeMutableRawPointer) -> UnsafeMutablePointer<UnsafeMutableRawPointer> {
            let p = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: shardCount)
            for s in 0..<shardCount { (p + s).initialize(to: f(s)) }
            return p
        }
        let P = layout.count
        precondition(workspace.shards[0].m2 == workspace.shards[0].mean + shape.hiddenPadded)
        precondition(layout.bnbias == layout.bngain + shape.hiddenPadded)
        exchangePieces = ExchangePieces(
            moments: pieces { UnsafeMutableRawPointer(self.workspace.shards[$0].mean) },
            batchNorm: pieces { UnsafeMutableRawPointer(self.workspace.shardGrads + $0 * P + self.layout.bngain) },
            losses: pieces { UnsafeMutableRawPointer(self.workspace.shardLoss + $0) },
            gradients: pieces { UnsafeMutableRawPointer(self.workspace.shardGrads + $0 * P) },
            tokenSums: workspace.foldedSums == nil ? nil : pieces { UnsafeMutableRawPointer(self.workspace.shards[$0].tokenSums!) })
    }

    /// The block of this process's shards that worker `w` of `T` would own
    /// with fixed shards; node k's home shards are its workers' blocks.
    func shards(ofWorker w: Int, of T: Int) -> Range<Int> {
        let r = shardRange(worker: w, of: T, shards: localShards.count)
        return (localShards.lowerBound + r.lowerBound)..<(localShards.lowerBound + r.upperBound)
    }

    /// Sets each node's home shards from `localShards` (at start, and when an exchange is attached).
    func setHomeShards() {
        let nodes = replicas.count
        for k in 0..<nodes {
            let team = replicas.nodes[k].workers
            homeBounds[k] = shards(ofWorker: team.lowerBound, of: workerCount).lowerBound
            homeBounds[k + 1] = shards(ofWorker: team.upperBound - 1, of: workerCount).upperBound
        }
        for w in 0..<workerCount {
            workerBounds[w] = shards(ofWorker: w, of: workerCount).lowerBound
            workerBounds[w + 1] = shards(ofWorker: w, of: workerCount).upperBound
        }
    }

    enum ExchangePoint { case moments, batchNorm, gradients }

    /// The contexts of the other processes' folding rows into `batchX`
    /// (phase 1 copied this one's): the folded backward counts every folding
    /// row's context (`countFoldedPairs`). Before the next batch is drawn,
    /// which happens after phase 2. Where the caller fills `batchX` itself it
    /// is complete already.
    private func copyOtherProcessesRows() {
        guard foldsBatchNorm, node(of: 0).examples != nil else { return }
        for s in 0..<shardCount where !localShards.contains(s) && folds(rows: workspace.shards[s].rows) {
            let sh = workspace.shards[s]
            copyTrainingRows(sh.rowStart..<(sh.rowStart + sh.rows), worker: 0)
        }
    }

    /// One exchange, by one thread of this process (the others wait at a barrier).
    func exchangeShards(_ point: ExchangePoint) {
        guard let ex = exchange, let p = exchangePieces else { return }
        let Hp = shape.hiddenPadded
        switch point {
        case .moments:
            ex.allGather(p.moments, shards: shardCount, bytes: 2 * Hp * 4)
            copyOtherProcessesRows()
            countFoldedPairs()
        case .batchNorm:
            ex.allGather(p.batchNorm, shards: shardCount, bytes: 2 * Hp * 4)
            ex.allGather(p.losses, shards: shardCount, bytes: 8)
        case .gradients:
            ex.allGather(p.gradients, shards: shardCount, bytes: layout.count * 4)
            if let sums = p.tokenSums {
                ex.allGather(sums, shards: shardCount, bytes: shape.tokenSumFloats * 4)
            }
        }
    }
}
