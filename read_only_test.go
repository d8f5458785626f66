package raft

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readOnlyTestLeader returns node 1 as the leader of cs, in ReadOnlySafe
// mode, with its log committed up to index 1.
func readOnlyTestLeader(t *testing.T, cs ConfState) *raft {
	t.Helper()
	ms := NewMemoryStorage()
	require.NoError(t, ms.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 1, Term: 1, ConfState: cs}}))
	r, err := newRaft(&Config{ID: 1, Storage: ms, MaxInflightMsgs: 256, Logger: DiscardLogger})
	require.NoError(t, err)
	r.becomeCandidate()
	r.becomeLeader()
	return r
}

// readOnlyTestRead starts a read of the local host with context ctx.
// Each read gets its own round: the heartbeat broadcast of the next Ready.
func readOnlyTestRead(r *raft, ctx string) {
	r.serveReadIndex(Message{Type: MsgReadIndex, Context: []byte(ctx)})
	r.flushBroadcasts()
}

// readOnlyTestCtxs returns the contexts of the answered reads, in order, and
// forgets them.
func readOnlyTestCtxs(r *raft) []string {
	var out []string
	for _, rs := range r.readStates {
		out = append(out, string(rs.RequestCtx))
	}
	r.readStates = nil
	return out
}

func TestReadOnlyConfirmReleasesInOrder(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3, 4, 5}})
	readOnlyTestRead(r, "a") // round 1, index 1
	r.raftLog.commitTo(2)
	readOnlyTestRead(r, "b") // round 2, index 2
	readOnlyTestRead(r, "c") // round 3, index 2
	assert.Equal(t, uint64(3), r.readOnly.round)
	require.Empty(t, r.readStates, "no read is answered before a quorum confirms it")

	// Each answer confirms the rounds up to the one it echoes; a read is
	// released once a quorum (3 of 5, the leader included) confirmed its
	// round.
	steps := []struct {
		from, round uint64
		want        []string
	}{
		{2, 2, nil},           // {1:3, 2:2}: no round confirmed by three nodes yet
		{3, 1, []string{"a"}}, // {1:3, 2:2, 3:1}: round 1 by three nodes
		{4, 3, []string{"b"}}, // {1:3, 2:2, 3:1, 4:3}: round 2 by three
		{5, 3, []string{"c"}},
	}
	for _, s := range steps {
		r.confirmReads(s.from, s.round)
		assert.Equal(t, s.want, readOnlyTestCtxs(r), "after %d confirmed round %d", s.from, s.round)
	}
	assert.Empty(t, r.readOnly.pending)
	assert.Empty(t, r.readOnly.pending, "nothing pending")
}

func TestReadOnlyAnswersCarryIndexAtRequest(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}})
	readOnlyTestRead(r, "a")
	r.raftLog.commitTo(2)
	readOnlyTestRead(r, "b")
	r.confirmReads(3, 2)
	require.Len(t, r.readStates, 2)
	assert.Equal(t, ReadState{Index: 1, RequestCtx: []byte("a")}, r.readStates[0])
	assert.Equal(t, ReadState{Index: 2, RequestCtx: []byte("b")}, r.readStates[1])
}

func TestReadOnlyStaleRoundIgnored(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3, 4, 5}})
	readOnlyTestRead(r, "a")
	readOnlyTestRead(r, "b")

	r.confirmReads(2, 2)
	// A delayed answer to an older heartbeat must not lower what node 2
	// confirmed.
	r.confirmReads(2, 1)
	assert.Equal(t, 2, int(r.readOnly.acked[2]))
	r.confirmReads(3, 2)
	assert.Equal(t, []string{"a", "b"}, readOnlyTestCtxs(r))
}

func TestReadOnlyRoundNotIssuedIgnored(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}})
	readOnlyTestRead(r, "a")
	require.Equal(t, uint64(1), r.readOnly.round)

	// No heartbeat ever carried round 5: the answer is bogus.
	r.confirmReads(2, 5)
	assert.Empty(t, r.readStates)
	assert.NotContains(t, r.readOnly.acked, uint64(2))

	readOnlyTestRead(r, "b")
	r.confirmReads(2, 2)
	assert.Equal(t, []string{"a", "b"}, readOnlyTestCtxs(r))
}

func TestReadOnlyNothingPendingIgnored(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}})
	assert.Empty(t, r.readOnly.pending)
	r.confirmReads(2, 0)
	r.confirmReads(2, 1)
	assert.Empty(t, r.readOnly.acked)
	assert.Empty(t, r.readStates)
}

func TestReadOnlyLearnersDoNotConfirm(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4, 5}})
	readOnlyTestRead(r, "a")
	r.confirmReads(4, 1)
	r.confirmReads(5, 1)
	assert.Empty(t, r.readStates)
	r.confirmReads(2, 1)
	assert.Equal(t, []string{"a"}, readOnlyTestCtxs(r))
}

