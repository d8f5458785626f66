package raft

// Linearizable reads without writing to the log: the ReadIndex protocol
// (Raft paper §8, thesis §6.4) and lease-based reads (thesis §6.4.1).

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func enableLeaseReads(cfg *Config) { cfg.ReadOnlyOption = ReadOnlyLeaseBased }

// readCluster is a testCluster that also records the ReadStates each node
// hands out, which the cluster's own Ready loop discards. Its stabilize and
// the methods that stabilize (tick, tickAll, tickNodes, campaign, propose)
// record them; call these, not the testCluster's, once reads are issued.
type readCluster struct {
	*testCluster
	reads map[uint64][]ReadState
}

func newReadCluster(t testing.TB, n int, configure ...func(*Config)) *readCluster {
	return &readCluster{testCluster: newTestCluster(t, n, configure...), reads: map[uint64][]ReadState{}}
}

func (rc *readCluster) stabilize() {
	for range 10000 {
		busy := false
		for _, id := range rc.ids {
			rs := rc.raft(id).readStates
			if rc.handleReady(id) {
				busy = true
				rc.reads[id] = append(rc.reads[id], rs...)
			}
		}
		if rc.deliver() {
			busy = true
		}
		if !busy {
			return
		}
	}
	rc.t.Fatal("cluster did not stabilize")
}

func (rc *readCluster) tick(id uint64, n int) { rc.tickNodes([]uint64{id}, n) }

func (rc *readCluster) tickAll(n int) { rc.tickNodes(rc.ids, n) }

func (rc *readCluster) tickNodes(ids []uint64, n int) {
	for range n {
		for _, id := range ids {
			rc.nodes[id].rn.Tick()
		}
		rc.stabilize()
	}
}

func (rc *readCluster) campaign(id uint64) {
	require.NoError(rc.t, rc.nodes[id].rn.Campaign())
	rc.stabilize()
}

func (rc *readCluster) propose(id uint64, data string) error {
	err := rc.nodes[id].rn.Propose([]byte(data))
	rc.stabilize()
	return err
}

// readIndex asks node id for a read index with context ctx, and stabilizes.
func (rc *readCluster) readIndex(id uint64, ctx string) {
	rc.nodes[id].rn.ReadIndex([]byte(ctx))
	rc.stabilize()
}

// lastAppliedIndex returns the index of the last entry node id applied.
func (rc *readCluster) lastAppliedIndex(id uint64) uint64 {
	applied := rc.nodes[id].applied
	require.NotEmpty(rc.t, applied)
	return applied[len(applied)-1].Index
}

func readState(index uint64, ctx string) ReadState {
	return ReadState{Index: index, RequestCtx: []byte(ctx)}
}

// Paper §8: "a leader must check whether it has been deposed before
// processing a read-only request (its information may be stale if a more
// recent leader has been elected)". A leader cut off with a minority keeps
// believing it leads, and one follower still acknowledges its heartbeats,
// but two of five is no quorum: none of its reads is ever answered, not
// while partitioned, nor after it learns of the new leader.
func TestReadIndexDeposedLeaderInMinorityNeverAnswers(t *testing.T) {
	rc := newReadCluster(t, 5)
	et := rc.raft(1).electionTimeout
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))
	rc.partition([]uint64{1, 2}, []uint64{3, 4, 5})
	rc.campaign(3)
	require.Equal(t, StateLeader, rc.raft(3).state)
	require.NoError(t, rc.propose(3, "b"))

	acks := rc.countDelivered(func(m Message) bool { return m.Type == MsgHeartbeatResp && m.To == 1 }, func() {
		rc.readIndex(1, "stale-1")
		rc.tickNodes([]uint64{1, 2}, et)
		rc.nodes[2].rn.ReadIndex([]byte("stale-2")) // forwarded to node 1
		rc.tickNodes([]uint64{1, 2}, 2*et)
	})
	require.Positive(t, acks, "node 2 acknowledges the old leader's heartbeats")
	require.Equal(t, StateLeader, rc.raft(1).state, "node 1 still believes it leads")

	rc.heal()
	rc.tickAll(2 * et)
	require.Equal(t, uint64(3), rc.leader())
	for _, id := range rc.ids {
		require.Empty(t, rc.reads[id], "node %d", id)
	}
}

