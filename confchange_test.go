package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/keelraft/raft/internal/quorum"
)

// confChangeTestNorm returns cs with every list sorted and nil lists made
// empty, so that ConfStates compare by content.
func confChangeTestNorm(cs ConfState) ConfState {
	norm := func(ids []uint64) []uint64 {
		out := append([]uint64{}, ids...)
		slices.Sort(out)
		return out
	}
	return ConfState{
		Voters:         norm(cs.Voters),
		Learners:       norm(cs.Learners),
		VotersOutgoing: norm(cs.VotersOutgoing),
		LearnersNext:   norm(cs.LearnersNext),
		AutoLeave:      cs.AutoLeave,
	}
}

// confChangeTestConfig builds a configuration from a ConfState the test
// knows to be valid.
func confChangeTestConfig(t interface {
	require.TestingT
	Helper()
}, cs ConfState) trackerConfig {
	t.Helper()
	cfg, err := configFromConfState(cs)
	require.NoError(t, err)
	return cfg
}

// confChangeTestCC returns a ConfChange with transition tr and one change
// per (type, id) pair.
func confChangeTestCC(tr ConfChangeTransition, changes ...ConfChangeSingle) ConfChange {
	return ConfChange{Transition: tr, Changes: changes}
}

func confChangeTestAdd(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeAddNode, NodeID: id}
}

func confChangeTestRemove(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeRemoveNode, NodeID: id}
}

func confChangeTestLearner(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeAddLearnerNode, NodeID: id}
}

// confChangeTestCase is one change of a configuration and what it must give.
type confChangeTestCase struct {
	name string
	from ConfState
	cc   ConfChange
	want ConfState
}

func confChangeTestRun(t *testing.T, tests []confChangeTestCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := confChangeTestConfig(t, tt.from)
			before := cfg.confState()
			next, err := changeConfig(cfg, tt.cc)
			require.NoError(t, err)
			assert.Equal(t, confChangeTestNorm(tt.want), confChangeTestNorm(next.confState()))
			assert.Equal(t, before, cfg.confState(), "changeConfig changed its input")
			assert.NoError(t, next.validate())
		})
	}
}

func TestConfChangeSimple(t *testing.T) {
	auto := ConfChangeTransitionAuto
	confChangeTestRun(t, []confChangeTestCase{
		{"bootstrap the first voter", ConfState{}, confChangeTestCC(auto, confChangeTestAdd(1)), ConfState{Voters: []uint64{1}}},
		{"add a voter", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestAdd(2)), ConfState{Voters: []uint64{1, 2}}},
		{"add a voter again", ConfState{Voters: []uint64{1, 2}}, confChangeTestCC(auto, confChangeTestAdd(2)), ConfState{Voters: []uint64{1, 2}}},
		{"remove a voter", ConfState{Voters: []uint64{1, 2, 3}}, confChangeTestCC(auto, confChangeTestRemove(3)), ConfState{Voters: []uint64{1, 2}}},
		{"remove a stranger", ConfState{Voters: []uint64{1, 2}}, confChangeTestCC(auto, confChangeTestRemove(9)), ConfState{Voters: []uint64{1, 2}}},
		{
			"add a learner", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestLearner(2)),
			ConfState{Voters: []uint64{1}, Learners: []uint64{2}},
		},
		{
			"promote a learner", ConfState{Voters: []uint64{1}, Learners: []uint64{2, 3}}, confChangeTestCC(auto, confChangeTestAdd(2)),
			ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}},
		},
		{
			"demote a voter", ConfState{Voters: []uint64{1, 2}}, confChangeTestCC(auto, confChangeTestLearner(2)),
			ConfState{Voters: []uint64{1}, Learners: []uint64{2}},
		},
		{
			"remove a learner", ConfState{Voters: []uint64{1}, Learners: []uint64{2}}, confChangeTestCC(auto, confChangeTestRemove(2)),
			ConfState{Voters: []uint64{1}},
		},
		{
			"add a learner again", ConfState{Voters: []uint64{1}, Learners: []uint64{2}}, confChangeTestCC(auto, confChangeTestLearner(2)),
			ConfState{Voters: []uint64{1}, Learners: []uint64{2}},
		},
	})
}

