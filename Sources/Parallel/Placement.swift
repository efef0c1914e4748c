/// How many workers the user asked for.
public enum ThreadRequest: Equatable, Sendable {
    /// One per CPU of the chosen nodes.
    case auto
    /// This many in all, spread evenly over the nodes.
    case count(Int)
    /// This many on each node.
    case perNode(Int)
}

extension Topology {
    /// Assigns workers to nodes and CPUs. Workers are numbered node by node, so
    /// the workers of a node are consecutive (their shards and parameter slices
    /// are then neighbours too). More workers than CPUs is refused unless
    /// `oversubscribe`; then the workers are left unpinned, since two spinning
    /// workers pinned to one CPU would only take turns.
    public func placements(_ request: ThreadRequest, pin: Bool, oversubscribe: Bool) throws -> [Placement] {
        var perNode: [Int]
        switch request {
        case .auto:
            perNode = nodes.map(\.cpus.count)
        case .count(let n):
            guard n >= 1 else { throw PoolError.noThreads(n) }
            perNode = nodes.indices.map { i in n / nodes.count + (i < n % nodes.count ? 1 : 0) }
        case .perNode(let n):
            guard n >= 1 else { throw PoolError.noThreads(n) }
            perNode = nodes.map { _ in n }
        }
        let total = perNode.reduce(0, +)
        let crowded = zip(perNode, nodes).contains { $0 > $1.cpus.count }
        if crowded && !oversubscribe {
            throw PoolError.moreThreadsThanCPUs(threads: total, cpus: cpuCount, perNode: nodes.map { ($0.id, $0.cpus.count) })
        }
        var result = [Placement]()
        for (i, node) in nodes.enumerated() {
            for k in 0..<perNode[i] {
                result.append(Placement(worker: result.count, node: node.id,
                                        cpu: pin && !crowded ? node.cpus[k] : nil))
            }
        }
        return result
    }
}

extension Topology {
    /// `placements` for process `local` of the `localCount` processes of one
    /// job on this host (MPI ranks). A launcher that binds each process to
    /// cores of its own leaves it seeing only those: it pins inside them. One
    /// that binds nothing leaves every process seeing every CPU; each then
    /// takes the block after those of the processes before it, instead of all
    /// pinning to the first CPUs, and where the blocks do not all fit none is pinned.
    public func placements(_ request: ThreadRequest, pin: Bool, oversubscribe: Bool,
                           local: Int, of localCount: Int) throws -> [Placement] {
        var p = try placements(request, pin: pin, oversubscribe: oversubscribe)
        let visible = nodes.reduce(0) { $0 + $1.cpus.count }
        guard localCount > 1, visible > p.count, p.allSatisfy({ $0.cpu != nil }) else { return p }
        // Worker k of a node sits on the node's CPU k; process l takes the node's l-th block.
        let perNode = Dictionary(grouping: p, by: \.node).mapValues(\.count)
        let fits = nodes.allSatisfy { $0.cpus.count >= localCount * (perNode[$0.id] ?? 0) }
        for i in p.indices {
            guard fits, let cpu = p[i].cpu, let node = nodes.first(where: { $0.id == p[i].node }),
                  let k = node.cpus.firstIndex(of: cpu), let n = perNode[node.id] else {
                p[i].cpu = nil
                continue
            }
            p[i].cpu = node.cpus[k + local * n]
        }
        return p
    }
}

/// "worker 0 → node 0 CPU 0, worker 1 → node 0 CPU 1"
public func describe(_ placements: [Placement]) -> String {
    placements.map { p in
        "worker \(p.worker) → node \(p.node) " + (p.cpu.map { "CPU \($0)" } ?? "(not pinned)")
    }.joined(separator: ", ")
}
