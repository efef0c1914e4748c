import Foundation
import XCTest
@testable import Makemore
#if canImport(Glibc)
import Glibc
#endif

/// What a run may write and read: outputs go only where they belong, one
/// run per checkpoint, readers that cannot hang or exhaust memory, signals
/// that save, the data a checkpoint was trained on.
extension CLITests {
    // MARK: Writes go only where they should

    func testCheckpointNeverReplacesTheRunsInputsDevicesOrFolders() throws {
        let words = bytes("words.txt"), config = bytes("tiny.yaml")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "words.txt"),
                      "refusing to write the checkpoint to words.txt: it is the training data (data.path) of this run")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "tiny.yaml"),
                      "it is the config (--config) of this run")
        // Through a link the target is what counts.
        XCTAssertEqual(symlink("words.txt", dir + "/alias.safetensors"), 0)
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "alias.safetensors"),
                      "alias.safetensors (a link to words.txt)", "the training data")
        XCTAssertTrue(bytes("words.txt") == words && bytes("tiny.yaml") == config, "an input was changed")

        // /dev/null stays a device (the check runs even as root, who may rename over it).
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "/dev/null", "--force"),
                      "/dev/null: it is a character device, not a regular file")
        XCTAssertEqual(FileKind.at("/dev/null"), .characterDevice)
        XCTAssertEqual(mkfifo(dir + "/pipe", 0o600), 0)
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "pipe", "--force"), "it is a FIFO (named pipe)")
        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: false)
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "folder", "--force"), "it is a folder")
        XCTAssertFalse(exists("out"), "nothing trained")
    }

    func testAnotherModelsCheckpointOrAForeignFileNeedsForce() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let model = bytes("out/m.safetensors")
        // The same run again may replace its own checkpoint.
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--n-hidden", "8"),
                      "refusing to replace out/m.safetensors: it holds another model", "n_hidden 16", "n_hidden 8", "--force")
        // The same letters in another order: another split, the same vocabulary.
        let words = try String(contentsOfFile: dir + "/words.txt", encoding: .utf8).split(separator: "\n")
        try write(words.reversed().joined(separator: "\n") + "\n", to: "other.txt")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--data", "other.txt"),
                      "out/m.safetensors", "trained on other data", "--force")
        XCTAssertTrue(bytes("out/m.safetensors") == model, "the model was replaced without --force")
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--n-hidden", "8", "--force").status, 0)
        XCTAssertEqual(try Checkpoint.load(path: dir + "/out/m.safetensors").model.shape.nHidden, 8)

        try write("my notes\n", to: "notes.txt")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--checkpoint", "notes.txt"),
                      "refusing to replace notes.txt: it is not a makemore checkpoint; give --force")
        XCTAssertEqual(bytes("notes.txt"), Array("my notes\n".utf8))
    }

    func testASymlinkedCheckpointStaysALink() throws {
        try FileManager.default.createDirectory(atPath: dir + "/store", withIntermediateDirectories: false)
        XCTAssertEqual(symlink("store/real.safetensors", dir + "/link.safetensors"), 0)
        for _ in 0..<2 {  // created through the link, then replaced through it
            XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--checkpoint", "link.safetensors").status, 0)
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link.safetensors")
            XCTAssertEqual(link, "store/real.safetensors")
            XCTAssertEqual(try step("store/real.safetensors"), 20)
        }
        XCTAssertTrue(exists("store/real.metrics.csv"), "the metrics log goes beside the file the link points to")
    }

    func testGradsOutputIsCheckedLikeACheckpoint() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let x = TensorData(int32s: [1, 2, 3, 4, 5, 6], shape: [2, 3]), y = TensorData(int32s: [7, 0], shape: [2])
        try SafetensorsFile(tensors: ["X": x, "Y": y]).write(to: dir + "/batch.safetensors")
        let grads = ["grads", "--checkpoint", "out/m.safetensors", "--batch", "batch.safetensors"]
        assertRefused(finish(try start(grads + ["--out", "/dev/null"])), "refusing to write the gradients to /dev/null: it is a character device")
        assertRefused(finish(try start(grads + ["--out", "batch.safetensors"])), "it is the batch (--batch) of this run")
        assertRefused(finish(try start(grads + ["--out", "out/m.safetensors"])), "it is the model (--checkpoint) of this run")
        try write("keep\n", to: "keep.txt")
        assertRefused(finish(try start(grads + ["--out", "keep.txt"])), "it is not a gradients file written by makemore grads")
        XCTAssertEqual(finish(try start(grads + ["--out", "g.safetensors"])).status, 0)
        XCTAssertEqual(finish(try start(grads + ["--out", "g.safetensors"])).status, 0, "its own output may be replaced")
        XCTAssertEqual(finish(try start(grads + ["--out", "keep.txt", "--force"])).status, 0)
    }

    func testNamesThatCannotBeWrittenAreRefusedBeforeTraining() throws {
        let long = String(repeating: "n", count: 300) + ".safetensors"
        let r = try makemore("train", "--config", "tiny.yaml", "--steps", "1000000000", "--checkpoint", long)
        assertRefused(r, "File name too long")
        XCTAssertFalse(r.out.contains("step "), "refused before training")
        // A one-letter name in the current folder (a path without a folder part).
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--checkpoint", "x").status, 0)
        XCTAssertEqual(try step("x"), 20)
    }

    // MARK: One run per checkpoint

    func testASecondRunOnTheSameCheckpointSaysWhichProcessHoldsIt() throws {
        let first = try start(["train", "--config", "tiny.yaml", "--steps", "1000000000"])
        waitFor("the first checkpoint") { exists("out/m.safetensors") }
        let r = try makemore("train", "--config", "tiny.yaml", "--steps", "20")
        assertRefused(r, "out/m.safetensors is in use: process \(first.pid) (makemore train", "is writing it")
        first.signal(SIGTERM)
        XCTAssertEqual(finish(first).status, 143)
        XCTAssertFalse(exists("out/.m.safetensors.lock"), "the lock file goes with the run")
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--force").status, 0, "free again")
    }

    // MARK: Readers

    func testDevicesAndFIFOsAreRefusedAsInputsWithoutBlocking() throws {
        XCTAssertEqual(mkfifo(dir + "/fifo", 0o600), 0)
        for args in [["train", "--data", "fifo"], ["train", "--data", "/dev/zero"], ["eval", "--checkpoint", "fifo"],
                     ["sample", "--checkpoint", "/dev/urandom"], ["train", "--config", "fifo"]] {
            let r = finish(try start(args), timeout: 20)
            assertRefused(r, "not a regular file")
            XCTAssertLessThan(r.seconds, 10, "\(args)")
        }
    }

    func testMemoryImpliedByACheckpointIsCheckedBeforeAllocating() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--n-hidden", "256").status, 0)
        let small = ["MAKEMORE_MEMORY_LIMIT": "512K"]  // evaluating it needs about 0.9 MiB
        assertRefused(try makemore("eval", "--checkpoint", "out/m.safetensors", env: small), "may use 512.0 KiB (MAKEMORE_MEMORY_LIMIT)")
        assertRefused(try makemore("sample", "--checkpoint", "out/m.safetensors", env: ["MAKEMORE_MEMORY_LIMIT": "20K"]),
                      "cannot read out/m.safetensors: ", "KiB, more than the 10.0 KiB makemore reads")
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--n-hidden", "256", "--resume", env: small),
                      "this config needs", "MAKEMORE_MEMORY_LIMIT")
        assertRefused(try makemore("eval", "--checkpoint", "out/m.safetensors", env: ["MAKEMORE_MEMORY_LIMIT": "lots"]),
                      "MAKEMORE_MEMORY_LIMIT: cannot read 'lots'")
        XCTAssertEqual(try makemore("eval", "--checkpoint", "out/m.safetensors", env: ["MAKEMORE_MEMORY_LIMIT": "4G"]).status, 0)
    }

    // MARK: Signals

    func testSIGHUPSavesLikeSIGTERM() throws {
        let run = try start(["train", "--config", "tiny.yaml", "--steps", "1000000000"])
        waitFor("the first checkpoint") { exists("out/m.safetensors") }
        run.signal(SIGHUP)
        let r = finish(run)
        XCTAssertEqual(r.status, 128 + SIGHUP, r.err)
        XCTAssertTrue(r.out.contains("stopped by SIGHUP after step "), r.out)
        XCTAssertGreaterThan(try step("out/m.safetensors"), 0)
    }

    /// `makemore train | head -2`: the reader quits, the run saves and says
    /// how to resume on stderr.
    func testAClosedOutputStopsTheRunWithItsCheckpoint() throws {
        try write("\"\(Self.binary!.path)\" train --config tiny.yaml --steps 1000000000 --checkpoint-every 0 | head -2 > /dev/null\n"
            + "exit ${PIPESTATUS[0]}\n", to: "pipe.sh")
        let piped = finish(try start(["pipe.sh"], executable: URL(fileURLWithPath: "/bin/bash")))
        XCTAssertEqual(piped.status, 128 + SIGPIPE, piped.err)
        XCTAssertTrue(piped.err.contains("output closed (SIGPIPE): stopped after step"), piped.err)
        XCTAssertTrue(piped.err.contains("resume with: makemore train --resume out/m.safetensors"), piped.err)
        XCTAssertGreaterThanOrEqual(try step("out/m.safetensors"), 0, "the checkpoint loads")
    }

    /// A signal while the final losses are computed on a large data set is
    /// answered at once; the checkpoint was written before.
    func testSIGTERMDuringTheFinalEvaluation() throws {
        var rng = Xoshiro(seed: 4)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let words = (0..<100_000).map { _ in String((0..<(4 + Int(rng.below(6)))).map { _ in letters[Int(rng.below(26))] }) }
        try write(words.joined(separator: "\n") + "\n", to: "many.txt")
        let run = try start(["train", "--config", "tiny.yaml", "--data", "many.txt", "--n-hidden", "512", "--steps", "2",
                             "--batch-size", "4", "--checkpoint", "big.safetensors"])
        waitFor("the final checkpoint", timeout: 120) { run.out.contains("checkpoint: big.safetensors") }
        run.signal(SIGTERM)
        let r = finish(run)
        XCTAssertEqual(r.status, 143, r.err)
        XCTAssertTrue(r.out.contains("stopped by SIGTERM during the final evaluation"), r.out)
        XCTAssertFalse(r.out.contains("final loss"), r.out)
        XCTAssertEqual(try step("big.safetensors"), 2)
    }

    // MARK: The data of a checkpoint

    func testResumeOnChangedDataIsRefusedUnlessForced() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "50").status, 0)
        let fingerprint = try XCTUnwrap(try Checkpoint.load(path: dir + "/out/m.safetensors").dataFingerprint)
        try write(try String(contentsOfFile: dir + "/words.txt", encoding: .utf8) + "zyx\n", to: "words.txt")
        assertRefused(try makemore("train", "--resume", "out/m.safetensors", "--steps", "100"),
                      "was trained on other words than data.path holds now", fingerprint, "--force")
        XCTAssertEqual(try step("out/m.safetensors"), 50)
        let eval = try makemore("eval", "--checkpoint", "out/m.safetensors")
        XCTAssertEqual(eval.status, 0, eval.err)
        XCTAssertTrue(eval.err.contains("not the training run's splits"), eval.err)
        let forced = try makemore("train", "--resume", "out/m.safetensors", "--steps", "100", "--force")
        XCTAssertEqual(forced.status, 0, forced.err)
        XCTAssertTrue(forced.out.contains("continuing on the new data (--force)"), forced.out)
        XCTAssertEqual(try step("out/m.safetensors"), 100)
    }
}

