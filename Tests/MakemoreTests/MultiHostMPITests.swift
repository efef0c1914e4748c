import Foundation
import XCTest
@testable import Makemore
@testable import Bench

/// The MPI backend across several hosts, simulated on this machine by
/// bench/mpi/hosts.sh: network namespaces with their own host names, joined
/// by a bridge, and an ssh stand-in through which Open MPI starts its daemons.
/// mpirun runs on node1, as on a cluster's first node; ranks on one host talk
/// through shared memory, across hosts over TCP.
///
/// Needs what MPITests needs (mpirun, MAKEMORE_MPI_BINARY: `make test-mpi`)
/// and root with iproute2, nsenter and unshare; without them each test is
/// skipped with the reason. CI runs as root. (The class name contains
/// "MPITests" so that `swift test --filter MPITests` runs it.)
///
/// The simulated hosts share this machine's CPUs, so waiting ranks yield
/// (mpi_yield_when_idle) and, except where pinning is the point, nothing is pinned.
final class MultiHostMPITests: XCTestCase {
    var binary = ""
    var mpirun = ""
    var dir = ""
    var hostfile = ""
    var agent = ""
    let script = repositoryRoot.appendingPathComponent("bench/mpi/hosts.sh").path
    let config = repositoryRoot.appendingPathComponent("configs/municipis.yaml").path
    let data = repositoryRoot.appendingPathComponent("data/municipis.csv").path

