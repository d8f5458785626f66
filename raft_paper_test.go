package raft

// The claims of the Raft paper (Ongaro and Ousterhout, "In Search of an
// Understandable Consensus Algorithm", extended version), one test per claim,
// each citing its section. Where the library follows the thesis instead
// (PreVote, §9.6), the test says so.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// §5.1: "If one server's current term is smaller than the other's, then it
// updates its current term to the larger value. If a candidate or leader
// discovers that its term is out of date, it immediately reverts to follower
// state." A leader's message also names the new leader.
func TestNodeSeeingHigherTermAdoptsItAndBecomesFollower(t *testing.T) {
	msgs := []struct {
		typ    MessageType
		reject bool
		// fromLeader: the sender is the leader of the new term.
		fromLeader bool
	}{
		{typ: MsgApp, fromLeader: true},
		{typ: MsgHeartbeat, fromLeader: true},
		{typ: MsgSnap, fromLeader: true},
		{typ: MsgVote},
		{typ: MsgVoteResp, reject: true},
		{typ: MsgPreVoteResp, reject: true},
		{typ: MsgAppResp},
		{typ: MsgHeartbeatResp},
		{typ: MsgReadIndexResp},
	}
	for _, role := range everyRole {
		for _, tc := range msgs {
			t.Run(fmt.Sprintf("%s/%s", role, tc.typ), func(t *testing.T) {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				term := r.Term + 2
				m := Message{Type: tc.typ, From: 3, To: 1, Term: term, Reject: tc.reject}
				require.NoError(t, c.step(m))
				require.Equal(t, StateFollower, r.state)
				require.Equal(t, term, r.Term)
				wantLead := None
				if tc.fromLeader {
					wantLead = 3
				}
				require.Equal(t, wantLead, r.lead)
				// The new term is persisted before anything else happens.
				c.output(1)
				hs, _, err := c.nodes[1].storage.InitialState()
				require.NoError(t, err)
				require.Equal(t, term, hs.Term)
			})
		}
	}
}

// Raft thesis §9.6: a pre-vote request, and a granted pre-vote, ask about a
// term no one has entered yet, so they change neither the receiver's term
// nor its role. (The exception to §5.1 that makes PreVote harmless.)
func TestPreVoteMessagesOfHigherTermChangeNoTerm(t *testing.T) {
	for _, role := range []StateType{StateFollower, StateCandidate, StateLeader} {
		t.Run(role.String(), func(t *testing.T) {
			c := newClusterInRole(t, role)
			r := c.raft(1)
			term, vote := r.Term, r.Vote
			require.NoError(t, c.step(msgWithLastEntry(r, MsgPreVote, 2, 1, term+1)))
			require.NoError(t, c.step(Message{Type: MsgPreVoteResp, From: 2, To: 1, Term: term + 1}))
			require.Equal(t, role, r.state)
			require.Equal(t, term, r.Term)
			require.Equal(t, vote, r.Vote)
			// The pre-vote is answered, in the term it asked about.
			resp := selectMsgs(c.output(1), MsgPreVoteResp, 2)
			require.Len(t, resp, 1)
			require.Equal(t, term+1, resp[0].Term)
		})
	}
}

// §5.1: "If a server receives a request with a stale term number, it rejects
// the request." The request changes nothing: not the log, not the term, not
// the vote, not the role. An answer, if any, carries the receiver's newer
// term, which tells the sender it is out of date.
func TestStaleTermMessageIsRejected(t *testing.T) {
	for _, role := range everyRole {
		for _, typ := range []MessageType{MsgApp, MsgHeartbeat, MsgSnap, MsgVote, MsgPreVote, MsgTimeoutNow, MsgAppResp, MsgVoteResp, MsgHeartbeatResp} {
			t.Run(fmt.Sprintf("%s/%s", role, typ), func(t *testing.T) {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				c.output(1)
				term, vote, lead := r.Term, r.Vote, r.lead
				last, commit := r.raftLog.lastEntryID(), r.raftLog.committed
				stale := term - 1
				m := msgWithLastEntry(r, typ, 2, 1, stale)
				switch typ {
				case MsgApp:
					// An append that would be accepted in its term.
					m.Index, m.LogTerm = r.raftLog.findConflictByTerm(last.index, stale)
					m.Entries = []Entry{{Index: last.index + 1, Term: stale, Data: []byte("stale")}}
					m.Commit = last.index + 1
				case MsgHeartbeat:
					m.Index, m.LogTerm, m.Commit = 0, 0, last.index
				case MsgSnap:
					m.Snapshot = &Snapshot{Metadata: SnapshotMetadata{
						Index: last.index + 5, Term: stale, ConfState: ConfState{Voters: []uint64{1, 2, 3}},
					}}
				}
				require.NoError(t, c.step(m))
				require.Equal(t, role, r.state)
				require.Equal(t, term, r.Term)
				require.Equal(t, vote, r.Vote)
				require.Equal(t, lead, r.lead)
				require.Equal(t, last, r.raftLog.lastEntryID())
				require.Equal(t, commit, r.raftLog.committed)
				for _, out := range c.output(1) {
					if out.To != 2 {
						continue
					}
					require.Equal(t, term, out.Term, "an answer to a stale message carries the newer term: %+v", out)
					require.True(t, out.Type == MsgAppResp || out.Reject, "a stale request is not granted: %+v", out)
					require.Zero(t, out.Index, "a stale append is not acknowledged: %+v", out)
				}
			})
		}
	}
}

