import CMPI
import Foundation
import Makemore
import Parallel
import Synchronization

/// `ShardExchange` over Open MPI: one process per rank of MPI_COMM_WORLD.
///
/// `allGather` is one `MPI_Allgatherv` of bytes: each rank contributes its
/// block of shards, and every rank receives all S pieces in shard order. When
/// the pieces lie back to back (the per-shard gradients, the losses) it runs
/// in place on them; otherwise (the BatchNorm moments and partial sums, which
/// sit in separate per-shard buffers) the owned pieces are packed into a
/// staging buffer and the others unpacked from it. The staging buffers and
/// the count/displacement arrays are allocated once and only grow, so a step
/// allocates nothing after the first.
///
/// No MPI reduction touches the numbers: every rank sums the gathered shards
/// itself in shard order, which is what makes the run bit-identical to one
/// process with the same shards whatever the rank count. `agreeMax` is an
/// `MPI_Allreduce` MAX of one integer (the stop flag), where order cannot matter.
///
/// Threading: `MPI_THREAD_FUNNELED`. Only the thread that initialized MPI —
/// the main thread, which is worker 0 of the pool — calls MPI.
///
/// Failures: the communicator returns errors (`MPI_ERRORS_RETURN`) and a failed
/// collective ends this process with a message naming the rank and the call.
/// A peer that dies is often not reported by the transport at all (the shared
/// memory one waits forever), so a watchdog thread also ends this process,
/// with a message, when one collective waits longer than `timeout` seconds or
/// when a stop signal arrives while it is stuck in one. `mpirun` then ends
/// the remaining ranks.
public final class MPIExchange: ShardExchange {
    public let rank: Int
    public let rankCount: Int
    /// `MPI_Get_processor_name`: the host this rank runs on.
    public let host: String
    /// The step the training loop last agreed on (the start of the current chunk), for messages only.
    public let step = Atomic<Int>(0)

    let comm: MPI_Comm
    let byte: MPI_Datatype
    private var staging: UnsafeMutableRawPointer
    private var stagingBytes = 0
    private let counts: UnsafeMutablePointer<Int32>
    private let displacements: UnsafeMutablePointer<Int32>

    // Watchdog: when the current collective started (0: none), and what it is.
    private let waitingSince = Atomic<UInt64>(0)
    private let waitingFor = Atomic<Int>(0)
    private let watchdogStop = Atomic<Bool>(false)
    private var watchdog: Thread?
    public let timeout: Double
    /// The run's stop request: a signal while stuck in a collective ends the process.
    let stop: StopToken
    private var finalized = false