    override func setUpWithError() throws {
        let (b, m) = try MPITests.mpiBinaryAndLauncher()
        guard getuid() == 0 else {
            throw XCTSkip("not root: the simulated hosts are network namespaces (CI runs as root)")
        }
        for tool in ["ip", "nsenter", "unshare"] where MPITests.which(tool) == nil {
            throw XCTSkip("\(tool) is not on PATH (apt-get install iproute2 util-linux)")
        }
        // Root in a container may still lack the capabilities; a failure of hosts.sh after this one is a failure.
        let probe = try Self.runTool("unshare", ["--net", "--uts", "true"])
        guard probe.status == 0 else {
            throw XCTSkip("cannot create network namespaces here (unshare --net: \(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        binary = b
        mpirun = m
        dir = NSTemporaryDirectory() + "makemore-hosts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let up = try execute([script, "up", "3"])
        guard up.status == 0 else { throw MakemoreError("hosts.sh up 3 failed: \(up.output)") }
        for line in up.output.split(separator: "\n") {
            if line.hasPrefix("HOSTFILE=") { hostfile = String(line.dropFirst("HOSTFILE=".count)) }
            if line.hasPrefix("RSH_AGENT=") { agent = String(line.dropFirst("RSH_AGENT=".count)) }
        }
        guard !hostfile.isEmpty, !agent.isEmpty else { throw MakemoreError("hosts.sh up printed no HOSTFILE or RSH_AGENT: \(up.output)") }
    }

    // Runs after every test, failed or not: the hosts and whatever still runs on them go.
    override func tearDown() {
        guard !dir.isEmpty else { return }
        if FileManager.default.fileExists(atPath: "\(dir)/hosts") {
            let down = try? execute([script, "down"])
            if down?.status != 0 { XCTFail("hosts.sh down failed: \(down?.output ?? "")") }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: tests

    func testTwoAndThreeHostsAreBitIdenticalToOneProcess() throws {
        try single(train(steps: 300, checkpoint: "one.safetensors") + ["--threads", "1"])
        let reference = try saved("one.safetensors")
        XCTAssertEqual(reference.step, 300)
        for (hosts, each, threads) in [(2, 1, 1), (2, 2, 1), (3, 1, 2), (3, 2, 1)] {
            let name = "h\(hosts)r\(each)t\(threads).safetensors"
            let out = try onHosts(hosts, ranksEach: each,
                                  train(steps: 300, checkpoint: name) + ["--threads", "\(threads)", "--oversubscribe"])
            XCTAssertEqual(try saved(name), reference, "\(hosts) hosts × \(each) ranks × \(threads) threads differ from 1 process")
            // Each host ran its ranks under its own name.
            for h in 1...hosts { XCTAssertEqual(out.components(separatedBy: " on node\(h): ").count - 1, each, out) }
        }
    }

    func testResumeAcrossHostCountsIsBitIdentical() throws {
        try single(train(steps: 600, checkpoint: "whole.safetensors") + ["--threads", "1"])
        let whole = try saved("whole.safetensors")
        // 3 hosts × 1 rank, then 2 hosts × 2 ranks.
        try onHosts(3, ranksEach: 1, train(steps: 300, checkpoint: "a.safetensors") + ["--threads", "1"])
        XCTAssertEqual(try saved("a.safetensors").step, 300)
        try onHosts(2, ranksEach: 2, train(steps: 600, checkpoint: "a.safetensors") + ["--threads", "1", "--resume"])
        XCTAssertEqual(try saved("a.safetensors"), whole, "3 hosts then 2 hosts × 2 ranks")
        // 2 hosts, then 1 process.
        try onHosts(2, ranksEach: 1, train(steps: 300, checkpoint: "b.safetensors") + ["--threads", "1"])
        try single(train(steps: 600, checkpoint: "b.safetensors") + ["--threads", "1", "--resume"])
        XCTAssertEqual(try saved("b.safetensors"), whole, "2 hosts then 1 process")
    }

    /// mpirun binds local rank l of every host to that host's core l, and each
    /// rank pins its worker inside what it was given: the ranks of node2 take
    /// the same cores as those of node1 (here the same physical ones, since
    /// the hosts share this machine), and no host has two ranks on one core.
    func testRanksPinByTheirLocalIndexOnEachHost() throws {
        guard sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 else { throw XCTSkip("needs 2 CPUs: two ranks per host, a core each") }
        let bound = ["--bind-to", "core"]
        let two = try onHosts(2, ranksEach: 2, train(steps: 20, checkpoint: "p.safetensors", pin: true) + ["--threads", "1"], bind: bound)
        let cpus = try layout(two)
        guard cpus.count == 4 else { return XCTFail("4 ranks expected: \(two)") }
        XCTAssertEqual(cpus.map(\.host), ["node1", "node1", "node2", "node2"], two)
        XCTAssertNotEqual(cpus[0].cpu, cpus[1].cpu, two)
        XCTAssertEqual(cpus[2].cpu, cpus[0].cpu, two)
        XCTAssertEqual(cpus[3].cpu, cpus[1].cpu, two)
        XCTAssertFalse(two.contains("warning: ranks"), two)
        // One rank per host: each is its host's local rank 0, on its first core, whatever its global rank.
        let three = try onHosts(3, ranksEach: 1, train(steps: 20, checkpoint: "q.safetensors", pin: true) + ["--threads", "1"], bind: bound)
        let one = try layout(three)
        XCTAssertEqual(one.map(\.host), ["node1", "node2", "node3"], three)
        XCTAssertEqual(Set(one.map(\.cpu)).count, 1, three)
    }

    /// mpirun told to bind nothing: every rank sees all the host's CPUs, and
    /// local rank l pins to the block after those of the ranks before it.
    func testUnboundRanksOfAHostPinApart() throws {
        guard sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 else { throw XCTSkip("needs 2 CPUs: two ranks per host, a core each") }
        let out = try onHosts(2, ranksEach: 2, train(steps: 20, checkpoint: "u.safetensors", pin: true) + ["--threads", "1"])
        let cpus = try layout(out)
        guard cpus.count == 4 else { return XCTFail("4 ranks expected: \(out)") }
        XCTAssertNotEqual(cpus[0].cpu, cpus[1].cpu, out)
        XCTAssertEqual(cpus[2].cpu, cpus[0].cpu, out)
        XCTAssertFalse(out.contains("warning: ranks"), out)
    }

    /// A host whose copy of the data file differs is refused before the first
    /// step. The hosts here share one file system, so node2's "copy" is another
    /// path, given to its rank through mpirun's MPMD syntax; the check compares
    /// contents, not paths.
    func testAHostWithAnotherDataFileIsRefused() throws {
        let lines = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let other = "\(dir)/municipis-node2.csv"
        try lines.dropLast(2).joined(separator: "\n").appending("\n").write(toFile: other, atomically: true, encoding: .utf8)
        let args = train(steps: 100, checkpoint: "x.safetensors") + ["--threads", "1"]
        let r = try execute(launch(["-np", "1", "--host", "198.18.0.1", binary] + args + ["--data", data]
                                   + [":", "-np", "1", "--host", "198.18.0.2", binary] + args + ["--data", other]))
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("do not start from the same state"), r.output)
        XCTAssertTrue(r.output.contains("rank 1 on node2: training data"), r.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/x.safetensors"))
    }

    /// A link limited to 50 Mbit/s each way (tbf) changes the time, not the bits.
    func testASlowLinkGivesTheSameBits() throws {
        try single(train(steps: 200, checkpoint: "one.safetensors") + ["--threads", "1"])
        let slow = try execute([script, "slow", "50mbit"])
        XCTAssertEqual(slow.status, 0, slow.output)
        let out = try onHosts(2, ranksEach: 1, train(steps: 200, checkpoint: "slow.safetensors") + ["--threads", "1"])
        XCTAssertEqual(try saved("slow.safetensors"), try saved("one.safetensors"))
        // The limit held: each step, each of the 2 ranks receives half of the gathered bytes through it.
        let gathered = try number(in: out, #"per step 4 all-gathers of (\d+) bytes"#)
        let usPerStep = try number(in: out, #"trained 200 steps in [0-9.]+ s: ([0-9.]+) µs/step"#)
        let floor = gathered / 2 / (50e6 / 8) * 1e6
        XCTAssertGreaterThan(usPerStep, 0.8 * floor, "\(usPerStep) µs/step is faster than the link allows (\(floor))\n\(out)")
    }

    /// node2's link goes down mid-run. With Open MPI's keepalive on its own
    /// connections set below the watchdog's limit (as docs/mpi.md advises),
    /// mpirun notices the silent host, names it and ends the job within the
    /// limit; the ranks on the other hosts say which they are and exit; node2's
    /// daemon loses mpirun the same way and ends its rank; nothing is left
    /// running, and rank 0's last checkpoint resumes.
    func testACutHostEndsTheJobWithinTheWatchdogsLimit() throws {
        let limit = 10
        let keepalive = ["--mca", "oob_tcp_keepalive_time", "2", "--mca", "oob_tcp_keepalive_intvl", "1",
                         "--mca", "oob_tcp_keepalive_probes", "2"]
        let (elapsed, output) = try cutMidRun(limit: limit, mpirunFlags: keepalive)
        print(String(format: "node2 cut off: mpirun exited %.1f s later (watchdog limit %d s)", elapsed, limit))
        XCTAssertLessThan(elapsed, Double(limit), output)
        XCTAssertTrue(output.contains("198.18.0.2") || output.contains("node2"), "the lost host is not named: \(output)")
        let lines = output.split(separator: "\n").filter {
            $0.range(of: #"^makemore: rank [02]/3 \((node1|node3)\): "#, options: .regularExpression) != nil
        }
        XCTAssertFalse(lines.isEmpty, "no rank said which it is: \(output)")
        try assertNothingRunsOnTheHosts(within: 5)
        try assertCheckpointResumes("k.safetensors")
    }

    /// The same cut with Open MPI's default keepalive (minutes): mpirun waits
    /// for node2's daemon, but every rank ends on its own when its collective
    /// has waited the watchdog's limit. The first rank to give up says so,
    /// naming itself and its host; which one that is (node1's or node3's) is
    /// a race, and mpirun may end the other before its own watchdog fires.
    func testTheWatchdogEndsEveryRankWhileMpirunWaits() throws {
        let limit = 3
        let collected = try startCutJob(limit: limit, mpirunFlags: [])
        let p = collected.process
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let cut = Date()
        try cutNode2()
        try wait(upTo: Double(limit) + 10, polling: 0.05) { self.ranksOnTheHosts().isEmpty }
        let elapsed = Date().timeIntervalSince(cut)
        print(String(format: "node2 cut off: the last rank exited %.1f s later (watchdog limit %d s)", elapsed, limit))
        XCTAssertLessThan(elapsed, Double(limit) + 5, collected.text)
        try wait(upTo: 5, polling: 0.05) { collected.text.contains("no answer from the other ranks") }
        XCTAssertNotNil(collected.text.range(of: #"makemore: rank [02]/3 \((node1|node3)\): no answer from the other ranks for "#
                                                 + "\(limit) s", options: .regularExpression), collected.text)
        try assertCheckpointResumes("k.safetensors")
        // mpirun is still waiting for node2's daemon here; tearDown's `hosts.sh down` ends it.
    }

    /// `makemore bench --ranks 1,2,3` on node1 with a hostfile: the 2- and
    /// 3-rank cells run one rank per host and train the same numbers as 1 rank.
    func testBenchRanksRunAcrossHosts() throws {
        let json = "\(dir)/bench.json"
        let extra = (["--hostfile", hostfile, "--map-by", "node"] + hostFlags).joined(separator: " ")
        let r = try execute([script, "run", "node1", binary, "bench", "--ranks", "1,2,3", "--threads", "1", "--batch-size", "32",
                             "--n-hidden", "16", "--steps", "20", "--warmup", "2", "--repeats", "2", "--no-pin",
                             "--oversubscribe", "--json", json, "--mpirun-args", extra])
        XCTAssertEqual(r.status, 0, r.output)
        let report = try BenchReport.load(path: json)
        XCTAssertEqual(report.results.map(\.ranks), [1, 2, 3], r.output)
        XCTAssertEqual(Set(report.results.map(\.finalLoss)).count, 1, "1, 2 and 3 ranks train the same numbers")
        XCTAssertTrue(r.output.contains("3 ranks (1 on this host"), r.output)
    }

    // MARK: helpers

    /// The flags every mpirun here needs: the launcher, the hosts' network for
    /// the ranks and mpirun's own connections, yielding (shared CPUs), and Open
    /// MPI's session folders in the test's folder (the launcher passes on no TMPDIR).
    var hostFlags: [String] {
        ["--mca", "plm_rsh_agent", agent, "--mca", "orte_tmpdir_base", dir, "--mca", "btl", "self,vader,tcp",
         "--mca", "btl_tcp_if_include", "198.18.0.0/15", "--mca", "oob_tcp_if_include", "198.18.0.0/15",
         "--mca", "mpi_yield_when_idle", "1", "-x", "MAKEMORE_CACHE_DIR"]
    }

    /// `hosts.sh run node1 mpirun …`, with what `bench` adds to its own mpirun runs.
    func launch(_ args: [String]) -> [String] {
        [script, "run", "node1", mpirun] + (getuid() == 0 ? ["--allow-run-as-root"] : []) + hostFlags
            + ["--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none"] + args
    }

    /// `ranksEach` ranks on each of the first `hosts` hosts (all three: the hostfile).
    func placement(_ hosts: Int, ranksEach: Int) -> [String] {
        let which = hosts == 3 ? ["--hostfile", hostfile]
            : ["--host", (1...hosts).map { "198.18.0.\($0):\(ranksEach)" }.joined(separator: ",")]
        return which + ["-np", "\(hosts * ranksEach)", "--map-by", "ppr:\(ranksEach):node"]
    }

    @discardableResult
    func onHosts(_ hosts: Int, ranksEach: Int, _ args: [String], bind: [String] = ["--bind-to", "none"]) throws -> String {
        let r = try execute(launch(placement(hosts, ranksEach: ranksEach) + bind + [binary] + args))
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    @discardableResult
    func single(_ args: [String]) throws -> String {
        let r = try execute([binary] + args)
        XCTAssertEqual(r.status, 0, r.output)
        return r.output
    }

    /// municipis, 6 shards (any of 1, 2, 3 or 6 ranks × 1 thread, or 3 × 2), dev loss and checkpoints on the way.
    func train(steps: Int, checkpoint: String, pin: Bool = false) -> [String] {
        ["train", "--config", config, "--data", data, "--steps", "\(steps)", "--lr", "0:0.1,150:0.05",
         "--batch-size", "32", "--shards", "6", "--eval-every", "100", "--checkpoint-every", "100",
         "--checkpoint", "\(dir)/\(checkpoint)"] + (pin ? [] : ["--no-pin"])
    }

    var environment: [String: String] {
        ProcessInfo.processInfo.environment.merging(
            ["MAKEMORE_HOSTS_DIR": "\(dir)/hosts", "MAKEMORE_CACHE_DIR": dir, "TMPDIR": dir + "/"]) { $1 }
    }

    /// Runs a command to completion (at most two minutes, then SIGKILL) and returns its status and output.
    func execute(_ command: [String]) throws -> (status: Int32, output: String) {
        try CollectedProcess(command, environment: environment).finish(timeout: 120, signal: SIGKILL)
    }

    /// A long run of 3 hosts × 1 rank, with the watchdog at `limit` seconds, started once its first checkpoint exists.
    func startCutJob(limit: Int, mpirunFlags: [String]) throws -> CollectedProcess {
        let args = train(steps: 100_000_000, checkpoint: "k.safetensors")
            + ["--threads", "1", "--checkpoint-every", "1000", "--eval-every", "100000000"]
        let job = try CollectedProcess(launch(mpirunFlags + ["-x", "MAKEMORE_MPI_TIMEOUT"] + placement(3, ranksEach: 1)
                                              + ["--bind-to", "none", binary] + args),
                                       environment: environment.merging(["MAKEMORE_MPI_TIMEOUT": "\(limit)"]) { $1 })
        do {
            try wait(upTo: 60, polling: 0.05) { FileManager.default.fileExists(atPath: "\(self.dir)/k.safetensors") }
        } catch {
            kill(job.process.processIdentifier, SIGKILL)
            throw MakemoreError("no checkpoint after 60 s: \(job.text)")
        }
        return job
    }

    /// Cuts node2 off mid-run; returns the seconds until mpirun exited, and its output.
    func cutMidRun(limit: Int, mpirunFlags: [String]) throws -> (Double, String) {
        let collected = try startCutJob(limit: limit, mpirunFlags: mpirunFlags)
        let p = collected.process
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let cut = Date()
        try cutNode2()
        try? wait(upTo: Double(limit) + 20, polling: 0.05) { !p.isRunning }
        let elapsed = Date().timeIntervalSince(cut)
        XCTAssertFalse(p.isRunning, "mpirun still runs \(Int(elapsed)) s after the cut: \(collected.text)")
        if !p.isRunning { XCTAssertNotEqual(p.terminationStatus, 0, collected.text) }
        return (elapsed, collected.text)
    }

    func cutNode2() throws {
        let r = try execute([script, "cut", "node2"])
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// The processes in this test's namespaces.
    func processesOnTheHosts() -> [Int32] {
        let names = (try? String(contentsOfFile: "\(dir)/hosts/namespaces", encoding: .utf8))?.split(separator: "\n") ?? []
        return names.flatMap { name -> [Int32] in
            guard let r = try? Self.runTool("ip", ["netns", "pids", String(name)]) else { return [] }
            return r.output.split(separator: "\n").compactMap { Int32($0) }
        }
    }

    /// The makemore ranks among them.
    func ranksOnTheHosts() -> [Int32] {
        let exe = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
        return processesOnTheHosts().filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe")) == exe }
    }

    func assertNothingRunsOnTheHosts(within seconds: Double) throws {
        do {
            try wait(upTo: seconds, polling: 0.05) { self.processesOnTheHosts().isEmpty }
        } catch {
            let left = processesOnTheHosts().map { pid in
                "\(pid): " + ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "?")
                    .replacingOccurrences(of: "\0", with: " ").prefix(80)
            }
            XCTFail("still running on the hosts after \(seconds) s: \(left)")
        }
    }

    /// Rank 0's last checkpoint is whole, at a checkpoint step, and resumes with one process.
    func assertCheckpointResumes(_ name: String) throws {
        let saved = try Checkpoint.load(path: "\(dir)/\(name)")
        XCTAssertEqual(saved.step % 1000, 0)
        try single(train(steps: saved.step + 50, checkpoint: name) + ["--threads", "1", "--resume", "--checkpoint-every", "1000"])
        XCTAssertEqual(try self.saved(name).step, saved.step + 50)
    }

    func saved(_ name: String) throws -> MPITests.Saved { try MPITests.saved("\(dir)/\(name)") }

    /// (host, CPU) of each rank, from rank 0's layout report.
    func layout(_ output: String) throws -> [(host: String, cpu: Int)] {
        let regex = try NSRegularExpression(pattern: #"rank (\d+) on (\S+): 1 thread on CPU (\d+)"#)
        let ns = output as NSString
        var byRank = [Int: (String, Int)]()
        for m in regex.matches(in: output, range: NSRange(location: 0, length: ns.length)) {
            byRank[Int(ns.substring(with: m.range(at: 1)))!] = (ns.substring(with: m.range(at: 2)), Int(ns.substring(with: m.range(at: 3)))!)
        }
        guard !byRank.isEmpty, byRank.keys.sorted() == Array(0..<byRank.count) else {
            throw MakemoreError("no layout report with a pinned CPU per rank: \(output)")
        }
        return (0..<byRank.count).map { (host: byRank[$0]!.0, cpu: byRank[$0]!.1) }
    }

    func number(in output: String, _ pattern: String) throws -> Double {
        let regex = try NSRegularExpression(pattern: pattern)
        let ns = output as NSString
        guard let m = regex.firstMatch(in: output, range: NSRange(location: 0, length: ns.length)),
              let v = Double(ns.substring(with: m.range(at: 1))) else {
            throw MakemoreError("no '\(pattern)' in: \(output)")
        }
        return v
    }

    /// A tool on PATH, run to completion: its status and output (status 127 when it is not there).
    static func runTool(_ name: String, _ args: [String]) throws -> (status: Int32, output: String) {
        guard let path = MPITests.which(name) else { return (127, "\(name) is not on PATH") }
        return try CollectedProcess([path] + args, environment: ProcessInfo.processInfo.environment)
            .finish(timeout: 120, signal: SIGKILL)
    }
}
