import Foundation
import Synchronization
import XCTest
@testable import Parallel

/// A task whose workers write disjoint slots, then meet at the barrier and
/// read each other's slots: a missing barrier or a torn hand-off shows up as a
/// wrong sum (and as a race under ThreadSanitizer).
final class PhaseTask: PoolTask {
    let slots: UnsafeMutablePointer<Int>
    let sums: UnsafeMutablePointer<Int>
    let count: Int
    var round = 0

    init(workers: Int) {
        count = workers
        slots = .allocate(capacity: workers)
        slots.initialize(repeating: 0, count: workers)
        sums = .allocate(capacity: workers)
        sums.initialize(repeating: 0, count: workers)
    }

    deinit { slots.deallocate(); sums.deallocate() }

    func run(worker w: Int, context: PoolContext) {
        slots[w] = round * 100 + w
        context.barrier.wait()
        var s = 0
        for i in 0..<count { s += slots[i] }
        sums[w] = s
        context.barrier.wait()  // nobody overwrites a slot while another still reads it
    }
}

final class WorkerPoolTests: XCTestCase {
    func placements(_ n: Int, pinned: Bool = false) -> [Placement] {
        (0..<n).map { Placement(worker: $0, node: 0, cpu: pinned ? $0 % 2 : nil) }
    }

    func testEveryWorkerRunsEveryRoundInLockstep() throws {
        for workers in [1, 2, 3, 4] {
            let pool = try WorkerPool(placements: placements(workers))
            let task = PhaseTask(workers: workers)
            for round in 0..<300 {
                task.round = round
                pool.run(task)
                let expected = (0..<workers).reduce(0) { $0 + round * 100 + $1 }
                for w in 0..<workers { XCTAssertEqual(task.sums[w], expected, "round \(round), worker \(w) of \(workers)") }
            }
            pool.shutdown()
        }
    }

    func testPinnedWorkersRunOnTheirCPU() throws {
        let pool = try WorkerPool(placements: placements(2, pinned: true))
        XCTAssertTrue(pool.pinningProblems.isEmpty, "\(pool.pinningProblems)")
        pool.shutdown()
    }

    func testShutdownIsIdempotentAndDeinitJoins() throws {
        let pool = try WorkerPool(placements: placements(3))
        pool.run(PhaseTask(workers: 3))
        pool.shutdown()
        pool.shutdown()
        for _ in 0..<200 {  // a shutdown right after the start: every worker still meets it
            try WorkerPool(placements: placements(3)).shutdown()
        }
        var weak: WorkerPool? = try WorkerPool(placements: placements(2))
        weak = nil  // deinit must join its threads without hanging
        XCTAssertNil(weak)
    }

    /// A thread that cannot be started (ulimit -u, a pids limit, no memory for
    /// its stack) is an error, not a hang: the workers already started are
    /// let through the start-up barrier and joined before init throws.
    func testAThreadThatCannotStartIsAnErrorNotAHang() {
        for failing in [1, 2, 3] {  // the first, second or third extra thread fails
            var started = 0
            XCTAssertThrowsError(try WorkerPool(placements: placements(4), spinNanos: 0, spawn: { thread, start, arg in
                started += 1
                return started == failing ? EAGAIN : pthread_create(thread, nil, start, arg)
            })) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("could not start worker thread \(failing + 1) of 4") && text.contains("use fewer threads"), text)
            }
        }
    }

    func testParkedWorkersWakeUp() throws {
        // No spin budget: every wait takes the park/wake path.
        let pool = try WorkerPool(placements: placements(3), spinNanos: 0)
        let task = PhaseTask(workers: 3)
        for round in 0..<100 {
            task.round = round
            pool.run(task)
            XCTAssertEqual(task.sums[2], 3 * round * 100 + 3)
        }
        pool.shutdown()
    }
}