func TestConfChangeEnterJoint(t *testing.T) {
	auto := ConfChangeTransitionAuto
	implicit := ConfChangeTransitionJointImplicit
	explicit := ConfChangeTransitionJointExplicit
	v123 := ConfState{Voters: []uint64{1, 2, 3}}
	confChangeTestRun(t, []confChangeTestCase{
		{
			"auto with several changes", v123, confChangeTestCC(auto, confChangeTestAdd(4), confChangeTestRemove(3)),
			ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
		},
		{
			"implicit with one change", v123, confChangeTestCC(implicit, confChangeTestAdd(4)),
			ConfState{Voters: []uint64{1, 2, 3, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
		},
		{
			"explicit", v123, confChangeTestCC(explicit, confChangeTestAdd(4), confChangeTestAdd(5)),
			ConfState{Voters: []uint64{1, 2, 3, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}},
		},
		{
			"explicit with one change", v123, confChangeTestCC(explicit, confChangeTestRemove(1)),
			ConfState{Voters: []uint64{2, 3}, VotersOutgoing: []uint64{1, 2, 3}},
		},
		{
			"replace every voter", v123,
			confChangeTestCC(auto, confChangeTestAdd(4), confChangeTestAdd(5), confChangeTestAdd(6),
				confChangeTestRemove(1), confChangeTestRemove(2), confChangeTestRemove(3)),
			ConfState{Voters: []uint64{4, 5, 6}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
		},
		{
			// A demoted voter still votes in the outgoing half: it becomes a
			// learner only when the joint configuration is left.
			"demote a voter", v123, confChangeTestCC(explicit, confChangeTestLearner(3)),
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}},
		},
		{
			"demote a voter and add a learner", v123, confChangeTestCC(auto, confChangeTestLearner(3), confChangeTestLearner(4)),
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{4}, LearnersNext: []uint64{3}, AutoLeave: true},
		},
		{
			"demote, then promote again", v123, confChangeTestCC(auto, confChangeTestLearner(3), confChangeTestAdd(3)),
			ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
		},
		{
			"demote, then remove", v123, confChangeTestCC(auto, confChangeTestLearner(3), confChangeTestRemove(3)),
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
		},
		{
			"promote a learner", ConfState{Voters: []uint64{1}, Learners: []uint64{2}}, confChangeTestCC(implicit, confChangeTestAdd(2)),
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1}, AutoLeave: true},
		},
		{
			"remove a learner", ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}},
			confChangeTestCC(auto, confChangeTestRemove(3), confChangeTestAdd(4)),
			ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2}, AutoLeave: true},
		},
	})
}

func TestConfChangeLeaveJoint(t *testing.T) {
	leave := ConfChange{}
	confChangeTestRun(t, []confChangeTestCase{
		{
			"learners next become learners",
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{5}, LearnersNext: []uint64{3}, AutoLeave: true},
			leave,
			ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3, 5}},
		},
		{
			"removed voters leave",
			ConfState{Voters: []uint64{4, 5, 6}, VotersOutgoing: []uint64{1, 2, 3}},
			leave,
			ConfState{Voters: []uint64{4, 5, 6}},
		},
		{
			"context is ignored",
			ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1}, AutoLeave: true},
			ConfChange{Context: []byte("ctx")},
			ConfState{Voters: []uint64{1, 2}},
		},
	})
}