// §5.1: "Current terms are exchanged whenever servers communicate"; a term
// only grows. Through elections, restarts and stale traffic, no node's term
// (nor its persisted term) ever goes down.
func TestTermNeverDecreases(t *testing.T) {
	c := newTestCluster(t, 5)
	terms := map[uint64]uint64{}
	check := func() {
		for _, id := range c.ids {
			r := c.raft(id)
			require.GreaterOrEqual(t, r.Term, terms[id], "node %d", id)
			hs, _, err := c.nodes[id].storage.InitialState()
			require.NoError(t, err)
			require.LessOrEqual(t, hs.Term, r.Term, "node %d", id)
			terms[id] = r.Term
		}
	}
	c.observe = func(Message) { check() }
	for i := range 10 {
		id := uint64(i%5 + 1)
		c.isolate(uint64((i+2)%5 + 1))
		c.campaign(id)
		_ = c.propose(id, fmt.Sprintf("v%d", i))
		c.restart(uint64((i+3)%5 + 1))
		c.heal()
		c.tickAll(3)
		check()
	}
}

// §5.2: "A candidate wins an election if it receives votes from a majority
// of the servers in the full cluster for the same term." Once it wins it
// sends AppendEntries to every other server to establish its authority.
func TestCandidateWinsWithMajorityOfVotes(t *testing.T) {
	for _, tc := range []struct {
		reachable []uint64 // the voters node 1 can reach, itself included
		win       bool
	}{
		{reachable: []uint64{1}, win: false},
		{reachable: []uint64{1, 2}, win: false},
		{reachable: []uint64{1, 2, 3}, win: true},
		{reachable: []uint64{1, 2, 3, 4}, win: true},
		{reachable: []uint64{1, 2, 3, 4, 5}, win: true},
	} {
		t.Run(fmt.Sprint(len(tc.reachable)), func(t *testing.T) {
			c := newTestCluster(t, 5)
			var others []uint64
			for _, id := range c.ids {
				if !slices.Contains(tc.reachable, id) {
					others = append(others, id)
				}
			}
			c.partition(tc.reachable, others)
			require.NoError(t, c.nodes[1].rn.Campaign())
			out := c.output(1)
			// The vote requests go out with the Ready that persists the
			// candidate's own vote.
			require.Len(t, selectMsgs(out, MsgVote, 2), 1)
			c.queue = append(c.queue, out...)
			c.stabilize()
			r := c.raft(1)
			require.Equal(t, uint64(2), r.Term)
			if !tc.win {
				require.Equal(t, StateCandidate, r.state)
				return
			}
			require.Equal(t, StateLeader, r.state)
			for _, id := range tc.reachable[1:] {
				require.Equal(t, uint64(1), c.raft(id).lead, "node %d follows the winner", id)
				require.Equal(t, uint64(1), c.raft(id).Vote, "node %d voted for the winner", id)
			}
		})
	}
}

// §5.2, §5.4.1: a candidate that a majority refuses (here because their logs
// are more up to date than its own) loses: it becomes a follower in the term
// it raised, and another server wins a later election.
func TestCandidateLosesWhenMajorityRejects(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	c.isolate(3)
	require.NoError(t, c.propose(1, "x"))
	c.heal()
	c.campaign(3)
	r3 := c.raft(3)
	require.Equal(t, StateFollower, r3.state)
	require.Equal(t, uint64(3), r3.Term)
	require.Equal(t, None, c.leader(), "the vote requests deposed the leader of term 2, and no one won term 3")
	for range 100 {
		if c.leader() != None {
			break
		}
		c.tickAll(1)
	}
	lead := c.leader()
	require.Contains(t, []uint64{1, 2}, lead, "only a node holding the committed entry can win")
	require.Greater(t, c.raft(lead).Term, uint64(3))
}

