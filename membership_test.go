package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func addVoter(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeAddNode, NodeID: id}
}

func addLearner(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeAddLearnerNode, NodeID: id}
}

func removeNode(id uint64) ConfChangeSingle {
	return ConfChangeSingle{Type: ConfChangeRemoveNode, NodeID: id}
}

func simpleChange(ch ConfChangeSingle) ConfChange { return ConfChange{Changes: []ConfChangeSingle{ch}} }

// reconnect restores every link to and from id.
func (c *smCluster) reconnect(id uint64) {
	for link := range c.cut {
		if link[0] == id || link[1] == id {
			delete(c.cut, link)
		}
	}
}

// requireConfStates checks the configuration in force on each of ids, as
// the node reports it and as its host applied it.
func (c *smCluster) requireConfStates(want ConfState, ids ...uint64) {
	c.t.Helper()
	for _, id := range ids {
		requireConfState(c.t, want, c.status(id).Config, "node %d", id)
		requireConfState(c.t, want, c.nodes[id].confState, "host of node %d", id)
	}
}

// requireCommitNeeds proves that the ack of id is needed for leader lead to
// commit: with id cut off (as well as whatever is cut already) a proposal
// stays uncommitted, and reconnecting id alone commits it.
func (c *smCluster) requireCommitNeeds(lead, id uint64, data string) {
	c.t.Helper()
	c.isolate(id)
	commit := c.committed(lead)
	require.NoError(c.t, c.propose(lead, data))
	c.tick(lead, 3)
	require.Equal(c.t, commit, c.committed(lead), "committed without %d", id)
	c.reconnect(id)
	c.tick(lead, 3)
	require.Greater(c.t, c.committed(lead), commit, "not committed with %d back", id)
	require.Equal(c.t, data, c.appliedData(lead)[len(c.appliedData(lead))-1])
}

// §6: a new, empty node added as a voter catches up (through a snapshot, the
// log it needs being compacted) and then its acknowledgements count toward
// commitment.
func TestMembershipAddVoterCatchesUpAndCounts(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.proposeN(1, "v", 10)
	c.compact(1)
	c.addNode(4, nil)
	c.isolate(4)
	require.NoError(t, c.proposeConfChange(1, simpleChange(addVoter(4))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 1, 2, 3)
	// The host snapshots often enough that its latest snapshot knows 4.
	snapIndex := c.compact(1)

	c.reconnect(4)
	require.Equal(t, 1, c.countSent(isMsg(MsgSnap, 4), func() { c.tick(1, 3) }))
	require.Equal(t, snapIndex, c.nodes[4].storage.snapshot.Metadata.Index)
	c.requireConverged(1, 2, 3, 4)
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 4)
	require.Len(t, c.appliedData(4), 10)

	// With 2 cut off, 1 and 3 are not a majority of four: 4's ack decides.
	c.isolate(2)
	c.requireCommitNeeds(1, 4, "x")
	c.requireConverged(1, 3, 4)
}

// §6: a removed follower no longer counts, nor gets entries; having applied
// its removal it never campaigns.
func TestMembershipRemoveFollower(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.proposeConfChange(1, simpleChange(removeNode(3))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2}}, 1, 2, 3)
	require.NotContains(t, c.status(1).Progress, uint64(3))

	term := c.raft(3).Term
	sent := c.countSent(func(m Message) bool { return m.To == 3 }, func() {
		c.proposeN(1, "v", 3)
		c.tick(1, 5)
	})
	require.Zero(t, sent, "nothing is sent to a removed node")
	require.Len(t, c.appliedData(2), 3)
	c.tick(3, 100)
	require.Equal(t, StateFollower, c.raft(3).state)
	require.Equal(t, term, c.raft(3).Term)

	// Two voters: both are needed.
	c.requireCommitNeeds(1, 2, "x")
}