final class BarrierTests: XCTestCase {
    func testNoThreadPassesBeforeAllArrive() {
        let parties = 3
        let barrier = Barrier(parties: parties, spinNanos: 2_000)
        let arrived = Atomic<Int>(0)
        let violations = Atomic<Int>(0)
        let rounds = 500
        let finished = DispatchSemaphore(value: 0)
        let threads = (0..<parties).map { _ in
            Thread {
                for r in 1...rounds {
                    arrived.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    barrier.wait()
                    if arrived.load(ordering: .sequentiallyConsistent) < r * parties { violations.wrappingAdd(1, ordering: .relaxed) }
                    barrier.wait()
                }
                finished.signal()
            }
        }
        for t in threads { t.start() }
        for _ in threads { finished.wait() }
        XCTAssertEqual(violations.load(ordering: .relaxed), 0)
    }
}

final class TopologyTests: XCTestCase {
    func testDetectFindsTheCPUs() {
        let t = Topology.detect()
        XCTAssertGreaterThanOrEqual(t.cpuCount, 1)
        XCTAssertFalse(t.description.isEmpty)
    }

    func testVirtualNodesAndPlacement() throws {
        let t = Topology(virtualNodes: [[0], [1]])
        let p = try t.placements(.perNode(1), pin: true, oversubscribe: false)
        XCTAssertEqual(p, [Placement(worker: 0, node: 0, cpu: 0), Placement(worker: 1, node: 1, cpu: 1)])
        let auto = try t.placements(.auto, pin: false, oversubscribe: false)
        XCTAssertEqual(auto.map(\.node), [0, 1])
        XCTAssertEqual(auto.map(\.cpu), [nil, nil])
    }

    func testCountsSpreadOverNodes() throws {
        let t = Topology(virtualNodes: [[0, 1, 2], [3, 4, 5]])
        XCTAssertEqual(try t.placements(.count(3), pin: true, oversubscribe: false).map(\.node), [0, 0, 1])
    }

    func testOversubscriptionNeedsConsent() throws {
        let t = Topology(virtualNodes: [[0, 1]])
        XCTAssertThrowsError(try t.placements(.count(3), pin: true, oversubscribe: false)) { error in
            XCTAssertTrue("\(error)".contains("oversubscribe"))
        }
        let p = try t.placements(.count(3), pin: true, oversubscribe: true)
        XCTAssertEqual(p.count, 3)
        XCTAssertTrue(p.allSatisfy { $0.cpu == nil }, "oversubscribed workers are left unpinned")
    }

    /// Ranks on one host: unbound (each sees every CPU) they take consecutive
    /// blocks; bound (each sees only its own cores) they pin inside them;
    /// unbound but too many for the CPUs, none pins.
    func testRanksOfOneHostTakeTheirOwnCPUs() throws {
        let all = Topology(virtualNodes: [[0, 1, 2, 3], [4, 5, 6, 7]])
        let cpus = { (local: Int) in try all.placements(.count(2), pin: true, oversubscribe: false, local: local, of: 3).map(\.cpu) }
        XCTAssertEqual(try cpus(0), [0, 4], "a worker per node, each process a block of every node")
        XCTAssertEqual(try cpus(1), [1, 5])
        XCTAssertEqual(try cpus(2), [2, 6])
        let bound = Topology(virtualNodes: [[6, 7]])
        XCTAssertEqual(try bound.placements(.count(2), pin: true, oversubscribe: false, local: 3, of: 4).map(\.cpu), [6, 7])
        let crowded = Topology(virtualNodes: [[0, 1, 2]])
        XCTAssertEqual(try crowded.placements(.count(2), pin: true, oversubscribe: false, local: 1, of: 2).map(\.cpu), [nil, nil])
        XCTAssertEqual(try all.placements(.count(2), pin: false, oversubscribe: false, local: 1, of: 3).map(\.cpu), [nil, nil])
    }

    func testSelectingUnknownNodeFails() {
        XCTAssertThrowsError(try Topology(virtualNodes: [[0]]).selecting(nodes: [3]))
    }

