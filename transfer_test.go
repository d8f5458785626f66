package raft

// Leadership transfer (Raft thesis §3.10): the leader brings the transferee's
// log up to date, then tells it to campaign at once (MsgTimeoutNow); the
// transferee's vote requests override leader stickiness.

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// transferConfigs are the option sets the transfer tests run under: with
// CheckQuorum and PreVote, the transfer must also get past the lease and the
// pre-election.
var transferConfigs = []struct {
	name string
	cfg  []func(*Config)
}{
	{"default", nil},
	{"PreVote+CheckQuorum", []func(*Config){enablePreVote, enableCheckQuorum}},
}

// §3.10: "the prior leader sends a TimeoutNow request to the target server.
// This request has the same effect as the target server's election timer
// firing: the target server starts a new election (incrementing its term)".
// A transferee whose log is already up to date gets MsgTimeoutNow at once,
// and leads in the next term.
func TestLeaderTransferToUpToDateFollower(t *testing.T) {
	for _, tc := range transferConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 3, tc.cfg...)
			c.campaign(1)
			require.NoError(t, c.propose(1, "a"))
			term := c.raft(1).Term

			c.nodes[1].rn.TransferLeader(2)
			require.Equal(t, uint64(2), c.status(1).LeadTransferee)
			require.Len(t, msgsOfType(c.raft(1).msgs, MsgTimeoutNow, 2), 1, "MsgTimeoutNow is sent at once")
			c.stabilize()

			require.Equal(t, uint64(2), c.leader())
			require.Equal(t, term+1, c.raft(2).Term)
			require.Equal(t, StateFollower, c.raft(1).state)
			require.Equal(t, uint64(2), c.raft(1).lead)
			require.NoError(t, c.propose(2, "b"))
			for _, id := range c.ids {
				require.Equal(t, []string{"a", "b"}, c.appliedData(id), "node %d", id)
			}
		})
	}
}

// §3.10: "the prior leader ... transfers its log entries to the target
// server" first. A lagging transferee gets appends, and MsgTimeoutNow only
// once it acknowledged the leader's last entry.
func TestLeaderTransferToLaggingFollowerCatchesItUpFirst(t *testing.T) {
	for _, tc := range transferConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 3, tc.cfg...)
			c.campaign(1)
			term := c.raft(1).Term
			c.isolate(3)
			require.NoError(t, c.propose(1, "a"))
			require.NoError(t, c.propose(1, "b"))
			c.heal()
			last := c.raft(1).raftLog.lastIndex()

			c.nodes[1].rn.TransferLeader(3)
			require.Equal(t, uint64(3), c.status(1).LeadTransferee)
			require.Empty(t, msgsOfType(c.raft(1).msgs, MsgTimeoutNow, 3), "node 3 is behind: no MsgTimeoutNow yet")
			require.NotEmpty(t, msgsOfType(c.raft(1).msgs, MsgApp, 3), "the leader starts catching node 3 up")

			var seen []Message
			c.observe = func(m Message) { seen = append(seen, m) }
			c.stabilize()
			c.observe = nil

			timeoutNow := slices.IndexFunc(seen, func(m Message) bool { return m.Type == MsgTimeoutNow })
			require.GreaterOrEqual(t, timeoutNow, 0)
			caughtUp := slices.IndexFunc(seen, func(m Message) bool {
				return m.Type == MsgAppResp && m.From == 3 && !m.Reject && m.Index == last
			})
			require.GreaterOrEqual(t, caughtUp, 0)
			require.Less(t, caughtUp, timeoutNow, "MsgTimeoutNow only after node 3 holds the last entry")

			require.Equal(t, uint64(3), c.leader())
			require.Equal(t, term+1, c.raft(3).Term)
			require.NoError(t, c.propose(3, "c"))
			for _, id := range c.ids {
				require.Equal(t, []string{"a", "b", "c"}, c.appliedData(id), "node %d", id)
			}
		})
	}
}

// §3.10: "If the transfer does not complete within an election timeout, the
// prior leader aborts the transfer and resumes accepting client requests."
// Until then it refuses them: "the prior leader stops accepting new client
// requests" during the transfer.
func TestLeaderTransferAbortsAfterElectionTimeout(t *testing.T) {
	c := newTestCluster(t, 3)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3) // the transferee is unreachable

	c.nodes[1].rn.TransferLeader(3)
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	err := c.propose(1, "refused")
	require.True(t, errors.Is(err, ErrProposalDropped), "got %v", err)

	c.tick(1, et-1)
	require.Equal(t, uint64(3), c.status(1).LeadTransferee, "still within the election timeout")
	require.ErrorIs(t, c.propose(1, "refused"), ErrProposalDropped)

	c.tick(1, 1)
	require.Equal(t, None, c.status(1).LeadTransferee, "aborted after an election timeout")
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
	require.NoError(t, c.propose(1, "accepted"))
	require.Equal(t, []string{"accepted"}, c.appliedData(2))
}

// §3.10: during a transfer the leader stops accepting client requests, so
// that the transferee can catch up with a log that no longer grows. A
// proposal made on the leader is refused with ErrProposalDropped; one a
// follower forwards is dropped too, and never reaches the log.
func TestLeaderTransferRefusesProposals(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.propose(1, "a")) // node 3 is now behind
	c.nodes[1].rn.TransferLeader(3)
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	last := c.raft(1).raftLog.lastIndex()

	err := c.propose(1, "on-leader")
	require.ErrorIs(t, err, ErrProposalDropped)
	require.NoError(t, c.propose(2, "forwarded"), "the follower forwards it")
	require.Equal(t, last, c.raft(1).raftLog.lastIndex(), "no proposal reached the log")
	require.Equal(t, []string{"a"}, c.appliedData(2))
}