// Paper §8: reads must not return stale data. The read index of a read made
// after a write was acknowledged is at or past the write's index, on the
// leader and through a follower, so applying up to it shows the write.
func TestReadIndexAfterAcknowledgedWriteCoversIt(t *testing.T) {
	rc := newReadCluster(t, 3)
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "w"))
	write := rc.lastAppliedIndex(1) // acknowledged: node 1 applied it

	rc.readIndex(1, "on-leader")
	rc.readIndex(2, "on-follower")
	require.Len(t, rc.reads[1], 1)
	require.Len(t, rc.reads[2], 1)
	require.GreaterOrEqual(t, rc.reads[1][0].Index, write)
	require.GreaterOrEqual(t, rc.reads[2][0].Index, write)
	require.Equal(t, []byte("on-leader"), rc.reads[1][0].RequestCtx)
	require.Equal(t, []byte("on-follower"), rc.reads[2][0].RequestCtx)
}

// Thesis §6.4, step 3: "The leader sends a new round of heartbeats and waits
// for their acknowledgments from a majority". The round is the leader's own,
// in its own term: a request context used before, on a deposed leader whose
// read was never confirmed, gives the new leader no shortcut. Its answer
// comes only after a quorum acknowledged a heartbeat round of its own, and
// never while acknowledgements are lost.
func TestReadIndexSameContextAcrossLeadershipChangeNeedsOwnRound(t *testing.T) {
	rc := newReadCluster(t, 3)
	et := rc.raft(1).electionTimeout
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))

	rc.dropTypes[MsgHeartbeatResp] = true
	rc.readIndex(1, "x")
	rc.campaign(2) // deposes node 1 before its read was confirmed
	require.Equal(t, uint64(2), rc.leader())
	newTerm := rc.raft(2).Term
	rc.readIndex(2, "x")
	rc.tickAll(et)
	for _, id := range rc.ids {
		require.Empty(t, rc.reads[id], "node %d: a read was answered without a confirmed round", id)
	}

	delete(rc.dropTypes, MsgHeartbeatResp)
	confirmations := rc.countDelivered(func(m Message) bool {
		return m.Type == MsgHeartbeatResp && m.To == 2 && m.Term == newTerm && m.Index > 0
	}, func() { rc.tick(2, 1) })
	require.Positive(t, confirmations)
	require.Equal(t, []ReadState{readState(rc.raft(2).raftLog.committed, "x")}, rc.reads[2])
	require.Empty(t, rc.reads[1])
	require.Empty(t, rc.reads[3])
}

// Thesis §6.4: "Followers could also help offload the processing of
// read-only queries": a follower asks the leader for the read index
// (MsgReadIndex), the leader confirms it with a heartbeat round and answers
// (MsgReadIndexResp), and the follower hands the ReadState to its host.
func TestReadIndexForwardedFromFollower(t *testing.T) {
	rc := newReadCluster(t, 3)
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))

	var seen []MessageType
	rc.observe = func(m Message) {
		switch {
		case m.Type == MsgReadIndex && m.From == 3 && m.To == 1,
			m.Type == MsgHeartbeat && m.Index > 0,
			m.Type == MsgHeartbeatResp && m.Index > 0,
			m.Type == MsgReadIndexResp && m.From == 1 && m.To == 3:
			seen = append(seen, m.Type)
		}
	}
	rc.readIndex(3, "f")
	rc.observe = nil

	require.Equal(t, []MessageType{
		MsgReadIndex,
		MsgHeartbeat, MsgHeartbeat,
		MsgHeartbeatResp, MsgHeartbeatResp,
		MsgReadIndexResp,
	}, seen)
	require.Equal(t, []ReadState{readState(rc.raft(1).raftLog.committed, "f")}, rc.reads[3])
	require.Empty(t, rc.reads[1])
}