// §5.2: "if many followers become candidates at the same time, votes could
// be split so that no candidate obtains a majority. When this happens, each
// candidate will time out and start a new election by incrementing its term."
func TestSplitVoteLeadsToNewElectionInHigherTerm(t *testing.T) {
	c := newTestCluster(t, 4)
	// Node 3 hears only from candidate 1, node 4 only from candidate 2.
	for _, link := range [][2]uint64{{1, 2}, {1, 4}, {2, 3}} {
		c.partition([]uint64{link[0]}, []uint64{link[1]})
	}
	require.NoError(t, c.nodes[1].rn.Campaign())
	require.NoError(t, c.nodes[2].rn.Campaign())
	c.stabilize()
	for _, id := range []uint64{1, 2} {
		r := c.raft(id)
		require.Equal(t, StateCandidate, r.state, "node %d", id)
		require.Equal(t, uint64(2), r.Term, "node %d", id)
	}
	require.Equal(t, uint64(1), c.raft(3).Vote)
	require.Equal(t, uint64(2), c.raft(4).Vote)

	c.heal()
	for range 100 {
		if c.leader() != None {
			break
		}
		c.tickAll(1)
	}
	lead := c.leader()
	require.NotEqual(t, None, lead)
	require.GreaterOrEqual(t, c.raft(lead).Term, uint64(3))
}

// §5.2: "Raft uses randomized election timeouts ... election timeouts are
// chosen randomly from a fixed interval". Here the interval is
// [ElectionTick, 2*ElectionTick), and servers draw different timeouts, so
// that one usually times out alone. Measured on the real timer: an isolated
// node campaigns again each time its timeout expires.
func TestRandomizedElectionTimeoutsSpreadAndDiffer(t *testing.T) {
	const electionTick = 10
	c := newTestCluster(t, 5)
	seqs := map[uint64][]int{}
	for _, id := range c.ids {
		c.isolate(id)
		r := c.raft(id)
		seen := map[int]bool{}
		ticks := 0
		term := r.Term
		for len(seqs[id]) < 200 {
			c.nodes[id].rn.Tick()
			ticks++
			if r.Term == term {
				require.Less(t, ticks, 2*electionTick, "node %d did not campaign within 2*ElectionTick", id)
				continue
			}
			require.GreaterOrEqual(t, ticks, electionTick, "node %d campaigned before ElectionTick", id)
			seqs[id] = append(seqs[id], ticks)
			seen[ticks] = true
			ticks, term = 0, r.Term
		}
		require.Len(t, seen, electionTick, "node %d drew every timeout in [ElectionTick, 2*ElectionTick)", id)
	}
	for _, a := range c.ids {
		for _, b := range c.ids {
			if a < b {
				require.NotEqual(t, seqs[a][:20], seqs[b][:20], "nodes %d and %d draw the same timeouts", a, b)
			}
		}
	}
}

// §5.2: "While waiting for votes, a candidate may receive an AppendEntries
// RPC from another server claiming to be leader. If the leader's term ... is
// at least as large as the candidate's current term, then the candidate
// recognizes the leader as legitimate and returns to follower state."
func TestCandidateStepsDownOnAppendFromLeaderOfItsTerm(t *testing.T) {
	t.Run("candidate/MsgApp", func(t *testing.T) {
		c := newClusterInRole(t, StateCandidate)
		r := c.raft(1)
		term := r.Term
		// Node 2 wins the same term with node 3's vote, then appends to node 1.
		c.campaign(2)
		require.Equal(t, uint64(2), c.leader())
		require.Equal(t, term, c.raft(2).Term)
		require.Equal(t, StateFollower, r.state)
		require.Equal(t, term, r.Term)
		require.Equal(t, uint64(2), r.lead)
		require.Equal(t, c.logTerms(2), c.logTerms(1))
	})
	for _, role := range []StateType{StateCandidate, StatePreCandidate} {
		for _, typ := range []MessageType{MsgApp, MsgHeartbeat} {
			t.Run(fmt.Sprintf("%s/%s", role, typ), func(t *testing.T) {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				term := r.Term
				m := msgWithLastEntry(r, typ, 2, 1, term)
				if typ == MsgHeartbeat {
					m.Index, m.LogTerm = 0, 0
				}
				require.NoError(t, c.step(m))
				require.Equal(t, StateFollower, r.state)
				require.Equal(t, term, r.Term)
				require.Equal(t, uint64(2), r.lead)
			})
		}
	}
}