func TestConfChangeInvalid(t *testing.T) {
	auto := ConfChangeTransitionAuto
	implicit := ConfChangeTransitionJointImplicit
	explicit := ConfChangeTransitionJointExplicit
	joint := ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, Learners: []uint64{4}, AutoLeave: true}
	tests := []struct {
		name string
		from ConfState
		cc   ConfChange
	}{
		// A configuration without voters can elect no leader: the cluster
		// would be dead for good.
		{"remove the last voter", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestRemove(1))},
		{"remove the last voter, learners left", ConfState{Voters: []uint64{1}, Learners: []uint64{2}}, confChangeTestCC(auto, confChangeTestRemove(1))},
		{"demote the last voter", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestLearner(1))},
		{"remove every voter, joint", ConfState{Voters: []uint64{1, 2}}, confChangeTestCC(auto, confChangeTestRemove(1), confChangeTestRemove(2))},
		{"demote every voter, joint", ConfState{Voters: []uint64{1, 2}}, confChangeTestCC(explicit, confChangeTestLearner(1), confChangeTestLearner(2))},
		{"leave when not joint", ConfState{Voters: []uint64{1, 2}}, ConfChange{}},
		{"enter joint while joint", joint, confChangeTestCC(explicit, confChangeTestAdd(5))},
		{"enter joint while joint, auto", joint, confChangeTestCC(auto, confChangeTestAdd(5), confChangeTestAdd(6))},
		{"simple change while joint", joint, confChangeTestCC(auto, confChangeTestAdd(5))},
		{"node ID 0, voter", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestAdd(0))},
		{"node ID 0, learner", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestLearner(0))},
		{"node ID 0, removal", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestRemove(0))},
		{"node ID 0, joint", ConfState{Voters: []uint64{1}}, confChangeTestCC(implicit, confChangeTestAdd(2), confChangeTestAdd(0))},
		{"unknown change type", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, ConfChangeSingle{Type: 7, NodeID: 2})},
		{"unknown change type, joint", ConfState{Voters: []uint64{1}}, confChangeTestCC(auto, confChangeTestAdd(2), ConfChangeSingle{Type: 3, NodeID: 3})},
		// A transition no constant names is not a joint change to guess at.
		{"unknown transition", ConfState{Voters: []uint64{1}}, confChangeTestCC(9, confChangeTestAdd(2))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := confChangeTestConfig(t, tt.from)
			before := cfg.confState()
			got, err := changeConfig(cfg, tt.cc)
			require.ErrorIs(t, err, ErrInvalidConfChange, "changeConfig accepted it, giving %s", got)
			assert.Equal(t, before, got.confState(), "an invalid change must return the configuration unchanged")
			assert.Equal(t, before, cfg.confState(), "changeConfig changed its input")
		})
	}
}

// TestConfChangeSimpleChangesOneVoter checks the rule that makes the simple
// protocol safe (§6, thesis §4.1): old and new majorities overlap only if
// at most one voter changes. A ConfChange with one change always obeys it;
// symmetricDifference is what enforces it.
func TestConfChangeSimpleChangesOneVoter(t *testing.T) {
	tests := []struct {
		a, b []uint64
		want int
	}{
		{nil, nil, 0},
		{[]uint64{1, 2, 3}, []uint64{1, 2, 3}, 0},
		{[]uint64{1, 2, 3}, []uint64{1, 2, 3, 4}, 1},
		{[]uint64{1, 2, 3}, []uint64{1, 2}, 1},
		{[]uint64{1, 2, 3}, []uint64{1, 2, 4}, 2},
		{[]uint64{1, 2, 3}, []uint64{4, 5, 6}, 6},
		{nil, []uint64{1, 2}, 2},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, symmetricDifference(progressTestSet(tt.a...), progressTestSet(tt.b...)), "%v vs %v", tt.a, tt.b)
		assert.Equal(t, tt.want, symmetricDifference(progressTestSet(tt.b...), progressTestSet(tt.a...)), "%v vs %v", tt.b, tt.a)
	}
}

