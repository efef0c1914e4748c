import XCTest
@testable import Makemore

final class ConfigParsingTests: XCTestCase {
    func parse(_ yaml: String) throws -> Config { try Config.parse(yaml: yaml, source: "c.yaml") }

    func assertError(_ yaml: String, contains fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try { var c = try parse(yaml); try c.validate(); c = Config() }(), line: line) { error in
            let text = "\(error)"
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' lacks '\(f)'", line: line) }
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
        }
    }

    func testBundledConfigsLoadAndValidate() throws {
        for name in ["municipis", "names"] {
            let c = try Config.load(path: repositoryRoot.appendingPathComponent("configs/\(name).yaml").path)
            try c.validate()
            XCTAssertEqual(c.train.steps, 200_000)
            XCTAssertEqual(c.train.lr, [LearningRatePoint(step: 0, rate: 0.1), LearningRatePoint(step: 100_000, rate: 0.01)])
        }
    }

    func testDefaultsAreTheSeedRun() throws {
        let c = try parse("")
        XCTAssertEqual(c, Config())
        XCTAssertEqual(c.learningRate(at: 99_999), 0.1)
        XCTAssertEqual(c.learningRate(at: 100_000), 0.01)
        XCTAssertEqual(c.train.bnMomentum, 0.001)
    }

    func testValuesAndForms() throws {
        let c = try parse("""
            train: {batch_size: 4096, steps: 2e5, lr: 0.2}
            parallel: {threads: {per_node: 2}, nodes: [0], shards: 16, topology: {nodes: [[0], [1]]}}
            data: {column: null}
            """)
        XCTAssertEqual(c.train.batchSize, 4096)
        XCTAssertEqual(c.train.steps, 200_000)
        XCTAssertEqual(c.train.lr, [LearningRatePoint(step: 0, rate: 0.2)])
        XCTAssertEqual(c.parallel.threads, .perNode(2))
        XCTAssertEqual(c.parallel.nodes, [0])
        XCTAssertEqual(c.parallel.topology, [[0], [1]])
        XCTAssertNil(c.data.column)
        XCTAssertEqual(try parse("parallel: {threads: auto}").parallel.threads, .auto)
        XCTAssertEqual(try parse("parallel: {threads: 3}").parallel.threads, .count(3))
    }

    func testYAMLRoundTrip() throws {
        var c = Config()
        c.parallel.threads = .perNode(2)
        c.parallel.topology = [[0], [1]]
        c.data.column = nil
        c.train.checkpoint = "runs/a \"quoted\" name.safetensors"
        XCTAssertEqual(try parse(c.yaml), c)
    }

    func testBadInputIsOneClearLine() {
        assertError("train: {batch_sise: 3}", contains: ["c.yaml:1:", "train.batch_sise", "unknown key", "batch_size"])
        assertError("modle: {}", contains: ["modle", "unknown key"])
        assertError("train:\n  steps: many", contains: ["c.yaml:2:", "train.steps", "expected an integer", "many"])
        assertError("train: {steps: -1}", contains: ["train.steps", "negative"])
        assertError("train: {batch_size: 1}", contains: ["train.batch_size", "at least 2"])
        assertError("train: {batch_size: 0}", contains: ["train.batch_size"])
        assertError("train: {lr: [[5, 0.1]]}", contains: ["train.lr", "step 0"])
        assertError("train: {lr: [[0, 0.1], [0, 0.2]]}", contains: ["train.lr", "increase"])
        assertError("train: {lr: -0.1}", contains: ["train.lr", "positive"])
        assertError("parallel: {threads: 0}", contains: ["parallel.threads"])
        assertError("parallel: {threads: 1e12}", contains: ["parallel.threads"])
        assertError("parallel: {shards: 64}", contains: ["parallel.shards", "batch of 32"])
        assertError("parallel: {pin: maybe}", contains: ["parallel.pin", "true or false"])
        assertError("data: {split: [0.5, 0.5]}", contains: ["data.split"])
        assertError("train: [1, 2]", contains: ["train", "expected a mapping"])
        assertError("{{{ not yaml", contains: ["c.yaml", "not valid YAML"])
    }
}