// §5.2: "Each server will vote for at most one candidate in a given term, on
// a first-come-first-served basis", and votedFor is persistent state
// (Figure 2): the vote is in the HardState of the Ready that must be
// written before the vote is sent, and survives a restart.
func TestFollowerVotesAtMostOncePerTerm(t *testing.T) {
	c := newClusterInRole(t, StateFollower)
	r := c.raft(1)
	term := r.Term + 1
	vote := func(from uint64) (granted bool) {
		require.NoError(t, c.step(msgWithLastEntry(c.raft(1), MsgVote, from, 1, term)))
		resp := selectMsgs(c.output(1), MsgVoteResp, from)
		require.Len(t, resp, 1)
		return !resp[0].Reject
	}
	require.True(t, vote(2), "first come")
	hs, _, err := c.nodes[1].storage.InitialState()
	require.NoError(t, err)
	require.Equal(t, HardState{Term: term, Vote: 2, Commit: r.raftLog.committed}, hs)
	require.False(t, vote(3), "a second candidate in the same term")
	require.True(t, vote(2), "the same candidate asking again gets the same answer")

	c.restart(1)
	require.Equal(t, uint64(2), c.raft(1).Vote)
	require.False(t, vote(3), "the vote survives a restart")
}

// §5.2: a follower "remains in follower state as long as it receives valid
// RPCs from a leader or candidate"; granting a vote is such an RPC, and
// restarts the election timer (Figure 2: "If election timeout elapses
// without ... granting vote to candidate: convert to candidate").
func TestGrantingVoteResetsElectionTimer(t *testing.T) {
	c := newClusterInRole(t, StateFollower)
	r := c.raft(1)
	// A higher term from a non-leader: a follower with no leader and no vote.
	term := r.Term + 1
	require.NoError(t, c.step(Message{Type: MsgHeartbeatResp, From: 2, To: 1, Term: term}))
	require.Equal(t, None, r.lead)
	require.Equal(t, None, r.Vote)
	timeout := r.randomizedElectionTimeout
	for range timeout - 1 {
		c.nodes[1].rn.Tick()
	}
	require.NoError(t, c.step(msgWithLastEntry(r, MsgVote, 2, 1, term)))
	require.Equal(t, uint64(2), r.Vote)
	require.Zero(t, r.electionElapsed)
	for range timeout - 1 {
		c.nodes[1].rn.Tick()
	}
	require.Equal(t, StateFollower, r.state, "2*timeout-2 ticks passed, but the vote restarted the timer")
	require.Equal(t, term, r.Term)
	c.nodes[1].rn.Tick()
	require.Equal(t, term+1, r.Term, "the timer, restarted by the vote, expired")
}

// §5.3: the leader appends the command to its log, issues AppendEntries in
// parallel, and once the entry is replicated on a majority it is committed;
// the leader includes its commit index in later AppendEntries, and so the
// followers learn it. A follower that is slow receives the entry later.
func TestLeaderReplicatesAndCommitsOnMajority(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	r1 := c.raft(1)
	release := c.hold(func(m Message) bool { return m.To == 3 })
	require.NoError(t, c.nodes[1].rn.Propose([]byte("x")))
	idx := r1.raftLog.lastIndex()
	ents, err := r1.raftLog.slice(idx, idx+1, noLimit)
	require.NoError(t, err)
	require.Equal(t, []Entry{{Term: r1.Term, Index: idx, Data: []byte("x")}}, ents)
	require.Less(t, r1.raftLog.committed, idx)

	c.stabilize()
	require.Equal(t, idx, r1.raftLog.committed, "leader and node 2 are a majority")
	require.Equal(t, idx, c.raft(2).raftLog.committed, "node 2 learns the commit index")
	require.Equal(t, []string{"x"}, c.appliedData(1))
	require.Equal(t, []string{"x"}, c.appliedData(2))
	require.Less(t, c.raft(3).raftLog.lastIndex(), idx)

	release()
	c.stabilize()
	require.Equal(t, idx, c.raft(3).raftLog.committed)
	require.Equal(t, []string{"x"}, c.appliedData(3))
}

// §5.3: "If followers crash or run slowly, or if network packets are lost,
// the leader retries AppendEntries RPCs indefinitely (even after it has
// responded to the client) until all followers eventually store all log
// entries." Here every append carrying a new entry is lost; once the network
// delivers again, the leader's heartbeats lead it to resend, and the entry
// commits without any further proposal.
func TestLeaderRetriesLostAppendsUntilFollowersStoreThem(t *testing.T) {
	for _, lost := range [][]uint64{{3}, {2, 3}} {
		t.Run(fmt.Sprint(lost), func(t *testing.T) {
			c := newTestCluster(t, 3)
			c.campaign(1)
			c.drop = func(m Message) bool { return m.Type == MsgApp && slices.Contains(lost, m.To) }
			require.NoError(t, c.propose(1, "x"))
			c.drop = nil
			c.tick(1, 20)
			for _, id := range c.ids {
				require.Equal(t, []string{"x"}, c.appliedData(id), "node %d", id)
			}
		})
	}
}

