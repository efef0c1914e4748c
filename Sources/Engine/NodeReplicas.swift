import Foundation
import KernelSupport
import Kernels
import Parallel

/// What the workers of one NUMA node read in every step, kept on that node
/// (DimmWitted's PerNode replication): the parameters, their transposes and
/// the training examples. Node 0's parameters are the model's own; the others
/// are replicas that the reducer rewrites after every update.
struct NodeState {
    var params: UnsafeMutablePointer<Float>   // [P]
    var w1T: UnsafeMutablePointer<Float>      // [Hp × Kp]
    var w2T: UnsafeMutablePointer<Float>      // [Vp × Hp]
    var w1S: UnsafeMutablePointer<Float>      // [B·Hp × Ep]: row j·Hp + h holds W1[j·E ..< (j+1)·E, h] (position j's block, transposed)
    var examples: UnsafePointer<Int32>?       // [count × stride]: X then Y; nil: the caller fills batchX itself
    var workers: Range<Int>                   // consecutive worker numbers
    var reduceShards: Range<Int>              // consecutive shards whose sum is this node's stage of the shard-order fold
}

/// Worker w of T's block of shards, [w·S/T, (w+1)·S/T): the S shards cut
/// as a batch's rows are cut into shards (`shardBounds`). The workers of a
/// node (numbered consecutively) have consecutive blocks, which together are
/// the node's home shards (claimed by its workers first) and its stage of
/// the staged reduction.
@inline(__always)
func shardRange(worker w: Int, of T: Int, shards S: Int) -> Range<Int> {
    shardBounds(w, of: T, rows: S)
}

final class NodeReplicas {
    let nodes: UnsafeMutablePointer<NodeState>
    let count: Int
    /// Node index (into `nodes`) of each worker.
    let workerNode: UnsafeMutablePointer<Int>
    private var owned: [AnyObject] = []
    private let nodeIDs: [Int]

    /// `workerNodes[w]`: the node index of worker w, non-decreasing from 0;
    /// `nodeIDs[k]`: the NUMA node id to allocate node k's memory on.
    init(model: Model, workerNodes: [Int], nodeIDs: [Int], shards S: Int) {
        let shape = model.shape, P = model.layout.count, T = workerNodes.count
        count = nodeIDs.count
        self.nodeIDs = nodeIDs
        nodes = .allocate(capacity: count)
        workerNode = .allocate(capacity: T)
        workerNode.initialize(from: workerNodes, count: T)
        for k in 0..<count {
            let first = workerNodes.firstIndex(of: k)!, last = workerNodes.lastIndex(of: k)!
            func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
                let b = NodeBuffer<Float>(count: n, node: nodeIDs[k])
                owned.append(b)
                return b.base
            }
            let params: UnsafeMutablePointer<Float>
            if k == 0 {
                params = model.parameters.base
            } else {
                params = buffer(P)
                params.update(from: model.parameters.base, count: P)
            }
            (nodes + k).initialize(to: NodeState(
                params: params,
                w1T: buffer(shape.hiddenPadded * shape.inputPadded),
                w2T: buffer(shape.vocabPadded * shape.hiddenPadded),
                w1S: buffer(shape.blockSize * shape.hiddenPadded * shape.embdPadded),
                examples: nil,
                workers: first..<(last + 1),
                reduceShards: shardRange(worker: first, of: T, shards: S).lowerBound
                    ..< shardRange(worker: last, of: T, shards: S).upperBound))
        }
    }

    deinit {
        nodes.deinitialize(count: count)
        nodes.deallocate()
        workerNode.deallocate()
    }

    /// Int32s per example in the nodes' copies: X's B contexts, then Y, padded
    /// to a power of two, so that for B < 16 an example is one aligned piece
    /// of one cache line. A random batch row then costs one miss, not one
    /// for X and another for Y (separate arrays: 4% of a batch-4096 step).
    static func exampleStride(blockSize B: Int) -> Int {
        var stride = 1
        while stride < B + 1 { stride <<= 1 }
        return stride
    }

    /// Gives every node its own copy of the training examples, X [count × B]
    /// and Y [count] interleaved into records of `exampleStride` Int32s.
    func attachTrainingData(x: UnsafePointer<Int32>, y: UnsafePointer<Int32>, count n: Int, blockSize B: Int) {
        let stride = NodeReplicas.exampleStride(blockSize: B)
        for k in 0..<count {
            let records = NodeBuffer<Int32>(count: n * stride, node: nodeIDs[k])
            for i in 0..<n {
                let dst = records.base + i * stride
                dst.update(from: x + i * B, count: B)
                dst[B] = y[i]
            }
            owned.append(records)
            nodes[k].examples = UnsafePointer(records.base)
        }
    }

    /// Copies `slice` of node 0's parameters into every replica.
    @inline(__always)
    func broadcast(slice: Range<Int>) {
        guard count > 1 else { return }
        let src = nodes[0].params + slice.lowerBound
        for k in 1..<count { copy(nodes[k].params + slice.lowerBound, src, count: slice.count) }
    }
}
