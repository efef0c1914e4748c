import Foundation
import XCTest
@testable import Makemore
@testable import Bench

/// `makemore bench`: the grid runner, its JSON/CSV, the config file, the scaling
/// model's arithmetic and bench/plot.py. No assertion here is about speed.
final class BenchTests: XCTestCase {
    /// A grid small enough for a debug build: 2 thread counts × 2 batches × 1 model.
    static func tinySpec() -> BenchSpec {
        var s = BenchSpec()
        s.threads = [1, 2]
        s.batchSizes = [8, 16]
        s.nHidden = [16]
        s.steps = 3
        s.warmup = 1
        s.repeats = 2
        s.pin = false
        s.oversubscribe = true  // a one-CPU CI machine still runs 2 threads
        s.examples = 300
        s.peakSeconds = 0.05
        return s
    }

    static let tinyReport: BenchReport = try! BenchRunner(spec: tinySpec()).run()

    static let cellKeys: Set<String> = [
        "framework", "ranks", "threads", "batch_size", "n_hidden", "shards", "steps", "repeats",
        "us_per_step_min", "us_per_step_median", "us_per_step_runs", "samples_per_s",
        "baseline_threads", "speedup", "efficiency", "breakdown_us", "profiled_us_per_step",
        "workers_us", "load_avg_1m", "other_cpus_busy", "final_loss",
        "flops_per_step", "gflops", "peak_share", "peak_share_all_cores", "peak_share_best", "stages_us",
    ]
    static let phaseKeys: Set<String> = ["sample", "forward", "backward", "bn_sync", "reduce_update", "barrier_wait", "pool"]

