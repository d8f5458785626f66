// Package server is one node of the kv example: a keelraft RawNode driven by
// one goroutine, its log in a wal.Storage, its state machine a store.Store,
// its peers reached through the TCP transport, and the HTTP API that clients
// call.
//
// # The node loop
//
// One goroutine owns the RawNode. It waits for a tick, a message from a
// peer, proposals, read requests or a call from an HTTP handler, feeds it to
// the node, and then handles every Ready in the order the library asks:
//
//  1. send Messages at once (the transport queues them);
//  2. wal.Save the HardState, Entries and Snapshot, with one fsync when
//     MustSync is set;
//  3. apply the Snapshot (store.Restore) and CommittedEntries (store.Apply,
//     or ApplyConfChange plus the address book for membership changes),
//     wake the HTTP handlers whose entries were applied, and release the
//     linearizable reads whose read index is now applied;
//  4. Advance.
//
// Proposals that arrive while the loop is busy (most often: while it waits
// for an fsync) are proposed together in the next round and persisted by
// one Save, so many writes share one fsync (group commit).
//
// # Waiting for an entry
//
// A handler proposes a store.Command that carries a RequestID unique to this
// node (node id in the high 16 bits, a counter seeded from the clock in the
// low 48). The loop records the index and term the leader gave the entry.
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
// The API is the one of example/kv/CONTRACT.md: /kv/{key}, /sessions,
// /status, /members and /debug/cut. A node that is not the leader forwards
// writes, linearizable reads and membership changes to the leader over HTTP
// and relays the answer.
package server