func TestConfChangeConfigFromConfStateRejectsInvalid(t *testing.T) {
	tests := []struct {
		name string
		cs   ConfState
	}{
		{"voter and learner", ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}}},
		{"outgoing voter and learner", ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 2}, Learners: []uint64{2}, AutoLeave: true}},
		{"learner next not an outgoing voter", ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}, LearnersNext: []uint64{2}}},
		{"learner next and incoming voter", ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2}, LearnersNext: []uint64{2}}},
		{"learners next outside joint", ConfState{Voters: []uint64{1}, LearnersNext: []uint64{2}}},
		{"auto leave outside joint", ConfState{Voters: []uint64{1}, AutoLeave: true}},
		{"outgoing voters only", ConfState{VotersOutgoing: []uint64{1}}},
		{"learners only", ConfState{Learners: []uint64{1}}},
		{"node ID 0, voter", ConfState{Voters: []uint64{0, 1}}},
		{"node ID 0, learner", ConfState{Voters: []uint64{1}, Learners: []uint64{0}}},
		{"node ID 0, outgoing", ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{0}}},
		{"node ID 0, learner next", ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 0}, LearnersNext: []uint64{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configFromConfState(tt.cs)
			require.ErrorIs(t, err, ErrInvalidConfChange)
		})
	}

	// The empty configuration is valid: a node that has not bootstrapped.
	cfg, err := configFromConfState(ConfState{})
	require.NoError(t, err)
	assert.False(t, cfg.joint())
	assert.Empty(t, cfg.Voters[0])
}

// confChangeTestGenConfState draws a valid ConfState over node IDs 1..9.
func confChangeTestGenConfState(t *rapid.T) ConfState {
	var cs ConfState
	joint := rapid.Bool().Draw(t, "joint")
	for id := uint64(1); id <= 9; id++ {
		// 0: none, 1: incoming voter, 2: learner, 3: outgoing voter,
		// 4: voter in both halves, 5: learner next (outgoing voter).
		roles := 3
		if joint {
			roles = 6
		}
		switch rapid.IntRange(0, roles-1).Draw(t, fmt.Sprintf("role%d", id)) {
		case 1:
			cs.Voters = append(cs.Voters, id)
		case 2:
			cs.Learners = append(cs.Learners, id)
		case 3:
			cs.VotersOutgoing = append(cs.VotersOutgoing, id)
		case 4:
			cs.Voters = append(cs.Voters, id)
			cs.VotersOutgoing = append(cs.VotersOutgoing, id)
		case 5:
			cs.VotersOutgoing = append(cs.VotersOutgoing, id)
			cs.LearnersNext = append(cs.LearnersNext, id)
		}
	}
	if len(cs.Voters) == 0 {
		// Every non-empty configuration has an incoming voter.
		cs.Voters = []uint64{10}
	}
	cs.AutoLeave = len(cs.VotersOutgoing) > 0 && rapid.Bool().Draw(t, "autoLeave")
	return cs
}

func TestConfChangeConfStateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cs := confChangeTestGenConfState(t)
		cfg, err := configFromConfState(cs)
		require.NoError(t, err)
		require.Equal(t, confChangeTestNorm(cs), cfg.confState())
		require.Equal(t, len(cs.VotersOutgoing) > 0, cfg.joint())
		again, err := configFromConfState(cfg.confState())
		require.NoError(t, err)
		require.Equal(t, cfg.confState(), again.confState())
		for _, id := range slices.Concat(cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext) {
			require.True(t, cfg.has(id))
		}
		require.False(t, cfg.has(11))
	})
}

// confChangeTestMajority computes by brute force the largest index that a
// majority of voters acknowledged: the largest m such that more than half of
// them have match >= m. An empty half does not constrain.
func confChangeTestMajority(voters []uint64, match map[uint64]uint64) uint64 {
	if len(voters) == 0 {
		return ^uint64(0)
	}
	var best uint64
	for _, candidate := range match {
		n := 0
		for _, id := range voters {
			if match[id] >= candidate {
				n++
			}
		}
		if 2*n > len(voters) {
			best = max(best, candidate)
		}
	}
	return best
}