// §6: a leader removed from the configuration steps down once it applies the
// change; the remaining voters elect a leader among them and go on.
func TestMembershipRemoveLeader(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.proposeConfChange(1, simpleChange(removeNode(1))))
	c.requireConfStates(ConfState{Voters: []uint64{2, 3}}, 1, 2, 3)
	require.Equal(t, StateFollower, c.raft(1).state)
	require.Equal(t, None, c.leader())
	require.ErrorIs(t, c.propose(1, "refused"), ErrProposalDropped)

	c.tickAll(40)
	lead := c.leader()
	require.Contains(t, []uint64{2, 3}, lead)
	require.Equal(t, StateFollower, c.raft(1).state, "the removed node never campaigns")
	c.proposeN(lead, "v", 3)
	c.requireConverged(2, 3)
	require.Equal(t, []string{"v0", "v1", "v2"}, c.appliedData(lead))
}

// §6, joint consensus: replacing two of three voters at once goes through
// the joint configuration (old and new voters), which decides only with a
// majority of each. A partition during the joint phase shows it: neither
// the old majority nor the new one commits anything alone, though each
// holds every entry. After healing, the joint configuration is left
// automatically, and only the new voters count.
func TestMembershipJointReplaceTwoVotersWithPartition(t *testing.T) {
	for _, tc := range []struct {
		name          string
		with, without []uint64
	}{
		{"old majority alone", []uint64{1, 2, 3}, []uint64{4, 5}},
		{"new majority alone", []uint64{1, 4, 5}, []uint64{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMCluster(t, 3)
			c.campaign(1)
			c.addNode(4, nil)
			c.addNode(5, nil)
			cc := ConfChange{Changes: []ConfChangeSingle{addVoter(4), addVoter(5), removeNode(2), removeNode(3)}}
			require.NoError(t, c.nodes[1].rn.ProposeConfChange(cc))
			// Partition as soon as the leader is joint: the entry that
			// leaves the joint configuration is on its way already.
			require.True(t, c.runUntil(func() bool { return c.raft(1).trk.config.joint() }))
			c.partition(tc.with, tc.without)
			joint := ConfState{Voters: []uint64{1, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true}
			requireConfState(t, joint, c.status(1).Config)
			commit := c.committed(1)

			require.NoError(t, c.propose(1, "x"))
			c.tick(1, 10)
			for _, id := range tc.with[1:] {
				require.Equal(t, c.lastIndex(1), c.progress(1, id).Match, "%d holds every entry", id)
			}
			for _, id := range c.ids {
				require.LessOrEqual(t, c.committed(id), commit, "node %d", id)
			}
			requireConfState(t, joint, c.status(1).Config)

			c.heal()
			c.tick(1, 3)
			c.requireConfStates(ConfState{Voters: []uint64{1, 4, 5}}, 1, 4, 5)
			c.requireConverged(1, 4, 5)
			require.Equal(t, []string{"x"}, c.appliedData(4))

			// Leader 1 and 4 are a majority of the new voters.
			c.isolate(5)
			c.requireCommitNeeds(1, 4, "y")
		})
	}
}

// A change with Transition JointImplicit (even of one node) goes through a
// joint configuration and leaves it by itself; JointExplicit stays joint,
// however long, until the host proposes the empty ConfChange.
func TestMembershipJointTransitions(t *testing.T) {
	t.Run("implicit leaves by itself", func(t *testing.T) {
		c := newSMCluster(t, 3)
		c.campaign(1)
		c.addNode(4, nil)
		cc := ConfChange{Transition: ConfChangeTransitionJointImplicit, Changes: []ConfChangeSingle{addVoter(4)}}
		require.NoError(t, c.nodes[1].rn.ProposeConfChange(cc))
		require.True(t, c.runUntil(func() bool { return c.raft(1).trk.config.joint() }))
		requireConfState(t, ConfState{Voters: []uint64{1, 2, 3, 4}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true}, c.status(1).Config)
		c.stabilize()
		c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 1, 2, 3, 4)
	})
	t.Run("explicit stays until left", func(t *testing.T) {
		c := newSMCluster(t, 3)
		c.campaign(1)
		c.addNode(4, nil)
		cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{addVoter(4)}}
		require.NoError(t, c.proposeConfChange(1, cc))
		joint := ConfState{Voters: []uint64{1, 2, 3, 4}, VotersOutgoing: []uint64{1, 2, 3}}
		c.requireConfStates(joint, 1, 2, 3, 4)
		c.proposeN(1, "v", 3)
		c.tick(1, 50)
		c.requireConfStates(joint, 1, 2, 3, 4)

		require.NoError(t, c.proposeConfChange(1, ConfChange{}))
		c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 1, 2, 3, 4)
		c.requireConverged(1, 2, 3, 4)
	})
}