// Paper §8: "the leader must have the latest information on which entries
// are committed ... Raft handles this by having each leader commit a blank
// no-op entry into the log at the start of its term." A new leader's commit
// index may lag what earlier leaders committed until its no-op commits, so
// reads it gets before then wait for it; they are answered after it, with
// an index at or past the no-op, and none is lost.
func TestReadIndexOnNewLeaderWaitsForFirstCommitOfTerm(t *testing.T) {
	rc := newReadCluster(t, 3)
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))

	release := rc.hold(func(m Message) bool { return m.Type == MsgAppResp && m.To == 2 })
	rc.campaign(2)
	r2 := rc.raft(2)
	require.Equal(t, StateLeader, r2.state)
	noop := r2.raftLog.lastIndex()
	require.Less(t, r2.raftLog.committed, noop, "the no-op is not committed yet")

	rc.readIndex(2, "on-leader")
	rc.readIndex(3, "on-follower")
	rc.readIndex(2, "on-leader-2")
	for _, id := range rc.ids {
		require.Empty(t, rc.reads[id], "node %d", id)
	}

	release()
	rc.stabilize()
	require.GreaterOrEqual(t, r2.raftLog.committed, noop)
	require.Equal(t, []ReadState{readState(noop, "on-leader"), readState(noop, "on-leader-2")}, rc.reads[2])
	require.Equal(t, []ReadState{readState(noop, "on-follower")}, rc.reads[3])
}

// Paper §8 for a cluster of one: no other voter could elect another leader,
// so the leader answers from its commit index at once, without any message
// (but still only after the first commit of its term).
func TestReadIndexSingleVoterAnswersAtOnce(t *testing.T) {
	rc := newReadCluster(t, 1)
	rn := rc.nodes[1].rn
	r := rc.raft(1)
	require.NoError(t, rn.Campaign())
	rc.handleReady(1) // persists the vote; on Advance node 1 counts it and leads
	require.Equal(t, StateLeader, r.state)
	noop := r.raftLog.lastIndex()
	require.Less(t, r.raftLog.committed, noop)

	rn.ReadIndex([]byte("early"))
	require.Empty(t, r.readStates, "waits for the no-op to commit")
	rc.stabilize()
	require.Equal(t, []ReadState{readState(noop, "early")}, rc.reads[1])

	rn.ReadIndex([]byte("now"))
	require.Equal(t, []ReadState{readState(r.raftLog.committed, "now")}, r.readStates, "answered at once")
	require.Empty(t, r.msgs)
}

// Thesis §6.4: each read is confirmed by a heartbeat round that started
// after it was made. Rounds are numbered by the leader, so two reads with
// the same context are two requests: an acknowledgement of the first
// read's round does not answer the second; concurrent reads with the same
// context are all answered, in the order they were made.
func TestReadIndexRoundsKeyedByLeaderCounterNotContext(t *testing.T) {
	t.Run("older round does not confirm newer", func(t *testing.T) {
		rc := newReadCluster(t, 3)
		rc.campaign(1)
		require.NoError(t, rc.propose(1, "a"))
		rn, r := rc.nodes[1].rn, rc.raft(1)
		index := r.raftLog.committed

		rn.ReadIndex([]byte("dup"))
		rc.handleReady(1) // the heartbeats of the first read's round
		rc.deliver()
		rc.handleReady(2) // their acknowledgements, queued
		rc.handleReady(3)
		rn.ReadIndex([]byte("dup")) // the second read, in a new round
		rc.deliver()                // the first round's acknowledgements arrive
		require.Equal(t, []ReadState{readState(index, "dup")}, r.readStates, "only the first read is confirmed")

		rc.stabilize()
		require.Equal(t, []ReadState{readState(index, "dup"), readState(index, "dup")}, rc.reads[1])
	})
	t.Run("concurrent reads all answered in order", func(t *testing.T) {
		rc := newReadCluster(t, 3)
		rc.campaign(1)
		require.NoError(t, rc.propose(1, "a"))
		rc.dropTypes[MsgHeartbeatResp] = true
		rc.readIndex(1, "dup")
		first := rc.raft(1).raftLog.committed
		require.NoError(t, rc.propose(1, "b"))
		rc.readIndex(1, "dup")
		second := rc.raft(1).raftLog.committed
		require.Greater(t, second, first)
		require.Empty(t, rc.reads[1])

		delete(rc.dropTypes, MsgHeartbeatResp)
		rc.tick(1, 1)
		require.Equal(t, []ReadState{readState(first, "dup"), readState(second, "dup")}, rc.reads[1])
	})
}

