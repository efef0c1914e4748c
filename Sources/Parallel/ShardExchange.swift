/// How the processes of a multi-process run (MPI ranks) share per-shard results.
///
/// The S shards of a batch are split among the R processes in consecutive
/// blocks: process r owns shards [r·S/R, (r+1)·S/R) (`ownedShards`). At each
/// synchronization point every process computes its own shards, then
/// `allGather` gives every process every shard's result, so each can combine
/// them in shard order itself: the step stays bit-identical to one process
/// with the same shards, whatever R. The single-process trainer has no
/// exchange at all.
public protocol ShardExchange: AnyObject {
    var rank: Int { get }
    var rankCount: Int { get }
    /// For each shard s, `pieces[s]` points to `bytes` bytes; afterwards, on
    /// every process, piece s holds what its owner process wrote there.
    /// Called by one thread per process, by all processes in the same order.
    func allGather(_ pieces: UnsafePointer<UnsafeMutableRawPointer>, shards: Int, bytes: Int)
    /// The largest of every process's `value`: lets all processes agree to
    /// stop (or not) after the same step.
    func agreeMax(_ value: Int32) -> Int32
}

extension ShardExchange {
    /// The shards process `r` computes.
    public func ownedShards(of r: Int, shards S: Int) -> Range<Int> {
        (r * S / rankCount)..<((r + 1) * S / rankCount)
    }
}
