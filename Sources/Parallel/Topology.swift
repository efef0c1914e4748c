import CNuma
import Foundation

/// The machine as the pool sees it: NUMA nodes and the CPUs of each.
///
/// Read from libnuma; where libnuma reports NUMA unavailable (no kernel
/// support, some containers) it is one node holding every CPU this process may
/// use. A topology can also be given (`parallel.topology` in the config) so that
/// the multi-node code paths run on a one-node machine.
public struct Topology: Equatable, Sendable, CustomStringConvertible {
    public struct Node: Equatable, Sendable {
        public var id: Int
        public var cpus: [Int]
    }

    public var nodes: [Node]
    /// How it was found, for the start-of-run report.
    public var source: String

    public init(nodes: [Node], source: String) {
        self.nodes = nodes
        self.source = source
    }

    /// Virtual nodes from a list of CPU lists (node i gets id i).
    public init(virtualNodes: [[Int]]) {
        nodes = virtualNodes.enumerated().map { Node(id: $0.offset, cpus: $0.element) }
        source = "given by parallel.topology"
    }

    public static func detect() -> Topology {
        if numa_available() < 0 {
            return Topology(nodes: [Node(id: 0, cpus: allowedCPUs())], source: "libnuma: NUMA unavailable, one node with all CPUs")
        }
        var nodes = [Node]()
        let mask = numa_allocate_cpumask()!
        defer { numa_free_cpumask(mask) }
        for id in 0...Int(numa_max_node()) where numa_bitmask_isbitset(numa_all_nodes_ptr, UInt32(id)) != 0 {
            numa_bitmask_clearall(mask)
            guard numa_node_to_cpus(Int32(id), mask) == 0 else { continue }
            let cpus = (0..<Int(numa_num_possible_cpus())).filter {
                numa_bitmask_isbitset(mask, UInt32($0)) != 0 && makemore_cpu_allowed(Int32($0)) != 0
            }
            if !cpus.isEmpty { nodes.append(Node(id: id, cpus: cpus)) }
        }
        if nodes.isEmpty {
            return Topology(nodes: [Node(id: 0, cpus: allowedCPUs())], source: "libnuma: no node with usable CPUs, one node")
        }
        return Topology(nodes: nodes, source: "libnuma")
    }

    static func allowedCPUs() -> [Int] {
        let n = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let cpus = (0..<n).filter { makemore_cpu_allowed(Int32($0)) != 0 }
        return cpus.isEmpty ? [0] : cpus
    }

    /// Keeps only the listed node ids; an unknown id is an error.
    public func selecting(nodes ids: [Int]?) throws -> Topology {
        guard let ids else { return self }
        var t = self
        t.nodes = try ids.map { id in
            guard let n = nodes.first(where: { $0.id == id }) else {
                throw PoolError.unknownNode(id, known: nodes.map(\.id))
            }
            return n
        }
        return t
    }

    public var cpuCount: Int { nodes.reduce(0) { $0 + $1.cpus.count } }

    public var description: String {
        "\(nodes.count) node\(nodes.count == 1 ? "" : "s") (\(source)): "
            + nodes.map { "node \($0.id): CPUs \(compactList($0.cpus))" }.joined(separator: "; ")
    }
}

/// "0-3,8,10-11"
public func compactList(_ xs: [Int]) -> String {
    var parts = [String]()
    var i = 0
    while i < xs.count {
        var j = i
        while j + 1 < xs.count && xs[j + 1] == xs[j] + 1 { j += 1 }
        parts.append(i == j ? "\(xs[i])" : "\(xs[i])-\(xs[j])")
        i = j + 1
    }
    return parts.joined(separator: ",")
}

/// Why a pool cannot be placed or started. The words name no setting:
/// the caller knows which of its settings asked for it (`setting`).
public enum PoolError: Error, CustomStringConvertible, Equatable {
    case noThreads(Int)
    case moreThreadsThanCPUs(threads: Int, cpus: Int, perNode: [(node: Int, cpus: Int)])
    case unknownNode(Int, known: [Int])
    case threadNotStarted(worker: Int, of: Int, errno: Int32)

    /// Which request was wrong: the thread count or the node list (nil: neither, the system refused).
    public enum Setting { case threads, nodes }
    public var setting: Setting? {
        switch self {
        case .noThreads, .moreThreadsThanCPUs: return .threads
        case .unknownNode: return .nodes
        case .threadNotStarted: return nil
        }
    }