// confChangeTestVote decides an election in one half by brute force.
func confChangeTestVote(voters []uint64, votes map[uint64]bool) quorum.VoteResult {
	if len(voters) == 0 {
		return quorum.VoteWon
	}
	yes, no := 0, 0
	for _, id := range voters {
		if v, ok := votes[id]; ok {
			if v {
				yes++
			} else {
				no++
			}
		}
	}
	switch {
	case 2*yes > len(voters):
		return quorum.VoteWon
	case 2*(len(voters)-no) <= len(voters):
		return quorum.VoteLost
	}
	return quorum.VotePending
}

// TestConfChangeJointQuorumProperties checks, for random joint
// configurations, match indexes and votes, that the tracker commits exactly
// what a majority of each half holds, and that elections need a majority of
// each half (§6).
func TestConfChangeJointQuorumProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cs := confChangeTestGenConfState(t)
		trk := progressTestTracker(confChangeTestConfig(t, cs))
		match := map[uint64]uint64{}
		votes := map[uint64]bool{}
		for _, id := range trk.ids {
			m := rapid.Uint64Range(0, 20).Draw(t, fmt.Sprintf("match%d", id))
			trk.progress[id].Match = m
			match[id] = m
			if v := rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("vote%d", id)); v > 0 {
				trk.recordVote(id, v == 1)
				votes[id] = v == 1
			}
		}
		// Votes of strangers change nothing.
		trk.recordVote(100, true)

		in := confChangeTestMajority(cs.Voters, match)
		out := confChangeTestMajority(cs.VotersOutgoing, match)
		require.Equal(t, min(in, out), trk.committed())

		rIn, rOut := confChangeTestVote(cs.Voters, votes), confChangeTestVote(cs.VotersOutgoing, votes)
		want := quorum.VotePending
		switch {
		case rIn == quorum.VoteWon && rOut == quorum.VoteWon:
			want = quorum.VoteWon
		case rIn == quorum.VoteLost || rOut == quorum.VoteLost:
			want = quorum.VoteLost
		}
		granted, rejected, result := trk.tallyVotes()
		require.Equal(t, want, result)
		voters := map[uint64]bool{}
		for _, id := range slices.Concat(cs.Voters, cs.VotersOutgoing) {
			voters[id] = true
		}
		wantGranted, wantRejected := 0, 0
		for id, v := range votes {
			switch {
			case !voters[id]:
			case v:
				wantGranted++
			default:
				wantRejected++
			}
		}
		require.Equal(t, wantGranted, granted)
		require.Equal(t, wantRejected, rejected)
	})
}