// joinLearner adds a fresh node id to c as a learner, and lets it catch up.
func joinLearner(c *smCluster, id uint64) {
	c.addNode(id, nil)
	require.NoError(c.t, c.proposeConfChange(1, simpleChange(addLearner(id))))
	c.tick(1, 3)
	c.requireConverged(1, 2, 3, id)
	require.True(c.t, c.raft(id).isLearner)
}

// A learner gets every entry, but its acknowledgements never commit
// anything; promoted to voter, they count.
func TestMembershipLearnerReplicatesButDoesNotCount(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.proposeN(1, "v", 3)
	joinLearner(c, 4)
	require.Equal(t, []string{"v0", "v1", "v2"}, c.appliedData(4))

	c.isolate(2)
	c.isolate(3)
	commit := c.committed(1)
	require.NoError(t, c.propose(1, "x"))
	c.tick(1, 3)
	require.Equal(t, c.lastIndex(1), c.progress(1, 4).Match, "the learner acknowledged x")
	require.Equal(t, commit, c.committed(1), "the learner's ack committed x")

	c.heal()
	c.tick(1, 3)
	require.NoError(t, c.proposeConfChange(1, simpleChange(addVoter(4))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 1, 2, 3, 4)
	require.False(t, c.raft(4).isLearner)
	c.isolate(2)
	c.requireCommitNeeds(1, 4, "y")
}

// A learner never campaigns, however long it hears nothing, nor when told
// to.
func TestMembershipLearnerNeverCampaigns(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	joinLearner(c, 4)
	c.isolate(4)
	term := c.raft(4).Term
	c.tick(4, 500)
	require.NoError(t, c.nodes[4].rn.Campaign())
	c.stabilize()
	require.Equal(t, StateFollower, c.raft(4).state)
	require.Equal(t, term, c.raft(4).Term)
}

// A learner whose promotion is committed, but who has not applied it yet,
// is already a voter for the others: it must answer vote requests, or a
// configuration that counts it could not elect a leader.
func TestMembershipPromotedLearnerVotesBeforeApplying(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	joinLearner(c, 4)
	// 4 gets the promotion entry but never learns it committed.
	c.drop = func(m Message) bool {
		return m.To == 4 && (m.Type == MsgHeartbeat || (m.Type == MsgApp && len(m.Entries) == 0))
	}
	require.NoError(t, c.proposeConfChange(1, simpleChange(addVoter(4))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3, 4}}, 1, 2, 3)
	require.Equal(t, c.lastIndex(1), c.lastIndex(4))
	require.Less(t, c.committed(4), c.lastIndex(4))
	require.True(t, c.raft(4).isLearner)
	c.drop = nil

	// With 1 gone, 2 needs three votes of four: 2, 3 and 4's.
	c.isolate(1)
	c.drop = func(m Message) bool { return m.From == 4 && m.Type == MsgVoteResp }
	c.campaign(2)
	require.Equal(t, StateCandidate, c.raft(2).state, "won without 4's vote")
	c.drop = nil
	var granted bool
	c.observe = func(m Message) {
		if m.From == 4 && m.Type == MsgVoteResp {
			require.True(t, c.raft(4).isLearner, "4 applied its promotion before voting")
			granted = !m.Reject
		}
	}
	c.campaign(2)
	require.True(t, granted)
	require.Equal(t, uint64(2), c.leader())
	c.observe = nil
	c.stabilize()
	require.False(t, c.raft(4).isLearner, "4 applies its promotion from the new leader")
}

