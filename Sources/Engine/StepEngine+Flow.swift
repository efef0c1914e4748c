import Foundation
import KernelSupport
import Kernels
import Parallel

// Steps without barriers (one process; `ParallelSteps` uses it when no
// `ShardExchange` is attached).
//
// A step is a chain of stages; each stage is a set of work items that the
// workers claim one at a time, and a stage may start once the previous one
// has all its items done (`CompletionCounters`), whoever did them:
//
//   stage 0     every shard's phase 1 and the W1ᵀ/W2ᵀ transposes, in T pieces
//   stage 1     every shard's phase 2 (forward and backward), and where
//               shards fold, one item that counts their contexts' token pairs
//   stage 2     every shard's phase 3, one bookkeeping item (the step's
//               loss, and the draw of the next batch) and the folded
//               backward's part 0: Σ hprebn per token, one item per position
//   stage 3     its part 1: the shards' token sums summed and turned into
//               dhprebn's, in pieces (none when no shard folds)
//   stage 4     its part 2: dW1 per position, dC and db1 (StepEngine+FoldedBackward.swift)
//   stage 5+k   reduce stage k (one per node): the parameter chunks; the last
//               stage also has one item that updates the running statistics
//
// A worker that its CPU's scheduler has put aside delays the step only while
// it holds an item, not at every barrier as it would if all had to arrive.
//
// The shards of a stage are in one pool per worker, its block of shards
// (`workerBounds`). A worker takes from its own pool first, then from the
// other workers of its node, then from the other nodes'. On a quiet machine
// every worker so computes its own block in every stage, and a shard's
// activations stay in the cache of the core that made them; a worker that
// falls behind has the rest of its block taken by the others.
//
// Per-worker numbers (BatchNorm statistics and backward coefficients) are
// computed by a worker when it first needs them in a step, i.e. after it has
// claimed an item that reads them: while it holds the item the step cannot
// move on, so the shard partials it reads stay those of this step.
//
// Counters. A worker alone in its dispatch (`activeWorkers` 1) claims and
// counts with plain loads and stores (`claimAlone`, `addAlone`); otherwise
// claims use `claim(_:below:)`: in step i (of a dispatch) a pool of
// n items hands out [i·n, (i+1)·n), and the counter never passes (i+1)·n,
// so a worker still looking for work of step i can never take an item of
// step i + 1. Done counts run on the same way: stage s of step i is over at
// (i+1)·(its items). All are set to 0 by the caller before a dispatch, while
// every worker waits at the pool's release barrier (which publishes them).
// A dispatch ends with the pool's join barrier, as before.

extension StepEngine {
    /// Stages of a step: 3 per-shard ones, 2 of the folded embedding
    /// gradient, and one reduce stage per node.
    public var flowStages: Int { firstReduceStage + replicas.count }

    /// What stage `s` of the flow does, for `makemore bench --stages`.
    public func flowStageName(_ s: Int) -> String {
        switch s {
        case 0: return "phase 1, transposes"
        case 1: return foldsBatchNorm ? "phase 2, pair count" : "phase 2"
        case 2: return foldsBatchNorm ? "phase 3, Σ hprebn, the draw" : "phase 3, the draw"
        case 3: return "token sums summed"
        case 4: return "dW1, dC"
        default: return replicas.count == 1 ? "reduce, SGD" : "reduce, node \(s - firstReduceStage)"
        }
    }
    var firstReduceStage: Int { 5 }

    /// Items of stage `s` in pool `q` (q < T: worker q's block of shards in the
    /// shard stages; q == T: the extra items; the other stages' pieces are in pool 0).
    @inline(__always)
    func flowPoolSize(_ s: Int, _ q: Int) -> Int {
        let T = workerCount
        switch s {
        case 0...2:
            if q < T { return workerBounds[q + 1] - workerBounds[q] }
            return s == 0 ? T : (s == 2 ? 1 + foldedActivationParts : foldedActivationParts > 0 ? 1 : 0)
        case 3: return q == 0 && foldsAnyShard ? tokenSumChunks : 0
        case 4: return q == 0 && foldsAnyShard ? foldedGradientParts : 0
        default:
            if q == 0 { return reduceChunks }
            return q == T && s == flowStages - 1 ? 1 : 0
        }
    }

