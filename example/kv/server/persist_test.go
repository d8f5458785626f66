package server

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/wal"
)

func ents(term uint64, indexes ...uint64) []raft.Entry {
	out := make([]raft.Entry, len(indexes))
	for i, idx := range indexes {
		out[i] = raft.Entry{Index: idx, Term: term, Data: []byte{byte(idx), byte(term)}}
	}
	return out
}

// mergeEntries lays later entries over earlier ones, as the log would in
// two writes, without writing into the earlier slice's array.
func TestMergeEntries(t *testing.T) {
	a := ents(1, 1, 2, 3)
	saved := append([]raft.Entry(nil), a...)
	require.Equal(t, ents(1, 1, 2, 3, 4), mergeEntries(a, ents(1, 4)), "follows")
	require.Equal(t, append(ents(1, 1, 2), ents(2, 3, 4)...), mergeEntries(a, ents(2, 3, 4)), "replaces from 3")
	require.Equal(t, ents(2, 1), mergeEntries(a, ents(2, 1)), "replaces all")
	require.Equal(t, a, mergeEntries(a, nil))
	require.Equal(t, ents(1, 4), mergeEntries(nil, ents(1, 4)))
	require.Equal(t, saved, a, "the node's array is never written")
}

func openWAL(t *testing.T) *wal.Storage {
	t.Helper()
	w, err := wal.Open(t.TempDir(), wal.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// The Readys that queued up during one fsync are written as one, with one
// fsync: later entries replace earlier ones, the last HardState wins.
func TestPersisterWritesABatchAsOne(t *testing.T) {
	w := openWAL(t)
	p := newPersister(w)
	before, _ := w.SyncStats()
	require.NoError(t, p.save([]saveRequest{
		{hs: raft.HardState{Term: 1, Commit: 1}, entries: ents(1, 1, 2, 3), sync: true},
		{hs: raft.HardState{Term: 2, Vote: 2, Commit: 2}, entries: ents(2, 3, 4), sync: true},
	}))
	after, _ := w.SyncStats()
	require.Equal(t, before+1, after, "one fsync for the batch")
	got, err := w.Entries(1, 5, 1<<20)
	require.NoError(t, err)
	require.Equal(t, append(ents(1, 1, 2), ents(2, 3, 4)...), got)
	hs, _, err := w.InitialState()
	require.NoError(t, err)
	require.Equal(t, raft.HardState{Term: 2, Vote: 2, Commit: 2}, hs)
}

// A HardState whose only change is the commit index is not written on its
// own: it goes with the next write that must reach the disk.
func TestPersisterHoldsBackACommitIndex(t *testing.T) {
	w := openWAL(t)
	p := newPersister(w)
	require.NoError(t, p.save([]saveRequest{{hs: raft.HardState{Term: 1, Commit: 1}, entries: ents(1, 1, 2), sync: true}}))
	syncs, _ := w.SyncStats()

	require.NoError(t, p.save([]saveRequest{{hs: raft.HardState{Term: 1, Commit: 2}}}))
	hs, _, _ := w.InitialState()
	require.Equal(t, uint64(1), hs.Commit, "held back")
	now, _ := w.SyncStats()
	require.Equal(t, syncs, now, "nothing written")

	require.NoError(t, p.save([]saveRequest{{entries: ents(1, 3), sync: true}}))
	hs, _, _ = w.InitialState()
	require.Equal(t, raft.HardState{Term: 1, Commit: 2}, hs, "written with the next entries")
}
