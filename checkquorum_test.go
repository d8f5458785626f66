package raft

// CheckQuorum and leader stickiness (Raft thesis §4.2.3 and §6.2), and how
// they combine with PreVote (§9.6) when a leader fails.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func enablePreVote(cfg *Config) { cfg.PreVote = true }

func enableCheckQuorum(cfg *Config) { cfg.CheckQuorum = true }

// tickNodes ticks each node of ids once per round, for n rounds, and
// stabilizes after each round. Nodes not in ids stand still, as a crashed
// node would.
func (c *testCluster) tickNodes(ids []uint64, n int) {
	for range n {
		for _, id := range ids {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
	}
}

// tickNodesUntil ticks ids round by round, as tickNodes does, until done
// holds, and returns the number of rounds it took. It fails the test if done
// does not hold after max rounds.
func (c *testCluster) tickNodesUntil(ids []uint64, max int, done func() bool) int {
	c.t.Helper()
	for n := 1; n <= max; n++ {
		c.tickNodes(ids, 1)
		if done() {
			return n
		}
	}
	c.t.Fatalf("condition not reached within %d ticks", max)
	return 0
}

// leaderAmong returns the node of ids that leads in the highest term, or
// None.
func (c *testCluster) leaderAmong(ids ...uint64) uint64 {
	var lead, term uint64
	for _, id := range ids {
		if r := c.raft(id); r.state == StateLeader && r.Term >= term {
			lead, term = id, r.Term
		}
	}
	return lead
}

// §6.2 (thesis): "a leader steps down if an election timeout elapses without
// a successful round of heartbeats to a majority of its cluster." The check
// runs once per election timeout over the window since the last check, so a
// leader cut off just after a check can pass one more (its followers were
// active in that window) and steps down at the next: within 2*ElectionTick
// ticks of the cut. The leader here keeps one follower: one of five is not
// a quorum. The majority side then elects a leader of its own.
func TestCheckQuorumLeaderStepsDownWithinTwoElectionTimeouts(t *testing.T) {
	c := newTestCluster(t, 5, enableCheckQuorum)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	c.tickAll(3) // cut the leader off in the middle of a check window
	c.partition([]uint64{1, 2}, []uint64{3, 4, 5})

	ticks := c.tickNodesUntil(c.ids, 2*et, func() bool { return c.raft(1).state != StateLeader })
	t.Logf("the leader stepped down %d ticks after the cut", ticks)
	require.LessOrEqual(t, ticks, 2*et)
	require.Equal(t, StateFollower, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term, "stepping down does not raise the term")

	// The majority elects within a few election timeouts: followers ignore
	// votes for ElectionTick ticks after they last heard the leader, the
	// first timer fires within 2*ElectionTick, and a split vote costs one
	// more randomized timeout.
	c.tickNodesUntil(c.ids, 4*et, func() bool { return c.leaderAmong(3, 4, 5) != None })
	newLead := c.leaderAmong(3, 4, 5)
	require.Greater(t, c.raft(newLead).Term, term)
	require.Equal(t, None, c.leaderAmong(1, 2), "the minority cannot elect a leader")
	require.NoError(t, c.propose(newLead, "majority"))
	require.Equal(t, []string{"majority"}, c.appliedData(newLead))
}

// §6.2 (thesis) with §3.10: the quorum check is the leader's own clock, not
// the transfer's. A leadership transfer requested while the leader is cut
// off (its transferee is unreachable too) must not push the check back: the
// leader still steps down within 2*ElectionTick ticks of the cut.
func TestCheckQuorumStepDownNotDelayedByLeaderTransfer(t *testing.T) {
	c := newTestCluster(t, 5, enableCheckQuorum)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	c.partition([]uint64{1, 2}, []uint64{3, 4, 5})

	ticks := 0
	for c.raft(1).state == StateLeader && ticks < 4*et {
		if ticks == et-1 {
			c.nodes[1].rn.TransferLeader(3)
		}
		c.tickNodes(c.ids, 1)
		ticks++
	}
	require.NotEqual(t, StateLeader, c.raft(1).state)
	require.LessOrEqual(t, ticks, 2*et, "stepped down %d ticks after the cut", ticks)
}

// §6.2 (thesis), the other half: a leader that hears from a quorum stays,
// however long one follower is gone.
func TestCheckQuorumLeaderStaysWhileQuorumActive(t *testing.T) {
	c := newTestCluster(t, 3, enableCheckQuorum)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	c.isolate(3)
	c.tickNodes([]uint64{1, 2}, 10*et)
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
}

// §4.2.3 (thesis): "if a server receives a RequestVote request within the
// minimum election timeout of hearing from a current leader, it does not
// update its term or grant its vote." A candidate that was merely cut off
// cannot depose a healthy leader this way: the followers and the leader
// itself ignore it, without an answer.
func TestCheckQuorumFollowerIgnoresVoteWithinLease(t *testing.T) {
	c := newTestCluster(t, 3, enableCheckQuorum)
	c.campaign(1)
	term := c.raft(1).Term

	answers := c.countDelivered(func(m Message) bool { return m.Type == MsgVoteResp && m.To == 3 }, func() {
		c.campaign(3) // no PreVote: node 3 enters term+1 and asks for votes
	})
	require.Zero(t, answers, "a vote request within the lease gets no answer")
	require.Equal(t, StateCandidate, c.raft(3).state)
	require.Equal(t, term+1, c.raft(3).Term)
	require.Equal(t, StateLeader, c.raft(1).state)
	require.Equal(t, term, c.raft(1).Term)
	require.Equal(t, StateFollower, c.raft(2).state)
	require.Equal(t, HardState{Term: term, Vote: 1, Commit: c.raft(2).raftLog.committed}, c.status(2).HardState)
	require.Equal(t, uint64(1), c.raft(2).lead)
}

// §4.2.3 (thesis): the lease lasts exactly the minimum election timeout. A
// follower that has not heard from its leader for ElectionTick ticks may
// vote again.
func TestCheckQuorumLeaseEndsAfterElectionTimeout(t *testing.T) {
	c := newTestCluster(t, 3, enableCheckQuorum)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	r2 := c.raft(2)
	// Keep node 2's own timer from firing while the test ticks it: this
	// test is about the lease, not about when node 2 would campaign.
	r2.randomizedElectionTimeout = 2*et - 1
	vote := voteRequest(c.raft(3), MsgVote, 2, term+1)

	c.tick(2, et-1) // the leader does not tick: no heartbeat reaches node 2
	require.NoError(t, c.step(vote))
	require.Equal(t, term, r2.Term, "within the lease the vote is ignored")
	require.Empty(t, c.output(2))

	c.tick(2, 1)
	require.NoError(t, c.step(vote))
	require.Equal(t, term+1, r2.Term, "after the lease the vote is considered")
	require.Equal(t, uint64(3), r2.Vote)
	resp := msgsOfType(c.output(2), MsgVoteResp, 3)
	require.Len(t, resp, 1)
	require.False(t, resp[0].Reject)
}

// §3.10 and §4.2.3 (thesis): leadership transfer is the exception to the
// lease. The transferee's vote requests carry campaignTransferCtx, and a
// follower that hears from the leader grants them anyway: the leader itself
// asked for the election.
func TestCheckQuorumForcedTransferCampaignBreaksLease(t *testing.T) {
	c := newTestCluster(t, 3, enableCheckQuorum)
	c.campaign(1)
	term := c.raft(1).Term
	vote := voteRequest(c.raft(3), MsgVote, 2, term+1)
	vote.Context = campaignTransferCtx

	require.NoError(t, c.step(vote))
	r2 := c.raft(2)
	require.Equal(t, term+1, r2.Term)
	require.Equal(t, uint64(3), r2.Vote)
	require.Equal(t, StateFollower, r2.state)
	resp := msgsOfType(c.output(2), MsgVoteResp, 3)
	require.Len(t, resp, 1)
	require.False(t, resp[0].Reject)
	require.Equal(t, term+1, resp[0].Term)
}

// §9.6 and §6.2 (thesis) together: when the leader dies, the lease of every
// follower ends ElectionTick ticks after it last heard from it, and the
// first election timer fires at most 2*ElectionTick-1 ticks after that same
// moment, when every lease has ended: its pre-vote and vote are granted. If
// two timers fire in the same tick the pre-votes and votes split; the
// candidates draw new randomized timeouts and the first to fire wins, within
// another 2*ElectionTick. So a new leader is elected within 4*ElectionTick
// ticks.
func TestPreVoteCheckQuorumElectsNewLeaderWhenLeaderDies(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) {
			c := newTestCluster(t, n, enablePreVote, enableCheckQuorum)
			et := c.raft(1).electionTimeout
			c.campaign(1)
			term := c.raft(1).Term
			c.tickAll(3)
			c.isolate(1) // and never tick it again
			rest := c.ids[1:]

			ticks := c.tickNodesUntil(rest, 4*et, func() bool { return c.leaderAmong(rest...) != None })
			t.Logf("a new leader was elected %d ticks after the leader died", ticks)
			require.LessOrEqual(t, ticks, 4*et)
			lead := c.leaderAmong(rest...)
			require.Greater(t, c.raft(lead).Term, term)
			require.NoError(t, c.propose(lead, "after"))
			for _, id := range rest {
				require.Equal(t, []string{"after"}, c.appliedData(id), "node %d", id)
			}
		})
	}
}