    @inline(__always)
    func flowStageItems(_ s: Int) -> Int {
        var n = 0
        for q in 0...workerCount { n += flowPoolSize(s, q) }
        return n
    }

    /// Before a dispatch, on the caller's thread while the workers wait at the pool's release barrier.
    func resetFlow(oversubscribed: Bool) {
        let pools = flowStages * (workerCount + 1)
        for i in 0..<pools { flowClaims.reset(i) }
        for s in 0...flowStages { flowDone.reset(s) }  // index flowStages: the divergence flag
        flowDone.yieldWhileSpinning = oversubscribed
        statsStep.fill(-1)
        coefStep.fill(-1)
        tableStep.fill(-1)
    }

    /// Whether a step of the last dispatch had a non-finite gradient.
    var flowDiverged: Bool { flowDone.value(flowStages) != 0 }
}

extension ParallelSteps {
    /// `count` steps on worker `w`, stage after stage (see StepEngine+Flow.swift).
    func runFlow(worker w: Int, done: CompletionCounters) {
        // One strong reference for the whole run, passed down: each use of the
        // unowned(unsafe) property would otherwise retain and release it.
        let engine = self.engine
        let stages = engine.flowStages, T = engine.workerCount
        let team = engine.replicas.nodes[engine.replicas.workerNode[w]].workers
        let (teamStart, teamSize) = (team.lowerBound, team.count)
        var timer = PhaseTimer(engine: engine, worker: w)
        let alone = engine.activeWorkers == 1  // then no other thread claims, counts or waits in this dispatch
        let budget = alone ? 0 : engine.runBudgetNanos  // alone, no one waits on its items
        var running = monotonicNanos()  // since when this thread has had its CPU (it just left the pool's barrier)
        for i in 0..<count {
            timer.stageWaits()
            if i > 0 {
                // Step i reads the parameters step i − 1 wrote.
                if done.wait(stages - 1, until: i * engine.flowStageItems(stages - 1)) { running = monotonicNanos() }
                timer.lap(.barrierWait)
                if done.reached(stages, 1) { return }  // step i − 1 diverged
            }
            for s in 0..<stages {
                if s > 0 {
                    timer.stageWaits()
                    if done.wait(s - 1, until: (i + 1) * engine.flowStageItems(s - 1)) { running = monotonicNanos() }
                    timer.lap(.barrierWait)
                }
                timer.stageStarts(s)
                let target = (i + 1) * engine.flowStageItems(s)
                var cursor = 0
                while cursor <= T {
                    // Own pool, the pools of the rest of the node (in turn from here), the
                    // other nodes' workers' (in turn from the next node on), then the extra items.
                    var q = T
                    if cursor < teamSize {
                        q = w + cursor
                        if q >= teamStart + teamSize { q -= teamSize }
                    } else if cursor < T {
                        q = teamStart + teamSize + (cursor - teamSize)
                        if q >= T { q -= T }
                    }
                    let n = engine.flowPoolSize(s, q)
                    if w == engine.delayedWorker { usleep(engine.delayMicros) }
                    if budget > 0 && n > 0 {
                        // On a CPU shared with another busy thread the scheduler takes the CPU
                        // away after some milliseconds, and a worker that loses it while holding
                        // an item holds up the stage until it gets it back. So after running
                        // `budget` without a break, yield before taking an item: the item
                        // then starts at the beginning of a time slice. On a CPU of its own the
                        // yield returns at once (~1 µs per `budget`).
                        let now = monotonicNanos()
                        if now &- running > budget {
                            sched_yield()
                            running = monotonicNanos()
                        }
                    }
                    let pool = s * (T + 1) + q
                    guard n > 0, let c = alone ? engine.flowClaims.claimAlone(pool, below: (i + 1) * n)
                                               : engine.flowClaims.claim(pool, below: (i + 1) * n) else {
                        cursor += 1
                        continue
                    }
                    flowItem(engine, stage: s, pool: q, item: c - i * n, step: i, worker: w, done: done, timer: &timer)
                    if alone { done.addAlone(s) } else { done.add(s, target: target) }
                }
                timer.stageEnds(s)
            }
        }
    }

