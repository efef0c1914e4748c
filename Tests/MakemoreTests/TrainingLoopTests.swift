import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

/// The training loop's promises, in process: exact resume across thread
/// counts, stop on request, divergence and failing saves never replace a good
/// checkpoint with a bad one.
final class TrainingLoopTests: XCTestCase {
    var dir = ""
    var lines: [String] = []

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory()
        lines = []
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let dataset: Dataset = {
        let words = Array(ThreadInvarianceTests.words.prefix(400))
        return try! Dataset(words: words, blockSize: 3, split: [0.8, 0.1, 0.1], seed: 42)
    }()

    func config(steps: Int, threads: Int = 1, every: Int = 0, lr: Double = 0.1) -> Config {
        var c = Config()
        c.model.nHidden = 16
        c.train.batchSize = 12
        c.train.steps = steps
        c.train.lr = [.init(step: 0, rate: lr), .init(step: 50, rate: lr / 10)]
        c.train.evalEvery = 0
        c.train.checkpoint = dir + "/m.safetensors"
        c.train.checkpointEvery = every
        c.parallel.threads = .count(threads)
        c.parallel.shards = 3
        c.parallel.pin = false
        c.parallel.oversubscribe = true
        return c
    }

    func loop(_ config: Config, resume: Checkpoint? = nil) throws -> TrainingLoop {
        let trainer = try Trainer(config: config, dataset: Self.dataset, resume: resume, log: { _ in })
        trainer.engine.activeWorkers = trainer.engine.workerCount  // every thread works, even on a tiny batch
        addTeardownBlock { trainer.shutdown() }
        return TrainingLoop(trainer: trainer, checkpointPath: config.train.checkpoint) { [unowned self] in self.lines.append($0) }
    }

    func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    /// Run A: 80 steps on 1 thread. Run B: 30 steps on 2 threads, then resumed
    /// to 80 on 1 or 3 threads. The final files are the same bytes (and the
    /// learning-rate change at step 50 falls in the resumed part).
    func testResumeIsBitIdenticalAcrossThreadCounts() throws {
        let path = dir + "/m.safetensors"
        XCTAssertEqual(try loop(config(steps: 80)).run(), .finished)
        let a = bytes(path)!
        for resumedThreads in [1, 3] {
            try FileManager.default.removeItem(atPath: path)
            XCTAssertEqual(try loop(config(steps: 30, threads: 2)).run(), .finished)
            let half = try Checkpoint.load(path: path)
            XCTAssertEqual(half.step, 30)
            XCTAssertEqual(try loop(config(steps: 80, threads: resumedThreads), resume: half).run(), .finished)
            XCTAssertTrue(bytes(path)! == a, "resumed on \(resumedThreads) threads: the final checkpoint differs")
        }
        XCTAssertTrue(lines.contains("resuming at step 30 of 80"), "\(lines)")
    }

    func testStopRequestSavesAtAStepBoundary() throws {
        var l = try loop(config(steps: 1_000_000, every: 25))
        let save = l.write
        l.write = { c, p in
            try save(c, p)
            if c.step == 50 { l.stop.request(SIGTERM) }  // as the signal handler does
        }
        XCTAssertEqual(try l.run(), .stopped(signal: SIGTERM, step: 50))
        XCTAssertEqual(try Checkpoint.load(path: dir + "/m.safetensors").step, 50)
        XCTAssertTrue(lines.contains { $0.hasPrefix("stopped by SIGTERM after step 50") }, "\(lines)")
        XCTAssertTrue(lines.contains("resume with: makemore train --resume \(dir)/m.safetensors"), "\(lines)")
    }