// newLoneNodeWithLog returns a one-node testCluster holding node 1 of voters
// {1, 2, 3}, over a log with the given terms and hs. Messages to 2 and 3 are
// queued but never delivered; read them with output.
func newLoneNodeWithLog(t testing.TB, terms []uint64, hs HardState, configure ...func(*Config)) *testCluster {
	s := newStorageWithLog(t, []uint64{1, 2, 3}, terms, hs)
	c := newTestClusterFromStorage(t, map[uint64]*MemoryStorage{1: s}, configure...)
	c.output(1)
	return c
}

// §5.3, consistency check: "If the follower does not find an entry in its
// log with the same index and term, then it refuses the new entries."
func TestFollowerRejectsAppendWhenPrevEntryMismatches(t *testing.T) {
	for _, tc := range []struct {
		index, logTerm uint64
		reject         bool
	}{
		{index: 1, logTerm: 1, reject: false},
		{index: 2, logTerm: 1, reject: false},
		{index: 4, logTerm: 2, reject: false},
		{index: 4, logTerm: 3, reject: true}, // same index, other term
		{index: 3, logTerm: 1, reject: true},
		{index: 5, logTerm: 2, reject: true}, // past the end of the log
		{index: 9, logTerm: 3, reject: true},
	} {
		t.Run(fmt.Sprintf("%d@%d", tc.index, tc.logTerm), func(t *testing.T) {
			c := newLoneNodeWithLog(t, []uint64{1, 1, 2, 2}, HardState{Term: 3, Commit: 1})
			ent := Entry{Index: tc.index + 1, Term: 3, Data: []byte("new")}
			require.NoError(t, c.step(Message{Type: MsgApp, From: 2, To: 1, Term: 3,
				Index: tc.index, LogTerm: tc.logTerm, Entries: []Entry{ent}}))
			resp := selectMsgs(c.output(1), MsgAppResp, 2)
			require.Len(t, resp, 1)
			require.Equal(t, tc.reject, resp[0].Reject)
			if tc.reject {
				require.Equal(t, []uint64{1, 1, 2, 2}, c.logTerms(1), "the log is unchanged")
				require.Equal(t, tc.index, resp[0].Index, "the rejection names the append it rejects")
				require.LessOrEqual(t, resp[0].RejectHint, uint64(4), "the hint lies within the follower's log")
				return
			}
			require.Equal(t, tc.index+1, resp[0].Index)
			require.Equal(t, append([]uint64{1, 1, 2, 2}[:tc.index], 3), c.logTerms(1))
		})
	}
}

// §5.3: "If an existing entry conflicts with a new one (same index but
// different terms), delete the existing entry and all that follow it"
// (Figure 2); entries that do not conflict are kept, even past the new ones,
// since a delayed append must not undo a later one.
func TestFollowerTruncatesOnlyConflictingSuffix(t *testing.T) {
	for _, tc := range []struct {
		name           string
		index, logTerm uint64
		ents           []uint64 // terms of the entries sent, after index
		want           []uint64
		ack            uint64
	}{
		{name: "conflict", index: 2, logTerm: 1, ents: []uint64{2, 3}, want: []uint64{1, 1, 2, 3}, ack: 4},
		{name: "conflict at first", index: 2, logTerm: 1, ents: []uint64{3}, want: []uint64{1, 1, 3}, ack: 3},
		{name: "duplicate", index: 2, logTerm: 1, ents: []uint64{2}, want: []uint64{1, 1, 2, 2, 2}, ack: 3},
		{name: "extend", index: 5, logTerm: 2, ents: []uint64{3, 3}, want: []uint64{1, 1, 2, 2, 2, 3, 3}, ack: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLoneNodeWithLog(t, []uint64{1, 1, 2, 2, 2}, HardState{Term: 3, Commit: 1})
			var ents []Entry
			for i, term := range tc.ents {
				ents = append(ents, Entry{Index: tc.index + 1 + uint64(i), Term: term})
			}
			require.NoError(t, c.step(Message{Type: MsgApp, From: 2, To: 1, Term: 3,
				Index: tc.index, LogTerm: tc.logTerm, Entries: ents}))
			resp := selectMsgs(c.output(1), MsgAppResp, 2)
			require.Len(t, resp, 1)
			require.False(t, resp[0].Reject)
			require.Equal(t, tc.ack, resp[0].Index, "the follower acknowledges what the append covered")
			require.Equal(t, tc.want, c.logTerms(1))
			stored, err := c.nodes[1].storage.Entries(1, uint64(len(tc.want))+1, noLimit)
			require.NoError(t, err)
			require.Len(t, stored, len(tc.want), "the storage holds the same log")
			last, err := c.nodes[1].storage.LastIndex()
			require.NoError(t, err)
			require.Equal(t, uint64(len(tc.want)), last)
		})
	}
}

