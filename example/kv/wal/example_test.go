package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/wal"
)

// A host saves each Ready, snapshots now and then, and after a restart finds
// the log as it left it.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// What a Ready would hold: a hard state and new entries, to be synced.
	ents := []raft.Entry{{Index: 1, Term: 1, Data: []byte("a")}, {Index: 2, Term: 1, Data: []byte("b")}}
	if err := st.Save(raft.HardState{Term: 1, Vote: 1, Commit: 2}, ents, raft.Snapshot{}, true); err != nil {
		log.Fatal(err)
	}
	// The state machine applied entry 1: snapshot it.
	cs := raft.ConfState{Voters: []uint64{1}}
	if _, err := st.CreateSnapshot(1, &cs, []byte("a")); err != nil {
		log.Fatal(err)
	}
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}

	st, err = wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	hs, _, _ := st.InitialState()
	snap, _ := st.Snapshot()
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	fmt.Printf("hard state %+v\n", hs)
	fmt.Printf("snapshot at %d holds %q\n", snap.Metadata.Index, snap.Data)
	fmt.Printf("entries %d..%d\n", first, last)
	// Output:
	// hard state {Term:1 Vote:1 Commit:2}
	// snapshot at 1 holds "a"
	// entries 2..2
}