    /// Initializes MPI (`MPI_Init_thread`, FUNNELED) on the calling thread,
    /// which must be the main thread, and starts the watchdog.
    /// `timeout`: seconds one collective may wait before the job is ended.
    public init(timeout: Double, stop: StopToken) throws {
        self.stop = stop
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        guard initialized == 0 else { throw MakemoreError("MPI is already initialized") }
        var provided: Int32 = 0
        let rc = MPI_Init_thread(nil, nil, makemore_mpi_thread_funneled(), &provided)
        guard rc == makemore_mpi_success() else {
            throw MakemoreError("MPI_Init_thread failed: \(MPIExchange.errorString(rc))")
        }
        guard provided >= makemore_mpi_thread_funneled() else {
            MPI_Finalize()
            throw MakemoreError("this MPI library does not support MPI_THREAD_FUNNELED (it provides level \(provided))")
        }
        comm = makemore_mpi_comm_world()
        byte = makemore_mpi_byte()
        MPI_Comm_set_errhandler(comm, makemore_mpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &n)
        rank = Int(r)
        rankCount = Int(n)
        var name = [CChar](repeating: 0, count: Int(makemore_mpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        host = String(cString: name)
        counts = .allocate(capacity: rankCount)
        displacements = .allocate(capacity: rankCount)
        staging = .allocate(byteCount: 64, alignment: 64)
        stagingBytes = 64
        self.timeout = timeout
        startWatchdog()
    }

    deinit {
        watchdogStop.store(true, ordering: .relaxed)
        counts.deallocate()
        displacements.deallocate()
        staging.deallocate()
    }

    /// "rank 1/2 (host)": how messages name this process.
    public var label: String { "rank \(rank)/\(rankCount) (\(host))" }

    // MARK: ShardExchange

    public func allGather(_ pieces: UnsafePointer<UnsafeMutableRawPointer>, shards S: Int, bytes: Int) {
        let total = S * bytes
        if total > Int(Int32.max) {
            fail("the all-gather of \(total) bytes exceeds MPI's 2 GiB count limit; use fewer shards or a smaller model", code: 0)
        }
        for r in 0..<rankCount {
            let owned = ownedShards(of: r, shards: S)
            counts[r] = Int32(owned.count * bytes)
            displacements[r] = Int32(owned.lowerBound * bytes)
        }
        let mine = ownedShards(of: rank, shards: S)
        let first = pieces[0]
        var contiguous = true
        for s in 1..<max(S, 1) where pieces[s] != first + s * bytes { contiguous = false; break }
        let rc: Int32
        if contiguous {
            begin(.allGather)
            rc = MPI_Allgatherv(makemore_mpi_in_place(), 0, byte, first, counts, displacements, byte, comm)
        } else {
            reserve(total)
            for s in mine { (staging + s * bytes).copyMemory(from: pieces[s], byteCount: bytes) }
            begin(.allGather)
            rc = MPI_Allgatherv(makemore_mpi_in_place(), 0, byte, staging, counts, displacements, byte, comm)
            if rc == makemore_mpi_success() {
                for s in 0..<S where !mine.contains(s) { pieces[s].copyMemory(from: staging + s * bytes, byteCount: bytes) }
            }
        }
        end()
        if rc != makemore_mpi_success() { fail("MPI_Allgatherv (\(total) bytes) failed: \(MPIExchange.errorString(rc))", code: rc) }
    }

    public func agreeMax(_ value: Int32) -> Int32 {
        var v = value
        begin(.allReduce)
        let rc = MPI_Allreduce(makemore_mpi_in_place(), &v, 1, makemore_mpi_int(), makemore_mpi_max(), comm)
        end()
        if rc != makemore_mpi_success() { fail("MPI_Allreduce failed: \(MPIExchange.errorString(rc))", code: rc) }
        return v
    }

    // MARK: Beyond the protocol

    /// Every rank's `text` (at most `maxBytes` UTF-8 bytes), in rank order:
    /// for the start-of-run report and the consistency checks.
    public func allGatherStrings(_ text: String, maxBytes: Int = 1024) -> [String] {
        let local = UnsafeMutableRawPointer.allocate(byteCount: maxBytes, alignment: 8)
        let all = UnsafeMutableRawPointer.allocate(byteCount: maxBytes * rankCount, alignment: 8)
        defer { local.deallocate(); all.deallocate() }
        local.initializeMemory(as: UInt8.self, repeating: 0, count: maxBytes)
        let utf8 = Array(text.utf8.prefix(maxBytes - 1))
        utf8.withUnsafeBytes { local.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        begin(.allGather)
        let rc = MPI_Allgather(local, Int32(maxBytes), byte, all, Int32(maxBytes), byte, comm)
        end()
        if rc != makemore_mpi_success() { fail("MPI_Allgather failed: \(MPIExchange.errorString(rc))", code: rc) }
        return (0..<rankCount).map { r in
            String(cString: (all + r * maxBytes).assumingMemoryBound(to: CChar.self))
        }
    }

    /// A barrier among the ranks (watched like the collectives).
    public func barrier() {
        begin(.barrier)
        let rc = MPI_Barrier(comm)
        end()
        if rc != makemore_mpi_success() { fail("MPI_Barrier failed: \(MPIExchange.errorString(rc))", code: rc) }
    }

    /// `MPI_Finalize`, once, after a run every rank finished (or stopped) together.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        watchdogStop.store(true, ordering: .relaxed)
        MPI_Finalize()
    }

    /// Ends the whole job (`MPI_Abort`) after this rank failed on its own.
    public func abort(code: Int32) -> Never {
        watchdogStop.store(true, ordering: .relaxed)
        MPI_Abort(comm, code)
        exit(code)
    }

    // MARK: Failure handling

    enum Collective: Int { case none, allGather, allReduce, barrier }

    @inline(__always)
    private func begin(_ what: Collective) {
        waitingFor.store(what.rawValue, ordering: .relaxed)
        waitingSince.store(Self.now(), ordering: .releasing)
    }

    @inline(__always)
    private func end() { waitingSince.store(0, ordering: .releasing) }

    /// A collective failed: say so, then end the job.
    private func fail(_ what: String, code: Int32) -> Never {
        Self.report("makemore: \(label): \(what) after step \(step.load(ordering: .relaxed)); "
            + "another rank has probably died or its host is unreachable. Ending the job; "
            + "resume from the last checkpoint with --resume (with any number of ranks).")
        abort(code: code == 0 ? 1 : code)
    }

    private func startWatchdog() {
        let t = Thread { self.watch() }  // lives as long as the process
        t.name = "mpi-watchdog"
        t.stackSize = 1 << 18
        watchdog = t
        t.start()
    }

    private func watch() {
        let timeoutNanos = UInt64(timeout * 1e9)
        while !watchdogStop.load(ordering: .relaxed) {
            usleep(100_000)
            let since = waitingSince.load(ordering: .acquiring)
            guard since != 0 else { continue }
            let waited = Self.now() &- since
            let signal = stop.requested
            let what = ["", "an all-gather", "an all-reduce", "a barrier"][waitingFor.load(ordering: .relaxed)]
            let step = self.step.load(ordering: .relaxed)
            if signal != 0 && waited > 500_000_000 {
                // mpirun sends SIGTERM to every rank when one dies; the others are stuck in a collective.
                Self.report("makemore: \(label): \(signalName(signal)) while waiting "
                    + String(format: "%.1f s", Double(waited) / 1e9)
                    + " for the other ranks in \(what) after step \(step); a rank has probably died or its host is "
                    + "unreachable (mpirun ends the job when a rank exits abnormally or a host stops answering). "
                    + "Exiting; resume from the last checkpoint with --resume.")
                _exit(128 + signal)
            }
            if waited > timeoutNanos {
                Self.report("makemore: \(label): no answer from the other ranks for "
                    + String(format: "%.0f s", Double(waited) / 1e9)
                    + " in \(what) after step \(step): a rank has died, hangs, or its host is unreachable. "
                    + "Ending the job (MAKEMORE_MPI_TIMEOUT sets this limit); resume from the last checkpoint with --resume.")
                _exit(1)
            }
        }
    }

    static func report(_ line: String) {
        let text = line + "\n"
        text.utf8CString.withUnsafeBufferPointer { p in _ = write(2, p.baseAddress!, p.count - 1) }
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec) | 1
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(makemore_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return "\(String(cString: buffer)) (error \(code))"
    }

    private func reserve(_ bytes: Int) {
        guard bytes > stagingBytes else { return }
        staging.deallocate()
        staging = .allocate(byteCount: bytes, alignment: 64)
        stagingBytes = bytes
    }
}