    public var description: String {
        switch self {
        case .noThreads(let n):
            return "must be at least 1, got \(n)"
        case let .moreThreadsThanCPUs(threads, cpus, perNode):
            return "\(threads) threads but the chosen nodes have \(cpus) CPUs "
                + "(\(perNode.map { "node \($0.node): \($0.cpus)" }.joined(separator: ", "))); use fewer threads, or oversubscribe"
        case let .unknownNode(id, known):
            return "node \(id) does not exist (nodes: \(known))"
        case let .threadNotStarted(worker, count, code):
            return "could not start worker thread \(worker) of \(count): \(String(cString: strerror(code))) (a limit on threads "
                + "or processes, such as ulimit -u or a container's pids limit, or on memory); use fewer threads"
        }
    }

    public static func == (a: PoolError, b: PoolError) -> Bool { a.description == b.description }
}

extension Topology {
    /// Lets the calling thread run on every CPU of this topology again. A
    /// pool pins its calling thread (worker 0) and leaves it pinned; processes
    /// started afterwards would inherit that one CPU.
    public func unpinCurrentThread() {
        let cpus = nodes.flatMap(\.cpus).map { Int32($0) }
        _ = cpus.withUnsafeBufferPointer { makemore_allow_current_thread($0.baseAddress, Int32($0.count)) }
    }
}

extension Topology {
    /// Each node's CPUs reduced to one per physical core (the lowest-numbered
    /// SMT sibling), with the CPUs left out. `sysfs` is the folder holding
    /// `cpuN/topology/` (tests pass a fake one). A core is identified by
    /// `thread_siblings_list` (the CPUs sharing it), else by
    /// `physical_package_id` and `core_id`; a CPU with neither is a core of
    /// its own. Cores are grouped within a node, so a pretend topology that
    /// lists a CPU in two nodes keeps it in both.
    public func onePerCore(sysfs: String = "/sys/devices/system/cpu") -> (topology: Topology, smtSiblings: [Int]) {
        var t = self
        var left = [Int]()
        for i in t.nodes.indices {
            var seen = Set<String>()
            var kept = [Int]()
            for cpu in t.nodes[i].cpus {
                let key = coreKey(cpu: cpu, sysfs: sysfs) ?? "cpu \(cpu)"
                if seen.insert(key).inserted { kept.append(cpu) } else { left.append(cpu) }
            }
            t.nodes[i].cpus = kept
        }
        return (t, left.sorted())
    }

    /// The same CPUs, each node's ordered one per physical core first and
    /// their SMT siblings after, so that an explicit thread count fills
    /// whole cores before it doubles up on one.
    public func coresFirst(sysfs: String = "/sys/devices/system/cpu") -> Topology {
        let cores = onePerCore(sysfs: sysfs).topology
        var t = self
        for i in t.nodes.indices {
            let first = cores.nodes[i].cpus
            t.nodes[i].cpus = first + t.nodes[i].cpus.filter { !first.contains($0) }
        }
        return t
    }
}

/// What identifies the physical core of `cpu` in a sysfs tree, or nil if
/// nothing about it can be read.
func coreKey(cpu: Int, sysfs: String) -> String? {
    let dir = "\(sysfs)/cpu\(cpu)/topology/"
    func read(_ name: String) -> String? {
        guard let s = try? String(contentsOfFile: dir + name, encoding: .utf8) else { return nil }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? nil : t
    }
    if let list = read("thread_siblings_list"), let cpus = parseCPUList(list), !cpus.isEmpty {
        return "siblings " + cpus.map(String.init).joined(separator: ",")
    }
    if let package = read("physical_package_id"), let core = read("core_id") {
        return "package \(package) core \(core)"
    }
    return nil
}

/// "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11] (sorted, unique); nil if malformed.
func parseCPUList(_ s: String) -> [Int]? {
    var out = Set<Int>()
    for part in s.split(separator: ",") {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2,
              let lo = Int(bounds[0].trimmingCharacters(in: .whitespaces)),
              let hi = Int(bounds[bounds.count - 1].trimmingCharacters(in: .whitespaces)),
              lo >= 0, lo <= hi, hi - lo < 1 << 16 else { return nil }
        for c in lo...hi { out.insert(c) }
    }
    return out.sorted()
}