    func json(_ report: BenchReport) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: try report.jsonData()) as? [String: Any])
    }

    func testTinyGridJSONHasEveryField() throws {
        let root = try json(Self.tinyReport)
        XCTAssertEqual(Set(root.keys), ["framework", "schema", "date", "machine", "data", "vocab_size", "block_size",
                                        "n_embd", "warmup", "load_avg_start", "load_avg_end", "results",
                                        "rank_predictions", "fma_peak"])
        let peak = try XCTUnwrap(root["fma_peak"] as? [String: Any])
        XCTAssertEqual(Set(peak.keys), ["single_core_gflops", "all_cores_gflops", "all_cores_threads", "vector_width", "seconds"])
        XCTAssertEqual(root["framework"] as? String, "makemore")
        let machine = try XCTUnwrap(root["machine"] as? [String: Any])
        XCTAssertEqual(Set(machine.keys), ["cpu_model", "logical_cpus", "numa_nodes", "topology", "os"])
        let cells = try XCTUnwrap(root["results"] as? [[String: Any]])
        XCTAssertEqual(cells.count, 4)
        for cell in cells {
            XCTAssertEqual(Set(cell.keys), Self.cellKeys)
            XCTAssertEqual(cell["ranks"] as? Int, 1)
            let threads = try XCTUnwrap(cell["threads"] as? Int)
            for k in ["us_per_step_min", "us_per_step_median", "samples_per_s", "speedup", "efficiency", "profiled_us_per_step"] {
                let v = try XCTUnwrap(cell[k] as? Double, k)
                XCTAssertTrue(v.isFinite && v > 0, "\(k) = \(v)")
            }
            XCTAssertEqual((cell["us_per_step_runs"] as? [Double])?.count, 2)
            XCTAssertLessThanOrEqual(cell["us_per_step_min"] as! Double, cell["us_per_step_median"] as! Double)
            let breakdown = try XCTUnwrap(cell["breakdown_us"] as? [String: Double])
            XCTAssertEqual(Set(breakdown.keys), Self.phaseKeys)
            XCTAssertTrue(breakdown.values.allSatisfy { $0 >= 0 && $0.isFinite })
            let workers = try XCTUnwrap(cell["workers_us"] as? [[String: Double]])
            XCTAssertEqual(workers.count, threads)
            for w in workers { XCTAssertEqual(Set(w.keys), Self.phaseKeys) }
            // Every stage of the step, per worker: worker 0's add up to no more than its profiled step.
            let stages = try XCTUnwrap(cell["stages_us"] as? [[String: Any]])
            XCTAssertEqual(stages.count, 6)
            var inside = 0.0
            for stage in stages {
                XCTAssertEqual(Set(stage.keys), ["stage", "wait", "work"])
                let (wait, work) = (try XCTUnwrap(stage["wait"] as? [Double]), try XCTUnwrap(stage["work"] as? [Double]))
                XCTAssertEqual(wait.count, threads)
                XCTAssertEqual(work.count, threads)
                XCTAssertTrue((wait + work).allSatisfy { $0 >= 0 && $0.isFinite })
                inside += wait[0] + work[0]
            }
            XCTAssertGreaterThan(stages.map { ($0["work"] as! [Double])[0] }.reduce(0, +), 0)
            XCTAssertLessThanOrEqual(inside, (cell["profiled_us_per_step"] as! Double) * 1.01 + 0.01)
            XCTAssertEqual(cell["baseline_threads"] as? Int, 1)
            XCTAssertTrue((cell["final_loss"] as! Double).isFinite)
        }
        // the 1-thread cells are their own baseline
        for cell in cells where cell["threads"] as? Int == 1 {
            XCTAssertEqual(cell["speedup"] as? Double, 1)
            XCTAssertEqual(cell["efficiency"] as? Double, 1)
        }
        let predictions = try XCTUnwrap(root["rank_predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 2)  // one per (batch, n_hidden)
        for p in predictions {
            XCTAssertEqual(Set(p.keys), ["batch_size", "n_hidden", "shards", "calibration", "points"])
            let cal = try XCTUnwrap(p["calibration"] as? [String: Any])
            XCTAssertEqual(Set(cal.keys), ["step", "hidden_padded", "parameters", "token_sums", "fold_rows", "latency_us",
                                           "bandwidth_bytes_per_us", "source"])
            let step = try XCTUnwrap(cal["step"] as? [String: Any])
            XCTAssertEqual(Set(step.keys), ["serial", "parallel", "bn_sync", "bn_sync_shard_fraction", "reduce",
                                            "cache_gain", "batch_size", "shards", "source"])
            let points = try XCTUnwrap(p["points"] as? [[String: Any]])
            XCTAssertFalse(points.isEmpty)
            for pt in points {  // 1 thread per rank: no thread count, no NUMA nodes
                XCTAssertEqual(Set(pt.keys).subtracting(["measured_us_per_step"]),
                               ["ranks", "shards", "us_per_step", "samples_per_s", "efficiency", "bytes_received_per_rank"])
            }
        }
    }

    /// The JSON gives back the report; the predictions are derived, so they are
    /// not read back but recomputed, to the same numbers.
    func testJSONRoundTripsAndCSVHasARowPerCell() throws {
        let report = Self.tinyReport
        let back = try JSONDecoder().decode(BenchReport.self, from: try report.jsonData())
        XCTAssertNil(back.rankPredictions)
        var expected = report
        expected.rankPredictions = nil
        XCTAssertEqual(back, expected)
        XCTAssertEqual(back.recomputed(), report)
        let lines = report.csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + report.results.count)
        let header = lines[0].split(separator: ",").map(String.init)
        for k in ["ranks", "threads", "batch_size", "n_hidden", "us_per_step_min", "us_per_step_median", "samples_per_s",
                  "speedup", "efficiency", "breakdown_us.barrier_wait"] {
            XCTAssertTrue(header.contains(k), k)
        }
        for line in lines.dropFirst() { XCTAssertEqual(line.split(separator: ",").count, header.count) }
    }

    /// `--stages`: per cell a title and a row per stage, a value per worker on each side of the bar.
    func testStagesTableHasARowPerStage() {
        let text = BenchTable.stages(Self.tinyReport)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 4 * 7, text)
        XCTAssertEqual(lines.filter { $0.hasPrefix("threads ") }.count, 4)
        for name in ["phase 1, transposes", "phase 2", "phase 3, the draw", "token sums summed", "reduce, SGD"] {
            XCTAssertEqual(lines.filter { $0.contains(name) }.count, 4, name)
        }
        for (i, cell) in Self.tinyReport.results.enumerated() {
            XCTAssertTrue(lines[7 * i].hasPrefix("threads \(cell.threads), batch \(cell.batchSize), H \(cell.nHidden) "))
            for row in lines[(7 * i + 1)..<(7 * i + 7)] {
                let sides = row.split(separator: "|")
                XCTAssertEqual(sides.count, 2, String(row))
                XCTAssertEqual(sides[1].split(separator: " ").count, cell.threads, String(row))  // the waits
                XCTAssertEqual(sides[0].split(separator: " ").suffix(cell.threads).compactMap { Double($0) }.count,
                               cell.threads, String(row))  // the work
            }
        }
    }

    func testTableHasARowPerCell() {
        let text = BenchTable.format(Self.tinyReport)
        XCTAssertTrue(text.contains("µs/step min"))
        // machine, peak, 2 header lines, the cells, 2 legend lines, load averages
        XCTAssertEqual(text.split(separator: "\n").count, 1 + 1 + 2 + Self.tinyReport.results.count + 2 + 1)
        XCTAssertTrue(text.contains("FMA peak (\(Self.tinyReport.machine.cpuModel)"), text)
        XCTAssertTrue(text.contains("GFLOP/s") && text.contains("%peak") && text.contains("%all"), text)
        XCTAssertTrue(RankScalingModel.format(Self.tinyReport.rankPredictions ?? []).contains("batch 16, n_hidden 16"))
    }

    /// One rank everywhere: no `ranks` column. A cell of 2 ranks brings it back, and
    /// every row has as many fields as the header either way.
    func testTableShowsRanksOnlyWithMoreThanOneRank() throws {
        func headerAndRows(_ report: BenchReport) -> (header: [Substring], rows: [[Substring]]) {
            let lines = BenchTable.format(report).split(separator: "\n")
            let at = lines.firstIndex { $0.contains("µs/step min") }!
            let rows = lines[(at + 2)...].prefix(report.results.count).map { $0.split(separator: " ") }
            return (lines[at].split(separator: " "), rows)
        }
        let single = headerAndRows(Self.tinyReport)
        XCTAssertEqual(single.header.first, "threads")
        XCTAssertFalse(single.header.contains("ranks"))
        var mixed = Self.tinyReport
        mixed.results.append(mixed.results[0])
        mixed.results[mixed.results.count - 1].ranks = 2
        let multi = headerAndRows(mixed)
        XCTAssertEqual(multi.header.first, "ranks")
        XCTAssertEqual(multi.rows.last?.first, "2")
        // "µs/step min" is one column in two words
        for (t, width) in [(single, single.header.count - 1), (multi, multi.header.count - 1)] {
            for r in t.rows { XCTAssertEqual(r.count, width, r.joined(separator: " ")) }
        }
        let cells = try XCTUnwrap(json(Self.tinyReport)["results"] as? [[String: Any]])
        XCTAssertTrue(cells.allSatisfy { $0["ranks"] as? Int == 1 }, "the JSON keeps ranks")
    }

    func testFlopsAndPeakSharesAreTheirDefinitions() throws {
        let report = Self.tinyReport
        let peak = try XCTUnwrap(report.fmaPeak)
        XCTAssertGreaterThan(peak.singleCoreGflops, 0)
        XCTAssertGreaterThan(peak.allCoresGflops, 0)
        XCTAssertEqual(peak.allCoresThreads, 2)  // the grid's largest thread count
        XCTAssertTrue([8, 16].contains(peak.vectorWidth))
        XCTAssertEqual(peak.allCoresPerCore, peak.allCoresGflops / 2)
        // K = 3·10, H = 16, V = 29: 6·n·(K·H + H·V)
        for c in report.results {
            XCTAssertEqual(c.flopsPerStep, 6 * Double(c.batchSize) * Double(30 * 16 + 16 * 29))
            XCTAssertEqual(c.gflops, c.flopsPerStep / (c.usPerStepMedian * 1e3), accuracy: 1e-3)
            XCTAssertEqual(c.peakShare, c.gflops / (peak.singleCoreGflops * Double(c.threads)), accuracy: 1e-4)
            XCTAssertEqual(c.peakShareAllCores, c.gflops / (peak.allCoresPerCore * Double(c.threads)), accuracy: 1e-4)
            // the fastest repeat's share: never below the median's
            XCTAssertEqual(c.peakShareBest, c.flopsPerStep / (c.usPerStepMin * 1e3) / (peak.singleCoreGflops * Double(c.threads)),
                           accuracy: 1e-4)
            XCTAssertGreaterThanOrEqual(c.peakShareBest, c.peakShare - 1e-4)
        }
        // ranks count as cores too
        var two = report.results[0]
        two.ranks = 2
        let shared = report.withFlops([two])[0]
        XCTAssertEqual(shared.peakShare, two.gflops / (peak.singleCoreGflops * Double(2 * two.threads)), accuracy: 1e-4)
        XCTAssertEqual(BenchCell.matmulFlops(batch: 32, vocabSize: 27, blockSize: 3, nEmbd: 10, nHidden: 200),
                       6 * 32 * (30 * 200 + 200 * 27))
    }

    func testResultsWithoutThePeakStillLoad() throws {
        // A file from before the peak: no fma_peak, no per-cell flops fields.
        var root = try json(Self.tinyReport)
        root.removeValue(forKey: "fma_peak")
        var cells = try XCTUnwrap(root["results"] as? [[String: Any]])
        for i in cells.indices {
            for k in ["flops_per_step", "gflops", "peak_share", "peak_share_all_cores", "peak_share_best"] {
                cells[i].removeValue(forKey: k)
            }
        }
        for i in cells.indices { cells[i].removeValue(forKey: "stages_us") }  // nor the stages
        root["results"] = cells
        let old = try JSONDecoder().decode(BenchReport.self, from: JSONSerialization.data(withJSONObject: root))
        XCTAssertTrue(old.results.allSatisfy { $0.stages.isEmpty })
        XCTAssertTrue(BenchTable.stages(old).hasPrefix("no stage times"), BenchTable.stages(old))
        XCTAssertNil(old.fmaPeak)
        XCTAssertEqual(old.results[0].peakShare, -1)
        XCTAssertEqual(old.results[0].flopsPerStep, 0)
        let redone = old.withFlops(old.results)  // what `bench --from` does
        XCTAssertEqual(redone.map(\.flopsPerStep), Self.tinyReport.results.map(\.flopsPerStep))
        XCTAssertTrue(redone.allSatisfy { $0.peakShare == -1 && $0.peakShareAllCores == -1 && $0.peakShareBest == -1 && $0.gflops > 0 })
        XCTAssertTrue(BenchTable.row(redone[0]).contains(" - "), BenchTable.row(redone[0]))
    }

    func testCellsWithCompetitionAreFlagged() {
        var busy = Self.tinyReport.results[0], quiet = busy, unknown = busy
        busy.otherCPUsBusy = 0.5
        quiet.otherCPUsBusy = 0.05
        unknown.otherCPUsBusy = -1
        XCTAssertTrue(busy.hadCompetition)
        XCTAssertFalse(quiet.hadCompetition)
        XCTAssertFalse(unknown.hadCompetition)
        XCTAssertTrue(BenchTable.row(busy).hasSuffix("0.50*"), BenchTable.row(busy))
        XCTAssertTrue(BenchTable.row(quiet).hasSuffix("0.05"), BenchTable.row(quiet))
        XCTAssertTrue(BenchTable.row(unknown).hasSuffix("?"), BenchTable.row(unknown))
        XCTAssertTrue(BenchTable.legend.contains { $0.hasPrefix("* ") })
    }

    func testSpecFromYAMLAndErrors() throws {
        let spec = try BenchSpec.parse(yaml: """
            bench:
              threads: [1, 2, 4]
              batch_size: 64
              n_hidden: [32]
              shards: 4
              steps: 10
              target_s: 0.5
              peak_s: 0.1
              warmup: 3
              repeats: 7
              pin: false
              oversubscribe: true
              vocab_size: 27
              block_size: 4
              n_embd: 8
              examples: 1000
              seed: 3
            """, source: "t.yaml")
        XCTAssertEqual(spec.threads, [1, 2, 4])
        XCTAssertEqual(spec.batchSizes, [64])
        XCTAssertEqual(spec.shards, 4)
        XCTAssertEqual(spec.repeats, 7)
        XCTAssertEqual(spec.peakSeconds, 0.1)
        XCTAssertEqual(spec.vocabSize, 27)
        XCTAssertFalse(spec.pin)
        XCTAssertNoThrow(try spec.validate())

        XCTAssertThrowsError(try BenchSpec.parse(yaml: "bench:\n  treads: [1]\n", source: "t.yaml")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("t.yaml:2:") && m.contains("bench.treads") && m.contains("unknown key"), m)
        }
        XCTAssertThrowsError(try BenchSpec.parse(yaml: "bench:\n  repeats: many\n", source: "t.yaml")) { e in
            XCTAssertTrue("\(e)".contains("bench.repeats"), "\(e)")
        }
        var bad = BenchSpec()
        bad.batchSizes = [1]
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("bench.batch_size")) }
        bad = BenchSpec()
        bad.threads = [1, 4]
        bad.shards = 2
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("bench.shards")) }
        bad = BenchSpec()
        bad.shards = 64  // as train refuses it: more shards than the smallest batch (32) has rows
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("bench.shards: 64 shards cannot split a batch of 32 rows"), "\($0)") }
        bad.batchSizes = [64, 4096]
        XCTAssertNoThrow(try bad.validate())

        let file = try BenchSpec.load(path: repositoryRoot.appendingPathComponent("configs/scaling.yaml").path)
        XCTAssertEqual(file, BenchSpec(), "configs/scaling.yaml spells out the defaults")
    }

    func testRanksInTheSpecAndTheAutoShardRule() throws {
        let spec = try BenchSpec.parse(yaml: "bench:\n  ranks: [1, 2]\n  threads: [1, 2]\n", source: "t.yaml")
        XCTAssertEqual(spec.ranks, [1, 2])
        XCTAssertEqual(try BenchSpec.parse(yaml: "bench:\n  ranks: 4\n", source: "t.yaml").ranks, [4])
        XCTAssertEqual(BenchSpec().ranks, [1])
        XCTAssertEqual(spec.shards(batch: 32), 4, "at least ranks × threads")
        XCTAssertEqual(spec.shards(batch: 4096), 32, "train's auto")
        XCTAssertEqual(spec.rankedCells.prefix(4).map { [$0.ranks, $0.threads] }, [[1, 1], [1, 2], [2, 1], [2, 2]])
        // A sub-run for one rank count keeps the whole grid's shards.
        var wide = spec
        wide.ranks = [1, 2, 4]
        XCTAssertEqual(wide.restricted(ranks: 2).shards(batch: 32), wide.shards(batch: 32))
        XCTAssertEqual(wide.restricted(ranks: 2).ranks, [2])
        var few = spec
        few.shards = 2
        XCTAssertThrowsError(try few.validate()) { XCTAssertTrue("\($0)".contains("ranks × 2 threads"), "\($0)") }
        XCTAssertThrowsError(try BenchSpec.parse(yaml: "bench:\n  ranks: [0]\n", source: "t.yaml").validate())
        let args = BenchMPI.benchArguments(wide, ranks: 2, config: nil, json: "x.json")
        XCTAssertEqual(Array(args.prefix(3)), ["bench", "--ranks", "2"])
        XCTAssertTrue(args.joined(separator: " ").contains("--auto-shard-ranks 4"))
    }

    /// Old results (no `ranks`) still load; speedup of a 2-rank cell is against 1 rank.
    func testRanksFieldDefaultsAndSpeedupBaseline() throws {
        var old = try JSONSerialization.jsonObject(with: try Self.tinyReport.jsonData()) as! [String: Any]
        old["results"] = (old["results"] as! [[String: Any]]).map { var c = $0; c["ranks"] = nil; return c }
        old["rank_predictions"] = nil
        let back = try JSONDecoder().decode(BenchReport.self, from: try JSONSerialization.data(withJSONObject: old))
        XCTAssertTrue(back.results.allSatisfy { $0.ranks == 1 })
        var cells = Self.tinyReport.results.filter { $0.threads == 1 }
        var two = cells[0]
        two.ranks = 2
        two.usPerStepMedian = cells[0].usPerStepMedian / 1.5
        cells.append(two)
        let sped = BenchRunner.withSpeedups(cells)
        XCTAssertEqual(sped.last!.speedup, 1.5, accuracy: 0.01)
        XCTAssertEqual(sped.last!.efficiency, 0.75, accuracy: 0.01)
        XCTAssertEqual(sped[0].speedup, 1)
    }

    /// A grid of 2 ranks with no MPI build anywhere: one clear error.
    func testRanksWithoutAnMPIBinaryIsAClearError() throws {
        let dir = NSTemporaryDirectory() + "makemore-nompi-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try BenchMPI.resolveBinary(explicit: nil, selfIfMPI: nil, directory: dir, ranks: 2)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("make build-mpi"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        XCTAssertThrowsError(try BenchMPI.resolveBinary(explicit: dir + "/nope", selfIfMPI: nil, directory: dir, ranks: 2))
        XCTAssertEqual(try BenchMPI.resolveBinary(explicit: nil, selfIfMPI: "/me", directory: dir, ranks: 2), "/me")
        XCTAssertEqual(BenchMPI.extraArguments(" --hostfile h\n   --map-by\tnode "), ["--hostfile", "h", "--map-by", "node"])
        XCTAssertEqual(BenchMPI.extraArguments(nil), [])
    }

    /// The ranks model, 1 thread per rank: 1 rank is the 1-thread cell; more ranks move bytes.
    func testRankScalingModel() throws {
        let preds = try XCTUnwrap(Self.tinyReport.rankPredictions)
        XCTAssertEqual(preds.count, 2)
        for p in preds {
            let c1 = try XCTUnwrap(Self.tinyReport.results.first { $0.threads == 1 && $0.batchSize == p.batchSize })
            // Shards 2: R ranks have S' = R·⌈2/R⌉ = R shards, and a shard needs 2 rows (batch 8: not 8 ranks).
            XCTAssertEqual(p.points.map(\.ranks), p.batchSize == 8 ? [1, 2, 4] : [1, 2, 4, 8])
            XCTAssertEqual(p.points.map(\.shards), p.points.map(\.ranks).map { max($0, 2) })
            let one = try XCTUnwrap(p.points.first { $0.ranks == 1 })
            let step = p.calibration.step
            XCTAssertEqual(one.usPerStep, step.serial + step.parallel + step.bnSync + step.reduce, accuracy: 1e-3)
            XCTAssertEqual(one.usPerStep, c1.breakdown.total * c1.usPerStepMedian / c1.profiledUsPerStep, accuracy: 0.01,
                           "1 rank is the 1-thread cell's time")
            XCTAssertEqual(one.measuredUsPerStep, c1.usPerStepMedian)
            XCTAssertEqual(one.bytesReceivedPerRank, 0)
            XCTAssertEqual(one.efficiency, 1)
            // n_hidden 16: Hp 16; 2 ranks × 1 thread: S' = 2 shards.
            let two = try XCTUnwrap(p.points.first { $0.ranks == 2 })
            XCTAssertEqual(two.bytesReceivedPerRank, two.shards * (16 * 16 + 8 + 4 * p.calibration.parameters) / 2)
            XCTAssertNil(two.measuredUsPerStep, "no 2-rank cell in a run of 1 rank")
        }
        let text = RankScalingModel.format(preds)
        XCTAssertTrue(text.contains("R ranks × 1 thread per rank") && text.contains("T=1"), text)
        XCTAssertFalse(text.contains("T=2") || text.contains("nodes") || text.contains("ν"), text)
    }

    /// Made-up cells: the calibration is the 1-thread breakdown, the measured
    /// 2-rank cell fits α (so it is reproduced) and gets an error column, and a
    /// cell of 2 threads per rank adds no column.
    func testRankScalingModelOnMadeUpCells() throws {
        func cell(ranks: Int = 1, _ t: Int, median: Double, _ b: PhaseBreakdown) -> BenchCell {
            BenchCell(ranks: ranks, threads: t, batchSize: 1024, nHidden: 64, shards: 8, steps: 1, repeats: 1, usPerStepMin: median,
                      usPerStepMedian: median, usPerStepRuns: [median], samplesPerS: 1024 / median * 1e6, baselineThreads: 1,
                      speedup: 1, efficiency: 1, breakdown: b, profiledUsPerStep: b.total, workers: [b], loadAvg1m: 0, otherCPUsBusy: 0, finalLoss: 3)
        }
        let one = PhaseBreakdown(sample: 10, forward: 300, backward: 200, bnSync: 2, reduceUpdate: 8, barrierWait: 0, pool: 0)
        let two = PhaseBreakdown(sample: 10, forward: 155, backward: 103, bnSync: 2, reduceUpdate: 4, barrierWait: 6, pool: 4)
        var report = Self.tinyReport
        report.results = [cell(1, median: one.total, one), cell(2, median: two.total, two),
                          cell(ranks: 2, 1, median: 300, one), cell(ranks: 2, 2, median: 900, two), cell(ranks: 3, 1, median: 250, one)]
        let p = try XCTUnwrap(RankScalingModel.predictions(for: report).first)
        let step = p.calibration.step
        XCTAssertEqual([step.serial, step.parallel, step.bnSync, step.reduce], [10, 500, 2, 8])
        XCTAssertEqual(step.bnSyncShardFraction, 0.333)  // 4·8 / (4·8 + Kp 32 + Vp 32)
        XCTAssertEqual(step.cacheGain, 0, "2 threads slower than half of 1: no gain")
        XCTAssertEqual(p.points.map(\.ranks), [1, 2, 3, 4, 8], "1, 2, 4, 8 and the run's 3")
        XCTAssertEqual(p.points.map(\.shards), [8, 8, 9, 8, 8])
        XCTAssertEqual(p.calibration.source, "α from the 2-rank × 1-thread cell")
        let α = p.calibration.latency, bw = p.calibration.bandwidth
        XCTAssertGreaterThan(α, 0)
        // Batch 1024 in 8 or 9 shards: 113+ rows a shard, which fold, so their token sums are exchanged too.
        XCTAssertEqual(p.calibration.tokenSums, report.vocabSize * report.blockSize * 64)
        XCTAssertEqual(p.calibration.foldRows, 38)
        func bytes(_ shards: Int) -> Double {
            Double(RankScalingModel.bytesGathered(hiddenPadded: 64, parameters: p.calibration.parameters,
                                                  tokenSums: p.calibration.tokenSums, shards: shards))
        }
        let t = Dictionary(uniqueKeysWithValues: p.points.map { ($0.ranks, $0) })
        XCTAssertEqual(t[1]!.usPerStep, one.total, accuracy: 1e-9)
        XCTAssertEqual(t[2]!.usPerStep, 300, accuracy: 0.01, "α is fitted to it")
        XCTAssertEqual(t[2]!.usPerStep, 10 + 250 + 2 + 8 + 5 * α + bytes(8) / 2 / bw, accuracy: 1e-3)
        // 3 ranks: S' = 9, the BatchNorm combine's per-shard third and the reduction grow with it.
        XCTAssertEqual(t[3]!.usPerStep, 10 + 500.0 / 3 + 2 * (1 - 0.333 + 0.333 * 9 / 8) + 8 * 11 / 10
                       + 5 * α * 2 + 2.0 / 3 * bytes(9) / bw, accuracy: 1e-3)
        XCTAssertEqual(t[8]!.usPerStep, 10 + 500.0 / 8 + 2 + 8 + 5 * α * 3 + 7.0 / 8 * bytes(8) / bw, accuracy: 1e-3)
        XCTAssertEqual([t[1]!.measuredUsPerStep, t[2]!.measuredUsPerStep, t[3]!.measuredUsPerStep, t[4]!.measuredUsPerStep],
                       [one.total, 300, 250, nil], "the cells of 1 thread per rank; 2 ranks × 2 threads is not one")
        let text = RankScalingModel.format([p])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.filter { $0.hasPrefix("measured") }.count, 3, text)
        XCTAssertTrue(text.contains("measured               3.41M +0%") || text.contains("measured               3.41M -0%"), text)  // α fits it
        XCTAssertTrue(text.contains(String(format: "%+.0f%%", (t[3]!.usPerStep - 250) / 250 * 100)), text)
        XCTAssertEqual(lines.filter { $0.hasPrefix("  ranks") }, ["  ranks                      T=1"], text)
    }

    /// A 2-thread cell faster than half the 1-thread one: a bounded gain on the
    /// per-rank work from 2 ranks on, not a negative time.
    func testRankScalingModelTurnsSuperlinearCellsIntoABoundedGain() throws {
        func cell(_ t: Int, _ b: PhaseBreakdown) -> BenchCell {
            BenchCell(threads: t, batchSize: 4096, nHidden: 256, shards: 8, steps: 1, repeats: 1, usPerStepMin: b.total,
                      usPerStepMedian: b.total, usPerStepRuns: [b.total], samplesPerS: 1, baselineThreads: 1, speedup: 1,
                      efficiency: 1, breakdown: b, profiledUsPerStep: b.total, workers: [b], loadAvg1m: 0,
                      otherCPUsBusy: 0, finalLoss: 3)
        }
        let single = PhaseBreakdown(sample: 100, forward: 4000, backward: 4000, bnSync: 10, reduceUpdate: 50)
        var report = Self.tinyReport
        report.results = [cell(1, single), cell(2, PhaseBreakdown(sample: 100, forward: 1800, backward: 1800, bnSync: 10,
                                                                  reduceUpdate: 25, barrierWait: 20, pool: 5))]
        let p = try XCTUnwrap(RankScalingModel.predictions(for: report).first)
        XCTAssertEqual(p.calibration.step.cacheGain, -0.1, accuracy: 1e-9)  // 3600 instead of 4000
        XCTAssertEqual(p.calibration.step.source, "1 thread measured; g from the 2-thread cell")
        XCTAssertEqual(p.points.first { $0.ranks == 1 }?.usPerStep, 8160, "no gain on 1 rank")
        XCTAssertEqual(try XCTUnwrap(p.calibration.step.compute(ranks: 2)), 100 + 3600 + 10 + 50, accuracy: 1e-9)
        for pt in p.points {
            XCTAssertGreaterThan(pt.usPerStep, 0)
            XCTAssertLessThan(pt.efficiency, 1.12, "a 10% gain, not an ever-growing one")
        }
        // Much faster still: clamped at −20%, and said so.
        report.results[1].breakdown.forward = 1000
        report.results[1].breakdown.backward = 1000
        report.results[1].usPerStepMedian = report.results[1].breakdown.total
        report.results[1].profiledUsPerStep = report.results[1].breakdown.total
        let clamped = try XCTUnwrap(RankScalingModel.predictions(for: report).first).calibration.step
        XCTAssertEqual(clamped.cacheGain, -0.2)
        XCTAssertTrue(clamped.source.contains("clamped at −20%"), clamped.source)
        // No 2-thread cell: no gain.
        report.results.removeLast()
        let alone = try XCTUnwrap(RankScalingModel.predictions(for: report).first).calibration.step
        XCTAssertEqual(alone.cacheGain, 0)
        XCTAssertEqual(alone.source, "1 thread measured; no 2-thread cell: g = 0")
    }

    /// Files written before the thread × NUMA-node model was taken out hold a
    /// `predictions` key and `rank_predictions` with several threads per rank:
    /// they load, and what is recomputed and written again has neither.
    func testResultsWithTheOldPredictionsStillLoad() throws {
        var root = try json(Self.tinyReport)
        root["predictions"] = [["batch_size": 8, "n_hidden": 16, "shards": 2,
                                "calibration": ["serial": 1.5, "coherence_at_2": 0.2, "barrier_beta": 0.25, "pool_wake": 0],
                                "points": [["threads": 64, "nodes": 4, "shards": 64, "us_per_step": 1.5, "measured_us_per_step": NSNull()]]]]
        var ranks = try XCTUnwrap(root["rank_predictions"] as? [[String: Any]])
        ranks[0]["calibration"] = ["threads": ["serial": 1.5, "barrier_beta": 0.25], "latency_us": 0.3]
        ranks[0]["points"] = [["ranks": 2, "threads": 8, "shards": 16]]
        root["rank_predictions"] = ranks
        let old = try BenchReport.decode(JSONSerialization.data(withJSONObject: root), source: "old.json")
        XCTAssertNil(old.rankPredictions, "predictions are not read back")
        XCTAssertEqual(old.results, Self.tinyReport.results)
        XCTAssertEqual(old.recomputed(), Self.tinyReport)
        let again = try json(old.recomputed())
        XCTAssertNil(again["predictions"])
        XCTAssertNotNil(again["rank_predictions"])

        for file in ["makemore.json", "ranks.json", "hosts-1gbit.json", "hosts-100mbit.json"] {
            let path = repositoryRoot.appendingPathComponent("bench/results/" + file).path
            let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            XCTAssertNotNil(raw["predictions"], "\(file) was written with the thread model's predictions")
            let report = try BenchReport.load(path: path).recomputed()
            let preds = try XCTUnwrap(report.rankPredictions, file)
            XCTAssertFalse(preds.isEmpty, file)
            XCTAssertNil(try json(report)["predictions"], file)
        }
    }

    /// Ranks on separate hosts: each host's link replaces shared memory as the bandwidth; the bytes stay.
    func testRankScalingModelWithALink() throws {
        XCTAssertEqual(RankScalingModel.linkRate("100mbit"), 12.5)
        XCTAssertEqual(RankScalingModel.linkRate("1gbit"), 125)
        for bad in ["", "100", "mbit", "-1mbit", "0gbit", "1e99gbit", "nanmbit", "infgbit", "100MB"] {
            XCTAssertNil(RankScalingModel.linkRate(bad), bad)
        }
        let shared = RankScalingModel.predictions(for: Self.tinyReport)
        let linked = RankScalingModel.predictions(for: Self.tinyReport, link: 12.5)
        XCTAssertEqual(linked.count, shared.count)
        for (s, l) in zip(shared, linked) {
            XCTAssertEqual(l.calibration.bandwidth, 12.5)
            XCTAssertEqual(l.points.map(\.bytesReceivedPerRank), s.points.map(\.bytesReceivedPerRank))
            let a = try XCTUnwrap(s.points.first { $0.ranks == 2 })
            let b = try XCTUnwrap(l.points.first { $0.ranks == 2 })
            XCTAssertEqual(b.usPerStep - a.usPerStep, Double(b.bytesReceivedPerRank) * (1 / 12.5 - 1 / RankScalingModel.sharedMemoryBandwidth),
                           accuracy: 1e-2)
        }
        let text = RankScalingModel.format(linked)
        XCTAssertTrue(text.contains("each host's link") && text.contains("bw 12.5 MB/s"), text)
    }

    /// Fuzz: seeded mutations of real results files (numbers replaced by
    /// hostile ones, keys dropped, bytes changed) through what `bench --from`
    /// does: each either loads and renders or is one MakemoreError naming the
    /// file. A trap would end the test process.
    func testResultsFileMutationFuzzNeverCrashes() throws {
        let hostile: [Any] = [0, -1, -4097, 1, 2, 3, 4097, 1 << 24, Int.max, Int.min, 1 << 62, 0.5, -0.0, 1e-300, 1e300, 7.5]
        let hostileText = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "123456789012345678901234567890", "1.5", "null", "\"x\"", "[]", "{}"]
        var rng = Xoshiro(seed: 4242)
        var loaded = 0, refused = 0
        for file in ["makemore.json", "ranks.json"] {
            let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("bench/results/" + file))
            let root = try JSONSerialization.jsonObject(with: data)
            let leaves = numberPaths(root)
            XCTAssertGreaterThan(leaves.count, 100)
            for i in 0..<300 {
                var mutated = root
                for _ in 0..<(1 + rng.below(3)) {
                    let path = leaves[rng.below(leaves.count)]
                    mutated = rng.below(8) == 0 ? replacing(mutated, at: path, with: nil)
                        : replacing(mutated, at: path, with: hostile[rng.below(hostile.count)])
                }
                var bytes = [UInt8](try JSONSerialization.data(withJSONObject: mutated))
                if rng.below(3) == 0 {  // text no JSON writer produces, at a number
                    let digits = bytes.indices.filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }
                    let at = digits[rng.below(digits.count)]
                    var end = at
                    while end < bytes.count, !",]}".utf8.contains(bytes[end]) { end += 1 }
                    bytes.replaceSubrange(at..<end, with: Array(hostileText[rng.below(hostileText.count)].utf8))
                }
                if rng.below(10) == 0 { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                do {
                    let report = try BenchReport.decode(Data(bytes), source: "fuzz.json").recomputed()
                    _ = BenchTable.format(report)
                    _ = RankScalingModel.format(report.rankPredictions ?? [])
                    _ = report.csv
                    loaded += 1
                } catch let e as MakemoreError {
                    XCTAssertTrue(e.message.hasPrefix("fuzz.json: "), "\(file) mutation \(i): \(e.message)")
                    XCTAssertFalse(e.message.contains("\n"), "\(file) mutation \(i): \(e.message)")
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThan(refused, 200)
        XCTAssertGreaterThan(loaded, 20)
    }

    /// The paths (keys and indices) of every number in a JSON tree.
    func numberPaths(_ value: Any, _ path: [Any] = []) -> [[Any]] {
        if let object = value as? [String: Any] { return object.keys.sorted().flatMap { numberPaths(object[$0]!, path + [$0]) } }
        if let array = value as? [Any] { return array.indices.flatMap { numberPaths(array[$0], path + [$0]) } }
        return value is NSNumber ? [path] : []
    }

    /// `value` with the element at `path` replaced (nil: removed).
    func replacing(_ value: Any, at path: [Any], with new: Any?) -> Any {
        guard let head = path.first else { return new ?? NSNull() }
        let rest = Array(path.dropFirst())
        if var object = value as? [String: Any], let key = head as? String, let child = object[key] {
            object[key] = rest.isEmpty && new == nil ? nil : replacing(child, at: rest, with: new)
            return object
        }
        if var array = value as? [Any], let i = head as? Int, i < array.count {
            array[i] = replacing(array[i], at: rest, with: new)
            return array
        }
        return value
    }

    /// The bounds a run is refused beyond are the ones results are checked against.
    func testResultsAreCheckedAgainstTheSpecBounds() throws {
        var report = Self.tinyReport
        XCTAssertNoThrow(try report.check(source: "r.json"))
        report.results[1].shards = report.results[1].batchSize + 1
        XCTAssertThrowsError(try report.check(source: "r.json")) { e in
            XCTAssertEqual("\(e)", "r.json: results[1].shards: must be in 1...\(report.results[1].batchSize) (at most batch_size), got \(report.results[1].batchSize + 1)")
        }
        report = Self.tinyReport
        report.results[0].workers[0].forward = -.infinity
        XCTAssertThrowsError(try report.check(source: "r.json")) { e in
            XCTAssertTrue("\(e)".hasPrefix("r.json: results[0].workers_us[0].forward: must be a finite number ≥ 0"), "\(e)")
        }
        for file in ["makemore.json", "ranks.json", "zen3-anchors/makemore.json"] {
            XCTAssertNoThrow(try BenchReport.load(path: repositoryRoot.appendingPathComponent("bench/results/" + file).path), file)
        }
        var spec = BenchSpec()
        spec.steps = 10_000_001
        XCTAssertThrowsError(try spec.validate()) { XCTAssertTrue("\($0)".contains("bench.steps: must be in 0...10000000"), "\($0)") }
        spec = BenchSpec()
        spec.threads = [1, 5000]
        spec.oversubscribe = true
        XCTAssertThrowsError(try spec.validate()) { XCTAssertTrue("\($0)".contains("bench.threads"), "\($0)") }
    }

    /// One row per shard or fewer than 2 rows per shard leave nothing to
    /// predict; the models skip that cell rather than trap.
    func testScalingModelsSkipCellsTheyCannotPredict() throws {
        var report = Self.tinyReport
        for i in report.results.indices { report.results[i].shards = report.results[i].batchSize }
        XCTAssertTrue(RankScalingModel.predictions(for: report).isEmpty)
        XCTAssertTrue(RankScalingModel.format([]).contains("no cell of 1 rank × 1 thread"))
        XCTAssertEqual(percent(.nan), "?")
        XCTAssertEqual(percent(.infinity), "?")
        XCTAssertEqual(percent(0.874), "87%")
        XCTAssertEqual(RankScalingModel.share(Int.max, of: 4096), Int(Int128(Int.max) * 4095 / 4096), "no overflow")
        XCTAssertEqual(RankScalingModel.share(1001, of: 3), 1001 * 2 / 3)
        XCTAssertEqual(RankScalingModel.share(1001, of: 1), 0)
    }

    func testAutoShardsAndCellOrder() {
        var s = BenchSpec()
        // A cell runs the shards `train` would at its batch (parallel.shards: auto).
        for batch in [2, 32, 256, 383, 384, 512, 1024, 2048, 4096, 65536] {
            XCTAssertEqual(s.shards(batch: batch), Config.autoShards(batchSize: batch), "batch \(batch)")
        }
        XCTAssertEqual(s.shards(batch: 32), 2)
        XCTAssertEqual(s.shards(batch: 1024), 8)
        XCTAssertEqual(s.shards(batch: 4096), 32)
        s.threads = [16, 1, 2]
        XCTAssertEqual(s.shards(batch: 32), 16)
        XCTAssertEqual(s.shards(batch: 1024), 16, "raised to the largest thread count, which train would require")
        XCTAssertEqual(s.shards(batch: 4096), 32)
        XCTAssertEqual(s.shards(batch: 8), 8, "never more shards than rows")
        XCTAssertEqual(s.cells.prefix(3).map(\.threads), [1, 2, 16], "thread counts in increasing order")
    }

    // MARK: the Python scripts

    /// An interpreter that can import `module`: $MAKEMORE_PYTHON, bench/.venv (made by `make test`), python3.
    func python(importing module: String) throws -> String {
        var candidates = [repositoryRoot.appendingPathComponent("bench/.venv/bin/python").path, "/usr/bin/python3", "python3"]
        if let p = ProcessInfo.processInfo.environment["MAKEMORE_PYTHON"] { candidates.insert(p, at: 0) }
        for c in candidates where (try? run(c, ["-c", "import \(module)"]))?.status == 0 { return c }
        throw XCTSkip("no Python with \(module) (make test installs matplotlib into bench/.venv)")
    }

    /// A folder of this test's own under the temporary directory (the caller removes it).
    func scratchFolder(_ tag: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("makemore-\(tag)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @discardableResult
    func run(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        p.currentDirectoryURL = repositoryRoot
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testPlotScriptDrawsTheCommittedResultsAndAFreshRun() throws {
        let py = try python(importing: "matplotlib")
        let dir = try scratchFolder("plot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fresh = dir.appendingPathComponent("tiny.json")
        try Self.tinyReport.jsonData().write(to: fresh)
        for (args, sub) in [(["--makemore", "bench/results/makemore.json", "--torch", "bench/results/torch.json"], "committed"),
                            (["--makemore", fresh.path], "fresh")] {
            let out = dir.appendingPathComponent(sub)
            let r = try run(py, ["bench/plot.py"] + args + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            for png in ["throughput.png", "efficiency.png", "breakdown.png"] {
                let data = try Data(contentsOf: out.appendingPathComponent(png))
                XCTAssertGreaterThan(data.count, 1000)
                XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(png) is a PNG")
            }
        }
    }

    func testMergeScriptMergesRunsIntoAReadableReport() throws {
        let py = try python(importing: "json")
        let dir = try scratchFolder("merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        var slower = Self.tinyReport
        for i in slower.results.indices { slower.results[i].usPerStepMedian *= 3 }
        // Each run's probe, the first one in a busy spell on all cores: the merged peak is the highest of each.
        var first = Self.tinyReport, third = slower
        first.fmaPeak = FMAPeak(singleCoreGflops: 170, allCoresGflops: 220, allCoresThreads: 2, vectorWidth: 16, seconds: 0.25)
        slower.fmaPeak = FMAPeak(singleCoreGflops: 175, allCoresGflops: 350, allCoresThreads: 2, vectorWidth: 16, seconds: 0.25)
        third.fmaPeak = FMAPeak(singleCoreGflops: 177, allCoresGflops: 340, allCoresThreads: 2, vectorWidth: 16, seconds: 0.25)
        let a = dir.appendingPathComponent("a.json"), b = dir.appendingPathComponent("b.json")
        let c = dir.appendingPathComponent("c.json"), out = dir.appendingPathComponent("merged.json")
        try first.jsonData().write(to: a)
        try slower.jsonData().write(to: b)
        try third.jsonData().write(to: c)
        let r = try run(py, ["bench/merge.py", out.path, a.path, b.path, c.path])
        XCTAssertEqual(r.status, 0, r.output)
        let merged = try BenchReport.load(path: out.path)  // still a makemore report
        XCTAssertEqual(merged.results.count, Self.tinyReport.results.count)
        for (m, one) in zip(merged.results, Self.tinyReport.results) {
            XCTAssertEqual(m.usPerStepMedian, roundTo(one.usPerStepMedian * 3, 3), accuracy: 1e-6, "the median run")
        }
        XCTAssertEqual(merged.fmaPeak?.singleCoreGflops, 177)
        XCTAssertEqual(merged.fmaPeak?.allCoresGflops, 350)
        let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        let cells = try XCTUnwrap(raw["results"] as? [[String: Any]])
        XCTAssertEqual((cells[0]["run_medians"] as? [Double])?.count, 3)
        // The shares are of the merged times and peak, not of the middle run's.
        for c in merged.results {
            let cores = 177 * Double(c.threads * c.ranks)
            XCTAssertGreaterThan(c.flopsPerStep, 0)
            XCTAssertEqual(c.peakShareBest, c.flopsPerStep / (c.usPerStepMin * 1e3) / cores, accuracy: 6e-5)  // rounded to 4 places
            XCTAssertEqual(c.peakShare, c.flopsPerStep / (c.usPerStepMedian * 1e3) / cores, accuracy: 6e-5)  // rounded to 4 places
        }
    }

    /// bench/cpu-report.sh's summary: the targets it computes from the paths'
    /// merged grids (a committed one-thread run, and the same made slower),
    /// and the tuner's figures as shares of the path's peak.
    func testCPUReportSummaryComputesTheTargets() throws {
        let py = try python(importing: "json")
        let dir = try scratchFolder("cpu-report")
        defer { try? FileManager.default.removeItem(at: dir) }
        let committed = repositoryRoot.appendingPathComponent("bench/results/xeon-emerald-rapids/makemore.json")
        var root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: committed)) as? [String: Any])
        let fast = try XCTUnwrap(root["results"] as? [[String: Any]])
        try JSONSerialization.data(withJSONObject: root).write(to: dir.appendingPathComponent("step-avx512.json"))
        // The AVX2 grid: batch 65536 three times as long, so it keeps a third of batch 4096's speed.
        root["results"] = fast.map { c -> [String: Any] in
            var c = c
            if c["batch_size"] as? Int == 65536 { c["us_per_step_min"] = (c["us_per_step_min"] as! Double) * 3 }
            return c
        }
        try JSONSerialization.data(withJSONObject: root).write(to: dir.appendingPathComponent("step-avx2.json"))
        try """
            CPU, AVX-512 kernels, one thread; row tiles of 128 (batch 4096 in 32 shards), V 29, K 30, H 64
            product         m     n     k   tile   GFLOP/s   other tiles (GFLOP/s)
            h·W2           128    32    64   8x2      112.6   12x2 100.3
            """.write(to: dir.appendingPathComponent("tune-avx512.txt"), atomically: true, encoding: .utf8)
        // bench/kernels' per-call table: one of the six products under 80%, a folded product under it too (not counted).
        try """
            kernel                            shape                     ns/call   GFLOP/s  % of peak    best ns  best % of peak
            gemm emb·W1 r16 H64               16×64×30 4x4                499.2     123.1        71%      411.5             86%
            gemm hT·dlogits r16 H64           64×32×16 8x2                743.1      88.2        51%      496.9             76%
            gemm S·W1S r64 H256 step          32×16×768 8x2             16000.0      50.0        29%    15000.0             59%
            softmaxCE r512 H64                512×32, 16/elem            9742.8      26.9        15%     8484.3             18%
            """.write(to: dir.appendingPathComponent("kernels-avx512.txt"), atomically: true, encoding: .utf8)
        let r = try run(py, ["bench/cpu_report.py", dir.path])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("| AVX-512: the six matrix products in bench/kernels at 80% of the peak or more "
                                        + "(best iteration) | 1 of 2 | **missed** |"), r.output)
        XCTAssertTrue(r.output.contains("under 80%: hT·dlogits r16 H64 76%.") && r.output.contains("S·W1S r64 H256 step 59%")
                      && r.output.contains("Softmax-CE over 512 rows: 9.7 µs a call (best 8.5)."), r.output)
        func one(_ batch: Int, _ hidden: Int) throws -> [String: Any] {
            try XCTUnwrap(fast.first { $0["threads"] as? Int == 1 && $0["batch_size"] as? Int == batch && $0["n_hidden"] as? Int == hidden })
        }
        for h in [64, 256] {
            let (big, mid) = (try one(65536, h), try one(4096, h))
            let keep = (65536 / (big["us_per_step_min"] as! Double)) / (4096 / (mid["us_per_step_min"] as! Double))
            XCTAssertGreaterThan(keep, 0.9)
            for (path, share) in [("AVX-512", keep), ("AVX2", keep / 3)] {
                let line = "| \(path): batch 65536 at 90% or more of batch 4096's samples/s, H \(h) | "
                    + "\(Int((100 * share).rounded()))% | \(share >= 0.9 ? "met" : "**missed**") |"
                XCTAssertTrue(r.output.contains(line), "\(line)\n\(r.output)")
            }
            let share = mid["peak_share_best"] as! Double
            let line = "| AVX-512: batch 4096, H \(h) at 60% of the peak or more | \(Int((100 * share).rounded()))% | "
                + (share >= 0.6 ? "met" : "**missed**") + " |"
            XCTAssertTrue(r.output.contains(line), "\(line)\n\(r.output)")
        }
        let peak = try XCTUnwrap((root["fma_peak"] as? [String: Any])?["single_core_gflops"] as? Double)
        XCTAssertTrue(r.output.contains("| batch 4096, H 64 (128-row tiles) | h·W2 | 128 × 32 × 64 | 8x2 | 112.6 | "
                                        + "\(Int((100 * 112.6 / peak).rounded()))% |"), r.output)
        XCTAssertTrue(r.output.contains("| 4096 | 64 | 760 | "), r.output)
    }

    func testCompareScriptJoinsTheCommittedResults() throws {
        let py = try python(importing: "json")
        let r = try run(py, ["bench/compare.py", "bench/results/makemore.json", "bench/results/torch.json"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("makemore / PyTorch") && r.output.contains("notebook config"), r.output)
        XCTAssertTrue(r.output.contains("| 1 | 32 | 64 |"), r.output)
    }

    /// The run behind docs/benchmarks.md's table against the other anchors.
    func testCompareScriptRanksTheCommittedAnchors() throws {
        let py = try python(importing: "json")
        let dir = "bench/results/zen3-anchors/"
        let r = try run(py, ["bench/compare.py", dir + "makemore.json", dir + "torch.json",
                             "--anchor", "torch.compile=" + dir + "torch_compile.json", "--anchor", "jax=" + dir + "jax.json"])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("best anchor") && r.output.contains("jax "), r.output)
    }
}
