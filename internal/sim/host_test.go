package sim

import (
	"testing"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/require"
)

func entries(base raft.Entry, terms ...uint64) logView {
	v := logView{base: base}
	for i, t := range terms {
		v.ents = append(v.ents, raft.Entry{Index: base.Index + 1 + uint64(i), Term: t})
	}
	return v
}

func TestOverlayFollowsMemoryStorage(t *testing.T) {
	v := entries(raft.Entry{Index: 2, Term: 1}, 1, 2, 2) // 3@1 4@2 5@2

	got, err := v.overlay(raft.Ready{Entries: []raft.Entry{{Index: 4, Term: 3}}})
	require.NoError(t, err)
	require.Equal(t, entries(raft.Entry{Index: 2, Term: 1}, 1, 3), got, "a write replaces the log from its first index on")

	got, err = v.overlay(raft.Ready{Entries: []raft.Entry{{Index: 2, Term: 1}, {Index: 3, Term: 1}, {Index: 4, Term: 2}, {Index: 5, Term: 2}, {Index: 6, Term: 2}}})
	require.NoError(t, err)
	require.Equal(t, entries(raft.Entry{Index: 2, Term: 1}, 1, 2, 2, 2), got, "entries at or below the base are ignored")

	got, err = v.overlay(raft.Ready{Snapshot: raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 9, Term: 4}}, Entries: []raft.Entry{{Index: 10, Term: 4}}})
	require.NoError(t, err)
	require.Equal(t, entries(raft.Entry{Index: 9, Term: 4}, 4), got, "a snapshot replaces the log")

	_, err = v.overlay(raft.Ready{Entries: []raft.Entry{{Index: 7, Term: 2}}})
	require.Error(t, err, "a gap")
}

func TestMatchLogs(t *testing.T) {
	a := entries(raft.Entry{}, 1, 1, 2, 3)
	require.NoError(t, matchLogs(a, entries(raft.Entry{}, 1, 1, 2, 4, 4)), "they differ only after the last common entry")
	require.NoError(t, matchLogs(a, entries(raft.Entry{Index: 3, Term: 2}, 3, 3)), "a compacted log matches on what both hold")
	require.Error(t, matchLogs(a, entries(raft.Entry{}, 1, 2, 2, 3)), "same 4@3 after different entries")

	b := entries(raft.Entry{}, 1, 1, 2, 3)
	b.ents[1].Data = []byte("x")
	require.Error(t, matchLogs(a, b), "same index and term, different data")
}

// TestCrashLosesWhatWasNotPersisted checks the disk model: a crash between
// sending a Ready's messages and persisting its writes loses the writes.
func TestCrashLosesWhatWasNotPersisted(t *testing.T) {
	s, err := New(Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, MaxInflightMsgs: 256})
	require.NoError(t, err)
	require.NoError(t, s.Do(Step{Op: OpCampaign, A: 0}))
	require.NoError(t, s.Do(Step{Op: OpReady, A: 0})) // take: votes sent
	require.Len(t, s.net, 2)
	hs, _, _ := s.nodes[1].disk.InitialState()
	require.Equal(t, uint64(1), hs.Term, "the new term is not persisted yet")

	require.NoError(t, s.Do(Step{Op: OpCrash, A: 0}))
	require.Empty(t, s.net, "messages from a crashed node are lost")
	require.NoError(t, s.Do(Step{Op: OpRestart, A: 0}))
	st := s.nodes[1].rn.BasicStatus()
	require.Equal(t, uint64(1), st.Term, "the term of the lost Ready is gone")

	// The restarted node applies its configuration again, then campaigns.
	require.NoError(t, s.Do(Step{Op: OpStabilize}))
	require.NoError(t, s.Do(Step{Op: OpCampaign, A: 0}))
	require.NoError(t, s.Do(Step{Op: OpStabilize}))
	require.Equal(t, uint64(1), s.leader().id)
	require.NoError(t, s.CheckLiveness())
}

// TestRestartReappliesTheSameSequence crashes a node that applied entries
// and a snapshot: it applies them again, and the checks compare each with
// what it applied before.
func TestRestartReappliesTheSameSequence(t *testing.T) {
	s, err := New(Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, MaxInflightMsgs: 256})
	require.NoError(t, err)
	s.SetTracing(true)
	steps := []Step{
		{OpCampaign, 0, 0}, {OpStabilize, 0, 0},
		{OpPropose, 0, 0}, {OpPropose, 1, 0}, {OpStabilize, 0, 0},
		{OpCompact, 1, 0}, // n2 snapshots
		{OpPropose, 0, 0}, {OpStabilize, 0, 0},
		{OpCrash, 1, 0}, {OpRestart, 0, 0}, {OpStabilize, 0, 0},
	}
	for _, st := range steps {
		require.NoError(t, s.Do(st), s.Report())
	}
	n2 := s.nodes[2]
	require.Equal(t, n2.maxApplied, n2.sm.index, s.Report())
	require.Equal(t, s.chk.seq[n2.sm.index].hash, n2.sm.hash)
	require.NoError(t, s.CheckLiveness(), s.Report())
}

// TestPipelinedHostTakesReadiesAhead checks the pipelining host: with
// PipelineDepth, OpReady with an odd B takes the next Ready before the
// last is persisted, and its messages go out at once; the Readys are
// then persisted and advanced in order, and the checks hold.
func TestPipelinedHostTakesReadiesAhead(t *testing.T) {
	s, err := New(Options{Nodes: 3, ElectionTick: 5, HeartbeatTick: 1, MaxInflightMsgs: 256, PipelineDepth: 2})
	require.NoError(t, err)
	s.SetTracing(true)
	require.NoError(t, s.Do(Step{Op: OpCampaign, A: 0}))
	require.NoError(t, s.Do(Step{Op: OpStabilize}))
	n1 := s.nodes[1]
	require.Equal(t, n1, s.leader(), s.Report())

	require.NoError(t, s.Do(Step{Op: OpPropose, A: 0}))
	require.NoError(t, s.Do(Step{Op: OpReady, A: 0, B: 1})) // takes the first
	require.NoError(t, s.Do(Step{Op: OpPropose, A: 0}))
	require.NoError(t, s.Do(Step{Op: OpReady, A: 0, B: 1})) // and the second
	require.Len(t, n1.readies, 2, s.Report())
	require.Equal(t, "sent+sent", n1.phase())
	require.NoError(t, s.Do(Step{Op: OpReady, A: 0, B: 1}), "no room for a third: the oldest moves on")
	require.Equal(t, "persisted+sent", n1.phase())

	apps := 0
	for _, e := range s.net {
		if e.m.Type == raft.MsgApp && e.m.From == 1 {
			apps++
		}
	}
	require.Equal(t, 4, apps, "each Ready's append went to both followers before its write: %s", s.Report())

	require.NoError(t, s.Do(Step{Op: OpStabilize}), s.Report())
	require.Empty(t, n1.readies)
	require.NoError(t, s.CheckLiveness(), s.Report())
}