// §9.6 and §4.2.3 (thesis): a follower whose timer fires while the others
// still hear from the leader is ignored (it cannot raise its term), but that
// must not stall it: once the leader is gone and the others' leases end,
// its next pre-vote is granted. Here node 2 lost touch with the leader
// first, and it is the only node that can win (node 3's log lacks an entry),
// so no leader at all would be elected if node 2 stalled.
//
// Bound: node 3 last heard the leader when it died; its lease ends
// ElectionTick ticks later, and node 2 retries every randomized timeout
// (< 2*ElectionTick), so node 2 wins within 3*ElectionTick ticks.
func TestPreVoteCheckQuorumEarlyCandidateWinsOnceLeasesEnd(t *testing.T) {
	c := newTestCluster(t, 3, enablePreVote, enableCheckQuorum)
	et := c.raft(1).electionTimeout
	c.campaign(1)
	term := c.raft(1).Term
	// Node 3 misses "a": only nodes 1 and 2 may win the next election.
	c.drop = func(m Message) bool { return m.Type == MsgApp && m.To == 3 }
	require.NoError(t, c.propose(1, "a"))
	require.Equal(t, []string{"a"}, c.appliedData(2))

	// Node 2 loses the leader; node 3 still hears from it.
	c.partition([]uint64{1}, []uint64{2})
	ignored := 0
	c.observe = func(m Message) {
		if m.Type == MsgPreVote && m.From == 2 {
			ignored++
		}
		if m.Type == MsgPreVoteResp && m.From == 3 {
			require.True(t, m.Reject, "node 3 granted a pre-vote within its lease")
		}
	}
	c.tickNodesUntil(c.ids, 2*et, func() bool { return ignored > 0 })
	c.observe = nil
	require.Equal(t, StatePreCandidate, c.raft(2).state)
	for _, id := range c.ids {
		require.Equal(t, term, c.raft(id).Term, "node %d", id)
	}
	require.Equal(t, StateLeader, c.raft(1).state)

	// The leader dies.
	c.isolate(1)
	ticks := c.tickNodesUntil([]uint64{2, 3}, 3*et, func() bool { return c.raft(2).state == StateLeader })
	t.Logf("node 2 won %d ticks after the leader died", ticks)
	require.LessOrEqual(t, ticks, 3*et)
	require.Equal(t, term+1, c.raft(2).Term, "PreVote wasted no term")

	c.drop = nil
	require.NoError(t, c.propose(2, "b"))
	c.tickNodes([]uint64{2, 3}, 1) // a heartbeat resumes the probe of node 3
	require.Equal(t, []string{"a", "b"}, c.appliedData(3))
}