// §3.10: a transfer needs a transferee that could win an election. A request
// to transfer to the leader itself, to a learner (which cannot vote or
// campaign), or to a node outside the configuration changes nothing: no
// MsgTimeoutNow, no transfer in progress, proposals still accepted.
func TestLeaderTransferIgnoredForSelfLearnerOrUnknown(t *testing.T) {
	for _, target := range []struct {
		name string
		id   uint64
	}{{"self", 1}, {"learner", 4}, {"unknown", 9}} {
		t.Run(target.name, func(t *testing.T) {
			c := newTestCluster(t, 3)
			c.campaign(1)
			c.addNode(4, nil)
			require.NoError(t, c.nodes[1].rn.ProposeConfChange(ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 4}}}))
			c.stabilize()
			require.Equal(t, []uint64{4}, c.status(1).Config.Learners)
			require.Equal(t, []uint64{4}, c.status(4).Config.Learners, "the learner applied its own addition")
			term := c.raft(1).Term

			timeouts := c.countDelivered(func(m Message) bool { return m.Type == MsgTimeoutNow }, func() {
				c.nodes[1].rn.TransferLeader(target.id)
				require.Equal(t, None, c.status(1).LeadTransferee)
				c.stabilize()
			})
			require.Zero(t, timeouts)
			c.tickAll(1)
			require.Equal(t, uint64(1), c.leader())
			require.Equal(t, term, c.raft(1).Term)
			require.NoError(t, c.propose(1, "still-leading"))
			require.Equal(t, []string{"still-leading"}, c.appliedData(4))

			// Even told to campaign, a learner does not.
			require.NoError(t, c.step(Message{Type: MsgTimeoutNow, From: 1, To: 4, Term: term}))
			require.Empty(t, c.output(4))
			require.Equal(t, StateFollower, c.raft(4).state)
			require.Equal(t, term, c.raft(4).Term)
		})
	}
}

// A transfer asked on a node that knows of no leader has no one to forward
// it to: it is dropped.
func TestLeaderTransferWithoutLeaderIsDropped(t *testing.T) {
	c := newTestCluster(t, 3) // no election yet
	c.nodes[2].rn.TransferLeader(3)
	require.Empty(t, c.output(2))
	c.stabilize()
	require.Equal(t, None, c.leader())
	for _, id := range c.ids {
		require.Equal(t, StateFollower, c.raft(id).state)
	}
}

// §3.10: a transfer may be requested on any node. A follower forwards the
// request to its leader, which hands over to the transferee named in it.
func TestLeaderTransferForwardedByFollower(t *testing.T) {
	for _, tc := range transferConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, 3, tc.cfg...)
			c.campaign(1)
			term := c.raft(1).Term

			forwarded := c.countDelivered(func(m Message) bool {
				return m.Type == MsgTransferLeader && m.To == 1 && m.From == 2
			}, func() {
				c.nodes[3].rn.TransferLeader(2) // asked on node 3, to hand over to node 2
				c.stabilize()
			})
			require.Equal(t, 1, forwarded)
			require.Equal(t, uint64(2), c.leader())
			require.Equal(t, term+1, c.raft(2).Term)
			require.Equal(t, uint64(2), c.raft(3).lead)
		})
	}
}

// §3.10: a leader hands over to one node at a time. A request naming
// another transferee aborts the transfer in progress and starts the new
// one; a repeated request for the same transferee changes nothing, and in
// particular does not extend its deadline.
func TestLeaderTransferSecondRequestAbortsFirst(t *testing.T) {
	c := newTestCluster(t, 3)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3)

	c.nodes[1].rn.TransferLeader(3)
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	c.tick(1, et/2)
	c.nodes[1].rn.TransferLeader(3)
	require.Empty(t, msgsOfType(c.raft(1).msgs, MsgTimeoutNow, 3), "a repeated request sends nothing")
	c.tick(1, et-et/2)
	require.Equal(t, None, c.status(1).LeadTransferee, "the deadline runs from the first request")

	c.nodes[1].rn.TransferLeader(3)
	c.stabilize()
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	c.nodes[1].rn.TransferLeader(2)
	require.Equal(t, uint64(2), c.status(1).LeadTransferee, "the transfer to node 3 was aborted")
	require.Len(t, msgsOfType(c.raft(1).msgs, MsgTimeoutNow, 2), 1)
	c.stabilize()
	require.Equal(t, uint64(2), c.leader())
	require.Equal(t, term+1, c.raft(2).Term)
}

// §3.10 with §4 (membership): a transferee removed from the configuration
// can no longer win an election; once the leader applies its removal, the
// transfer is aborted and proposals are accepted again.
func TestLeaderTransferAbortedWhenTransfereeRemoved(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3)

	// The removal is in the leader's log, not yet committed, when the
	// transfer starts: node 3 lacks it, so it must be caught up first.
	require.NoError(t, c.nodes[1].rn.ProposeConfChange(ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeRemoveNode, NodeID: 3}}}))
	c.nodes[1].rn.TransferLeader(3)
	require.Equal(t, uint64(3), c.status(1).LeadTransferee)
	c.stabilize()

	require.Equal(t, []uint64{1, 2}, c.status(1).Config.Voters)
	require.Equal(t, None, c.status(1).LeadTransferee, "removing the transferee aborts the transfer")
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
	require.NoError(t, c.propose(1, "after-removal"))
	require.Equal(t, []string{"after-removal"}, c.appliedData(2))
}
