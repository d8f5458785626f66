package raft_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/keelraft/raft"
)

// A single-voter RawNode driven by hand: bootstrap, campaign, propose, with
// each Ready handled in the order of the contract.
func ExampleRawNode() {
	storage := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxInflightMsgs: 256,
		Logger:          raft.DiscardLogger,
	})
	if err != nil {
		panic(err)
	}
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		panic(err)
	}

	// send stands for the host's transport; a single voter sends nothing.
	send := func([]raft.Message) {}
	handleReadies := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			// 1. Send at once: no message acknowledges this Ready's writes.
			send(rd.Messages)
			// 2. Persist (a real host writes its disk too, and fsyncs if
			// rd.MustSync).
			if !raft.IsEmptySnap(rd.Snapshot) {
				if err := storage.ApplySnapshot(rd.Snapshot); err != nil {
					panic(err)
				}
			}
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			if !raft.IsEmptyHardState(rd.HardState) {
				if err := storage.SetHardState(rd.HardState); err != nil {
					panic(err)
				}
			}
			// 3. Apply.
			for _, e := range rd.CommittedEntries {
				switch {
				case e.Type == raft.EntryConfChange:
					var cc raft.ConfChange
					if err := cc.Unmarshal(e.Data); err != nil {
						panic(err)
					}
					rn.ApplyConfChange(cc)
				case len(e.Data) > 0:
					fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
				}
			}
			if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader {
				fmt.Printf("leader of term %d\n", rn.Status().Term)
			}
			// 4. Advance.
			rn.Advance(rd)
		}
	}

	handleReadies() // applies the bootstrap configuration
	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	handleReadies()
	if err := rn.Propose([]byte("hello")); err != nil {
		panic(err)
	}
	handleReadies()
	// Output:
	// leader of term 2
	// applied "hello" at index 3
}

// The canonical loop of a Node: tick on a timer, handle each Ready, call
// Advance.
func ExampleStartNode() {
	storage := raft.NewMemoryStorage()
	n := raft.StartNode(&raft.Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         storage,
		MaxInflightMsgs: 256,
		Logger:          raft.DiscardLogger,
	}, []raft.Peer{{ID: 1}})
	defer n.Stop()

	// A real host ticks every 10 to 100ms; this example is in a hurry.
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	send := func([]raft.Message) {} // the host's transport
	proposed := false
	for {
		select {
		case <-ticker.C:
			n.Tick()
		case rd := <-n.Ready():
			// Persist...
			if !raft.IsEmptySnap(rd.Snapshot) {
				if err := storage.ApplySnapshot(rd.Snapshot); err != nil {
					panic(err)
				}
			}
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			if !raft.IsEmptyHardState(rd.HardState) {
				if err := storage.SetHardState(rd.HardState); err != nil {
					panic(err)
				}
			}
			// ...send (which may as well start before the write, or run
			// alongside it)...
			send(rd.Messages)
			// ...apply...
			for _, e := range rd.CommittedEntries {
				switch {
				case e.Type == raft.EntryConfChange:
					var cc raft.ConfChange
					if err := cc.Unmarshal(e.Data); err != nil {
						panic(err)
					}
					n.ApplyConfChange(cc)
				case string(e.Data) == "hello":
					fmt.Printf("applied %q\n", e.Data)
					return // Stop is deferred
				}
			}
			// ...and Advance.
			n.Advance()

			// The election timer made the node leader. A real application
			// proposes from its own goroutines, and retries on
			// ErrProposalDropped.
			if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader && !proposed {
				fmt.Println("leader")
				if err := n.Propose(context.Background(), []byte("hello")); err != nil {
					panic(err)
				}
				proposed = true
			}
		}
	}
	// Output:
	// leader
	// applied "hello"
}

// Once the host has applied entries up to an index, it records a snapshot of
// its state there and compacts the log before it.
func ExampleMemoryStorage_CreateSnapshot() {
	storage := raft.NewMemoryStorage()
	var ents []raft.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, raft.Entry{Term: 1, Index: i, Data: fmt.Appendf(nil, "x=%d", i)})
	}
	if err := storage.Append(ents); err != nil {
		panic(err)
	}

	// The host applied up to index 8; its state there is "x=8".
	cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
	snap, err := storage.CreateSnapshot(8, &cs, []byte("x=8"))
	if err != nil {
		panic(err)
	}
	if err := storage.Compact(snap.Metadata.Index); err != nil {
		panic(err)
	}

	first, _ := storage.FirstIndex()
	last, _ := storage.LastIndex()
	fmt.Printf("snapshot at index %d, term %d, voters %v: %s\n",
		snap.Metadata.Index, snap.Metadata.Term, snap.Metadata.ConfState.Voters, snap.Data)
	fmt.Printf("log holds entries %d to %d\n", first, last)
	_, err = storage.Entries(5, 6, math.MaxUint64)
	fmt.Println("entry 5:", err)
	// Output:
	// snapshot at index 8, term 1, voters [1 2 3]: x=8
	// log holds entries 9 to 10
	// entry 5: raft: requested index is compacted
}

// A linearizable read (Raft paper §8): ask for a read index, and read the
// state machine once it has applied up to that index.
func ExampleRawNode_ReadIndex() {
	storage := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              1,
		Storage:         storage,
		MaxInflightMsgs: 256,
		Logger:          raft.DiscardLogger,
	})
	if err != nil {
		panic(err)
	}
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		panic(err)
	}

	// The state machine: the last value written, and the index it is at.
	var value string
	var applied uint64
	var reads []raft.ReadState
	handleReadies := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			// A single voter has no messages to send.
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			if !raft.IsEmptyHardState(rd.HardState) {
				if err := storage.SetHardState(rd.HardState); err != nil {
					panic(err)
				}
			}
			for _, e := range rd.CommittedEntries {
				if e.Type == raft.EntryConfChange {
					var cc raft.ConfChange
					if err := cc.Unmarshal(e.Data); err != nil {
						panic(err)
					}
					rn.ApplyConfChange(cc)
				} else if len(e.Data) > 0 {
					value = string(e.Data)
				}
				applied = e.Index
			}
			reads = append(reads, rd.ReadStates...)
			rn.Advance(rd)
		}
	}

	handleReadies()
	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	handleReadies()
	if err := rn.Propose([]byte("x=1")); err != nil {
		panic(err)
	}
	handleReadies()

	rn.ReadIndex([]byte("read-1"))
	handleReadies()
	for _, rs := range reads {
		// Here the state machine is already there; a host that lags
		// waits until applied reaches rs.Index.
		if applied >= rs.Index {
			fmt.Printf("%s at index %d sees %s\n", rs.RequestCtx, rs.Index, value)
		}
	}
	// Output:
	// read-1 at index 3 sees x=1
}
