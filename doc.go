// Package raft is the Raft consensus algorithm as a library to embed in a Go
// program: leader election, log replication, membership changes (one at a
// time or by joint consensus), log compaction with snapshots, leadership
// transfer, PreVote, CheckQuorum and linearizable reads by ReadIndex.
//
// The protocol core does no I/O: no goroutines, no clocks, no disk, no
// network. The host feeds it ticks and messages, and gets back a Ready: what
// to persist, what to send, what to apply. So the core is deterministic,
// which is what lets it be tested exhaustively, and it leaves the host free
// to choose its disk format and its transport.
//
// # Starting a node
//
// A node reads its state from a Storage, which the host writes. For a node
// whose durable state lives in memory, or whose host keeps its own log on
// disk and mirrors it in memory, MemoryStorage does the job:
//
//	storage := raft.NewMemoryStorage()
//	c := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: storage, MaxInflightMsgs: 256}
//	n := raft.StartNode(c, []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}) // a new cluster
//
// A node that stopped resumes from its storage with RestartNode(c), with
// c.Applied set to the last index its state machine holds.
//
// # The Ready loop
//
// The host runs one loop per node; in outline:
//
//	for {
//		select {
//		case <-ticker.C: // every 10-100ms
//			n.Tick()
//		case m := <-fromPeers:
//			n.Step(ctx, m)
//		case rd := <-n.Ready():
//			transport.Send(rd.Messages) // at once, see below
//			if !raft.IsEmptySnap(rd.Snapshot) {
//				storage.ApplySnapshot(rd.Snapshot)
//			}
//			storage.Append(rd.Entries)
//			if !raft.IsEmptyHardState(rd.HardState) {
//				storage.SetHardState(rd.HardState)
//			}
//			// plus the host's own disk, fsynced if rd.MustSync
//			for _, e := range rd.CommittedEntries {
//				if e.Type == raft.EntryConfChange {
//					var cc raft.ConfChange
//					cc.Unmarshal(e.Data)
//					n.ApplyConfChange(cc)
//				} else {
//					apply(e.Data) // the application's state machine
//				}
//			}
//			n.Advance()
//		}
//	}
//
// That is: send Messages; persist Snapshot, Entries and HardState (with an
// fsync when MustSync is set); apply Snapshot and CommittedEntries, calling
// ApplyConfChange for each configuration change; then Advance. Proposals come
// from any goroutine with n.Propose(ctx, data); each applied entry comes back
// through CommittedEntries on every member. ReadIndex answers come in
// ReadStates. The Ready type spells out the contract.
//
// # Send first, write in parallel
//
// No message in a Ready acknowledges state that the same Ready asks the host
// to persist: a vote, or the acknowledgement of appended entries, is held
// back by the node and comes in a later Ready, after the Advance that
// confirms the write. So the host may send a Ready's Messages at once, while
// it writes, on every node, leader and follower alike, with no rule about
// which messages may go early: a leader writes its own log in parallel with
// replicating it (Raft thesis §10.2.1), and a crash before the write is done
// never lets a promise escape that the disk does not keep.
//
// A RawNode host may also take the next Ready before it advanced the last
// one: while its disk writes one Ready, the node steps more messages and
// proposals, and the next Ready sends them on at once instead of after the
// fsync. The host persists and advances the Readys in the order it took
// them (see Ready). The kv example runs this way, one writer goroutine
// behind its loop.
//
// # Node or RawNode
//
// Node (StartNode, RestartNode) runs the core in a goroutine of its own and
// talks over channels; its methods are safe for concurrent use and honour
// their context.Context. RawNode is the same core without the goroutine: the
// host calls Tick, Step, Propose, HasReady, Ready and Advance itself, from
// one goroutine. It suits hosts that already have an event loop, that run
// many groups, or that test deterministically.
//
// # Storage
//
// Storage is the read side of the host's stable storage: the node reads
// entries, terms, the HardState and the latest snapshot from it, and never
// writes. MemoryStorage implements it and is safe for concurrent use; a host
// compacts it with CreateSnapshot and Compact once its state machine has
// applied far enough.
//
// # Encoding
//
// Message, Entry, HardState, Snapshot, ConfState and ConfChange have Marshal
// and Unmarshal methods that encode them in msgpack, in the format of
// github.com/hashicorp/go-msgpack (hand-written for the hot types, proven
// byte-compatible by the tests). Decoding checks its input before trusting
// it, so bytes from the network cannot crash a node; an error wraps
// ErrDecode. Message.Unmarshal does not copy: the entries' Data and the
// Context alias the input, which must not change while the message is in
// use (stepping it keeps the entries in the log); Message.AppendMarshal
// encodes into a caller's buffer.
//
// # Errors
//
// Errors a caller can act on are sentinels to test with errors.Is:
// ErrProposalDropped (retry later, maybe on the leader), ErrStepLocalMsg,
// ErrStepPeerNotFound, ErrStopped, ErrInvalidConfChange, ErrInvalidConfig,
// and the storage errors ErrCompacted, ErrUnavailable, ErrSnapOutOfDate and
// ErrSnapshotTemporarilyUnavailable. A panic is reserved for a broken promise
// of the host, such as storage that lost acknowledged entries, and its
// message says which.
package raft
