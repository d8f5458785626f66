package raft

// PreVote (Raft thesis §9.6): a node first asks whether it could win an
// election, and raises its term only if a quorum says yes.

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Thesis §9.6: "While a server is partitioned, it won't be able to increment
// its term, since it can't receive permission from a majority of the
// cluster. Then, when it rejoins the cluster, it still won't be able to
// increment its term, since the other servers will have been receiving
// regular heartbeats from the leader." The rejoining node here is as
// disruptive as it can be: its timer fires again before any heartbeat
// reaches it. With a write made during the partition its log is behind;
// without one (an idle cluster) only the heartbeats the voters received
// justify refusing it.
func TestPreVotePartitionedNodeRejoinsWithoutDisruption(t *testing.T) {
	for _, opt := range []struct {
		name string
		cfg  []func(*Config)
	}{
		{"PreVote", []func(*Config){enablePreVote}},
		{"PreVote+CheckQuorum", []func(*Config){enablePreVote, enableCheckQuorum}},
	} {
		for _, write := range []bool{true, false} {
			name := opt.name + "/idle"
			if write {
				name = opt.name + "/write-during-partition"
			}
			t.Run(name, func(t *testing.T) {
				c := newTestCluster(t, 3, opt.cfg...)
				et := c.raft(1).electionTimeout
				c.campaign(1)
				term := c.raft(1).Term

				c.isolate(3)
				if write {
					require.NoError(t, c.propose(1, "a"))
				}
				c.tickAll(12 * et)
				require.Equal(t, term, c.raft(3).Term, "the isolated node's term did not rise")
				require.Equal(t, StatePreCandidate, c.raft(3).state)

				c.heal()
				// Node 3 campaigns before it hears from the leader.
				preVotes := 0
				c.observe = func(m Message) {
					if m.Type == MsgPreVote && m.From == 3 {
						preVotes++
					}
				}
				c.tickNodesUntil([]uint64{3}, 2*et, func() bool { return preVotes > 0 })
				c.observe = nil
				c.tickAll(3 * et)

				require.Equal(t, uint64(1), c.leader(), "the leader was not deposed")
				for _, id := range c.ids {
					require.Equal(t, term, c.raft(id).Term, "node %d", id)
				}
				require.Equal(t, StateFollower, c.raft(3).state)
				require.Equal(t, uint64(1), c.raft(3).lead)
				if write {
					// Rejoining includes catching up: the leader repairs
					// the appends node 3 lost, within a few heartbeats.
					require.Equal(t, []string{"a"}, c.appliedData(3), "node 3 did not catch up with the write it missed")
				}
			})
		}
	}
}

// Without PreVote (nor CheckQuorum), the same partition is disruptive, as
// §9.6 describes: the isolated node raises its term at each timeout, and
// when it rejoins, its vote request of that term makes the leader step
// down, although the node cannot win (its log lacks the write).
func TestPreVoteOffPartitionedNodeDisruptsLeader(t *testing.T) {
	c := newTestCluster(t, 3)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term

	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.tickAll(12 * et)
	isolatedTerm := c.raft(3).Term
	require.Greater(t, isolatedTerm, term+5, "the isolated node's term rose at each timeout")
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)

	c.heal()
	c.tickNodesUntil(c.ids, 2*et, func() bool { return c.raft(1).state != StateLeader })
	require.Greater(t, c.raft(1).Term, isolatedTerm, "the leader adopted the rejoining node's term")

	// The cluster recovers, in a term past the isolated node's, with a
	// leader that holds the write.
	c.tickNodesUntil(c.ids, 4*et, func() bool { return c.leader() != None })
	lead := c.leader()
	require.NotEqual(t, uint64(3), lead, "node 3 lacks a committed entry")
	require.Greater(t, c.raft(lead).Term, isolatedTerm)
	c.tickAll(1)
	require.Equal(t, []string{"a"}, c.appliedData(3))
}

