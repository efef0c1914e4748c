import Foundation
import Parallel
import XCTest
@testable import Makemore
import Engine

/// R simulated processes in one test process: each rank has its own Trainer
/// (own model, pool and engine) and they meet in `allGather` through shared
/// memory. This checks the multi-process protocol that the MPI backend
/// implements, without MPI.
final class InProcessExchange: ShardExchange, @unchecked Sendable {
    let rank: Int
    let rankCount: Int
    let shared: Shared

    /// Raw memory (not Swift arrays): the ranks write disjoint parts of it at
    /// once, which a Swift array would count as conflicting accesses.
    final class Shared: @unchecked Sendable {
        let ranks: Int
        let barrier: Barrier
        var staging = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
        var capacity = 1
        let flags: UnsafeMutablePointer<Int32>
        init(ranks: Int) {
            self.ranks = ranks
            barrier = Barrier(parties: ranks)
            flags = .allocate(capacity: ranks)
            flags.initialize(repeating: 0, count: ranks)
        }
        deinit { staging.deallocate(); flags.deallocate() }
    }

    init(rank: Int, shared: Shared) {
        self.rank = rank
        self.shared = shared
        rankCount = shared.ranks
    }

    func allGather(_ pieces: UnsafePointer<UnsafeMutableRawPointer>, shards: Int, bytes: Int) {
        if rank == 0 && shared.capacity < shards * bytes {
            shared.staging.deallocate()
            shared.staging = .allocate(byteCount: shards * bytes, alignment: 64)
            shared.capacity = shards * bytes
        }
        shared.barrier.wait()
        let mine = ownedShards(of: rank, shards: shards)
        for s in mine { (shared.staging + s * bytes).copyMemory(from: pieces[s], byteCount: bytes) }
        shared.barrier.wait()
        for s in 0..<shards where !mine.contains(s) {
            pieces[s].copyMemory(from: shared.staging + s * bytes, byteCount: bytes)
        }
        shared.barrier.wait()
    }

    func agreeMax(_ value: Int32) -> Int32 {
        shared.flags[rank] = value
        shared.barrier.wait()
        var m = Int32.min
        for r in 0..<rankCount { m = max(m, shared.flags[r]) }
        shared.barrier.wait()
        return m
    }
}

final class ShardExchangeTests: XCTestCase {
    func testTwoAndThreeRanksAreBitIdenticalToOneProcess() throws {
        try checkRanks(batchSize: 36)
    }

    /// Shards of 40 rows fold their embedding products: the token sums go
    /// through the exchange, and every rank turns them into dW1 and dC.
    func testRanksWithFoldingShardsAreBitIdenticalToOneProcess() throws {
        XCTAssertTrue(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64).foldsEmbedding(rows: 40))
        try checkRanks(batchSize: 240)
    }

    /// 960 rows fold BatchNorm's backward too: each rank then also copies the
    /// other ranks' folding rows' contexts, to count every row's token pairs.
    func testRanksFoldingBatchNormAreBitIdenticalToOneProcess() throws {
        XCTAssertTrue(ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64).foldsBatchNorm(foldingRows: 960))
        try checkRanks(batchSize: 960)
    }

    func checkRanks(batchSize: Int) throws {
        var config = Config()
        config.train.batchSize = batchSize
        config.train.steps = 25
        config.parallel.shards = 6
        config.parallel.threads = .count(1)
        config.parallel.oversubscribe = true
        let words = Array(ThreadInvarianceTests.words.prefix(800))
        let dataset = try Dataset(words: words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)

        @Sendable func bits(_ t: Trainer) -> [UInt32] { (0..<t.model.layout.count).map { t.model.parameters.base[$0].bitPattern } }

        let single = try Trainer(config: config, dataset: dataset, resume: nil, log: { _ in })
        var singleLosses = [Double]()
        for _ in 0..<config.train.steps { singleLosses.append(try single.trainStep()) }
        let expected = bits(single)
        single.shutdown()

        for (ranks, threads) in [(2, 1), (2, 2), (3, 1)] {
            var perRank = config
            perRank.parallel.threads = .count(threads)
            let c = perRank
            let shared = InProcessExchange.Shared(ranks: ranks)
            let out = Results(ranks: ranks)
            let lock = NSLock()
            let done = DispatchSemaphore(value: 0)
            for r in 0..<ranks {
                Thread {
                    do {
                        let t = try Trainer(config: c, dataset: dataset, resume: nil,
                                            exchange: InProcessExchange(rank: r, shared: shared), log: { _ in })
                        var l = [Double]()
                        for _ in 0..<c.train.steps { l.append(try t.trainStep()) }
                        let b = bits(t)
                        t.shutdown()
                        lock.withLock { out.parameters[r] = b; out.losses[r] = l }
                    } catch {
                        lock.withLock { out.failures.append("rank \(r): \(error)") }
                    }
                    done.signal()
                }.start()
            }
            for _ in 0..<ranks { done.wait() }
            XCTAssertEqual(out.failures, [])
            for r in 0..<ranks {
                XCTAssertTrue(out.parameters[r] == expected, "\(ranks) ranks × \(threads) threads: rank \(r) differs from one process")
                XCTAssertEqual(out.losses[r], singleLosses, "\(ranks) ranks × \(threads) threads: rank \(r) losses")
            }
        }
    }
}

/// What the simulated ranks report, written under a lock.
final class Results: @unchecked Sendable {
    var parameters: [[UInt32]]
    var losses: [[Double]]
    var failures = [String]()
    init(ranks: Int) {
        parameters = Array(repeating: [], count: ranks)
        losses = Array(repeating: [], count: ranks)
    }
}