// §5.1: a leader that learns of a higher term from any answer reverts to
// follower. Without CheckQuorum or PreVote nothing tells a stale leader to
// answer, so this shows the rule on a stepped message.
func TestStaleLeaderStepsDownOnHigherTermResponse(t *testing.T) {
	for _, typ := range []MessageType{MsgAppResp, MsgHeartbeatResp} {
		t.Run(typ.String(), func(t *testing.T) {
			c := newTestCluster(t, 3)
			c.campaign(1)
			term := c.raft(1).Term
			require.NoError(t, c.step(Message{Type: typ, From: 2, To: 1, Term: term + 1}))
			r := c.raft(1)
			require.Equal(t, StateFollower, r.state)
			require.Equal(t, term+1, r.Term)
			require.Equal(t, None, r.lead)
		})
	}
}

// With CheckQuorum or PreVote, a node of a higher term answers a stale
// leader's append or heartbeat with its term (raft.go, Step, branch
// m.Term < r.Term), so the stale leader steps down at once. This matters
// because with these options a node of a higher term may have no other way
// to reach it: its vote requests are ignored.
func TestStaleLeaderStepsDownWhenAnsweredWithHigherTerm(t *testing.T) {
	for _, opt := range []struct {
		name string
		cfg  func(*Config)
	}{{"CheckQuorum", enableCheckQuorum}, {"PreVote", enablePreVote}} {
		for _, via := range []string{"heartbeat", "append"} {
			t.Run(opt.name+"/"+via, func(t *testing.T) {
				c := newTestCluster(t, 3, opt.cfg)
				et := c.raft(1).electionTimeout
				c.campaign(1)
				term := c.raft(1).Term
				c.isolate(1)
				c.tickNodesUntil([]uint64{2, 3}, 4*et, func() bool { return c.leaderAmong(2, 3) != None })
				newLead := c.leaderAmong(2, 3)
				newTerm := c.raft(newLead).Term
				require.Greater(t, newTerm, term)
				require.Equal(t, StateLeader, c.raft(1).state, "node 1 does not know yet")
				c.heal()

				// Only the stale leader acts.
				replies := c.countDelivered(func(m Message) bool {
					return m.Type == MsgAppResp && m.To == 1 && m.Term == newTerm
				}, func() {
					if via == "heartbeat" {
						c.tick(1, 1)
					} else {
						require.NoError(t, c.propose(1, "stale"))
					}
				})
				require.Positive(t, replies)
				r := c.raft(1)
				require.Equal(t, StateFollower, r.state)
				require.Equal(t, newTerm, r.Term)

				// The stale entry, if any, never commits.
				c.tickAll(2)
				require.NoError(t, c.propose(newLead, "new"))
				for _, id := range c.ids {
					require.Equal(t, []string{"new"}, c.appliedData(id), "node %d", id)
				}
			})
		}
	}
}

// msgsOfType returns the messages of type typ to to in msgs.
func msgsOfType(msgs []Message, typ MessageType, to uint64) []Message {
	var out []Message
	for _, m := range msgs {
		if m.Type == typ && m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// voteRequest returns the (pre-)vote request of type typ that candidate r
// would send to to in term.
func voteRequest(r *raft, typ MessageType, to, term uint64) Message {
	last := r.raftLog.lastEntryID()
	return Message{Type: typ, From: r.id, To: to, Term: term, Index: last.index, LogTerm: last.term}
}