// §5.3, Figure 7: whatever the follower's log — missing entries (a, b), extra
// uncommitted entries (c, d), both (e, f) — the leader of term 8 brings it to
// its own log. The follower's rejection names the term of its conflicting
// entry and the leader skips that whole term at once ("the leader can
// decrement nextIndex to bypass all of the conflicting entries in that
// term; one AppendEntries RPC will be required for each term with
// conflicting entries, rather than one RPC per entry").
func TestFigure7FollowersConvergeToLeader(t *testing.T) {
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	for _, tc := range []struct {
		name     string
		follower []uint64
		leader   []uint64
	}{
		{name: "a", follower: []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}},
		{name: "b", follower: []uint64{1, 1, 1, 4}},
		{name: "c", follower: []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},
		{name: "d", follower: []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},
		{name: "e", follower: []uint64{1, 1, 1, 4, 4, 4, 4}},
		{name: "f", follower: []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},
		// Not in the figure: conflicting terms interleave with the
		// leader's, so each rejection skips one term on each side.
		{name: "interleaved", follower: []uint64{1, 2, 2, 4, 4, 6, 6}, leader: []uint64{1, 3, 3, 5, 5, 7, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leader := leaderLog
			if tc.leader != nil {
				leader = tc.leader
			}
			// Node 3 holds the leader's log and votes for it; node 2 is the
			// follower of the figure. All have seen term 7.
			voters := []uint64{1, 2, 3}
			hs := HardState{Term: 7, Commit: 1}
			c := newTestClusterFromStorage(t, map[uint64]*MemoryStorage{
				1: newStorageWithLog(t, voters, leader, hs),
				2: newStorageWithLog(t, voters, tc.follower, hs),
				3: newStorageWithLog(t, voters, leader, hs),
			})
			rejections := c.countDelivered(func(m Message) bool {
				return m.Type == MsgAppResp && m.From == 2 && m.Reject
			}, func() { c.campaign(1) })
			require.Equal(t, uint64(1), c.leader())
			require.Equal(t, uint64(8), c.raft(1).Term)
			want := append(slices.Clone(leader), 8)
			for _, id := range c.ids {
				require.Equal(t, want, c.logTerms(id), "node %d", id)
				require.Equal(t, uint64(len(want)), c.raft(id).raftLog.committed, "node %d", id)
			}

			// One round trip per conflicting term, plus one for a log that
			// is merely short.
			match := 0
			for match < len(tc.follower) && match < len(leader) && tc.follower[match] == leader[match] {
				match++
			}
			conflicting := map[uint64]bool{}
			for _, term := range tc.follower[match:] {
				conflicting[term] = true
			}
			require.LessOrEqual(t, rejections, len(conflicting)+1,
				"rejections for a follower with %d conflicting terms", len(conflicting))
			t.Logf("follower %s: %d rejected appends", tc.name, rejections)
		})
	}
}

// Figure 3, Leader Append-Only: "a leader never overwrites or deletes
// entries in its log; it only appends new entries." An append or a snapshot
// that claims to come from another leader of the same term changes nothing.
func TestLeaderNeverOverwritesItsLog(t *testing.T) {
	c := newClusterInRole(t, StateLeader)
	r := c.raft(1)
	before := c.logTerms(1)
	last := r.raftLog.lastEntryID()
	require.NoError(t, c.step(Message{Type: MsgApp, From: 2, To: 1, Term: r.Term, Index: last.index - 2,
		LogTerm: zeroTermOnOutOfBounds(r.raftLog.term(last.index - 2)),
		Entries: []Entry{{Index: last.index - 1, Term: r.Term}}, Commit: last.index - 1}))
	require.NoError(t, c.step(Message{Type: MsgSnap, From: 2, To: 1, Term: r.Term, Snapshot: &Snapshot{
		Metadata: SnapshotMetadata{Index: last.index + 3, Term: r.Term, ConfState: ConfState{Voters: []uint64{1, 2, 3}}},
	}}))
	require.Equal(t, StateLeader, r.state)
	require.Equal(t, before, c.logTerms(1))
	c.stabilize()
	require.Equal(t, before, c.logTerms(1))
}