func TestReadOnlyJointNeedsBothHalves(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 4, 5}})
	readOnlyTestRead(r, "a")
	r.confirmReads(2, 1)
	assert.Empty(t, r.readStates, "the outgoing half has not confirmed")
	r.confirmReads(4, 1)
	assert.Equal(t, []string{"a"}, readOnlyTestCtxs(r))
}

func TestReadOnlyReset(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}})
	readOnlyTestRead(r, "a")
	readOnlyTestRead(r, "b")
	r.readOnly.waiting = append(r.readOnly.waiting, Message{Type: MsgReadIndex, Context: []byte("w")})
	r.confirmReads(2, 1) // releases a
	require.Equal(t, []string{"a"}, readOnlyTestCtxs(r))

	r.readOnly.reset()
	assert.Empty(t, r.readOnly.pending)
	assert.Empty(t, r.readOnly.waiting)
	assert.Empty(t, r.readOnly.acked)
	r.confirmReads(2, 2)
	assert.Empty(t, r.readStates, "a dropped read is never answered")

	// Round numbers are never reused.
	readOnlyTestRead(r, "c")
	assert.Equal(t, uint64(3), r.readOnly.round)
	r.confirmReads(3, 2)
	assert.Empty(t, r.readStates, "an answer to a round before the reset confirms nothing after it")
	r.confirmReads(3, 3)
	assert.Equal(t, []string{"c"}, readOnlyTestCtxs(r))
}

func TestReadOnlyForwardedReadAnswered(t *testing.T) {
	r := readOnlyTestLeader(t, ConfState{Voters: []uint64{1, 2, 3}})
	r.msgs = nil
	r.serveReadIndex(Message{Type: MsgReadIndex, From: 3, Context: []byte("f")})
	r.flushBroadcasts()
	// The round starts with a heartbeat to each follower, carrying it.
	var rounds []uint64
	for _, m := range r.msgs {
		if m.Type == MsgHeartbeat {
			rounds = append(rounds, m.Index)
		}
	}
	assert.Equal(t, []uint64{1, 1}, rounds)
	r.msgs = nil

	r.confirmReads(2, 1)
	assert.Empty(t, r.readStates, "a follower's read is answered to the follower")
	require.Len(t, r.msgs, 1)
	m := r.msgs[0]
	assert.Equal(t, MsgReadIndexResp, m.Type)
	assert.Equal(t, uint64(3), m.To)
	assert.Equal(t, uint64(1), m.Index)
	assert.Equal(t, []byte("f"), m.Context)
}

// readOnlyTestStabilize runs the cluster like testCluster.stabilize and
// returns the ReadStates each node produced.
func readOnlyTestStabilize(c *testCluster) map[uint64][]ReadState {
	c.t.Helper()
	got := map[uint64][]ReadState{}
	for range 1000 {
		busy := false
		for _, id := range c.ids {
			got[id] = append(got[id], c.raft(id).readStates...)
			if c.handleReady(id) {
				busy = true
			}
		}
		if c.deliver() {
			busy = true
		}
		if !busy {
			return got
		}
	}
	c.t.Fatal("cluster did not stabilize")
	return nil
}

// TestReadOnlyInCluster runs reads end to end: on the leader, forwarded from
// a follower, with a reused context, and on a new leader that must first
// commit an entry of its term (§8).
func TestReadOnlyInCluster(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.propose(1, "x"))
	commit := c.raft(1).raftLog.committed

	c.nodes[1].rn.ReadIndex([]byte("same"))
	c.nodes[1].rn.ReadIndex([]byte("same"))
	c.nodes[2].rn.ReadIndex([]byte("follower"))
	got := readOnlyTestStabilize(c)
	assert.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("same")}, {Index: commit, RequestCtx: []byte("same")}}, got[1])
	assert.Equal(t, []ReadState{{Index: commit, RequestCtx: []byte("follower")}}, got[2])
	assert.Empty(t, got[3])

	// A new leader, asked before its first entry commits.
	require.NoError(t, c.nodes[2].rn.Campaign())
	for c.raft(2).state != StateLeader {
		busy := c.deliver()
		for _, id := range c.ids {
			if c.handleReady(id) {
				busy = true
			}
		}
		require.True(t, busy, "election stalled: %s", c.status(2))
	}
	require.Less(t, c.raft(2).raftLog.committed, c.raft(2).raftLog.lastIndex())
	c.nodes[2].rn.ReadIndex([]byte("new"))
	got = readOnlyTestStabilize(c)
	require.Len(t, got[2], 1)
	assert.Equal(t, c.raft(2).raftLog.lastIndex(), got[2][0].Index, "the read index includes the new leader's first entry")
	assert.Equal(t, []byte("new"), got[2][0].RequestCtx)
}