// TestConfChangeSequenceProperties applies random changes to a valid
// configuration and checks that changeConfig never changes its input, that a
// refused change returns the configuration as it was, and that an accepted
// one is valid, keeps at least one voter, and is joint exactly when it should
// be.
func TestConfChangeSequenceProperties(t *testing.T) {
	genSingle := rapid.Custom(func(t *rapid.T) ConfChangeSingle {
		return ConfChangeSingle{
			Type:   rapid.SampledFrom([]ConfChangeType{ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeAddLearnerNode}).Draw(t, "type"),
			NodeID: rapid.Uint64Range(1, 6).Draw(t, "id"),
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		cfg := confChangeTestConfig(t, ConfState{Voters: []uint64{1}})
		for step := range 30 {
			cc := ConfChange{
				Transition: rapid.SampledFrom([]ConfChangeTransition{ConfChangeTransitionAuto, ConfChangeTransitionJointImplicit, ConfChangeTransitionJointExplicit}).Draw(t, "transition"),
				Changes:    rapid.SliceOfN(genSingle, 0, 3).Draw(t, "changes"),
			}
			before := cfg.confState()
			next, err := changeConfig(cfg, cc)
			require.Equal(t, before, cfg.confState(), "step %d: input changed", step)
			if err != nil {
				require.ErrorIs(t, err, ErrInvalidConfChange)
				require.Equal(t, before, next.confState(), "step %d: refused change returned another configuration", step)
				continue
			}
			require.NoError(t, next.validate())
			require.NotEmpty(t, next.Voters[0], "step %d: %+v accepted with no voter left: %s -> %s", step, cc, cfg, next)
			switch {
			case cc.leavesJoint():
				require.False(t, next.joint())
				require.False(t, next.AutoLeave)
				require.Equal(t, cfg.Voters[0], next.Voters[0], "leaving keeps the incoming voters")
			case cc.entersJoint():
				require.True(t, next.joint(), "step %d", step)
				require.Equal(t, cfg.Voters[0], next.Voters[1], "the outgoing half is the old configuration")
				require.Equal(t, cc.Transition != ConfChangeTransitionJointExplicit, next.AutoLeave)
			default:
				require.False(t, next.joint())
				require.LessOrEqual(t, symmetricDifference(cfg.Voters[0], next.Voters[0]), 1)
			}
			// The configuration survives a round trip through ConfState,
			// as it does through a snapshot.
			again, err := configFromConfState(next.confState())
			require.NoError(t, err)
			require.Equal(t, next.confState(), again.confState())
			cfg = next
		}
	})
}

// TestConfChangeProposePending checks that a leader takes one configuration
// change at a time: a second one is refused until the first is applied.
func TestConfChangeProposePending(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	rn := c.nodes[1].rn

	require.NoError(t, rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(4))))
	err := rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(5)))
	require.ErrorIs(t, err, ErrConfChangePending)
	require.ErrorIs(t, err, ErrProposalDropped)
	// Ordinary proposals still go through.
	require.NoError(t, rn.Propose([]byte("data")))

	c.stabilize()
	for _, id := range c.ids {
		assert.Equal(t, []uint64{1, 2, 3, 4}, c.nodes[id].confState.Voters, "node %d", id)
	}
	assert.Equal(t, []string{"data"}, c.appliedData(1))

	// Applied: the next change is taken.
	require.NoError(t, rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestRemove(4))))
	c.stabilize()
	for _, id := range c.ids {
		assert.Equal(t, []uint64{1, 2, 3}, c.nodes[id].confState.Voters, "node %d", id)
	}
	assert.Equal(t, []uint64{1, 2, 3}, c.status(1).Config.Voters)
}

// TestConfChangeProposeInvalid checks that the leader refuses a change that
// breaks a membership rule before it reaches the log.
func TestConfChangeProposeInvalid(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	rn := c.nodes[1].rn
	last := c.raft(1).raftLog.lastIndex()
	for _, cc := range []ConfChange{
		{},
		confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(0)),
		confChangeTestCC(ConfChangeTransitionAuto, ConfChangeSingle{Type: 9, NodeID: 4}),
	} {
		err := rn.ProposeConfChange(cc)
		require.ErrorIs(t, err, ErrInvalidConfChange, "%+v", cc)
	}
	assert.Equal(t, last, c.raft(1).raftLog.lastIndex(), "a refused change reached the log")
}

// TestConfChangeApplyInvalid checks that applying a change that breaks a
// rule leaves the configuration as it was, on every node alike.
func TestConfChangeApplyInvalid(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	rn := c.nodes[2].rn
	before := rn.Status().Config
	for _, cc := range []ConfChange{
		{},
		confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(0)),
		confChangeTestCC(ConfChangeTransitionAuto, ConfChangeSingle{Type: 9, NodeID: 4}),
		confChangeTestCC(ConfChangeTransitionAuto, confChangeTestRemove(1), confChangeTestRemove(2), confChangeTestRemove(3)),
	} {
		cs := rn.ApplyConfChange(cc)
		require.NotNil(t, cs)
		assert.Equal(t, confChangeTestNorm(before), confChangeTestNorm(*cs), "%+v", cc)
		assert.Equal(t, confChangeTestNorm(before), confChangeTestNorm(rn.Status().Config))
	}
	// A valid one still applies.
	cs := rn.ApplyConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestLearner(4)))
	assert.Equal(t, []uint64{4}, cs.Learners)
}