// §5.4.1: "the voter denies its vote if its own log is more up-to-date than
// that of the candidate. ... If the logs have last entries with different
// terms, then the log with the later term is more up-to-date. If the logs
// end with the same term, then whichever log is longer is more up-to-date."
// A pre-vote (thesis §9.6) applies the same rule.
func TestVoteGrantedOnlyToUpToDateCandidate(t *testing.T) {
	// The voter's log ends at index 4, term 2.
	for _, tc := range []struct {
		lastIndex, lastTerm uint64
		grant               bool
	}{
		{lastIndex: 10, lastTerm: 1, grant: false}, // longer, but older last term
		{lastIndex: 3, lastTerm: 2, grant: false},  // same last term, shorter
		{lastIndex: 0, lastTerm: 0, grant: false},  // empty
		{lastIndex: 4, lastTerm: 2, grant: true},   // same
		{lastIndex: 5, lastTerm: 2, grant: true},   // same last term, longer
		{lastIndex: 1, lastTerm: 3, grant: true},   // newer last term, shorter
	} {
		for _, typ := range []MessageType{MsgVote, MsgPreVote} {
			t.Run(fmt.Sprintf("%s/%d@%d", typ, tc.lastIndex, tc.lastTerm), func(t *testing.T) {
				c := newLoneNodeWithLog(t, []uint64{1, 1, 2, 2}, HardState{Term: 2, Commit: 1})
				require.NoError(t, c.step(Message{Type: typ, From: 2, To: 1, Term: 3,
					Index: tc.lastIndex, LogTerm: tc.lastTerm}))
				resp := selectMsgs(c.output(1), voteRespMsgType(typ), 2)
				require.Len(t, resp, 1)
				require.Equal(t, !tc.grant, resp[0].Reject)
				if typ == MsgVote && tc.grant {
					require.Equal(t, uint64(2), c.raft(1).Vote)
				} else {
					require.Equal(t, None, c.raft(1).Vote)
				}
			})
		}
	}
}

// §5.4.2, Figure 8: "a leader cannot immediately conclude that an entry from
// a previous term is committed once it is stored on a majority of servers";
// "Raft never commits log entries from previous terms by counting replicas.
// Only log entries from the leader's current term are committed by counting
// replicas; once an entry from the current term has been committed in this
// way, then all prior entries are committed indirectly."
//
// The scenario of the figure with five servers, where index 2 holds S1's
// entry of term 2 (S1 led term 2 and replicated it to no one) and S5's entry
// of term 3 (S5 led term 3):
//
//	      S1      S2    S3    S4    S5
//	(c)   1 2 4   1 2   1 2   1     1 3    S1 leads term 4: 2@2 on a majority
//	(d)   1 3 5   1 3 5 1 3 5 1 3 5 1 3 5  S5 wins term 5 and overwrites it
//	(e)   1 2 4   1 2 4 1 2 4 1     1 3    or S1 commits 3@4, and 2@2 with it
func TestFigure8OlderTermEntryCommitsOnlyThroughCurrentTerm(t *testing.T) {
	voters := []uint64{1, 2, 3, 4, 5}
	// situationC builds (c): S1 leads term 4, its entry 2@2 is stored by S2
	// and S3 and S1 knows it, while its entry 3@4 is held back. It returns
	// the function that lets the held appends go.
	situationC := func(t *testing.T) (*testCluster, func()) {
		c := newTestClusterFromStorage(t, map[uint64]*MemoryStorage{
			1: newStorageWithLog(t, voters, []uint64{1, 2}, HardState{Term: 3, Commit: 1}),
			2: newStorageWithLog(t, voters, []uint64{1}, HardState{Term: 3, Commit: 1}),
			3: newStorageWithLog(t, voters, []uint64{1}, HardState{Term: 3, Vote: 5, Commit: 1}),
			4: newStorageWithLog(t, voters, []uint64{1}, HardState{Term: 3, Vote: 5, Commit: 1}),
			5: newStorageWithLog(t, voters, []uint64{1, 3}, HardState{Term: 3, Vote: 5, Commit: 1}),
		}, func(cfg *Config) { cfg.MaxSizePerMsg = 1 }) // one entry per append
		c.stabilize()
		c.partition([]uint64{1, 2, 3}, []uint64{4, 5})
		release := c.hold(func(m Message) bool {
			return m.Type == MsgApp && len(m.Entries) > 0 && m.Entries[0].Term == 4 &&
				c.raft(m.To).raftLog.lastIndex() >= 2
		})
		c.campaign(1)
		r1 := c.raft(1)
		require.Equal(t, uint64(1), c.leader())
		require.Equal(t, uint64(4), r1.Term)
		require.Equal(t, []uint64{1, 2, 4}, c.logTerms(1))
		require.Equal(t, []uint64{1, 2}, c.logTerms(2))
		require.Equal(t, []uint64{1, 2}, c.logTerms(3))
		for id, match := range map[uint64]uint64{1: 3, 2: 2, 3: 2} {
			require.Equal(t, match, r1.trk.progress[id].Match, "S1 knows what S%d stores", id)
		}
		require.Equal(t, uint64(2), r1.trk.committed(), "2@2 is stored on a majority")
		require.Equal(t, uint64(1), r1.raftLog.committed, "but is not committed: it is of term 2")
		return c, release
	}

	t.Run("d: S5 overwrites the entry a majority stored", func(t *testing.T) {
		c, release := situationC(t)
		release()
		c.heal()
		c.isolate(1) // S1 crashes with its appends of term 4 undelivered
		c.queue = nil
		c.campaign(5) // term 4: S2 and S3 already voted, for S1
		require.NotEqual(t, uint64(5), c.leader())
		c.campaign(5) // term 5: S2, S3 and S4 grant, since S5's log ends in term 3
		require.Equal(t, uint64(5), c.leader())
		for _, id := range []uint64{2, 3, 4, 5} {
			require.Equal(t, []uint64{1, 3, 5}, c.logTerms(id), "S%d", id)
		}
		c.heal()
		c.tick(5, 1)
		require.Equal(t, []uint64{1, 3, 5}, c.logTerms(1))
		for _, id := range c.ids {
			require.Equal(t, uint64(3), c.raft(id).raftLog.committed, "S%d", id)
			for _, e := range c.nodes[id].applied {
				require.False(t, e.Index == 2 && e.Term == 2, "S%d applied the overwritten entry 2@2", id)
			}
		}
	})

	t.Run("e: S1 commits its term-4 entry and the older one with it", func(t *testing.T) {
		c, release := situationC(t)
		release()
		c.stabilize()
		r1 := c.raft(1)
		require.Equal(t, uint64(3), r1.raftLog.committed)
		for _, id := range []uint64{1, 2, 3} {
			require.Equal(t, []uint64{1, 2, 4}, c.logTerms(id), "S%d", id)
			require.Equal(t, uint64(3), c.raft(id).raftLog.committed, "S%d", id)
			applied := c.nodes[id].applied
			require.Equal(t, Entry{Index: 2, Term: 2}, applied[len(applied)-2], "S%d applies 2@2", id)
		}
		// Now that 2@2 is committed, S5 can never win: a majority holds a
		// log that ends in term 4.
		c.heal()
		c.isolate(1)
		for range 3 {
			c.campaign(5)
			require.NotEqual(t, uint64(5), c.leader())
		}
		for _, id := range []uint64{2, 3} {
			require.Equal(t, []uint64{1, 2, 4}, c.logTerms(id), "S%d", id)
		}
	})
}