// A voter demoted to learner in a joint configuration stays a voter (of the
// outgoing half, listed in LearnersNext) until the joint configuration is
// left; then it is a learner, and gets entries without counting.
func TestMembershipDemoteVoterThroughJoint(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{addLearner(3)}}
	require.NoError(t, c.proposeConfChange(1, cc))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}}, 1, 2, 3)
	require.False(t, c.raft(3).isLearner)
	require.False(t, c.progress(1, 3).IsLearner)

	require.NoError(t, c.proposeConfChange(1, ConfChange{}))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, 1, 2, 3)
	require.True(t, c.raft(3).isLearner)
	require.True(t, c.progress(1, 3).IsLearner)
	require.NoError(t, c.propose(1, "x"))
	require.Equal(t, []string{"x"}, c.appliedData(3))
	c.requireCommitNeeds(1, 2, "y")
}

// A leader that the change removes or demotes keeps leading while the
// configuration is joint (it still votes in the outgoing half), and steps
// down once the joint configuration is left; the new voters go on.
func TestMembershipLeaderLeavesThroughJoint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     ConfChangeSingle
		transition ConfChangeTransition
		final      ConfState
	}{
		{"remove, explicit", removeNode(1), ConfChangeTransitionJointExplicit, ConfState{Voters: []uint64{2, 3, 4}}},
		{"remove, auto", removeNode(1), ConfChangeTransitionAuto, ConfState{Voters: []uint64{2, 3, 4}}},
		{"demote, explicit", addLearner(1), ConfChangeTransitionJointExplicit, ConfState{Voters: []uint64{2, 3, 4}, Learners: []uint64{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMCluster(t, 3)
			c.campaign(1)
			c.addNode(4, nil)
			cc := ConfChange{Transition: tc.transition, Changes: []ConfChangeSingle{tc.change, addVoter(4)}}
			require.NoError(t, c.nodes[1].rn.ProposeConfChange(cc))
			require.True(t, c.runUntil(func() bool { return c.raft(1).trk.config.joint() }))
			require.Equal(t, StateLeader, c.raft(1).state)
			require.False(t, c.raft(1).isLearner)

			if tc.transition == ConfChangeTransitionJointExplicit {
				c.stabilize()
				// Joint, the leader still leads and commits, counting in
				// the outgoing half only.
				c.proposeN(1, "v", 3)
				c.tick(1, 30)
				require.Equal(t, StateLeader, c.raft(1).state)
				require.Equal(t, []string{"v0", "v1", "v2"}, c.appliedData(4))
				require.NoError(t, c.nodes[1].rn.ProposeConfChange(ConfChange{}))
				require.True(t, c.runUntil(func() bool { return !c.raft(1).trk.config.joint() }))
			} else {
				require.True(t, c.runUntil(func() bool { return !c.raft(1).trk.config.joint() }))
			}
			require.Equal(t, StateFollower, c.raft(1).state, "stepped down on leaving")
			c.stabilize()
			c.requireConfStates(tc.final, 1, 2, 3, 4)

			c.tickAll(40)
			lead := c.leader()
			require.Contains(t, []uint64{2, 3, 4}, lead)
			require.NoError(t, c.propose(lead, "after"))
			c.requireConverged(2, 3, 4)
			require.Equal(t, StateFollower, c.raft(1).state)
		})
	}
}

