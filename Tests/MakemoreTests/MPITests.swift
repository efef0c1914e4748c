import Foundation
import XCTest
@testable import Makemore
@testable import Bench
import Engine

/// The MPI backend end to end: `mpirun -np 2` of an MPI build of `makemore`
/// against single-process runs of the same binary, bit for bit.
///
/// Needs `mpirun` on PATH and the MPI build in MAKEMORE_MPI_BINARY (`make
/// test-mpi` builds it and sets both); otherwise each test is skipped.
///
/// The runs use `mpirun --bind-to none` and `makemore --no-pin` so that they
/// also work on a one-CPU CI machine; pinning is not what is tested here.
final class MPITests: XCTestCase {
    var binary = ""
    var mpirun = ""
    var dir = ""

    override func setUpWithError() throws {
        (binary, mpirun) = try Self.mpiBinaryAndLauncher()
        dir = NSTemporaryDirectory() + "makemore-mpi-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Flags of every run: municipis, 4 shards, a few hundred steps, dev loss and checkpoints on the way.
    func common(steps: Int, checkpoint: String) -> [String] {
        ["train", "--config", repositoryRoot.appendingPathComponent("configs/municipis.yaml").path,
         "--data", repositoryRoot.appendingPathComponent("data/municipis.csv").path,
         "--steps", "\(steps)", "--lr", "0:0.1,150:0.05", "--batch-size", "32", "--shards", "4",
         "--eval-every", "100", "--checkpoint-every", "100", "--checkpoint", "\(dir)/\(checkpoint)", "--no-pin"]
    }

    func testTwoRanksAreBitIdenticalToOneProcess() throws {
        try single(common(steps: 400, checkpoint: "p1t1.safetensors") + ["--threads", "1"])
        try single(common(steps: 400, checkpoint: "p1t2.safetensors") + ["--threads", "2", "--oversubscribe"])
        let out = try ranks(2, common(steps: 400, checkpoint: "p2t1.safetensors") + ["--threads", "1"])
        try ranks(2, common(steps: 400, checkpoint: "p2t2.safetensors") + ["--threads", "2", "--oversubscribe"])
        let reference = try load("p1t1.safetensors")
        XCTAssertEqual(reference.step, 400)
        for name in ["p1t2", "p2t1", "p2t2"] {
            XCTAssertEqual(try load("\(name).safetensors"), reference, "\(name) differs from 1 process × 1 thread")
        }
        // Rank 0 alone prints: one layout report, one final checkpoint line.
        XCTAssertTrue(out.contains("rank 1 on "), out)
        XCTAssertEqual(out.components(separatedBy: "checkpoint: ").count - 1, 1, out)
        XCTAssertEqual(out.components(separatedBy: "final loss").count - 1, 1, out)
    }

    /// Batch 1136 in 30 shards of 37 and 38 rows: at municipis' 29 symbols the
    /// 26 shards of 38 rows fold their embedding products, the 4 of 37 do not,
    /// and the folding rows (988) are enough to fold BatchNorm's backward too.
    /// That needs every folding row's context, which each rank copies from the
    /// other after phase 1.
    func testAPartlyFoldingBatchOnTwoRanksIsBitIdenticalToOneProcess() throws {
        let shape = ModelShape(vocabSize: 29, blockSize: 3, nEmbd: 10, nHidden: 64)
        XCTAssertTrue(shape.foldsEmbedding(rows: 38))
        XCTAssertFalse(shape.foldsEmbedding(rows: 37))
        XCTAssertTrue(shape.foldsBatchNorm(foldingRows: 26 * 38))
        let batch = ["--batch-size", "1136", "--shards", "30"]  // after common's flags: the last of an option wins
        try single(common(steps: 200, checkpoint: "f1.safetensors") + batch + ["--threads", "1"])
        try ranks(2, common(steps: 200, checkpoint: "f2t1.safetensors") + batch + ["--threads", "1"])
        try ranks(2, common(steps: 200, checkpoint: "f2t2.safetensors") + batch + ["--threads", "2", "--oversubscribe"])
        let reference = try load("f1.safetensors")
        XCTAssertEqual(try Checkpoint.load(path: "\(dir)/f1.safetensors").model.shape.vocabSize, 29)
        XCTAssertEqual(reference.step, 200)
        for name in ["f2t1", "f2t2"] {
            XCTAssertEqual(try load("\(name).safetensors"), reference, "\(name) differs from 1 process × 1 thread")
        }
    }

    func testResumeWithAnotherRankCountIsBitIdentical() throws {
        try single(common(steps: 600, checkpoint: "whole.safetensors") + ["--threads", "1"])
        let whole = try load("whole.safetensors")
        // 2 ranks, then 1 process.
        try ranks(2, common(steps: 300, checkpoint: "a.safetensors") + ["--threads", "1"])
        XCTAssertEqual(try load("a.safetensors").step, 300)
        try single(common(steps: 600, checkpoint: "a.safetensors") + ["--threads", "1", "--resume"])
        XCTAssertEqual(try load("a.safetensors"), whole, "2 ranks then 1 process")
        // 1 process, then 2 ranks.
        try single(common(steps: 300, checkpoint: "b.safetensors") + ["--threads", "1"])
        try ranks(2, common(steps: 600, checkpoint: "b.safetensors") + ["--threads", "1", "--resume"])
        XCTAssertEqual(try load("b.safetensors"), whole, "1 process then 2 ranks")
    }

    /// Ranks that would start from different states (here: another sampling
    /// seed on rank 1, via mpirun's MPMD syntax) are refused before the first step.
    func testRanksThatDisagreeAreRefused() throws {
        let args = common(steps: 100, checkpoint: "x.safetensors") + ["--threads", "1"]
        let r = try run(mpirun, Self.mpirunFlags + ["-np", "1", binary] + args + [":", "-np", "1", binary] + args + ["--seed", "7"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("do not start from the same state"), r.output)
        XCTAssertTrue(r.output.contains("training settings"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/x.safetensors"))
    }

    /// A diverging run stops on every rank at the same step (they see the same numbers)
    /// with an error that names the rank.
    func testDivergenceStopsEveryRankAtTheSameStep() throws {
        let r = try run(mpirun, Self.mpirunFlags + ["-np", "2", binary]
                        + common(steps: 400, checkpoint: "d.safetensors") + ["--threads", "1", "--lr", "1e30"])
        XCTAssertNotEqual(r.status, 0)
        let lines = r.output.split(separator: "\n").filter { $0.contains("is not finite") }
        // Each rank reports it, unless MPI_Abort of the first one ends the other before it prints.
        XCTAssertTrue((1...2).contains(lines.count), r.output)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("makemore: rank ") }, r.output)
        let steps = Set(lines.compactMap { line in line.range(of: #"step \d+:"#, options: .regularExpression).map { line[$0] } })
        XCTAssertEqual(steps.count, 1, r.output)
    }

    /// `kill -9` of one rank: the job ends (no hang), and the last checkpoint resumes.
    func testAKilledRankEndsTheJob() throws {
        let job = try CollectedProcess([mpirun] + Self.mpirunFlags + ["-np", "2", binary]
            + common(steps: 100_000_000, checkpoint: "k.safetensors") + ["--threads", "1", "--checkpoint-every", "2000"],
            environment: environment)
        let p = job.process
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let checkpoint = "\(dir)/k.safetensors"
        try wait(upTo: 60) { FileManager.default.fileExists(atPath: checkpoint) }
        let victims = Self.children(of: p.processIdentifier).filter { Self.rank(of: $0) == 1 }
        XCTAssertEqual(victims.count, 1)
        kill(victims[0], SIGKILL)
        try wait(upTo: 30) { !p.isRunning }
        let output = job.output()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(output.contains("exited on signal 9") || output.contains("rank has probably died"), output)
        // The last checkpoint is whole and resumes with one process.
        let saved = try Checkpoint.load(path: checkpoint)
        XCTAssertEqual(saved.step % 2000, 0)
        try single(common(steps: saved.step + 50, checkpoint: "k.safetensors") + ["--threads", "1", "--resume"])
        XCTAssertEqual(try load("k.safetensors").step, saved.step + 50)
    }

    /// The normal build under mpirun refuses on every rank instead of running
    /// independent copies (MAKEMORE_BINARY: a build without MPI; `make test` sets it).
    func testABuildWithoutMPIRefusesToRunUnderMpirun() throws {
        guard let plain = ProcessInfo.processInfo.environment["MAKEMORE_BINARY"],
              FileManager.default.isExecutableFile(atPath: plain) else {
            throw XCTSkip("MAKEMORE_BINARY (a makemore built without MPI) is not set")
        }
        let r = try run(mpirun, Self.mpirunFlags + ["-np", "2", plain] + common(steps: 100, checkpoint: "n.safetensors"))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("built without MPI"), r.output)
        XCTAssertTrue(r.output.contains("make build-mpi"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/n.safetensors"))
    }

    /// `makemore bench --ranks 1,2` (not under mpirun itself): it starts one
    /// mpirun for the 2-rank cells and merges them; the engine is bit-identical
    /// across rank counts, so both cells end with the same loss.
    func testBenchRanksRunsTwoRanksUnderMpirunAndMergesTheCells() throws {
        let json = "\(dir)/bench.json"
        let out = try single(["bench", "--ranks", "1,2", "--threads", "1", "--batch-size", "32", "--n-hidden", "16",
                              "--steps", "20", "--warmup", "2", "--repeats", "2", "--no-pin", "--oversubscribe",
                              "--predict", "--json", json])
        let report = try BenchReport.load(path: json)
        XCTAssertEqual(report.results.map(\.ranks), [1, 2], out)
        let (one, two) = (report.results[0], report.results[1])
        XCTAssertEqual(one.shards, two.shards)
        XCTAssertEqual(one.steps, two.steps)
        XCTAssertEqual(one.finalLoss, two.finalLoss, "1 and 2 ranks train the same numbers")
        XCTAssertTrue(two.finalLoss.isFinite && two.finalLoss > 0)
        XCTAssertTrue(out.contains("all cells"), out)
        XCTAssertTrue(out.contains("R ranks × 1 thread per rank"), out)
        XCTAssertFalse(out.contains("T=2") || out.contains("nodes"), out)
        // The file holds the predictions (a load recomputes them rather than read them).
        let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        XCTAssertNil(raw["predictions"])
        let written = try XCTUnwrap((raw["rank_predictions"] as? [[String: Any]])?.first?["calibration"] as? [String: Any])
        XCTAssertEqual(written["source"] as? String, "α from the 2-rank × 1-thread cell")
        XCTAssertEqual(report.recomputed().rankPredictions?.first?.calibration.source, "α from the 2-rank × 1-thread cell")
    }

    // MARK: helpers

    static let mpirunFlags: [String] = (getuid() == 0 ? ["--allow-run-as-root"] : [])
        // Containers often forbid the cross-memory-attach copy of the shared-memory transport.
        + ["--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none"]

    @discardableResult
    func single(_ args: [String]) throws -> String {
        let r = try run(binary, args)
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    @discardableResult
    func ranks(_ n: Int, _ args: [String]) throws -> String {
        let r = try run(mpirun, Self.mpirunFlags + ["-np", "\(n)", binary] + args)
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    /// The tile cache in the test's folder.
    var environment: [String: String] { ProcessInfo.processInfo.environment.merging(["MAKEMORE_CACHE_DIR": dir]) { $1 } }

    /// Runs a command to completion (at most two minutes, then SIGTERM, which
    /// mpirun passes on to its ranks) and returns its status and output.
    func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try CollectedProcess([path] + args, environment: environment).finish(timeout: 120, signal: SIGTERM)
    }

    struct Saved: Equatable {
        var parameters: [UInt32], running: [UInt32], step: Int, rng: [UInt64]
    }

    func load(_ name: String) throws -> Saved { try Self.saved("\(dir)/\(name)") }

    /// A checkpoint's parameters, running statistics, step and sampler state, as bits.
    static func saved(_ path: String) throws -> Saved {
        let c = try Checkpoint.load(path: path)
        let m = c.model
        let hp = m.shape.hiddenPadded
        return Saved(parameters: (0..<m.layout.count).map { m.parameters.base[$0].bitPattern },
                     running: (0..<hp).map { m.runningMean.base[$0].bitPattern } + (0..<hp).map { m.runningVar.base[$0].bitPattern },
                     step: c.step, rng: c.rng?.stateWords ?? [])
    }

    /// The MPI build (MAKEMORE_MPI_BINARY, set by `make test-mpi`) and mpirun, or a skip saying which is missing.
    static func mpiBinaryAndLauncher() throws -> (binary: String, mpirun: String) {
        guard let b = ProcessInfo.processInfo.environment["MAKEMORE_MPI_BINARY"], !b.isEmpty else {
            throw XCTSkip("MAKEMORE_MPI_BINARY is not set: `make test-mpi` builds makemore with MPI and runs these tests")
        }
        guard FileManager.default.isExecutableFile(atPath: b) else {
            throw XCTSkip("MAKEMORE_MPI_BINARY=\(b) is not an executable")
        }
        guard let m = which("mpirun") else { throw XCTSkip("mpirun is not on PATH (apt-get install openmpi-bin)") }
        return (b, m)
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The processes whose parent is `pid` (from /proc).
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }
    }

    /// OMPI_COMM_WORLD_RANK of a process, from its environment.
    static func rank(of pid: Int32) -> Int? {
        guard let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        for entry in env.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            if s.hasPrefix("OMPI_COMM_WORLD_RANK=") { return Int(s.dropFirst("OMPI_COMM_WORLD_RANK=".count)) }
        }
        return nil
    }
}

/// A child process whose standard output and error are collected, interleaved,
/// as they come (read on a background queue), so a test can watch a run that
/// has not ended.
final class CollectedProcess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var data = Data()

    /// Starts `command`: an executable's path, then its arguments.
    init(_ command: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            self?.lock.withLock { self?.data.append(d) }
        }
        try process.run()
    }

    /// What it has written so far.
    var text: String { lock.withLock { String(data: data, encoding: .utf8) ?? "" } }

    /// Everything it wrote, once it has exited: the background reads stop and
    /// the rest is read up to the pipe's end, i.e. until every writer (children
    /// that inherited the pipe too) has exited.
    func output() -> String {
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        return text + (String(data: rest, encoding: .utf8) ?? "")
    }

    /// Waits at most `timeout` seconds for it to exit, then sends it `signal` and
    /// fails the test; returns its status and everything it wrote.
    func finish(timeout: Double, signal: Int32) -> (status: Int32, output: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, signal)
            let command = [process.executableURL?.path ?? "?"] + (process.arguments ?? [])
            XCTFail("timed out after \(Int(timeout)) s: \(command.joined(separator: " "))")
        }
        process.waitUntilExit()
        return (process.terminationStatus, output())
    }
}