    @inline(__always)
    private func flowItem(_ engine: StepEngine, stage s: Int, pool q: Int, item: Int, step i: Int, worker w: Int,
                          done: CompletionCounters, timer: inout PhaseTimer) {
        let nodes = engine.replicas.count, T = engine.workerCount
        switch s {
        case 0:
            if q < T {
                ensureTokenTables(engine, step: i, worker: w)
                engine.forwardPreactivation(shard: engine.workerBounds[q] + item, worker: w)
            } else {
                engine.transposeWeights(worker: item)  // piece `item`: that worker's slice of its node's copies
            }
            timer.lap(.forward)
        case 1 where q == T:
            engine.countFoldedPairs()
            timer.lap(.backward)
        case 1:
            ensureTokenTables(engine, step: i, worker: w)  // folding shards' hprebn is summed again from them
            ensureStatistics(engine, step: i, worker: w, timer: &timer)
            let shard = StepEngine.outputShard(item, of: engine.workerBounds[q]..<engine.workerBounds[q + 1])
            engine.outputLayer(shard: shard, worker: w, &timer)
        case 2:
            if q < T {
                ensureTokenTables(engine, step: i, worker: w)
                ensureCoefficients(engine, step: i, worker: w, timer: &timer)
                engine.backwardHidden(shard: engine.workerBounds[q] + item, worker: w)
                timer.lap(.backward)
            } else if item > 0 {
                ensureTokenTables(engine, step: i, worker: w)
                engine.sumFoldedActivations(position: item - 1, worker: w)
                timer.lap(.backward)
            } else {
                losses[i] = engine.loss
                completed = i + 1
                if i + 1 < count, let sampleNext {
                    sampleNext()
                }
                timer.restart()  // the draw is the caller's time (bench reports it apart), not a phase's
            }
        case 3:
            ensureCoefficients(engine, step: i, worker: w, timer: &timer)
            engine.sumTokenSums(chunk: item, worker: w)
            timer.lap(.backward)
        case 4:
            engine.finishFoldedEmbeddingGradient(part: item, worker: w)
            timer.lap(.backward)
        default:
            let k = s - engine.firstReduceStage
            if q == 0 {
                let finite = engine.reduce(stage: k, slice: engine.parameterSlice(worker: item, of: engine.reduceChunks),
                                           learningRate: learningRates[i])
                if !finite && k == nodes - 1 { done.add(engine.flowStages, target: 0) }  // before this item counts as done
            } else {
                ensureStatistics(engine, step: i, worker: w, timer: &timer)
                engine.updateRunningStatistics(worker: w, momentum: momentum)
            }
            timer.lap(.reduceUpdate)
        }
    }

    @inline(__always)
    private func ensureStatistics(_ engine: StepEngine, step i: Int, worker w: Int, timer: inout PhaseTimer) {
        guard engine.statsStep[w] != i else { return }
        engine.combineBatchStatistics(worker: w)
        engine.statsStep[w] = i
        timer.lap(.batchNormSync)
    }

    /// The worker's token tables from step i's parameters (the last stage of
    /// step i − 1 is done before any item of step i is claimed).
    @inline(__always)
    private func ensureTokenTables(_ engine: StepEngine, step i: Int, worker w: Int) {
        guard engine.tableStep[w] != i else { return }
        engine.computeTokenTables(worker: w)
        engine.tableStep[w] = i
    }

    @inline(__always)
    private func ensureCoefficients(_ engine: StepEngine, step i: Int, worker w: Int, timer: inout PhaseTimer) {
        guard engine.coefStep[w] != i else { return }
        ensureStatistics(engine, step: i, worker: w, timer: &timer)
        engine.combineBatchNormGradients(worker: w)
        engine.coefStep[w] = i
        timer.lap(.batchNormSync)
    }
}