// Figure 2: currentTerm, votedFor and log[] are "persistent state on all
// servers (updated on stable storage before responding to RPCs)"; together
// with the commit index they are all a restarted node needs to resume.
func TestRestartedNodeResumesTermVoteAndCommit(t *testing.T) {
	hs := HardState{Term: 6, Vote: 3, Commit: 4}
	terms := []uint64{1, 1, 2, 5, 5}
	s := newStorageWithLog(t, []uint64{1, 2, 3}, terms, hs)
	c := newTestClusterFromStorage(t, map[uint64]*MemoryStorage{1: s})
	st := c.status(1)
	require.Equal(t, hs, st.HardState)
	require.Equal(t, StateFollower, st.RaftState)
	require.Equal(t, terms, c.logTerms(1))
	// The committed entries are handed out to apply; the rest wait.
	c.output(1)
	require.Len(t, c.nodes[1].applied, 4)
	require.Equal(t, uint64(4), c.status(1).Applied)
	// The vote of term 6 still stands.
	require.NoError(t, c.step(msgWithLastEntry(c.raft(1), MsgVote, 2, 1, 6)))
	resp := selectMsgs(c.output(1), MsgVoteResp, 2)
	require.Len(t, resp, 1)
	require.True(t, resp[0].Reject)
	require.NoError(t, c.step(msgWithLastEntry(c.raft(1), MsgVote, 3, 1, 6)))
	resp = selectMsgs(c.output(1), MsgVoteResp, 3)
	require.Len(t, resp, 1)
	require.False(t, resp[0].Reject)

	// A restart through the cluster helper, mid-term, resumes the same way.
	c2 := newTestCluster(t, 3)
	c2.campaign(2)
	require.NoError(t, c2.propose(2, "a"))
	before := c2.status(1).HardState
	c2.restart(1)
	require.Equal(t, before, c2.status(1).HardState)
	require.Equal(t, uint64(2), c2.raft(1).Vote)
}
