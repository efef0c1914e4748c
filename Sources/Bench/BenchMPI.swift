import Foundation
import Makemore
import Parallel

/// How `makemore bench` runs the cells of more than one rank: one
/// `mpirun -np R <MPI build of makemore> bench …` per rank count R, on the same
/// grid restricted to R ranks, whose rank 0 writes its cells as JSON for the
/// calling process to merge.
public enum BenchMPI {
    /// The MPI build of makemore: `selfIfMPI` (this binary, when it was built
    /// with MAKEMORE_MPI), else `explicit` (--mpi-binary), else
    /// `.build-mpi/release/makemore` under `directory` if it exists.
    public static func resolveBinary(explicit: String?, selfIfMPI: String?, directory: String, ranks: Int) throws -> String {
        if let selfIfMPI { return selfIfMPI }
        if let explicit {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw MakemoreError("bench: --mpi-binary \(explicit) is not an executable file")
            }
            return explicit
        }
        let local = URL(fileURLWithPath: directory).appendingPathComponent(".build-mpi/release/makemore").path
        if FileManager.default.isExecutableFile(atPath: local) { return local }
        throw MakemoreError("bench: cells of \(ranks) ranks run under mpirun and need the MPI build of makemore, "
            + "which this binary is not and \(local) does not exist: run `make build-mpi` first (or pass --mpi-binary PATH)")
    }

    /// mpirun on PATH, or a clear error.
    public static func mpirun(path: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") throws -> String {
        if let m = path.split(separator: ":").map({ "\($0)/mpirun" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return m
        }
        throw MakemoreError("bench: cells of more than one rank need mpirun on PATH (make build-mpi installs Open MPI)")
    }

    /// mpirun's flags: every rank unbound (`--bind-to none`: the ranks pin their
    /// own workers, rank l of a host to the CPUs after those of ranks < l), more
    /// ranks than cores allowed, and no cross-memory-attach single copy (often
    /// forbidden in containers; the shared-memory transport copies through its buffers).
    public static func mpirunFlags(ranks: Int) -> [String] {
        ["-np", "\(ranks)"] + (getuid() == 0 ? ["--allow-run-as-root"] : [])
            + ["--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none"]
    }

    /// The `bench` arguments of the sub-run for `ranks`: the whole grid's settings, spelled out.
    public static func benchArguments(_ spec: BenchSpec, ranks: Int, config: String?, json: String) -> [String] {
        let sub = spec.restricted(ranks: ranks)
        func list(_ xs: [Int]) -> String { xs.map(String.init).joined(separator: ",") }
        var args = ["bench"]
        if let config { args += ["--config", config] }
        args += ["--ranks", "\(ranks)", "--threads", list(sub.threads), "--batch-size", list(sub.batchSizes),
                 "--n-hidden", list(sub.nHidden), "--shards", sub.shards.map(String.init) ?? "auto",
                 "--auto-shard-ranks", "\(sub.autoShardRanks ?? ranks)",
                 "--steps", "\(sub.steps)", "--target-s", "\(sub.targetSeconds)", "--warmup", "\(sub.warmup)",
                 "--repeats", "\(sub.repeats)", sub.pin ? "--pin" : "--no-pin"]
        if sub.oversubscribe { args.append("--oversubscribe") }
        return args + ["--json", json]
    }

    /// `--mpirun-args`: words for mpirun, split at white space (a hostfile and
    /// launcher for several hosts); quotes are not interpreted, so no word can hold a space.
    public static func extraArguments(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }

    /// Runs `mpirun -np R [extra] binary bench …` (its output goes to this process's),
    /// and returns the cells its rank 0 wrote.
    /// `topology`: this process's CPUs; the calling thread is unpinned first, since the
    /// ranks would inherit its mask (a pool leaves worker 0, the caller, pinned to one CPU).
    /// `extra`: more mpirun flags, after the fixed ones (Open MPI refuses an MCA parameter given twice).
    public static func run(spec: BenchSpec, ranks: Int, binary: String, config: String?, topology: Topology,
                           extra: [String] = [], log: (String) -> Void) throws -> [BenchCell] {
        topology.unpinCurrentThread()
        let mpirun = try mpirun()
        // With a hostfile rank 0 runs on its first host, which must see this file: run bench
        // on that host, or set TMPDIR to a folder the hosts share.
        let json = NSTemporaryDirectory() + "makemore-bench-\(getpid())-ranks\(ranks).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let args = mpirunFlags(ranks: ranks) + extra + [binary] + benchArguments(spec, ranks: ranks, config: config, json: json)
        log("$ mpirun " + args.joined(separator: " "))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw MakemoreError("bench: mpirun -np \(ranks) exited with status \(p.terminationStatus)")
        }
        let report = try BenchReport.load(path: json)
        return report.results.filter { $0.ranks == ranks }
    }
}
