import ArgumentParser
import Foundation
import Makemore
import Bench

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps over a grid of thread counts × batch sizes × model sizes.",
        discussion: """
            Each cell times the real training step (batch draw, forward, backward, BatchNorm sync, reduce, SGD) \
            on synthetic data of the municipis shape (V=29, block 3, n_embd 10): --warmup steps, then --repeats \
            timed runs (min and median reported), then one profiled run for the breakdown of worker 0's step into \
            sample, forward, backward, BN sync, reduce+update, barrier wait and pool dispatch/join. Speedup and \
            efficiency are against the grid's smallest thread count for the same cell.

            Before the cells it measures the FMA peak (--peak-s seconds per probe: one core alone, then the largest \
            thread count's cores at once) and gives each cell the GFLOP/s of the model's six matrix products \
            (6·n·(K·H + H·V) FLOP per median step, as written: shards of enough rows fold the three embedding-side \
            products into products with V rows, so there the engine does less than this) and their share of the single-core peak × threads (%peak; %best for the fastest \
            repeat, the like-for-like share on a shared machine, since the peak is a best window too) and of the all-cores \
            peak per core × threads (%all).

            Timings are only meaningful on a quiet machine: the table's last column, `others`, is how many CPUs \
            other processes kept busy while the cell was timed (0.00 when quiet; a `*` marks more than 0.1). \
            bench/compare.sh runs this and PyTorch side by side and plots both.

            Thread scaling is measured, not predicted: give the thread counts to --threads (1,2,4,8,16 on a \
            larger machine). --predict prints what R MPI ranks of 1 thread each would give (R = 1, 2, 4, 8 and \
            the run's rank counts) from the 1-thread cells: the step's phases, the bytes the ranks exchange, \
            and a latency fitted to the run's 2-rank × 1-thread cell where it has one (docs/mpi.md).

              makemore bench --config configs/scaling.yaml --json bench/results/makemore.json
              makemore bench --threads 1,2 --batch-size 32,1024 --n-hidden 64 --predict
              makemore bench --from bench/results/makemore.json --predict

            --ranks 1,2 adds MPI processes: the cells of R > 1 ranks run in one `mpirun -np R` of the MPI build \
            (this binary if built with MAKEMORE_MPI, else --mpi-binary, else .build-mpi/release/makemore: \
            `make build-mpi`), and their results are merged into this run's. --threads is then per rank.

              makemore bench --ranks 1,2 --threads 1,2 --batch-size 32,1024,4096 --n-hidden 64 --predict

            --mpirun-args adds flags to those mpirun runs, e.g. a hostfile to put the ranks on several hosts \
            (one per host with --map-by node). Rank 0 runs on the hostfile's first host and writes its cells \
            to TMPDIR there, so start bench on that host (docs/mpi.md, several machines).

              makemore bench --ranks 1,2,3 --predict --link-bandwidth 1gbit --mpirun-args "--hostfile hosts --map-by node"
            """)

    @Option(help: ArgumentHelp("A bench config (configs/scaling.yaml: a `bench:` section); flags override it.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("MPI process counts, e.g. 1,2 (bench.ranks; each 1–4096); more than 1 runs under mpirun.", valueName: "list"))
    var ranks: String?
    @Option(help: ArgumentHelp("Thread counts per rank, e.g. 1,2 (bench.threads; each 1–4096).", valueName: "list"))
    var threads: String?
    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Batch sizes, e.g. 32,256,1024,4096 (bench.batch_size; each 2–16777216).", valueName: "list"))
    var batchSize: String?
    @Option(name: .customLong("n-hidden"), help: ArgumentHelp("Hidden sizes, e.g. 64,256 (bench.n_hidden; each 1–65536).", valueName: "list"))
    var nHidden: String?
    @Option(help: ArgumentHelp("Shards per batch: auto (what train uses at each batch: \(Config.autoShardsRule); raised to the largest ranks × threads) or N (bench.shards).", valueName: "n"))
    var shards: String?
    @Option(help: "Timed steps per repeat, at most 10000000; 0: per cell, about --target-s seconds (bench.steps).")
    var steps: Int?
    @Option(name: .customLong("target-s"), help: "Seconds per repeat when --steps is 0 (bench.target_s).")
    var targetSeconds: Double?
    @Option(name: .customLong("peak-s"), help: "Seconds per FMA-peak probe before the cells; 0: no probe (bench.peak_s).")
    var peakSeconds: Double?
    @Option(help: "Untimed steps per cell before timing, at most 10000000 (bench.warmup).")
    var warmup: Int?
    @Option(help: "Timed repeats per cell, 1–1000 (bench.repeats).")
    var repeats: Int?
    @Flag(inversion: .prefixedNo, help: "Pin each worker to a CPU (bench.pin).")
    var pin: Bool?
    @Flag(help: "Allow more threads than CPUs (bench.oversubscribe).")
    var oversubscribe = false

    @Option(help: ArgumentHelp("Write the results as JSON (fields compatible with bench/torch_baseline.py).", valueName: "path"))
    var json: String?
    @Option(help: ArgumentHelp("Write the results as CSV, one row per cell.", valueName: "path"))
    var csv: String?
    @Flag(help: "Print the scaling model's predictions for 1, 2, 4, 8 MPI ranks (and the run's rank counts) of 1 thread each, from the 1-thread cells.")
    var predict = false
    @Flag(help: "Print each cell's stages of the step (phase 1, phase 2, … the reduce): per worker, µs a step working in each and waiting for the one before, from the profiled repeat. Where more threads stop paying.")
    var stages = false
    @Option(name: .customLong("mpi-binary"), help: ArgumentHelp("The MPI build of makemore for cells of more than one rank (default: this binary if built with MPI, else .build-mpi/release/makemore).", valueName: "path"))
    var mpiBinary: String?
    // Unconditional: its value starts with a dash.
    @Option(name: .customLong("mpirun-args"), parsing: .unconditional, help: ArgumentHelp("More mpirun flags for cells of more than one rank, split at spaces, e.g. \"--hostfile hosts --map-by node\" (makemore passes -np, --oversubscribe, --bind-to none and --mca btl_vader_single_copy_mechanism none itself).", valueName: "flags"))
    var mpirunArgs: String?
    @Option(name: .customLong("link-bandwidth"), help: ArgumentHelp("For --predict with one rank per host: each host's link, e.g. 100mbit or 1gbit, as the ranks' bandwidth instead of shared memory's.", valueName: "rate"))
    var linkBandwidth: String?
    @Option(name: .customLong("auto-shard-ranks"), help: ArgumentHelp("The rank count the auto shard rule assumes (set by the parent run for its mpirun sub-runs).", visibility: .hidden))
    var autoShardRanks: Int?
    @Option(help: ArgumentHelp("Do not run: read the results of an earlier --json run (for --predict, --csv, the table).", valueName: "path"))
    var from: String?

    func validate() throws {
        if let linkBandwidth, RankScalingModel.linkRate(linkBandwidth) == nil {
            throw ValidationError("--link-bandwidth: expected a rate such as 100mbit or 1gbit, got '\(linkBandwidth)'")
        }
        if from != nil && (ranks ?? threads ?? batchSize ?? nHidden ?? shards ?? config ?? mpirunArgs) != nil {
            throw ValidationError("--from reads earlier results; grid options (--config, --threads, …) do not apply to it")
        }
    }

    func spec() throws -> BenchSpec {
        var s = try config.map { try BenchSpec.load(path: $0) } ?? BenchSpec()
        if let ranks { s.ranks = try sizes(ranks, "--ranks", BenchSpec.rankRange) }
        if let threads { s.threads = try sizes(threads, "--threads", BenchSpec.threadRange) }
        if let autoShardRanks { s.autoShardRanks = try bounded(autoShardRanks, "--auto-shard-ranks", BenchSpec.rankRange) }
        if let batchSize { s.batchSizes = try sizes(batchSize, "--batch-size", BenchSpec.batchRange) }
        if let nHidden { s.nHidden = try sizes(nHidden, "--n-hidden", BenchSpec.hiddenRange) }
        if let shards {
            if shards == "auto" { s.shards = nil } else if let n = Int(shards) { s.shards = n } else {
                throw ValidationError("--shards: expected auto or a number, got '\(shards)'")
            }
        }
        if let steps { s.steps = try bounded(steps, "--steps", BenchSpec.stepRange) }
        if let targetSeconds { s.targetSeconds = targetSeconds }
        if let peakSeconds { s.peakSeconds = peakSeconds }
        if let warmup { s.warmup = try bounded(warmup, "--warmup", BenchSpec.warmupRange) }
        if let repeats { s.repeats = try bounded(repeats, "--repeats", BenchSpec.repeatRange) }
        if let pin { s.pin = pin }
        if oversubscribe { s.oversubscribe = true }
        try s.validate()
        return s
    }

    /// A size flag outside what a run can finish is a usage error, before anything runs.
    func bounded(_ value: Int, _ flag: String, _ range: ClosedRange<Int>) throws -> Int {
        guard range.contains(value) else { throw ValidationError("\(flag): must be in \(range), got \(value)") }
        return value
    }

    func sizes(_ text: String, _ flag: String, _ range: ClosedRange<Int>) throws -> [Int] {
        try list(text, flag) { Int($0) }.map { try bounded($0, flag, range) }
    }

    func run() throws {
        let group = try ProcessGroup.join()  // one rank of an MPI job (a sub-run of --ranks), or alone
        try group.run { try bench(in: group) }
    }

    func bench(in group: ProcessGroup) throws {
        // Where the results go must be writable before a grid of minutes runs.
        if group.exchange == nil {
            for path in [json, csv].compactMap({ $0 }) { try Checkpoint.checkWritable(path) }
        }
        var report: BenchReport
        if let exchange = group.exchange {
            // One rank of `mpirun -np R makemore bench --ranks R …`: this rank's block of every cell's shards.
            let spec = try spec()
            guard spec.ranks == [group.rankCount] else {
                throw MakemoreError("bench: in an MPI job of \(group.rankCount) ranks only --ranks \(group.rankCount) can run, got \(spec.ranks); "
                    + "run makemore bench --ranks … without mpirun and it starts one mpirun per rank count")
            }
            let (localRank, localRanks) = group.localRank
            let runner = try BenchRunner(spec: spec, exchange: exchange, localRank: localRank, localRanks: localRanks)
            runner.tiles = TileCache()
            say("\(group.rankCount) ranks (\(localRanks) on this host; rank l pins its workers to the CPUs after those of ranks < l); "
                + "\(runner.topology); load average \(loadAverages().map { String(format: "%.2f", $0) }.joined(separator: " "))")
            let ranks = BenchTable.showsRanks(spec.ranks)
            say(BenchTable.header(ranks: ranks))
            report = try runner.run { say(BenchTable.row($0, ranks: ranks)) }
            say("load average at start \(report.loadAvgStart), at end \(report.loadAvgEnd)")
            if group.rank != 0 { return }
        } else if let from {
            report = try BenchReport.load(path: from).recomputed()
            print(BenchTable.format(report), terminator: "")
        } else {
            let spec = try spec()
            let runner = try BenchRunner(spec: spec)
            runner.tiles = TileCache()
            // Cells of more than one rank: check before running anything that they can run.
            let multi = Array(Set(spec.ranks.filter { $0 > 1 })).sorted()
            var binary = ""
            if !multi.isEmpty {
                #if MAKEMORE_MPI
                let this: String? = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
                #else
                let this: String? = nil
                #endif
                binary = try BenchMPI.resolveBinary(explicit: mpiBinary, selfIfMPI: this,
                                                    directory: FileManager.default.currentDirectoryPath, ranks: multi[0])
                _ = try BenchMPI.mpirun()
                let cpus = runner.topology.cpuCount, workers = multi.max()! * spec.threads.max()!
                if workers > cpus && !spec.oversubscribe {
                    throw MakemoreError("bench: \(multi.max()!) ranks × \(spec.threads.max()!) threads need \(workers) CPUs; "
                        + "this machine has \(cpus) (use fewer, or --oversubscribe to run them anyway)")
                }
            }
            let load = loadAverages()
            say("\(runner.topology); load average \(load.map { String(format: "%.2f", $0) }.joined(separator: " "))")
            if load[0] > 0.5 * Double(runner.topology.cpuCount) {
                say("warning: the machine is busy (load \(load[0]) on \(runner.topology.cpuCount) CPUs); timings will be noisy")
            }
            say("synthetic data, V=\(spec.vocabSize) block=\(spec.blockSize) n_embd=\(spec.nEmbd); "
                + "\(spec.warmup) warm-up steps, \(spec.repeats) repeats per cell; as in train, a cell with fewer than "
                + "\(StepEngine.rowsPerWorker) rows per thread runs batch/\(StepEngine.rowsPerWorker) of its threads (at least one; "
                + "the others wait)")
            if spec.peakSeconds > 0 {
                let peak = try runner.measurePeak()
                say(BenchTable.peakLine(peak, cpuModel: MachineInfo.current(topology: runner.topology).cpuModel))
            }
            // Decided before the first cell, which prints at once: by the grid, not the results.
            let ranks = BenchTable.showsRanks(spec.ranks)
            say(BenchTable.header(ranks: ranks))
            let local = try runner.run { say(BenchTable.row($0, ranks: ranks)) }
            if multi.isEmpty {
                report = local
            } else {
                var cells = local.results
                for r in multi {
                    say("cells of \(r) ranks:")
                    cells += try BenchMPI.run(spec: spec, ranks: r, binary: binary, config: config,
                                              topology: runner.topology, extra: BenchMPI.extraArguments(mpirunArgs), log: say)
                }
                let order = spec.rankedCells.map { [$0.ranks, $0.threads, $0.batch, $0.nHidden] }
                cells.sort { a, b in
                    (order.firstIndex(of: [a.ranks, a.threads, a.batchSize, a.nHidden]) ?? 0)
                        < (order.firstIndex(of: [b.ranks, b.threads, b.batchSize, b.nHidden]) ?? 0)
                }
                report = runner.report(cells: cells, loadAvgStart: local.loadAvgStart)
                say("\nall cells (speedup and efficiency against 1 rank × the fewest threads):")
                say(BenchTable.header(ranks: true))
                for c in report.results { say(BenchTable.row(c, ranks: true)) }
            }
            for line in BenchTable.legend { say(line) }
            say("load average at start \(report.loadAvgStart), at end \(report.loadAvgEnd)")
        }
        if let link = linkBandwidth.flatMap(RankScalingModel.linkRate) {
            report.rankPredictions = RankScalingModel.predictions(for: report, link: link)
        }
        if predict {
            print(RankScalingModel.format(report.rankPredictions ?? RankScalingModel.predictions(for: report)), terminator: "")
        }
        if stages { print(BenchTable.stages(report), terminator: "") }
        if let json { try write(report.jsonData(), to: json) }
        if let csv { try write(Data(report.csv.utf8), to: csv) }
    }

    func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw MakemoreError("cannot write \(path): \(fileErrorText(error))")
        }
        say("wrote \(path)")
    }
}
