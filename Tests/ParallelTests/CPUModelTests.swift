import Parallel
import XCTest

final class CPUModelTests: XCTestCase {
    private func cpuinfo(_ name: String, family: String = "26", model: String = "2") -> String {
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: \(family)\nmodel\t\t: \(model)\n"
            + "model name\t: \(name)\nstepping\t: 1\n\nprocessor\t: 1\nmodel name\t: other\n"
    }

    func testASpecificNameIsKeptAsItIs() {
        XCTAssertEqual(cpuModelName(cpuinfo: cpuinfo("AMD EPYC 9R14 96-Core Processor")), "AMD EPYC 9R14 96-Core Processor")
    }

    func testAGenericNameGetsFamilyAndModel() {
        // Two CPUs a VM names alike must not share a name (nor tile cache lines).
        let zen5 = cpuModelName(cpuinfo: cpuinfo("AMD EPYC", family: "26", model: "2"))
        let zen3 = cpuModelName(cpuinfo: cpuinfo("AMD EPYC", family: "25", model: "1"))
        XCTAssertEqual(zen5, "AMD EPYC (family 26, model 2)")
        XCTAssertNotEqual(zen5, zen3)
    }

    func testMissingFieldsFallBack() {
        XCTAssertEqual(cpuModelName(cpuinfo: "processor\t: 0\nmodel name\t: AMD EPYC\n"), "AMD EPYC")
        XCTAssertEqual(cpuModelName(cpuinfo: "processor\t: 0\nmodel\t: 2\n"), "unknown CPU")
        XCTAssertEqual(cpuModelName(cpuinfo: ""), "unknown CPU")
    }
}

final class CacheSizeTests: XCTestCase {
    func testSysfsSizesAreRead() {
        XCTAssertEqual(cacheSizeBytes("2048K"), 2 << 20)
        XCTAssertEqual(cacheSizeBytes("1M"), 1 << 20)
        XCTAssertEqual(cacheSizeBytes("512"), 512)
        XCTAssertNil(cacheSizeBytes(""))
        XCTAssertNil(cacheSizeBytes("big"))
        XCTAssertNil(cacheSizeBytes("12Q"))
    }

    func testThisMachineHasAnL2OrNone() {
        if let bytes = l2CacheBytes() { XCTAssertGreaterThanOrEqual(bytes, 64 << 10) }  // no x86 core since 2008 has less
    }
}