// Thesis §6.4.1: with a lease, "the leader would service read-only queries
// without communicating with any other servers". No heartbeat is sent for a
// lease read, on the leader or forwarded by a follower.
func TestReadIndexLeaseBasedServedWithoutHeartbeats(t *testing.T) {
	rc := newReadCluster(t, 3, enableCheckQuorum, enableLeaseReads)
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))
	index := rc.raft(1).raftLog.committed
	// The lease starts with a heartbeat round a quorum confirmed.
	rc.tick(1, 1)

	heartbeats := rc.countDelivered(func(m Message) bool { return m.Type == MsgHeartbeat }, func() {
		rc.nodes[1].rn.ReadIndex([]byte("lease"))
		require.Equal(t, []ReadState{readState(index, "lease")}, rc.raft(1).readStates, "answered at once")
		require.Empty(t, rc.raft(1).msgs)
		rc.stabilize()
		rc.readIndex(3, "lease-forwarded")
	})
	require.Zero(t, heartbeats)
	require.Equal(t, []ReadState{readState(index, "lease")}, rc.reads[1])
	require.Equal(t, []ReadState{readState(index, "lease-forwarded")}, rc.reads[3])
}

// Thesis §6.4.1: a lease relies on CheckQuorum, which makes followers refuse
// votes while they hear from the leader and the leader step down when it
// stops hearing from them. Without it the configuration is refused.
func TestReadIndexLeaseBasedNeedsCheckQuorum(t *testing.T) {
	cfg := &Config{ID: 1, Storage: NewMemoryStorage(), MaxInflightMsgs: 256, ReadOnlyOption: ReadOnlyLeaseBased, Logger: DiscardLogger}
	require.ErrorIs(t, cfg.Validate(), ErrInvalidConfig)
	_, err := NewRawNode(cfg)
	require.ErrorIs(t, err, ErrInvalidConfig)

	cfg.CheckQuorum = true
	require.NoError(t, cfg.Validate())
	_, err = NewRawNode(cfg)
	require.NoError(t, err)
}

// Thesis §6.4.1: "once the leader's heartbeats were acknowledged by a
// majority of the cluster, it would extend its lease to start + election
// timeout ..., since the followers shouldn't time out before then. While
// the leader held its lease, it would service read-only queries". Past
// that, the followers may have elected another leader that committed new
// writes, so a lease read must not be served. With every clock ticking at
// the same rate, a leader cut off from the cluster must not answer a lease
// read after the majority elected a new leader and committed a write.
func TestReadIndexLeaseBasedNotServedAfterLeaseExpires(t *testing.T) {
	rc := newReadCluster(t, 3, enablePreVote, enableCheckQuorum, enableLeaseReads)
	et := rc.raft(1).electionTimeout
	rc.campaign(1)
	require.NoError(t, rc.propose(1, "a"))
	rc.isolate(1)

	for range 4 * et {
		if rc.leaderAmong(2, 3) != None {
			break
		}
		rc.tickAll(1)
	}
	lead := rc.leaderAmong(2, 3)
	require.NotEqual(t, None, lead, "the majority elects a leader")
	require.NoError(t, rc.propose(lead, "w"))
	write := rc.lastAppliedIndex(lead)

	rc.readIndex(1, "after-new-write")
	for _, rs := range rc.reads[1] {
		require.GreaterOrEqual(t, rs.Index, write,
			"stale lease read: node 1 (state %s) answered from index %d after node %d committed a write at %d",
			rc.raft(1).state, rs.Index, lead, write)
	}
}

