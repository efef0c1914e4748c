import ArgumentParser
import Bench
import Foundation
import Makemore
import Parallel
#if MAKEMORE_MPI
import MPIBackend
#endif

/// How one `makemore train` process takes part in a run: alone, or as one
/// rank of an MPI job (built with MAKEMORE_MPI=1 and started by mpirun).
///
/// In an MPI job every rank loads the same config, data and checkpoint and
/// trains on its block of shards of every batch; `MPIExchange` gathers the
/// per-shard results so every rank reduces all shards in shard order itself.
/// Rank 0 prints and writes checkpoints; the others print only errors, on
/// stderr, prefixed with their rank. All ranks agree after every step on
/// whether to stop (a signal reaching any of them stops all after the same step).
final class ProcessGroup {
    /// Set on ranks other than 0: `say` prints nothing.
    nonisolated(unsafe) static var silent = false

    let exchange: ShardExchange?
    let rank: Int
    let rankCount: Int

    /// This process's index among the ranks on its host, and how many there
    /// are, as the launcher says (every rank on one host without it).
    var localRank: (index: Int, count: Int) {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap { Int($0) } ?? rank,
                env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? rankCount)
    }
    #if MAKEMORE_MPI
    let mpi: MPIExchange?
    #endif

    /// What an MPI launcher tells its processes through the environment:
    /// nil when this process was not started by one.
    static func launcher(_ env: [String: String] = ProcessInfo.processInfo.environment) -> (rank: Int?, size: Int?)? {
        let rank = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
        let size = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
        return rank == nil && size == nil ? nil : (rank, size)
    }

    /// Joins the MPI job this process was started in, if any.
    static func join() throws -> ProcessGroup {
        guard let launcher = launcher() else { return ProcessGroup() }
        #if MAKEMORE_MPI
        let timeout = ProcessInfo.processInfo.environment["MAKEMORE_MPI_TIMEOUT"].flatMap { Double($0) } ?? 120
        let mpi = try MPIExchange(timeout: timeout, stop: StopSignal.token)
        _ = launcher
        return ProcessGroup(mpi: mpi)
        #else
        guard let size = launcher.size, size > 1 else { return ProcessGroup() }
        throw MakemoreError("rank \(launcher.rank.map(String.init) ?? "?") of \(size): this makemore was built without MPI, "
            + "so the \(size) processes would each train the whole model alone. Build the MPI version with "
            + "`make build-mpi` (MAKEMORE_MPI=1 swift build -c release --scratch-path .build-mpi; needs Open MPI: "
            + "apt-get install openmpi-bin libopenmpi-dev) and run .build-mpi/release/makemore under mpirun")
        #endif
    }

    private init() {
        exchange = nil
        rank = 0
        rankCount = 1
        #if MAKEMORE_MPI
        mpi = nil
        #endif
    }

    #if MAKEMORE_MPI
    private init(mpi: MPIExchange) {
        self.mpi = mpi
        rank = mpi.rank
        rankCount = mpi.rankCount
        // One rank is a plain single-process run (same numbers, no exchange).
        exchange = mpi.rankCount > 1 ? mpi : nil
        ProcessGroup.silent = mpi.rank != 0
    }
    #endif

    /// Runs the command's body. In an MPI job: finalizes MPI when every rank
    /// finished or stopped together; on an error, which may be this rank's
    /// alone, prints it with the rank and ends the whole job (MPI_Abort), so
    /// no rank is left waiting for this one.
    func run(_ body: () throws -> Void) throws {
        #if MAKEMORE_MPI
        guard let mpi else { return try body() }
        do {
            try body()
            mpi.finalize()
        } catch let code as ExitCode {
            mpi.finalize()  // stopped by a signal after the same step on every rank
            throw code
        } catch {
            var message = oneLine("\(error)")
            if (error as? MakemoreError)?.setting == "parallel.threads" {
                message += "; under mpirun a rank may use only the cores it is bound to: for T threads per rank "
                    + "start it with mpirun --map-by slot:PE=T (or --bind-to none)"
            }
            complain("makemore: \(mpi.label): error: \(message)")
            mpi.abort(code: 1)
        }
        #else
        try body()
        #endif
    }

    /// After the trainer is built: every rank checks that the others hold the
    /// same data, parameters, sampler state and settings, and rank 0 prints
    /// where each rank runs.
    func prepare(_ trainer: Trainer) throws {
        #if MAKEMORE_MPI
        guard let mpi, mpi.rankCount > 1 else { return }
        let S = trainer.config.shards
        let cpus = trainer.placements.compactMap(\.cpu)
        let record = [mpi.host, String(trainer.placements.count), cpus.map(String.init).joined(separator: " "),
                      trainer.fingerprint().description].joined(separator: "|")
        let records = mpi.allGatherStrings(record).map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        guard records.allSatisfy({ $0.count == 4 }) else { throw MakemoreError("garbled rank report: \(records)") }
        // Per step: all-gathers of the moments (2·Hp floats a shard), BatchNorm partials (2·Hp floats)
        // and losses (a double), gradients (P floats) and, where shards fold, their token sums;
        // per chunk of steps, an all-reduce of the stop flag.
        let shape = trainer.model.shape, n = trainer.config.train.batchSize
        let Hp = shape.hiddenPadded, P = trainer.model.layout.count
        let sums = shape.foldsEmbedding(rows: largestShardRows(n, shards: S)) ? shape.tokenSumFloats : 0
        let gathered = RankScalingModel.bytesGathered(hiddenPadded: Hp, parameters: P, tokenSums: sums, shards: S)
        var lines = ["mpi: \(mpi.rankCount) ranks; batch of \(n) in \(S) shards; "
            + "per step \(sums > 0 ? 5 : 4) all-gathers of \(gathered) bytes in all (gradients \(S * P * 4)"
            + (sums > 0 ? ", token sums \(S * sums * 4))" : ")")]
        for (r, rec) in records.enumerated() {
            let owned = mpi.ownedShards(of: r, shards: S)
            lines.append("  rank \(r) on \(rec[0]): \(rec[1]) thread\(rec[1] == "1" ? "" : "s")"
                + (rec[2].isEmpty ? " (not pinned)" : " on CPU \(rec[2].split(separator: " ").joined(separator: ","))")
                + ", shards \(owned.lowerBound)…\(owned.upperBound - 1)")
        }
        // Two ranks on one host pinning workers to the same CPU would share it.
        var seen = [String: Int]()
        for (r, rec) in records.enumerated() {
            for cpu in rec[2].split(separator: " ") {
                if let other = seen["\(rec[0]) \(cpu)"] {
                    lines.append("warning: ranks \(other) and \(r) on \(rec[0]) both pin a worker to CPU \(cpu); "
                        + "give each rank its own cores (mpirun --map-by slot:PE=<threads>, or --bind-to core)")
                } else {
                    seen["\(rec[0]) \(cpu)"] = r
                }
            }
        }
        lines.forEach(say)
        let reference = RankFingerprint(records[0][3])
        var mismatches = [String]()
        for (r, rec) in records.enumerated().dropFirst() {
            guard let f = RankFingerprint(rec[3]), let reference else { continue }
            let diff = f.differences(from: reference)
            if !diff.isEmpty { mismatches.append("rank \(r) on \(rec[0]): \(diff.joined(separator: ", "))") }
        }
        if !mismatches.isEmpty {
            throw MakemoreError("the ranks do not start from the same state, so they would train different models; "
                + "differing from rank 0: \(mismatches.joined(separator: "; ")). Every rank must see the same config, "
                + "data file and checkpoint (on several hosts: the same paths on a shared file system, or copies)")
        }
        #endif
    }

    /// Rank 0 writes checkpoints; all ranks stop after the same step.
    func configure(_ loop: inout TrainingLoop) {
        #if MAKEMORE_MPI
        guard let mpi, mpi.rankCount > 1 else { return }
        loop.writesCheckpoint = mpi.rank == 0
        let trainer = loop.trainer
        loop.agreeOnStop = { request in
            mpi.step.store(trainer.step, ordering: .relaxed)
            return mpi.agreeMax(request)
        }
        #endif
    }
}
