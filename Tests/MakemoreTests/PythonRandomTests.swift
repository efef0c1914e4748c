import XCTest
@testable import Makemore

/// Expected values are CPython 3.11.7's, printed by
/// `python3 Tests/Fixtures/make_data_expectations.py` (section "PythonRandom").
final class PythonRandomTests: XCTestCase {
    func testFirstOutputsSeed42() {
        var r = PythonRandom(seed: 42)
        // random.seed(42); [random.getrandbits(32) for _ in range(5)]
        let got = (0..<5).map { _ in r.genrandUInt32() }
        XCTAssertEqual(got, [2746317213, 478163327, 107420369, 3184935163, 1181241943])
    }

    func testOutputsAfterFirstTwist() {
        var r = PythonRandom(seed: 42)
        for _ in 0..<624 { _ = r.genrandUInt32() }
        XCTAssertEqual((0..<3).map { _ in r.genrandUInt32() }, [1071722055, 2864457210, 441495235])
    }

    func testOtherSeeds() {
        // seed 0 (one zero word), a negative seed (abs), a two-word seed, the notebook's init_seed
        let cases: [(Int, [UInt32])] = [
            (0, [3626764237, 1654615998, 3255389356]),
            (-42, [2746317213, 478163327, 107420369]),
            (1 << 40 + 5, [2166296868, 2220160828, 1153647273]),
            (2147483647, [1364760256, 4023463762, 3510513048]),
        ]
        for (seed, expected) in cases {
            var r = PythonRandom(seed: seed)
            XCTAssertEqual((0..<3).map { _ in r.genrandUInt32() }, expected, "seed \(seed)")
        }
    }

    func testGetrandbits() {
        var r = PythonRandom(seed: 42)
        // random.seed(42); [random.getrandbits(k) for k in (1, 7, 32, 33, 64, 64, 48)]
        let got = [1, 7, 32, 33, 64, 64, 48].map { r.getrandbits($0) }
        XCTAssertEqual(got, [1, 14, 107420369, 3184935163, 4117511471858006928,
                             13585496030504862185, 190473649856423])
    }

    func testRandbelow() {
        var r = PythonRandom(seed: 42)
        // random.seed(42); [random._randbelow(n) for n in (1, 2, 3, 10, 100, 1000, 2**31, 2**40+1)]
        let got = [1, 2, 3, 10, 100, 1000, 1 << 31, 1 << 40 + 1].map { r.randbelow($0) }
        XCTAssertEqual(got, [0, 0, 2, 4, 31, 228, 599310825, 226501419177])
    }

    func testShuffleRange20() {
        var r = PythonRandom(seed: 42)
        var a = Array(0..<20)
        r.shuffle(&a)
        // random.seed(42); a = list(range(20)); random.shuffle(a)
        XCTAssertEqual(a, [19, 5, 14, 4, 9, 13, 15, 18, 6, 12, 17, 10, 1, 11, 2, 16, 7, 8, 0, 3])
    }

    func testShuffleTinyArrays() {
        var r = PythonRandom(seed: 1)
        var empty: [Int] = []
        r.shuffle(&empty)
        XCTAssertEqual(empty, [])
        var one = [7]
        r.shuffle(&one)
        XCTAssertEqual(one, [7])
    }
}
