// Package server is one node of the kv example: a keelraft RawNode driven by
// one goroutine, its log in a wal.Storage, its state machine a store.Store,
// its peers reached through the TCP transport, and the HTTP API that clients
// call.
//
// # The node loop
//
// One goroutine owns the RawNode. It waits for a tick, a message from a
// peer, proposals, read requests, a call from an HTTP handler or the
// persister's report, feeds it to the node, and then handles every Ready
// in the order the library asks:
//
//  1. send Messages at once (the transport queues them);
//  2. hand the HardState, Entries and Snapshot to the persister, a
//     goroutine that writes them with wal.Save, in order, with one fsync
//     when MustSync is set;
//  3. apply the Snapshot (store.Restore) and CommittedEntries (store.Apply,
//     or ApplyConfChange plus the address book for membership changes),
//     wake the HTTP handlers whose entries were applied, and release the
//     linearizable reads whose read index is now applied: at once, since
//     committed entries are on a quorum's disks and the store is rebuilt
//     from the log after a crash;
//  4. Advance, once the persister reports the write durable.
//
// The loop does not wait for the disk between 2 and 4: it takes the next
// Ready meanwhile (raft.Ready allows a host to pipeline), so a leader
// replicates new proposals and acknowledges commits while its fsync runs.
// The Readys that queue up during one fsync are written together, with
// one fsync (group commit); a Ready whose only change is the commit index
// is not written on its own.
//
// # Waiting for an entry
//
// A handler proposes a store.Command that carries a RequestID unique to this
// node (node id in the high 16 bits, a counter seeded from the clock in the
// low 48). The loop records the index and term the leader gave the entry
// (a node that won an election since its last Ready proposes nothing until
// the next: its last index is known only then).
// When an entry is applied at that index, the handler gets the store's
// Result if the entry is its own (same term, same RequestID), and an error
// otherwise: another leader's entry took the slot, so the write was lost.
// When the node stops being leader every waiter fails with "outcome unknown"
// (504): the entry may still commit under the next leader. Success is only
// ever reported for an entry that was applied.
//
// # Reads
//
// A linearizable GET asks the leader for a read index (Raft §8, ReadIndex
// with ReadOnlySafe: the leader confirms it still leads with a round of
// heartbeats), waits until the node applied that index, and then reads the
// store. Reads that arrive together share one ReadIndex request. A GET with
// ?consistency=stale reads the local store at once, on any node.
//
// # HTTP API
//
// The API is the one example/kv/README.md describes: /kv/{key}, /batch,
// /sessions, /status, /members and /debug/cut. A node that is not the
// leader forwards writes, linearizable reads and membership changes to the
// leader over HTTP and relays the answer.
package server