// Every invalid change is refused with ErrInvalidConfChange, whether
// proposed or (as if committed) applied, and leaves the configuration as it
// was.
func TestMembershipInvalidChangesAreRefused(t *testing.T) {
	joint := func(c *smCluster) {
		c.addNode(4, nil)
		cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{addVoter(4)}}
		require.NoError(c.t, c.proposeConfChange(1, cc))
		require.True(c.t, c.raft(1).trk.config.joint())
	}
	withLearner := func(c *smCluster) {
		c.addNode(2, nil)
		require.NoError(c.t, c.proposeConfChange(1, simpleChange(addLearner(2))))
	}
	for _, tc := range []struct {
		name   string
		voters int
		setup  func(*smCluster)
		cc     ConfChange
	}{
		{"remove the last voter", 1, nil, simpleChange(removeNode(1))},
		{"remove the last voter, a learner left", 1, withLearner, simpleChange(removeNode(1))},
		{"demote the last voter", 1, withLearner, simpleChange(addLearner(1))},
		{"remove every voter through joint", 3, nil, ConfChange{Changes: []ConfChangeSingle{removeNode(1), removeNode(2), removeNode(3)}}},
		{"leave a configuration that is not joint", 3, nil, ConfChange{}},
		{"enter joint while joint", 3, joint, ConfChange{Changes: []ConfChangeSingle{addVoter(5), addVoter(6)}}},
		{"enter joint explicitly while joint", 3, joint, ConfChange{Transition: ConfChangeTransitionJointImplicit, Changes: []ConfChangeSingle{addVoter(5)}}},
		{"simple change while joint", 3, joint, simpleChange(addVoter(5))},
		{"node ID 0", 3, nil, simpleChange(addVoter(0))},
		{"unknown change type", 3, nil, simpleChange(ConfChangeSingle{Type: 99, NodeID: 5})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMCluster(t, tc.voters)
			c.campaign(1)
			if tc.setup != nil {
				tc.setup(c)
			}
			before := c.status(1).Config
			last := c.lastIndex(1)

			err := c.proposeConfChange(1, tc.cc)
			require.ErrorIs(t, err, ErrInvalidConfChange)
			require.Equal(t, last, c.lastIndex(1), "nothing was appended")
			requireConfState(t, before, c.status(1).Config)

			// The leader's own check refuses it too, should a proposal
			// reach it without the RawNode's.
			data, err := tc.cc.Marshal()
			require.NoError(t, err)
			err = c.raft(1).Step(Message{Type: MsgProp, From: 1, Entries: []Entry{{Type: EntryConfChange, Data: data}}})
			require.ErrorIs(t, err, ErrInvalidConfChange)
			require.Equal(t, last, c.lastIndex(1))

			for _, id := range c.ids {
				cs := c.nodes[id].rn.ApplyConfChange(tc.cc)
				requireConfState(t, before, *cs, "node %d", id)
				requireConfState(t, before, c.status(id).Config, "node %d", id)
			}
		})
	}
}

// Only one configuration change may be pending at a time: a second one
// proposed before the first is applied is refused with
// ErrConfChangePending; once it is applied the next one is welcome.
func TestMembershipSecondChangeWhilePendingIsRefused(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.addNode(4, nil)
	c.addNode(5, nil)
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(simpleChange(addLearner(4))))
	err := c.nodes[1].rn.ProposeConfChange(simpleChange(addLearner(5)))
	require.ErrorIs(t, err, ErrConfChangePending)
	require.ErrorIs(t, err, ErrProposalDropped)
	c.stabilize()
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, 1, 2, 3)
	require.NoError(t, c.proposeConfChange(1, simpleChange(addLearner(5))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4, 5}}, 1, 2, 3)
}

// A proposal refused for the uncommitted-size quota appends nothing, so a
// configuration change refused that way must not count as pending.
func TestMembershipChangeRefusedByQuotaIsNotPending(t *testing.T) {
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = 8 })
	c.campaign(1)
	c.addNode(4, nil)
	require.NoError(t, c.nodes[1].rn.Propose([]byte("12345678")))
	err := c.nodes[1].rn.ProposeConfChange(simpleChange(addLearner(4)))
	require.ErrorIs(t, err, ErrProposalDropped)
	require.NotErrorIs(t, err, ErrConfChangePending)
	c.stabilize()
	require.Zero(t, c.raft(1).uncommittedSize)
	require.NoError(t, c.proposeConfChange(1, simpleChange(addLearner(4))))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, 1, 2, 3)
}

// A node with a committed configuration change it has not applied does not
// campaign: it could win under a configuration that is already outdated.
func TestMembershipNoCampaignWithUnappliedConfChange(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.addNode(4, nil)
	c.frozen[2] = true // 2's host stops applying
	require.NoError(t, c.proposeConfChange(1, simpleChange(addLearner(4))))
	ccIndex := c.lastIndex(1)
	require.GreaterOrEqual(t, c.committed(2), ccIndex)
	require.Less(t, c.raft(2).raftLog.applied, ccIndex)

	term := c.raft(2).Term
	require.NoError(t, c.nodes[2].rn.Campaign())
	for range 50 {
		c.nodes[2].rn.Tick()
	}
	c.stabilize()
	require.Equal(t, StateFollower, c.raft(2).state)
	require.Equal(t, term, c.raft(2).Term)

	delete(c.frozen, 2)
	c.stabilize()
	c.campaign(2)
	require.Greater(t, c.raft(2).Term, term)
	require.Equal(t, uint64(2), c.leader())
}

