package raft

// Tests of elections (election.go) not covered by the paper's: what a
// vote answer tells the candidate besides the vote.

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A vote answer carries the voter's commit index and the term of its entry
// there. A candidate that holds the same entry commits up to it (Log
// Matching, §5.3): it may have missed the commit, for example of a
// configuration change it must apply to count votes right. With another
// term at that index, it learns nothing.
func TestVoteAnswerCarriesTheCommitIndex(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	// n2 gets x but never hears that it committed.
	c.drop = func(m Message) bool { return m.To == 2 && m.Type == MsgApp && len(m.Entries) == 0 }
	require.NoError(t, c.propose(1, "x"))
	c.stabilize()
	x := c.raft(1).raftLog.lastEntryID()
	require.Equal(t, x.index, c.raft(3).raftLog.committed)
	require.Less(t, c.raft(2).raftLog.committed, x.index)
	require.True(t, c.raft(2).raftLog.matchTerm(x))

	// n3 answers a vote request with its commit index.
	n2 := c.nodes[2]
	require.NoError(t, n2.rn.Campaign())
	vote := selectMsgs(c.output(2), MsgVote, 3)
	require.Len(t, vote, 1)
	require.NoError(t, c.step(vote[0]))
	answers := selectMsgs(c.output(3), MsgVoteResp, 2)
	require.Len(t, answers, 1)
	require.Equal(t, x.index, answers[0].Commit)
	require.Equal(t, x.term, answers[0].LogTerm)

	// A rejection carries it too; here from a voter with another entry
	// at that index.
	wrong := answers[0]
	wrong.From, wrong.Reject, wrong.LogTerm = 1, true, x.term+7
	require.NoError(t, c.step(wrong))
	require.Equal(t, StateCandidate, c.raft(2).state)
	require.Less(t, c.raft(2).raftLog.committed, x.index, "another entry at that index: nothing learned")

	require.NoError(t, c.step(answers[0]))
	require.Equal(t, x.index, c.raft(2).raftLog.committed)
}