// TestConfChangeJointInCluster runs joint consensus end to end: with
// AutoLeave the leader leaves the joint configuration by itself; with an
// explicit transition it stays joint until the host proposes the empty
// change.
func TestConfChangeJointInCluster(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	rn := c.nodes[1].rn

	require.NoError(t, rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(4), confChangeTestLearner(5))))
	c.stabilize()
	for _, id := range c.ids {
		assert.Equal(t, confChangeTestNorm(ConfState{Voters: []uint64{1, 2, 3, 4}, Learners: []uint64{5}}),
			confChangeTestNorm(c.nodes[id].confState), "node %d", id)
	}

	require.NoError(t, rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionJointExplicit, confChangeTestRemove(4), confChangeTestLearner(3))))
	c.stabilize()
	want := ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3, 4}, Learners: []uint64{5}, LearnersNext: []uint64{3}}
	for _, id := range c.ids {
		assert.Equal(t, confChangeTestNorm(want), confChangeTestNorm(c.nodes[id].confState), "node %d", id)
	}
	// Proposals still commit: a majority of both halves ({1 2} and
	// {1 2 3 4}) is up.
	require.NoError(t, c.propose(1, "joint"))
	assert.Equal(t, []string{"joint"}, c.appliedData(3))

	require.NoError(t, rn.ProposeConfChange(ConfChange{}))
	c.stabilize()
	for _, id := range c.ids {
		assert.Equal(t, confChangeTestNorm(ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3, 5}}),
			confChangeTestNorm(c.nodes[id].confState), "node %d", id)
	}
	assert.True(t, c.raft(3).isLearner)
}

// TestConfChangeErrorsSayWhy checks that a refusal names the rule broken.
func TestConfChangeErrorsSayWhy(t *testing.T) {
	v1 := confChangeTestConfig(t, ConfState{Voters: []uint64{1}})
	joint := confChangeTestConfig(t, ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 2}})
	tests := []struct {
		cfg  trackerConfig
		cc   ConfChange
		want string
	}{
		{v1, ConfChange{}, "not joint"},
		{joint, confChangeTestCC(ConfChangeTransitionJointExplicit, confChangeTestAdd(3)), "already joint"},
		{joint, confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(3)), "while"},
		{v1, confChangeTestCC(ConfChangeTransitionAuto, confChangeTestAdd(0)), "node ID 0"},
		{v1, confChangeTestCC(ConfChangeTransitionAuto, ConfChangeSingle{Type: 7, NodeID: 2}), "unknown change type ConfChangeType(7)"},
	}
	for _, tt := range tests {
		_, err := changeConfig(tt.cfg, tt.cc)
		require.Error(t, err)
		assert.True(t, errors.Is(err, ErrInvalidConfChange))
		assert.Contains(t, err.Error(), tt.want)
	}
}

// TestConfChangeLeaderRefusesInvalidForwarded checks the leader's own check
// of a configuration change it is handed as a raw proposal (as a follower
// forwards it): undecodable or invalid changes never reach the log.
func TestConfChangeLeaderRefusesInvalidForwarded(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	last := c.raft(1).raftLog.lastIndex()
	leave, err := ConfChange{}.Marshal()
	require.NoError(t, err)
	for _, data := range [][]byte{[]byte{0xc1}, leave} {
		err := c.nodes[1].rn.Step(Message{Type: MsgProp, From: 2, Entries: []Entry{{Type: EntryConfChange, Data: data}}})
		require.ErrorIs(t, err, ErrProposalDropped)
		require.ErrorIs(t, err, ErrInvalidConfChange)
	}
	assert.Equal(t, last, c.raft(1).raftLog.lastIndex())
}