// Restarting while joint, from the log or from a snapshot taken while joint,
// restores the joint configuration exactly, and the node then leaves it
// with the others.
func TestMembershipRestartWhileJoint(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			c := newSMCluster(t, 3)
			c.campaign(1)
			c.addNode(4, nil)
			cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{addVoter(4), addLearner(3)}}
			require.NoError(t, c.proposeConfChange(1, cc))
			c.proposeN(1, "v", 2)
			joint := ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}}
			c.requireConfStates(joint, 1, 2, 3, 4)
			if snapshot {
				c.compact(2)
				c.compact(3)
			}
			for _, id := range []uint64{2, 3} {
				c.restart(id)
				if snapshot {
					requireConfState(t, joint, c.status(id).Config, "node %d, from its snapshot", id)
				}
			}
			c.stabilize()
			c.requireConfStates(joint, 2, 3)
			require.False(t, c.raft(3).isLearner)
			c.requireConverged(1, 2, 3, 4)

			require.NoError(t, c.proposeConfChange(1, ConfChange{}))
			c.requireConfStates(ConfState{Voters: []uint64{1, 2, 4}, Learners: []uint64{3}}, 1, 2, 3, 4)
			require.True(t, c.raft(3).isLearner)
		})
	}
}

// A follower that catches up through a snapshot taken while joint installs
// the joint configuration exactly (here it is itself an outgoing voter
// only), and follows the leader out of it.
func TestMembershipSnapshotWhileJointRestoresJoint(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.addNode(4, nil)
	c.isolate(3)
	cc := ConfChange{Transition: ConfChangeTransitionJointExplicit, Changes: []ConfChangeSingle{addVoter(4), removeNode(3)}}
	require.NoError(t, c.proposeConfChange(1, cc))
	c.proposeN(1, "v", 3)
	joint := ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}}
	c.requireConfStates(joint, 1, 2, 4)
	c.compact(1)

	c.heal()
	require.Equal(t, 1, c.countSent(isMsg(MsgSnap, 3), func() { c.tick(1, 3) }))
	c.requireConfStates(joint, 3)
	c.requireConverged(1, 2, 3, 4)

	require.NoError(t, c.proposeConfChange(1, ConfChange{}))
	c.requireConfStates(ConfState{Voters: []uint64{1, 2, 4}}, 1, 2, 4)
	require.NotContains(t, c.status(1).Progress, uint64(3))
}

// A proposal of undecodable configuration data never reaches the log.
func TestMembershipUndecodableChangeIsRefused(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	last := c.lastIndex(1)
	err := c.raft(1).Step(Message{Type: MsgProp, From: 1, Entries: []Entry{{Type: EntryConfChange, Data: []byte{0xc1, 0xff}}}})
	require.ErrorIs(t, err, ErrInvalidConfChange)
	require.ErrorIs(t, err, ErrProposalDropped)
	require.Equal(t, last, c.lastIndex(1))
}

// A leadership transfer to a node that a change removes ends when the
// change applies: the leader goes on leading and takes proposals again.
func TestMembershipRemovingTransfereeAbortsTransfer(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.dropTypes[MsgTimeoutNow] = true
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(simpleChange(removeNode(3))))
	c.nodes[1].rn.TransferLeader(3)
	require.Equal(t, uint64(3), c.raft(1).leadTransferee)
	require.ErrorIs(t, c.nodes[1].rn.Propose([]byte("during")), ErrProposalDropped)
	c.stabilize()
	c.requireConfStates(ConfState{Voters: []uint64{1, 2}}, 1, 2)
	require.Equal(t, None, c.raft(1).leadTransferee)
	require.Equal(t, uint64(1), c.leader())
	require.NoError(t, c.propose(1, "after"))
	require.Equal(t, []string{"after"}, c.appliedData(2))
}