// Thesis §9.6: "a candidate only increments its term if it first learns from
// a majority of the cluster that they would be willing to grant the
// candidate their votes (if the candidate's log is sufficiently
// up-to-date...)". A pre-candidate whose log is behind is refused and stays
// in its term; the voters keep their term, vote and leader.
func TestPreVoteLaggingPreCandidateDoesNotRaiseTerm(t *testing.T) {
	c := newTestCluster(t, 3, enablePreVote)
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3)
	require.NoError(t, c.propose(1, "a"))
	c.heal()
	before := map[uint64]HardState{1: c.status(1).HardState, 2: c.status(2).HardState}

	var asked, refused int
	c.observe = func(m Message) {
		switch {
		case m.Type == MsgPreVote && m.From == 3:
			asked++
			require.Equal(t, term+1, m.Term, "a pre-vote asks about the next term")
		case m.Type == MsgPreVoteResp && m.To == 3:
			require.True(t, m.Reject, "node %d granted a pre-vote to a lagging node", m.From)
			refused++
		case m.Type == MsgVote:
			t.Fatalf("a real vote was requested: %+v", m)
		}
	}
	c.campaign(3)
	require.Equal(t, 2, asked)
	require.Equal(t, 2, refused)

	require.Equal(t, StateFollower, c.raft(3).state, "a lost pre-election ends as follower")
	require.Equal(t, term, c.raft(3).Term)
	require.Equal(t, StateLeader, c.raft(1).state)
	for id, hs := range before {
		require.Equal(t, hs, c.status(id).HardState, "node %d", id)
	}
	require.Equal(t, uint64(1), c.raft(2).lead)
}

// Thesis §9.6: a pre-vote changes nothing on the voter, even when granted:
// it asks about a term no one has entered. Here node 2 wins its
// pre-election, but its real vote requests are lost; the voters are left
// exactly as they were, the leader still leads, and the pre-candidate kept
// its own vote until it entered the new term.
func TestPreVoteGrantedChangesNoVoterTermOrVote(t *testing.T) {
	c := newTestCluster(t, 3, enablePreVote)
	c.campaign(1)
	term := c.raft(1).Term
	before := map[uint64]HardState{1: c.status(1).HardState, 3: c.status(3).HardState}

	// Node 3 has not heard from the leader for an election timeout, so it
	// may grant pre-votes; the leader itself refuses them.
	c.raft(3).electionElapsed = c.raft(3).electionTimeout

	// Hold the pre-candidate at the end of its pre-election first.
	release := c.hold(func(m Message) bool { return m.Type == MsgPreVoteResp })
	c.campaign(2)
	r2 := c.raft(2)
	require.Equal(t, StatePreCandidate, r2.state)
	require.Equal(t, term, r2.Term)
	require.Equal(t, uint64(1), r2.Vote, "a pre-candidate keeps its vote")

	c.dropTypes[MsgVote] = true
	granted := c.countDelivered(func(m Message) bool {
		return m.Type == MsgPreVoteResp && m.To == 2 && !m.Reject && m.Term == term+1
	}, func() {
		release()
		c.stabilize()
	})
	require.Equal(t, 1, granted, "node 3 grants, the leader refuses")
	require.Equal(t, StateCandidate, r2.state)
	require.Equal(t, term+1, r2.Term)

	require.Equal(t, StateLeader, c.raft(1).state)
	for id, hs := range before {
		require.Equal(t, hs, c.status(id).HardState, "node %d", id)
	}
}

// Thesis §9.6 with §5.1: a pre-candidate that missed whole terms asks about
// a term the voters have already left. They refuse it and tell it their
// term; it adopts that term as a follower, and the leader of that term is
// not disturbed.
func TestPreVoteOfStaleTermIsRefusedWithVotersTerm(t *testing.T) {
	c := newTestCluster(t, 3, enablePreVote)
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3)
	// Leadership moves by transfer: with PreVote, voters that hear from a
	// leader refuse a plain campaign.
	c.nodes[1].rn.TransferLeader(2)
	c.stabilize()
	c.nodes[2].rn.TransferLeader(1)
	c.stabilize()
	require.Equal(t, term+2, c.raft(1).Term)
	require.Equal(t, term, c.raft(3).Term)
	c.heal()
	before := map[uint64]HardState{1: c.status(1).HardState, 2: c.status(2).HardState}

	var refusals []Message
	c.observe = func(m Message) {
		if m.Type == MsgPreVoteResp && m.To == 3 {
			refusals = append(refusals, m)
		}
	}
	c.campaign(3) // asks about term+1
	c.observe = nil
	require.Len(t, refusals, 2)
	for _, m := range refusals {
		require.True(t, m.Reject)
		require.Equal(t, term+2, m.Term, "the refusal carries the voter's term")
	}
	require.Equal(t, StateFollower, c.raft(3).state)
	require.Equal(t, term+2, c.raft(3).Term)
	require.Equal(t, StateLeader, c.raft(1).state)
	for id, hs := range before {
		require.Equal(t, hs, c.status(id).HardState, "node %d", id)
	}
}
