import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

final class OutputTargetTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return (error as? MakemoreError)?.message ?? "\(error)" }
    }

    func testLinksAreFollowedToTheFileTheyNameRelativeToTheirFolder() throws {
        try FileManager.default.createDirectory(atPath: dir + "/a/b", withIntermediateDirectories: true)
        XCTAssertEqual(symlink("b/second", dir + "/a/first"), 0)
        XCTAssertEqual(symlink("../final.safetensors", dir + "/a/b/second"), 0)
        let t = try OutputTarget.check(dir + "/a/first", writing: "the checkpoint") { _ in "not reached" }
        XCTAssertEqual(t.path, dir + "/a/b/../final.safetensors")
        XCTAssertFalse(t.exists)
        XCTAssertEqual(symlink("loop", dir + "/loop"), 0)
        XCTAssertEqual(message { _ = try OutputTarget.check(self.dir + "/loop", writing: "x") { _ in nil } },
                       "cannot write \(dir)/loop: Too many levels of symbolic links")
    }

    func testAnExistingFileIsReplacedOnlyWhenReplaceableOrForced() throws {
        let path = dir + "/m.safetensors"
        try AtomicFile.write([1], to: path)
        XCTAssertEqual(message { _ = try OutputTarget.check(path, writing: "the checkpoint") { _ in "it is not ours" } },
                       "refusing to replace \(path): it is not ours; give --force to replace it, or another path")
        XCTAssertTrue(try OutputTarget.check(path, writing: "the checkpoint") { _ in nil }.exists)
        XCTAssertTrue(try OutputTarget.check(path, writing: "the checkpoint", force: true) { _ in "it is not ours" }.exists)
        // An input is never replaced, --force or not, under whatever name.
        XCTAssertEqual(link(path, dir + "/hard"), 0)
        XCTAssertEqual(message {
            _ = try OutputTarget.check(self.dir + "/hard", writing: "the checkpoint", inputs: [.init("the data", path)], force: true) { _ in nil }
        }, "refusing to write the checkpoint to \(dir)/hard: it is the data of this run")
    }

    func testNamesTooLongFailBeforeAnyWork() {
        let long = dir + "/" + String(repeating: "é", count: 130)  // 260 bytes
        XCTAssertEqual(message { _ = try OutputTarget.check(long, writing: "x") { _ in nil } }, "cannot write \(long): File name too long")
    }
}

final class MemoryCheckTests: XCTestCase {
    func testSizesInTheEnvironment() throws {
        XCTAssertEqual(MemoryCheck.parseSize("512"), 512)
        XCTAssertEqual(MemoryCheck.parseSize("64M"), 64 * 1024 * 1024)
        XCTAssertEqual(MemoryCheck.parseSize("1.5g"), 1.5 * 0x1p30)
        for bad in ["", "G", "-1G", "0", "8GB", "lots", "nan", "inf"] { XCTAssertNil(MemoryCheck.parseSize(bad), bad) }
        let b = try MemoryCheck.budget(environment: ["MAKEMORE_MEMORY_LIMIT": "2K"])
        XCTAssertEqual(b.bytes, 2048)
        XCTAssertGreaterThan(try MemoryCheck.budget(environment: [:]).bytes, 0x1p20)
    }
}