// TestConfChangeRemoveLeaderThroughJoint checks that a leader removed by a
// joint change keeps leading while it is an outgoing voter, and steps down
// once the joint configuration is left; the rest elect a new leader.
func TestConfChangeRemoveLeaderThroughJoint(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionJointImplicit, confChangeTestRemove(1))))
	c.stabilize()
	for _, id := range c.ids {
		assert.Equal(t, confChangeTestNorm(ConfState{Voters: []uint64{2, 3}}), confChangeTestNorm(c.nodes[id].confState), "node %d", id)
	}
	assert.Equal(t, StateFollower, c.raft(1).state, "a leader that votes in neither half steps down")

	c.campaign(2)
	assert.Equal(t, StateLeader, c.raft(2).state)
	require.NoError(t, c.propose(2, "after"))
	assert.Equal(t, []string{"after"}, c.appliedData(3))
}

// TestConfChangeRemovalCommitsPending checks that shrinking the quorum
// commits what the remaining voters already hold: once node 2 is removed,
// the leader alone is a quorum of {1}.
func TestConfChangeRemovalCommitsPending(t *testing.T) {
	c := newTestCluster(t, 2)
	c.campaign(1)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestRemove(2))))
	// Replicate the change to node 2 and queue its acknowledgement, without
	// applying anything yet.
	for range 3 {
		c.handleReady(1)
		c.handleReady(2)
		c.deliver()
	}
	require.NoError(t, c.nodes[1].rn.Propose([]byte("d")))
	// From now on node 2 is not heard from: "d" can commit only by the
	// configuration change.
	c.isolate(2)
	c.stabilize()
	assert.Equal(t, []uint64{1}, c.nodes[1].confState.Voters)
	assert.Equal(t, []string{"d"}, c.appliedData(1))
}

// TestConfChangeRemovingTransfereeAbortsTransfer checks that a leadership
// transfer to a node that the configuration no longer counts as a voter is
// abandoned, so proposals are taken again.
func TestConfChangeRemovingTransfereeAbortsTransfer(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(confChangeTestCC(ConfChangeTransitionAuto, confChangeTestRemove(3))))
	c.nodes[1].rn.TransferLeader(3)
	require.Equal(t, uint64(3), c.raft(1).leadTransferee)
	c.stabilize()
	assert.Equal(t, []uint64{1, 2}, c.nodes[1].confState.Voters)
	assert.Equal(t, None, c.raft(1).leadTransferee)
	assert.Equal(t, StateLeader, c.raft(1).state)
	require.NoError(t, c.propose(1, "x"))
	assert.Equal(t, []string{"x"}, c.appliedData(2))
}

// TestConfChangeSnapshotWithInvalidConfStateIgnored checks that a follower
// refuses a snapshot whose configuration breaks a membership rule (here a
// node that is both voter and learner) instead of installing it.
func TestConfChangeSnapshotWithInvalidConfStateIgnored(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	r := c.raft(2)
	before := c.status(2).Config
	last := r.raftLog.lastIndex()
	snap := Snapshot{Metadata: SnapshotMetadata{
		Index:     last + 10,
		Term:      r.Term,
		ConfState: ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{2}},
	}}
	require.NoError(t, c.nodes[2].rn.Step(Message{Type: MsgSnap, From: 1, To: 2, Term: r.Term, Snapshot: &snap}))
	assert.Nil(t, r.raftLog.unstable.snapshot)
	assert.Equal(t, last, r.raftLog.lastIndex())
	assert.Equal(t, confChangeTestNorm(before), confChangeTestNorm(c.status(2).Config))
}
