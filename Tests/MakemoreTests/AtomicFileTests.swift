import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temporary directory.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "makemore-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    return path
}

final class AtomicFileTests: XCTestCase {
    var dir = ""

    /// Foundation's file errors come out as the system's words, not as an NSError dump.
    func testFileErrorTextNamesTheSystemError() throws {
        let plain = dir + "/plain"
        try AtomicFile.write(Array("x".utf8), to: plain)
        XCTAssertThrowsError(try FileManager.default.createDirectory(atPath: plain + "/sub", withIntermediateDirectories: true)) {
            XCTAssertEqual(fileErrorText($0), "Not a directory")
        }
        XCTAssertThrowsError(try Data().write(to: URL(fileURLWithPath: dir + "/missing/f"))) {
            XCTAssertEqual(fileErrorText($0), "No such file or directory")
        }
        XCTAssertEqual(fileErrorText(MakemoreError("said so")), "said so")
        XCTAssertEqual(fileErrorText(MakemoreError("two\nlines")), "two\\nlines", "the top level prints one line")
        struct Custom: Error, CustomStringConvertible { var description: String { "its own words\nsecond line" } }
        XCTAssertEqual(fileErrorText(Custom()), "its own words\\nsecond line", "one line, in its own words")
    }

    /// A resumed run's metrics log is replaced whole (a new file renamed over
    /// the old, never the old one cut short and rewritten: a run killed in
    /// between would leave a file without its header, which the next
    /// --resume refuses to replace), and dead writers' temporary files go.
    func testMetricsLogIsReplacedWholeOnResume() throws {
        let checkpoint = dir + "/m.safetensors", path = MetricsLog.path(forCheckpoint: checkpoint)
        let rows = [MetricsLog.header, "256,2.5,0.1,1000,,1.000", "512,2.4,0.1,1000,2.6,2.000", "768,2.3,0.1,1000,,3.000"]
        try AtomicFile.write(Array((rows.joined(separator: "\n") + "\n").utf8), to: path)
        var dead: pid_t = 999_999
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let stale = dir + "/.m.metrics.csv.tmp-\(dead)-abc"
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data("x".utf8)))
        var before = stat()
        XCTAssertEqual(stat(path, &before), 0)
        let log = MetricsLog(checkpoint: checkpoint, step: 600, warn: { XCTFail($0) })
        var after = stat()
        XCTAssertEqual(stat(path, &after), 0)
        XCTAssertNotEqual(after.st_ino, before.st_ino, "the log was rewritten in place")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), rows.prefix(3).joined(separator: "\n") + "\n")
        XCTAssertEqual(log.elapsedBefore, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "a dead writer's temporary file stays")
        log.append(step: 700, trainLoss: 2.2, lr: 0.1, samplesPerSecond: nil, devLoss: nil, elapsed: 1)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("700,2.200000,0.1,,,3.000\n"))
    }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory()
    }

    override func tearDownWithError() throws {
        _ = chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as MakemoreError { return e.message } catch { return "non-MakemoreError: \(error)" }
    }

    /// System calls whose `write` fails with `code` after letting `allow` bytes through.
    func failingWrite(after allow: Int, errno code: Int32) -> AtomicFile.Syscalls {
        var sys = AtomicFile.Syscalls.system
        var passed = 0
        sys.write = { fd, p, n in
            if passed >= allow { errno = code; return -1 }
            let k = Glibc.write(fd, p, min(n, allow - passed))
            if k > 0 { passed += k }
            return k
        }
        return sys
    }

    func testWriteThenOverwrite() throws {
        let path = dir + "/m.safetensors"
        try AtomicFile.write(Array("first version".utf8), to: path)
        XCTAssertEqual(contents(path), Array("first version".utf8))
        try AtomicFile.write(Array("second".utf8), to: path)
        XCTAssertEqual(contents(path), Array("second".utf8))
        try AtomicFile.write([], to: path)
        XCTAssertEqual(contents(path), [])
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(big, to: path)
        XCTAssertEqual(contents(path), big)
        XCTAssertEqual(try listing(), ["m.safetensors"], "no temporary files remain")
    }

    func testOverwriteKeepsPermissions() throws {
        let path = dir + "/m.bin"
        try AtomicFile.write([1], to: path)
        XCTAssertEqual(chmod(path, 0o600), 0)
        try AtomicFile.write([2], to: path)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testPartialWritesAndEINTRAreRetried() throws {
        var sys = AtomicFile.Syscalls.system
        var calls = 0
        sys.write = { fd, p, n in
            calls += 1
            if calls % 2 == 0 { errno = EINTR; return -1 }
            return Glibc.write(fd, p, min(n, 3))
        }
        let path = dir + "/m.bin"
        let bytes = Array("a longer payload written three bytes at a time".utf8)
        try AtomicFile.write(bytes, to: path, using: sys)
        XCTAssertEqual(contents(path), bytes)
        XCTAssertGreaterThan(calls, bytes.count / 3)
        XCTAssertEqual(try listing(), ["m.bin"])
    }

    func testMissingDirectoryErrorsAndLeavesNothing() throws {
        let path = dir + "/runs/m.safetensors"
        XCTAssertEqual(message { try AtomicFile.write([1, 2, 3], to: path) },
                       "cannot write \(path): No such file or directory (nothing written)")
        XCTAssertEqual(try listing(), [])
        // Through the safetensors writer too.
        XCTAssertEqual(message { try SafetensorsFile().write(to: path) },
                       "cannot write \(path): No such file or directory (nothing written)")
    }

    func testParentIsARegularFile() throws {
        let blocker = dir + "/runs"
        try AtomicFile.write([9], to: blocker)
        let path = blocker + "/m.safetensors"
        XCTAssertEqual(message { try AtomicFile.write([1], to: path) },
                       "cannot write \(path): Not a directory (nothing written)")
        XCTAssertEqual(contents(blocker), [9])
        XCTAssertEqual(try listing(), ["runs"])
    }

    func testReadOnlyDirectoryKeepsOldFile() throws {
        let path = dir + "/m.safetensors"
        try AtomicFile.write(Array("old".utf8), to: path)
        XCTAssertEqual(chmod(dir, 0o555), 0)
        // Root (CAP_DAC_OVERRIDE) ignores directory permissions; probe first.
        let probe = dir + "/probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd >= 0 {
            close(fd)
            unlink(probe)
            throw XCTSkip("running with privileges that ignore a read-only directory (root); "
                + "the failure path is covered by the injected ENOSPC/EIO tests and the missing/non-directory parent tests")
        }
        XCTAssertEqual(message { try AtomicFile.write(Array("new".utf8), to: path) },
                       "cannot write \(path): Permission denied (previous file kept)")
        XCTAssertEqual(contents(path), Array("old".utf8))
        XCTAssertEqual(try listing(), ["m.safetensors"])
    }

    func testDiskFullDuringWriteKeepsOldFile() throws {
        let path = dir + "/m.safetensors"
        try AtomicFile.write(Array("old contents".utf8), to: path)
        // Lets some bytes reach the temporary file first, then reports ENOSPC.
        let sys = failingWrite(after: 5, errno: ENOSPC)
        XCTAssertEqual(message { try AtomicFile.write([UInt8](repeating: 7, count: 100), to: path, using: sys) },
                       "cannot write \(path): No space left on device (previous file kept)")
        XCTAssertEqual(contents(path), Array("old contents".utf8))
        XCTAssertEqual(try listing(), ["m.safetensors"], "temporary file removed")

        // A write that makes no progress is treated as a full device, not a hang.
        var stuck = AtomicFile.Syscalls.system
        stuck.write = { _, _, _ in 0 }
        XCTAssertEqual(message { try AtomicFile.write([1], to: path, using: stuck) },
                       "cannot write \(path): No space left on device (previous file kept)")
        XCTAssertEqual(try listing(), ["m.safetensors"])
    }

    func testFsyncFailureKeepsOldFile() throws {
        let path = dir + "/m.safetensors"
        try AtomicFile.write(Array("old".utf8), to: path)
        var sys = AtomicFile.Syscalls.system
        sys.fsync = { _ in errno = ENOSPC; return -1 }
        XCTAssertEqual(message { try AtomicFile.write(Array("new".utf8), to: path, using: sys) },
                       "cannot write \(path): fsync: No space left on device (previous file kept)")
        sys.fsync = { _ in errno = EIO; return -1 }
        XCTAssertEqual(message { try AtomicFile.write(Array("new".utf8), to: path, using: sys) },
                       "cannot write \(path): fsync: Input/output error (previous file kept)")
        XCTAssertEqual(contents(path), Array("old".utf8))
        XCTAssertEqual(try listing(), ["m.safetensors"])
    }

    func testRenameFailureKeepsTarget() throws {
        // The target is a non-empty directory: rename(2) refuses.
        let path = dir + "/out"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try AtomicFile.write([1], to: path + "/inner")
        let m = message { try AtomicFile.write([1, 2], to: path) }
        XCTAssertEqual(m, "cannot write \(path): Is a directory (previous file kept)")
        XCTAssertEqual(try listing(), ["out"])
        XCTAssertEqual(contents(path + "/inner"), [1])
    }

    func testDirectorySyncFailureIsReportedAfterRename() throws {
        let path = dir + "/m.bin"
        var sys = AtomicFile.Syscalls.system
        var n = 0
        sys.fsync = { fd in n += 1; if n == 2 { errno = EIO; return -1 }; return Glibc.fsync(fd) }
        XCTAssertEqual(message { try AtomicFile.write([5], to: path, using: sys) },
                       "wrote \(path) but cannot sync its directory: Input/output error (the new file may not survive a crash)")
        XCTAssertEqual(contents(path), [5])
        // File systems without directory fsync (EINVAL) are not an error.
        n = 0
        sys.fsync = { fd in n += 1; if n == 2 { errno = EINVAL; return -1 }; return Glibc.fsync(fd) }
        XCTAssertNoThrow(try AtomicFile.write([6], to: path, using: sys))
        XCTAssertEqual(contents(path), [6])
    }

    func testPathSplitting() {
        XCTAssertEqual(AtomicFile.split("runs/m.safetensors")?.directory, "runs")
        XCTAssertEqual(AtomicFile.split("runs/m.safetensors")?.base, "m.safetensors")
        XCTAssertEqual(AtomicFile.split("m")?.directory, "")
        XCTAssertEqual(AtomicFile.split("/m")?.directory, "/")
        XCTAssertEqual(AtomicFile.split("a/b/c")?.directory, "a/b")
        XCTAssertNil(AtomicFile.split(""))
        XCTAssertNil(AtomicFile.split("runs/"))
        XCTAssertNil(AtomicFile.split("runs/.."))
        XCTAssertEqual(message { try AtomicFile.write([1], to: "runs/") }, "cannot write runs/: not a file path")
        let name = AtomicFile.temporaryName("m.safetensors")
        XCTAssertTrue(name.hasPrefix(".m.safetensors.tmp-\(getpid())-"), name)
        XCTAssertLessThanOrEqual(AtomicFile.temporaryName(String(repeating: "é", count: 200)).utf8.count, 255)
    }

    func testLongFileName() throws {
        let path = dir + "/" + String(repeating: "x", count: 250)
        try AtomicFile.write([4], to: path)
        XCTAssertEqual(contents(path), [4])
        XCTAssertEqual(try listing().count, 1)
    }

    func testReadAllErrors() throws {
        XCTAssertEqual(message { _ = try FileReader.readAll(path: dir + "/nope", limit: 1 << 30) },
                       "cannot read \(dir)/nope: No such file or directory")
        XCTAssertEqual(message { _ = try FileReader.readAll(path: dir, limit: 1 << 30) }, "cannot read \(dir): Is a directory")
        let big = (0..<2_500_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try AtomicFile.write(big, to: dir + "/big")
        XCTAssertEqual(try FileReader.readAll(path: dir + "/big", limit: 1 << 30), big)
    }

    func testReadAllRefusesWhatIsNotARegularFileWithoutBlocking() throws {
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // Opening a FIFO for reading waits for a writer unless the reader does not block.
        XCTAssertEqual(message { _ = try FileReader.readAll(path: fifo, limit: 1 << 30) },
                       "cannot read \(fifo): it is a FIFO (named pipe), not a regular file")
        XCTAssertEqual(message { _ = try FileReader.readAll(path: "/dev/zero", limit: 1 << 30) },
                       "cannot read /dev/zero: it is a character device, not a regular file")
    }

    func testReadAllStopsAtItsLimit() throws {
        try AtomicFile.write([UInt8](repeating: 7, count: 3000), to: dir + "/words")
        XCTAssertEqual(message { _ = try FileReader.readAll(path: dir + "/words", limit: 2048, what: "a word list") },
                       "cannot read \(dir)/words: 2.9 KiB, more than the 2.0 KiB makemore reads for a word list")
        XCTAssertEqual(try FileReader.readAll(path: dir + "/words", limit: 3000).count, 3000)
        // Files that report no size (as under /proc) are read to their end, within the limit.
        XCTAssertFalse(try FileReader.readAll(path: "/proc/self/status", limit: 1 << 20).isEmpty)
        XCTAssertNotNil(message { _ = try FileReader.readAll(path: "/proc/self/status", limit: 16) })
    }
}