// Paper §8: only a leader can confirm a read index. A node that knows of no
// leader drops a read at once (the host retries after a timeout), and a
// follower takes an answer only from its own leader: an answer from another
// node may come from a deposed leader.
func TestReadIndexNeedsKnownLeader(t *testing.T) {
	t.Run("no leader", func(t *testing.T) {
		rc := newReadCluster(t, 3) // no election yet: nobody knows a leader
		rc.nodes[2].rn.ReadIndex([]byte("r"))
		require.Empty(t, rc.output(2), "nothing to forward the read to")
		rc.stabilize()
		for _, id := range rc.ids {
			require.Empty(t, rc.reads[id])
		}
	})
	t.Run("answer from a node that is not the leader", func(t *testing.T) {
		rc := newReadCluster(t, 3)
		rc.campaign(1)
		term := rc.raft(1).Term
		require.NoError(t, rc.step(Message{Type: MsgReadIndexResp, From: 3, To: 2, Term: term, Index: 1, Context: []byte("r")}))
		rc.stabilize()
		require.Empty(t, rc.reads[2])
	})
}

// Thesis §6.4: a follower serving a read "waits until its state machine has
// advanced at least as far as the readIndex". That index is the leader's
// commit index, so the follower must be able to catch up with it even in an
// idle cluster: here node 3 missed a write while cut off, and once back it
// must apply up to its read index within a few heartbeats, with no new
// write to push it along.
func TestReadIndexOnFollowerThatMissedWritesBecomesServable(t *testing.T) {
	rc := newReadCluster(t, 3)
	et := rc.raft(1).electionTimeout
	rc.campaign(1)
	rc.isolate(3)
	require.NoError(t, rc.propose(1, "a"))
	rc.heal()
	rc.tickAll(1)

	rc.readIndex(3, "r")
	require.Len(t, rc.reads[3], 1)
	index := rc.reads[3][0].Index
	require.GreaterOrEqual(t, index, rc.lastAppliedIndex(1))

	rc.tickAll(et)
	require.GreaterOrEqual(t, rc.raft(3).raftLog.applied, index,
		"node 3 never applies up to its read index: the read cannot be served")
}

// A lease read rests on the followers that confirmed it electing no one for
// an election timeout. A follower that heard from its leader within that
// time does not campaign when its host asks it to (found by the simulator,
// TestRegression_ForcedCampaignBreaksLease).
func TestReadIndexLeaseFollowerDoesNotCampaignOnHostsWord(t *testing.T) {
	rc := newReadCluster(t, 3, enableCheckQuorum, enableLeaseReads)
	rc.campaign(1)
	term := rc.raft(1).Term

	rc.campaign(2)
	require.Equal(t, StateFollower, rc.raft(2).state)
	require.Equal(t, StateLeader, rc.raft(1).state)
	require.Equal(t, term, rc.raft(2).Term)
}

// A follower that confirmed a leader's lease and then restarts has
// forgotten whom it heard from, but not its promise: for an election
// timeout after it starts it grants no vote (found by the simulator,
// TestRegression_RebootedFollowerBreaksLease).
func TestReadIndexLeaseRestartedFollowerRefusesVotesForAnElectionTimeout(t *testing.T) {
	rc := newReadCluster(t, 3, enablePreVote, enableCheckQuorum, enableLeaseReads)
	rc.campaign(1)
	term := rc.raft(1).Term
	rc.isolate(1) // 1 keeps leading, and answering from its lease, on its own
	rc.restart(3)
	require.Equal(t, None, rc.raft(3).lead)

	// Node 2's timer runs out first; node 3 has just started.
	for rc.raft(2).state == StateFollower {
		rc.tick(2, 1)
	}
	require.NotEqual(t, StateLeader, rc.raft(2).state, "node 3 voted within its boot lease")
	require.Equal(t, term, rc.raft(3).Term)
}