extension CLITests {
    /// A checkpoint made elsewhere (no makemore `format`) that a run resumes
    /// from is that run's own to replace; another path holding one is not.
    func testTheResumedCheckpointMayBeReplacedWhoeverMadeIt() throws {
        XCTAssertEqual(try makemore("train", "--config", "tiny.yaml", "--steps", "20").status, 0)
        let path = dir + "/out/m.safetensors"
        var file = try SafetensorsFile.read(path: path)
        file.metadata["format"] = nil
        try file.write(to: path)
        try file.write(to: dir + "/elsewhere.safetensors")
        let r = try makemore("train", "--config", "tiny.yaml", "--resume", "--steps", "40")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try step("out/m.safetensors"), 40)
        assertRefused(try makemore("train", "--config", "tiny.yaml", "--resume", "out/m.safetensors", "--steps", "60",
                                    "--checkpoint", "elsewhere.safetensors"),
                      "refusing to replace elsewhere.safetensors: it is not a makemore checkpoint")
    }
}

extension CLITests {
    func testAnEmptySplitIsNotANumberInTheFinalLine() throws {
        let r = try makemore("train", "--config", "tiny.yaml", "--steps", "20", "--split", "1,0,0")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("dev n/a (empty split)  test n/a (empty split)"), r.out)
        XCTAssertFalse(r.out.lowercased().contains("nan"), r.out)
    }
}
