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

    func testEveryWorkerRunsEveryRoundInLockstep() {
        for workers in [1, 2, 3, 4] {
            let pool = WorkerPool(placements: placements(workers))
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

    func testPinnedWorkersRunOnTheirCPU() {
        let pool = WorkerPool(placements: placements(2, pinned: true))
        XCTAssertTrue(pool.pinningProblems.isEmpty, "\(pool.pinningProblems)")
        pool.shutdown()
    }

    func testShutdownIsIdempotentAndDeinitJoins() {
        let pool = WorkerPool(placements: placements(3))
        pool.run(PhaseTask(workers: 3))
        pool.shutdown()
        pool.shutdown()
        var weak: WorkerPool? = WorkerPool(placements: placements(2))
        weak = nil  // deinit must join its threads without hanging
        XCTAssertNil(weak)
    }

    func testParkedWorkersWakeUp() {
        // No spin budget: every wait takes the park/wake path.
        let pool = WorkerPool(placements: placements(3), spinNanos: 0)
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

    func testSelectingUnknownNodeFails() {
        XCTAssertThrowsError(try Topology(virtualNodes: [[0]]).selecting(nodes: [3]))
    }

    func testCompactList() {
        XCTAssertEqual(compactList([0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11")
    }
}
