import XCTest
@testable import Parallel

final class WorkerLinesTests: XCTestCase {
    /// Each worker's numbers on a 64-byte line of their own, set and filled
    /// without touching another worker's.
    func testEachWorkerHasALineOfItsOwn() {
        let lines = WorkerLines<Int>(workers: 5, repeating: -1)
        defer { lines.deallocate() }
        XCTAssertEqual(lines.capacity, 8)
        for w in 0..<5 {
            XCTAssertEqual(UInt(bitPattern: lines.line(w)) % 64, 0, "worker \(w)'s line is not 64-aligned")
            if w > 0 { XCTAssertEqual(UnsafeRawPointer(lines.line(w)) - UnsafeRawPointer(lines.line(w - 1)), 64) }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: lines.line(w), count: 8)), Array(repeating: -1, count: 8))
        }
        for w in 0..<5 { lines[w] = 10 * w; lines.line(w)[7] = w }
        XCTAssertEqual((0..<5).map { lines[$0] }, [0, 10, 20, 30, 40])
        XCTAssertEqual((0..<5).map { lines.line($0)[7] }, [0, 1, 2, 3, 4])
        lines.fill(3)
        XCTAssertTrue((0..<5).allSatisfy { w in (0..<8).allSatisfy { lines.line(w)[$0] == 3 } })
    }

    /// More than a line a worker: whole lines, still 64-aligned and apart.
    func testSeveralLinesAWorker() {
        let lines = WorkerLines<UInt64>(workers: 3, count: 12, repeating: 7)
        defer { lines.deallocate() }
        XCTAssertEqual(lines.capacity, 16)
        for w in 0..<3 {
            XCTAssertEqual(UInt(bitPattern: lines.line(w)) % 64, 0)
            XCTAssertTrue((0..<16).allSatisfy { lines.line(w)[$0] == 7 })
        }
        XCTAssertEqual(UnsafeRawPointer(lines.line(2)) - UnsafeRawPointer(lines.line(1)), 128)
    }
}