    /// One CPU per physical core, read from a fake sysfs tree made for the
    /// test (and removed after it): SMT pairs (0,4) and (1,5) by
    /// thread_siblings_list, (2,6) by package and core id only, 3 and 7 with
    /// no topology files (each its own core).
    func testOnePerCoreFromFakeSysfs() throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("makemore-sysfs-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ cpu: Int, _ name: String, _ text: String) throws {
            let dir = root.appendingPathComponent("cpu\(cpu)/topology")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for (cpu, list) in [(0, "0,4"), (4, "0,4"), (1, "1,5"), (5, "1,5\n")] {
            try write(cpu, "thread_siblings_list", list)
            try write(cpu, "core_id", "\(cpu % 4)")  // ignored: the siblings list wins
        }
        for cpu in [2, 6] {
            try write(cpu, "physical_package_id", "0\n")
            try write(cpu, "core_id", "2\n")
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("cpu3"), withIntermediateDirectories: true)

        let machine = Topology(virtualNodes: [[0, 1, 2, 3, 4, 5, 6, 7]])
        let (cores, siblings) = machine.onePerCore(sysfs: root.path)
        XCTAssertEqual(cores.nodes[0].cpus, [0, 1, 2, 3, 7])
        XCTAssertEqual(siblings, [4, 5, 6])
        XCTAssertEqual(machine.coresFirst(sysfs: root.path).nodes[0].cpus, [0, 1, 2, 3, 7, 4, 5, 6])
        XCTAssertEqual(try cores.placements(.auto, pin: true, oversubscribe: false).compactMap(\.cpu), [0, 1, 2, 3, 7])

        // Cores are grouped per node: a pretend topology listing CPUs in two nodes keeps them in both.
        let twice = Topology(virtualNodes: [[0, 4], [0, 4, 1]]).onePerCore(sysfs: root.path)
        XCTAssertEqual(twice.topology.nodes.map(\.cpus), [[0], [0, 1]])
        XCTAssertEqual(twice.smtSiblings, [4, 4])

        // No sysfs at all: every CPU is a core.
        let none = machine.onePerCore(sysfs: root.appendingPathComponent("absent").path)
        XCTAssertEqual(none.topology, machine)
        XCTAssertEqual(none.smtSiblings, [])
    }

    func testParseCPUList() {
        XCTAssertEqual(parseCPUList("0-3,8,10-11"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(parseCPUList("4,0"), [0, 4])
        XCTAssertNil(parseCPUList("3-1"))
        XCTAssertNil(parseCPUList("x"))
    }

    func testCompactList() {
        XCTAssertEqual(compactList([0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11")
    }
}

final class ClaimCounterTests: XCTestCase {
    /// Threads claiming from one counter get distinct numbers that cover
    /// 0..<n exactly (the shard hand-out of a phase); a reset starts over.
    func testClaimsAreDistinctAndReset() {
        let counters = ClaimCounters(count: 3)
        defer { counters.deallocate() }
        let threads = 4, items = 5000
        struct Slots: @unchecked Sendable { let base: UnsafeMutablePointer<Atomic<Int>> }
        let taken = Slots(base: .allocate(capacity: items)).base
        let shared = Slots(base: taken)
        for i in 0..<items { (taken + i).initialize(to: Atomic(0)) }
        defer { taken.deinitialize(count: items); taken.deallocate() }
        for round in 0..<2 {
            let finished = DispatchSemaphore(value: 0)
            for _ in 0..<threads {
                Thread {
                    while true {
                        let i = counters.claim(1)
                        if i >= items { break }
                        shared.base[i].wrappingAdd(1, ordering: .relaxed)
                    }
                    finished.signal()
                }.start()
            }
            for _ in 0..<threads { finished.wait() }
            for i in 0..<items { XCTAssertEqual(taken[i].load(ordering: .relaxed), round + 1, "item \(i)") }
            XCTAssertEqual(counters.value(1), items + threads, "each thread's last claim came back empty")
            XCTAssertEqual(counters.value(0), 0)
            XCTAssertEqual(counters.value(2), 0)
            counters.reset(1)
            XCTAssertEqual(counters.value(1), 0)
        }
    }
}
