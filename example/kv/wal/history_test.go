package wal

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Random histories of appends (with conflicts), hard states, snapshots
// taken and installed, and restarts, with small segments: after each
// restart the storage must read exactly as a MemoryStorage fed the same
// writes.
func TestRandomHistories(t *testing.T) {
	withPrepare(t)
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			segSize := int64(200 + rng.IntN(2000))
			s, _ := open(t, t.TempDir(), segSize)
			p := newPair(t, s)
			p.noSync = true
			withoutSyncs(s)
			term, commit := uint64(1), uint64(0)
			for range 150 {
				snap, _ := p.model.Snapshot()
				snapIndex := snap.Metadata.Index
				last, _ := p.model.LastIndex()
				switch r := rng.IntN(100); {
				case r < 55: // append, maybe replacing a suffix after the commit index
					if rng.IntN(4) == 0 {
						term++
					}
					from := last + 1
					if lo := max(commit, snapIndex) + 1; lo <= last && rng.IntN(3) == 0 {
						from = lo + uint64(rng.IntN(int(last-lo+1)))
					}
					n := uint64(1 + rng.IntN(8))
					hs := raft.HardState{}
					if rng.IntN(2) == 0 {
						hs = raft.HardState{Term: term, Vote: 1, Commit: commit}
					}
					p.save(hs, entries(from, from+n-1, term, rng.IntN(200)), raft.Snapshot{})
				case r < 70: // the commit index moves
					if last > commit {
						commit += uint64(1 + rng.IntN(int(last-commit)))
						hs := raft.HardState{Term: term, Vote: 1, Commit: commit}
						require.NoError(t, p.s.Save(hs, nil, raft.Snapshot{}, false))
						require.NoError(t, p.model.SetHardState(hs))
					}
				case r < 80: // a snapshot of the applied state
					if commit > snapIndex {
						i := snapIndex + 1 + uint64(rng.IntN(int(commit-snapIndex)))
						p.snapshot(i, &raft.ConfState{Voters: []uint64{1, i}}, []byte(fmt.Sprint("state at ", i)))
					}
				case r < 85: // the leader's snapshot replaces the log
					term++
					i := max(commit, snapIndex) + 1 + uint64(rng.IntN(20))
					commit = i
					snap := raft.Snapshot{
						Metadata: raft.SnapshotMetadata{ConfState: raft.ConfState{Voters: []uint64{i}}, Index: i, Term: term},
						Data:     []byte(fmt.Sprint("leader's state at ", i)),
					}
					p.save(raft.HardState{Term: term, Commit: commit}, nil, snap)
				default:
					p.reopen(segSize)
					p.check()
				}
			}
			p.reopen(segSize)
			p.check()
		})
	}
}

// The whole contract with the real core: a node that persists each Ready
// through Save, snapshots along the way, and restarts, comes back with
// everything it acknowledged and goes on.
func TestRawNodeRestart(t *testing.T) {
	withPrepare(t)
	dir := t.TempDir()
	s, _ := open(t, dir, 2048)
	n := newKVNode(t, s, 0)
	require.NoError(t, n.rn.Bootstrap([]raft.Peer{{ID: 1}}))
	n.handle()
	require.NoError(t, n.rn.Campaign())
	n.handle()
	require.Equal(t, raft.StateLeader, n.rn.Status().RaftState)
	var snapIndex uint64
	for i := range 60 {
		require.NoError(t, n.rn.Propose([]byte(fmt.Sprint("v", i))))
		n.handle()
		if i == 40 {
			_, err := s.CreateSnapshot(n.applied, &n.cs, []byte(strings.Join(n.values, ",")))
			require.NoError(t, err)
			snapIndex = n.applied
		}
	}
	want := n.values
	require.NoError(t, s.Close())

	s, _ = open(t, dir, 2048)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.Equal(t, snapIndex, snap.Metadata.Index)
	n = newKVNode(t, s, snapIndex)
	n.values = strings.Split(string(snap.Data), ",")
	n.handle() // the committed entries after the snapshot come again
	assert.Equal(t, want, n.values)

	require.NoError(t, n.rn.Campaign())
	n.handle()
	require.NoError(t, n.rn.Propose([]byte("after restart")))
	n.handle()
	assert.Equal(t, append(want, "after restart"), n.values)
}

// kvNode is a one-node host: a RawNode over a Storage, applying values to
// a list.
type kvNode struct {
	t       *testing.T
	rn      *raft.RawNode
	s       *Storage
	values  []string
	applied uint64
	cs      raft.ConfState
}

func newKVNode(t *testing.T, s *Storage, applied uint64) *kvNode {
	t.Helper()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: 1, Storage: s, Applied: applied, MaxInflightMsgs: 256, Logger: raft.DiscardLogger,
	})
	require.NoError(t, err)
	_, cs, err := s.InitialState()
	require.NoError(t, err)
	return &kvNode{t: t, rn: rn, s: s, applied: applied, cs: cs}
}

// handle runs the Ready loop until there is nothing left to do.
func (n *kvNode) handle() {
	n.t.Helper()
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		require.NoError(n.t, n.s.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync))
		for _, e := range rd.CommittedEntries {
			switch {
			case e.Type == raft.EntryConfChange:
				var cc raft.ConfChange
				require.NoError(n.t, cc.Unmarshal(e.Data))
				n.cs = *n.rn.ApplyConfChange(cc)
			case len(e.Data) > 0:
				n.values = append(n.values, string(e.Data))
			}
			n.applied = e.Index
		}
		n.rn.Advance(rd)
	}
}