    func testDivergenceKeepsTheLastGoodCheckpoint() throws {
        let path = dir + "/m.safetensors"
        let l = try loop(config(steps: 100, every: 1, lr: 1e30))
        XCTAssertThrowsError(try l.run()) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("step 2:"), m)
            XCTAssertTrue(m.contains("not finite"), m)
            XCTAssertTrue(m.contains("last good checkpoint: \(path) (step 1, kept)"), m)
        }
        let kept = try Checkpoint.load(path: path)  // loads: every value finite
        XCTAssertEqual(kept.step, 1)
    }

    func testDivergenceWithoutCheckpointLeavesAnOlderFileUntouched() throws {
        let path = dir + "/m.safetensors"
        XCTAssertEqual(try loop(config(steps: 10)).run(), .finished)
        let before = bytes(path)
        XCTAssertThrowsError(try loop(config(steps: 100, lr: 1e30)).run()) { e in
            XCTAssertTrue("\(e)".contains("last good checkpoint: \(path) (untouched by this run)"), "\(e)")
        }
        XCTAssertTrue(bytes(path) == before)
    }

    func testNonFiniteParametersAreNeverSaved() throws {
        let path = dir + "/m.safetensors"
        let l = try loop(config(steps: 0))
        l.trainer.model.parameters.base[0] = .infinity
        XCTAssertThrowsError(try l.run()) { e in
            XCTAssertTrue("\(e)".contains("parameters are no longer finite"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    /// Disk full (ENOSPC from write) while saving: a periodic save warns and
    /// training goes on; the final one is an error; the old file is kept throughout.
    func testDiskFullKeepsThePreviousCheckpoint() throws {
        let path = dir + "/m.safetensors"
        XCTAssertEqual(try loop(config(steps: 5)).run(), .finished)
        let before = bytes(path)
        var full = AtomicFile.Syscalls.system
        full.write = { _, _, _ in errno = ENOSPC; return -1 }
        var l = try loop(config(steps: 60, every: 20))
        l.write = { c, p in try AtomicFile.write(c.encode().encode(), to: p, using: full) }
        XCTAssertThrowsError(try l.run()) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("step 60: cannot write \(path): No space left on device (previous file kept)"), m)
            XCTAssertTrue(m.contains("last good checkpoint: \(path) (untouched by this run)"), m)
        }
        XCTAssertEqual(lines.filter { $0.hasPrefix("warning: step") && $0.contains("No space left on device") }.count, 2, "\(lines)")
        XCTAssertTrue(bytes(path) == before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasSuffix(".metrics.csv") }, ["m.safetensors"],
                       "no temporary file left")
    }

    /// A save that fails once (folder briefly read-only: EROFS at rename) and then works.
    func testAFailedPeriodicSaveIsRetried() throws {
        let path = dir + "/m.safetensors"
        var failures = 0
        var l = try loop(config(steps: 60, every: 20))
        l.write = { c, p in
            if c.step == 20 {
                var ro = AtomicFile.Syscalls.system
                ro.rename = { _, _ in errno = EROFS; return -1 }
                failures += 1
                try AtomicFile.write(c.encode().encode(), to: p, using: ro)
            }
            try c.save(to: p)
        }
        XCTAssertEqual(try l.run(), .finished)
        XCTAssertEqual(failures, 1)
        XCTAssertEqual(lines.filter { $0.contains("Read-only file system") }.count, 1, "\(lines)")
        XCTAssertEqual(try Checkpoint.load(path: path).step, 60)
    }

    func testResumingPastTheEndWritesNothing() throws {
        let path = dir + "/m.safetensors"
        XCTAssertEqual(try loop(config(steps: 40)).run(), .finished)
        let before = bytes(path)
        XCTAssertEqual(try loop(config(steps: 20), resume: Checkpoint.load(path: path)).run(), .finished)
        XCTAssertTrue(bytes(path) == before)
        XCTAssertTrue(lines.last!.contains("nothing to train"), "\(lines)")
    }

    func testMemoryCheckRefusesAbsurdConfigsWithTheSize() throws {
        var c = config(steps: 1)
        c.train.batchSize = 1 << 24
        c.model.nHidden = 65536
        c.parallel.shards = 1 << 20
        XCTAssertThrowsError(try Trainer(config: c, dataset: Self.dataset, resume: nil, log: { _ in })) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("this config needs"), m)
            XCTAssertTrue(m.contains("TiB"), m)
        }
        let huge = Trainer.bytesNeeded(shape: ModelShape(vocabSize: 1 << 20, blockSize: 64, nEmbd: 1024, nHidden: 65536),
                                       batchSize: 1 << 24, shards: 1 << 24, workers: 4096, examples: 1 << 30)
        XCTAssertTrue(huge.isFinite && huge > 1e18, "no Int overflow: \(huge)")
        let small = Trainer.bytesNeeded(shape: ModelShape(vocabSize: 27, blockSize: 3, nEmbd: 10, nHidden: 64),
                                        batchSize: 32, shards: 2, workers: 1, examples: 100)
        XCTAssertLessThan(small, 50_000_000)
    }
}
