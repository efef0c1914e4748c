import CNuma
import Foundation
import Synchronization

/// Work the pool runs on every worker at once. `run` is called with the same
/// `context` on all workers; they meet at `context.barrier` between phases.
public protocol PoolTask: AnyObject {
    func run(worker: Int, context: PoolContext)
}

public struct PoolContext {
    public let workerCount: Int
    public let barrier: Barrier
}

/// Where a worker runs.
public struct Placement: Equatable, Sendable {
    public var worker: Int
    public var node: Int
    /// nil: not pinned.
    public var cpu: Int?
}

/// Persistent worker threads, pinned once at start, that run a `PoolTask`
/// together. Worker 0 is the calling thread, so a one-worker pool creates no
/// thread at all and a step on it costs nothing extra.
///
/// A call of `run` is: barrier (release the workers) → task on every worker →
/// barrier (wait for all). Between calls workers wait in the barrier, which
/// parks them after a short spin, so a paused or finished trainer leaves no
/// core spinning. No allocation, lock or thread creation happens per call.
public final class WorkerPool: @unchecked Sendable {
    public let placements: [Placement]
    public let barrier: Barrier
    /// Non-nil while a pinning call failed: the reason, for the start-of-run report.
    public private(set) var pinningProblems: [String] = []

    private var threads: [pthread_t] = []
    /// The task of the current `run`, unretained: `run` keeps it alive until the end barrier.
    private nonisolated(unsafe) unowned(unsafe) var task: PoolTask?
    private let shuttingDown = Atomic<Bool>(false)
    /// Set before the start-up barrier is released when a thread could not be started.
    private let startFailed = Atomic<Bool>(false)
    private let pinFailures = Mutex<[String]>([])

    /// Starts the workers. Throws `PoolError` when a thread cannot be started
    /// (a limit on processes or threads, or on memory for stacks); the
    /// threads already started are stopped and joined first.
    public convenience init(placements: [Placement], spinNanos: UInt64 = Barrier.defaultSpinNanos) throws {
        try self.init(placements: placements, spinNanos: spinNanos, spawn: { thread, start, arg in
            pthread_create(thread, nil, start, arg)
        })
    }

    /// `spawn` is `pthread_create` without attributes; tests make it fail.
    init(placements: [Placement], spinNanos: UInt64,
         spawn: (UnsafeMutablePointer<pthread_t>, @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
                 UnsafeMutableRawPointer?) -> Int32) throws {
        precondition(!placements.isEmpty)
        self.placements = placements
        // Unpinned workers were placed that way because there are more of them than CPUs.
        let oversubscribed = placements.count > 1 && placements.contains { $0.cpu == nil }
            && placements.count > ProcessInfo.processInfo.activeProcessorCount
        barrier = Barrier(parties: placements.count, spinNanos: spinNanos, oversubscribed: oversubscribed)
        if let cpu = placements[0].cpu { pin(worker: 0, cpu: cpu) }
        for p in placements.dropFirst() {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, placement: p))
            var thread = pthread_t()
            let rc = spawn(&thread, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.workerLoop(start.placement)
                return nil
            }, box.toOpaque())
            if rc != 0 {
                box.release()
                // The started workers wait at the start-up barrier: let them through
                // (the missing arrivals are this thread's and the unstarted ones'),
                // and they leave at once, seeing `shuttingDown`.
                startFailed.store(true, ordering: .sequentiallyConsistent)
                shuttingDown.store(true, ordering: .sequentiallyConsistent)  // deinit: nothing left to stop
                barrier.arrive(count: placements.count - threads.count)
                for t in threads { pthread_join(t, nil) }
                threads = []
                throw PoolError.threadNotStarted(worker: p.worker + 1, of: placements.count, errno: rc)
            }
            threads.append(thread)
        }
        // Wait until every worker has pinned itself, so the report below is complete.
        barrier.wait()
        pinningProblems = pinFailures.withLock { $0 }
    }

    /// Runs `task` on all workers and returns when all have finished it.
    public func run(_ task: PoolTask) {
        let context = PoolContext(workerCount: placements.count, barrier: barrier)
        withExtendedLifetime(task) {
            self.task = task
            barrier.wait()  // release
            task.run(worker: 0, context: context)
            barrier.wait()  // join
            self.task = nil
        }
    }

    /// Stops and joins the worker threads. Called by deinit; safe to call twice.
    public func shutdown() {
        guard !shuttingDown.exchange(true, ordering: .sequentiallyConsistent) else { return }
        barrier.wait()  // the workers see shuttingDown and leave
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    deinit { shutdown() }

    private func workerLoop(_ p: Placement) {
        if let cpu = p.cpu { pin(worker: p.worker, cpu: cpu) }
        barrier.wait()  // start-up: pinned
        // Not `shuttingDown`: a shutdown right after a good start sets that before
        // this worker looks, and the worker must still meet it at the barrier.
        if startFailed.load(ordering: .sequentiallyConsistent) { return }  // the pool could not start every worker
        let context = PoolContext(workerCount: placements.count, barrier: barrier)
        while true {
            barrier.wait()
            if shuttingDown.load(ordering: .sequentiallyConsistent) { return }
            guard let task else { continue }
            task.run(worker: p.worker, context: context)
            barrier.wait()
        }
    }

    private func pin(worker: Int, cpu: Int) {
        let rc = makemore_pin_current_thread(Int32(cpu))
        if rc != 0 { pinFailures.withLock { $0.append("worker \(worker) could not be pinned to CPU \(cpu)") } }
    }
}

private final class WorkerStart {
    // Unretained: a worker must not keep its pool alive, or deinit (which
    // joins the workers) could never run. The pool outlives its threads.
    unowned(unsafe) let pool: WorkerPool
    let placement: Placement
    init(pool: WorkerPool, placement: Placement) { self.pool = pool; self.placement = placement }
}
