package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A leader that is the only voter of both halves of a joint configuration
// needs no one else to confirm a read, as a single-voter leader does not.
// Found by the simulator (internal/sim, seed 13407 with Options.Membership):
// the only voter of [1] entered the joint configuration [1]&[1] to add the
// learner 4, with an explicit leave; its read waited for heartbeat answers
// from other voters, of which there are none, and was never answered.
func TestReadIndexOnlyVoterOfJointConfig(t *testing.T) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 256, Logger: DiscardLogger})
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))
	var reads []ReadState
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			writeReady(t, s, rd)
			for _, e := range rd.CommittedEntries {
				if e.Type == EntryConfChange {
					var cc ConfChange
					require.NoError(t, cc.Unmarshal(e.Data))
					rn.ApplyConfChange(cc)
				}
			}
			reads = append(reads, rd.ReadStates...)
			rn.Advance(rd)
		}
	}
	handle()
	require.NoError(t, rn.Campaign())
	handle()
	require.Equal(t, StateLeader, rn.BasicStatus().RaftState)

	require.NoError(t, rn.ProposeConfChange(ConfChange{
		Transition: ConfChangeTransitionJointExplicit,
		Changes:    []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 2}},
	}))
	handle()
	cs := rn.Status().Config
	require.Equal(t, []uint64{1}, cs.Voters)
	require.Equal(t, []uint64{1}, cs.VotersOutgoing, "joint: [1]&[1], learner 2")

	rn.ReadIndex([]byte("r"))
	for range 20 { // two election timeouts of heartbeats to the learner, unanswered
		handle()
		rn.Tick()
	}
	handle()
	require.Len(t, reads, 1, "the only voter confirms its own read")
	require.Equal(t, rn.BasicStatus().Commit, reads[0].Index)
}
