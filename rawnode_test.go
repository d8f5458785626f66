package raft

// Tests of RawNode: the Ready contract (rawnode.go, on the Ready type), the
// configuration, bootstrap, and the flow-control options a host sets.

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeReady writes what rd asks to persist, as a host does before it
// calls Advance.
func writeReady(t testing.TB, s *MemoryStorage, rd Ready) {
	t.Helper()
	if !IsEmptySnap(rd.Snapshot) {
		require.NoError(t, s.ApplySnapshot(rd.Snapshot))
	}
	require.NoError(t, s.Append(rd.Entries))
	if !IsEmptyHardState(rd.HardState) {
		require.NoError(t, s.SetHardState(rd.HardState))
	}
}

// twoAppendsTo2 elects node 1 of a 3-node cluster, which proposes x and
// then y, and returns its two appends to node 2, undelivered.
func twoAppendsTo2(t *testing.T) (*testCluster, []Message) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	leader := c.nodes[1].rn
	// Proposals between two Readys share one append: take one Ready each.
	require.NoError(t, leader.Propose([]byte("x")))
	apps := selectMsgs(c.output(1), MsgApp, 2)
	require.NoError(t, leader.Propose([]byte("y")))
	apps = append(apps, selectMsgs(c.output(1), MsgApp, 2)...)
	require.Len(t, apps, 2)
	return c, apps
}

// The Ready contract: "no message in a Ready acknowledges state that this
// Ready asks to persist". A follower's acknowledgement of entries comes in
// the Ready after the Advance that confirmed their write, never with the
// entries; entries appended while a Ready is being handled are acknowledged
// only after the next Advance.
func TestRawNodeFollowerAcksAppendOnlyAfterAdvance(t *testing.T) {
	c, apps := twoAppendsTo2(t)
	x, y := apps[0].Entries[0].Index, apps[1].Entries[0].Index

	n2 := c.nodes[2]
	require.NoError(t, n2.rn.Step(apps[0]))
	rd := n2.rn.Ready()
	require.Equal(t, apps[0].Entries, rd.Entries)
	require.True(t, rd.MustSync)
	require.Empty(t, selectMsgs(rd.Messages, MsgAppResp, 1), "the ack must not travel with the entries it acknowledges")

	// The second append arrives while the host writes the first.
	require.NoError(t, n2.rn.Step(apps[1]))
	writeReady(t, n2.storage, rd)
	n2.rn.Advance(rd)

	rd = n2.rn.Ready()
	require.Equal(t, apps[1].Entries, rd.Entries)
	acks := selectMsgs(rd.Messages, MsgAppResp, 1)
	require.Len(t, acks, 1, "x is written: its ack is released; y is not")
	require.False(t, acks[0].Reject)
	require.Equal(t, x, acks[0].Index)
	writeReady(t, n2.storage, rd)
	n2.rn.Advance(rd)

	rd = n2.rn.Ready()
	acks = selectMsgs(rd.Messages, MsgAppResp, 1)
	require.Len(t, acks, 1)
	require.Equal(t, y, acks[0].Index)
	n2.rn.Advance(rd)
	require.False(t, n2.rn.HasReady())
}

// The Ready contract for votes: the HardState holding a vote is written
// before the vote is sent (Figure 2: votedFor is updated on stable storage
// before responding to RPCs). The vote is not in the Ready carrying it.
func TestRawNodeVoteResponseOnlyAfterAdvance(t *testing.T) {
	c := newTestCluster(t, 3)
	n2 := c.nodes[2]
	require.NoError(t, n2.rn.Step(msgWithLastEntry(c.raft(2), MsgVote, 3, 2, 2)))
	rd := n2.rn.Ready()
	require.Equal(t, HardState{Term: 2, Vote: 3, Commit: 3}, rd.HardState)
	require.True(t, rd.MustSync)
	require.Empty(t, selectMsgs(rd.Messages, MsgVoteResp, 3), "the vote must not travel with the HardState recording it")
	writeReady(t, n2.storage, rd)
	n2.rn.Advance(rd)

	rd = n2.rn.Ready()
	resp := selectMsgs(rd.Messages, MsgVoteResp, 3)
	require.Len(t, resp, 1)
	require.False(t, resp[0].Reject)
	require.Equal(t, uint64(2), resp[0].Term)
	require.True(t, IsEmptyHardState(rd.HardState))
	n2.rn.Advance(rd)
}

// The Ready contract for a leader (Raft thesis §10.2.1): the appends to the
// followers are in the same Ready as the entries the leader must write, so
// the host sends them while it writes. The leader's own copy counts toward
// a majority only after Advance confirms the write.
func TestRawNodeLeaderReplicatesWhileItWrites(t *testing.T) {
	setup := func(t *testing.T) (*testCluster, Ready, uint64) {
		c := newTestCluster(t, 3)
		c.campaign(1)
		n1 := c.nodes[1]
		require.NoError(t, n1.rn.Propose([]byte("x")))
		rd := n1.rn.Ready()
		require.Len(t, rd.Entries, 1)
		require.Equal(t, []byte("x"), rd.Entries[0].Data)
		// The appends carry the entries the leader writes.
		requireOneAppendEach(t, rd.Messages, rd.Entries, 2, 3)
		return c, rd, rd.Entries[0].Index
	}
	// ack delivers the leader's append to follower id, lets it write, and
	// hands its acknowledgement to the leader.
	ack := func(t *testing.T, c *testCluster, rd Ready, id uint64) {
		require.NoError(t, c.step(selectMsgs(rd.Messages, MsgApp, id)[0]))
		acks := selectMsgs(c.output(id), MsgAppResp, 1)
		require.Len(t, acks, 1)
		require.NoError(t, c.step(acks[0]))
	}

	t.Run("one follower and the leader", func(t *testing.T) {
		c, rd, x := setup(t)
		ack(t, c, rd, 2)
		require.Less(t, c.raft(1).raftLog.committed, x,
			"node 2 alone is no majority while the leader's write is unconfirmed")
		writeReady(t, c.nodes[1].storage, rd)
		c.nodes[1].rn.Advance(rd)
		require.Equal(t, x, c.raft(1).raftLog.committed)
	})
	t.Run("two followers", func(t *testing.T) {
		c, rd, x := setup(t)
		ack(t, c, rd, 2)
		ack(t, c, rd, 3)
		require.Equal(t, x, c.raft(1).raftLog.committed,
			"two followers are a majority: the leader's own write is not needed")
		// The entry is committed but not yet written by the leader: it is
		// handed out to apply only after the write.
		writeReady(t, c.nodes[1].storage, rd)
		c.nodes[1].rn.Advance(rd)
		rd = c.nodes[1].rn.Ready()
		require.Len(t, rd.CommittedEntries, 1)
		require.Equal(t, x, rd.CommittedEntries[0].Index)
	})
}

// A single-voter cluster: Campaign makes the node candidate; once its vote
// is written, it is leader; once its entries are written, they commit.
// Everything happens in Ready/Advance cycles, with no other node.
func TestRawNodeSingleVoterCampaignsAndCommits(t *testing.T) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 256, Logger: DiscardLogger})
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))
	cycle := func() Ready {
		t.Helper()
		require.True(t, rn.HasReady())
		rd := rn.Ready()
		require.Empty(t, rd.Messages, "a single voter sends nothing")
		writeReady(t, s, rd)
		for _, e := range rd.CommittedEntries {
			if e.Type == EntryConfChange {
				var cc ConfChange
				require.NoError(t, cc.Unmarshal(e.Data))
				rn.ApplyConfChange(cc)
			}
		}
		rn.Advance(rd)
		return rd
	}

	rd := cycle()
	require.Len(t, rd.CommittedEntries, 1, "the bootstrap entry")
	require.False(t, rn.HasReady())

	require.NoError(t, rn.Campaign())
	require.Equal(t, StateCandidate, rn.Status().RaftState, "its own vote is not written yet")
	rd = cycle()
	require.Equal(t, HardState{Term: 2, Vote: 1, Commit: 1}, rd.HardState)
	require.True(t, rd.MustSync)
	require.Equal(t, StateLeader, rn.Status().RaftState, "its vote is written: it won")

	rd = cycle()
	require.Equal(t, &SoftState{Lead: 1, RaftState: StateLeader}, rd.SoftState)
	require.Len(t, rd.Entries, 1, "the empty entry of the new term")
	require.Empty(t, rd.CommittedEntries, "not committed before it is written")
	rd = cycle()
	require.Equal(t, uint64(2), rd.HardState.Commit)
	require.Len(t, rd.CommittedEntries, 1)

	require.NoError(t, rn.Propose([]byte("x")))
	rd = cycle()
	require.Len(t, rd.Entries, 1)
	require.Empty(t, rd.CommittedEntries)
	rd = cycle()
	require.Len(t, rd.CommittedEntries, 1)
	require.Equal(t, []byte("x"), rd.CommittedEntries[0].Data)
	require.False(t, rd.MustSync, "only the commit index changed")
	require.False(t, rn.HasReady())
}

// MustSync is set when the Ready holds what must survive a crash: entries,
// a new term or a vote. A change of the commit index alone may be written
// lazily: it can be learned again from the leader.
func TestRawNodeMustSyncOnlyForEntriesTermAndVote(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		c := newTestCluster(t, 3)
		c.campaign(1)
		require.NoError(t, c.nodes[1].rn.Propose([]byte("x")))
		require.NoError(t, c.step(selectMsgs(c.output(1), MsgApp, 2)[0]))
		rd := c.nodes[2].rn.Ready()
		require.Len(t, rd.Entries, 1)
		require.True(t, rd.MustSync)
	})
	t.Run("vote", func(t *testing.T) {
		c := newTestCluster(t, 3)
		require.NoError(t, c.step(msgWithLastEntry(c.raft(2), MsgVote, 3, 2, 2)))
		rd := c.nodes[2].rn.Ready()
		require.Equal(t, uint64(3), rd.HardState.Vote)
		require.Empty(t, rd.Entries)
		require.True(t, rd.MustSync)
	})
	t.Run("term", func(t *testing.T) {
		c := newTestCluster(t, 3)
		require.NoError(t, c.step(Message{Type: MsgHeartbeat, From: 3, To: 2, Term: 5}))
		rd := c.nodes[2].rn.Ready()
		require.Equal(t, HardState{Term: 5, Commit: 3}, rd.HardState)
		require.Empty(t, rd.Entries)
		require.True(t, rd.MustSync)
	})
	t.Run("commit only", func(t *testing.T) {
		c := newTestCluster(t, 3)
		c.campaign(1)
		release := c.hold(func(m Message) bool { return m.To == 2 && m.Type == MsgApp && len(m.Entries) == 0 })
		require.NoError(t, c.propose(1, "x"))
		release()
		before := c.raft(2).raftLog.committed
		for _, m := range c.take() {
			require.NoError(t, c.step(m))
		}
		rd := c.nodes[2].rn.Ready()
		require.Greater(t, rd.HardState.Commit, before)
		require.Empty(t, rd.Entries)
		require.Len(t, rd.CommittedEntries, 1)
		require.False(t, rd.MustSync)
	})
	t.Run("nothing", func(t *testing.T) {
		c := newTestCluster(t, 3)
		c.campaign(1)
		c.nodes[1].rn.Tick()
		rd := c.nodes[1].rn.Ready()
		require.NotEmpty(t, selectMsgs(rd.Messages, MsgHeartbeat, 2))
		require.False(t, rd.MustSync)
	})
}

// Bootstrap refuses what would make an inconsistent cluster: no peers, a
// zero or repeated ID, or storage that already holds a log. A refused
// Bootstrap changes nothing.
func TestRawNodeBootstrapErrors(t *testing.T) {
	newRN := func(t *testing.T, s *MemoryStorage) *RawNode {
		rn, err := NewRawNode(&Config{ID: 1, Storage: s, MaxInflightMsgs: 256, Logger: DiscardLogger})
		require.NoError(t, err)
		return rn
	}
	for _, tc := range []struct {
		name  string
		peers []Peer
	}{
		{name: "no peers", peers: nil},
		{name: "empty peers", peers: []Peer{}},
		{name: "zero ID", peers: []Peer{{ID: 1}, {ID: 0}}},
		{name: "repeated ID", peers: []Peer{{ID: 1}, {ID: 2}, {ID: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn := newRN(t, NewMemoryStorage())
			require.ErrorIs(t, rn.Bootstrap(tc.peers), ErrBootstrap)
			require.False(t, rn.HasReady(), "a refused Bootstrap changes nothing")
		})
	}
	t.Run("storage holds entries", func(t *testing.T) {
		s := NewMemoryStorage()
		require.NoError(t, s.Append([]Entry{{Index: 1, Term: 1}}))
		rn := newRN(t, s)
		require.ErrorIs(t, rn.Bootstrap([]Peer{{ID: 1}}), ErrBootstrap)
	})
	t.Run("twice, before the first is written", func(t *testing.T) {
		rn := newRN(t, NewMemoryStorage())
		require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}}))
		require.ErrorIs(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}}), ErrBootstrap)
	})
	t.Run("over a bootstrapped storage", func(t *testing.T) {
		s := NewMemoryStorage()
		rn := newRN(t, s)
		require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}, {ID: 2}}))
		rd := rn.Ready()
		writeReady(t, s, rd)
		rn.Advance(rd)
		require.ErrorIs(t, newRN(t, s).Bootstrap([]Peer{{ID: 1}, {ID: 2}}), ErrBootstrap)
	})
}

// Config.Validate names each mistake, wrapping ErrInvalidConfig, and
// NewRawNode refuses the same configurations. Zero ticks take defaults.
func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: NewMemoryStorage(), MaxInflightMsgs: 256, Logger: DiscardLogger}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{name: "zero ID", change: func(c *Config) { c.ID = 0 }, field: "ID"},
		{name: "heartbeat equals election", change: func(c *Config) { c.HeartbeatTick = 10 }, field: "HeartbeatTick"},
		{name: "heartbeat above election", change: func(c *Config) { c.HeartbeatTick = 11 }, field: "HeartbeatTick"},
		{name: "heartbeat not below default election", change: func(c *Config) { c.ElectionTick, c.HeartbeatTick = 0, 10 }, field: "HeartbeatTick"},
		{name: "election not above default heartbeat", change: func(c *Config) { c.ElectionTick, c.HeartbeatTick = 1, 0 }, field: "HeartbeatTick"},
		{name: "negative election", change: func(c *Config) { c.ElectionTick = -1 }, field: "ElectionTick"},
		{name: "negative heartbeat", change: func(c *Config) { c.HeartbeatTick = -1 }, field: "HeartbeatTick"},
		{name: "nil storage", change: func(c *Config) { c.Storage = nil }, field: "Storage"},
		{name: "zero inflight", change: func(c *Config) { c.MaxInflightMsgs = 0 }, field: "MaxInflightMsgs"},
		{name: "negative inflight", change: func(c *Config) { c.MaxInflightMsgs = -3 }, field: "MaxInflightMsgs"},
		{name: "lease without check quorum", change: func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased }, field: "CheckQuorum"},
		{name: "unknown read option", change: func(c *Config) { c.ReadOnlyOption = 7 }, field: "ReadOnlyOption"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(&cfg)
			before := cfg
			err := cfg.Validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.field)
			require.Equal(t, before, cfg, "Validate does not change the config")
			_, err = NewRawNode(&cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	t.Run("valid", func(t *testing.T) {
		cfg := valid()
		require.NoError(t, cfg.Validate())
		cfg.CheckQuorum, cfg.ReadOnlyOption = true, ReadOnlyLeaseBased
		require.NoError(t, cfg.Validate())
	})
	t.Run("zero ticks take defaults", func(t *testing.T) {
		cfg := valid()
		cfg.ElectionTick, cfg.HeartbeatTick = 0, 0
		require.NoError(t, cfg.Validate())
		rn, err := NewRawNode(&cfg)
		require.NoError(t, err)
		require.Equal(t, 10, rn.raft.electionTimeout)
		require.Equal(t, 1, rn.raft.heartbeatTimeout)
		require.Zero(t, cfg.ElectionTick, "the caller's config keeps its zero")
	})
}

// A follower forwards a proposal to its leader, unless forwarding is
// disabled; with no leader (or as a candidate) it has nowhere to send it.
// Either refusal is ErrProposalDropped, which a caller may retry.
func TestRawNodeProposalForwarding(t *testing.T) {
	t.Run("forwarded", func(t *testing.T) {
		c := newTestCluster(t, 3)
		c.campaign(1)
		require.NoError(t, c.nodes[2].rn.Propose([]byte("x")))
		out := c.output(2)
		props := selectMsgs(out, MsgProp, 1)
		require.Len(t, props, 1)
		require.Equal(t, []byte("x"), props[0].Entries[0].Data)
		c.queue = append(c.queue, out...)
		c.stabilize()
		for _, id := range c.ids {
			require.Equal(t, []string{"x"}, c.appliedData(id), "node %d", id)
		}
	})
	t.Run("forwarding disabled", func(t *testing.T) {
		c := newTestCluster(t, 3, func(cfg *Config) { cfg.DisableProposalForwarding = true })
		c.campaign(1)
		require.ErrorIs(t, c.nodes[2].rn.Propose([]byte("x")), ErrProposalDropped)
		require.Empty(t, selectMsgs(c.output(2), MsgProp, 1))
		require.NoError(t, c.propose(1, "y"), "the leader still takes proposals")
		require.Equal(t, []string{"y"}, c.appliedData(2))
	})
	t.Run("no leader", func(t *testing.T) {
		c := newTestCluster(t, 3)
		require.ErrorIs(t, c.nodes[2].rn.Propose([]byte("x")), ErrProposalDropped)
		require.Empty(t, c.output(2))
	})
	for _, role := range []StateType{StateCandidate, StatePreCandidate} {
		t.Run(role.String(), func(t *testing.T) {
			c := newClusterInRole(t, role)
			require.ErrorIs(t, c.nodes[1].rn.Propose([]byte("x")), ErrProposalDropped)
		})
	}
}

// MaxUncommittedEntriesSize caps the payload bytes a leader holds appended
// and not yet committed. Past it, proposals are dropped; once entries commit
// (and are handed out), the quota is free again, every time.
func TestRawNodeUncommittedQuota(t *testing.T) {
	const quota = 10
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = quota })
	c.campaign(1)
	rn, r := c.nodes[1].rn, c.raft(1)
	require.Zero(t, r.uncommittedSize)
	five := bytes.Repeat([]byte("a"), 5)

	require.NoError(t, rn.Propose(five))
	require.NoError(t, rn.Propose(five))
	require.Equal(t, uint64(quota), r.uncommittedSize)
	require.ErrorIs(t, rn.Propose([]byte("b")), ErrProposalDropped)
	require.NoError(t, rn.Propose(nil), "an empty proposal costs nothing")
	c.stabilize()
	require.Zero(t, r.uncommittedSize)

	for i := range 50 {
		require.NoError(t, rn.Propose(five), "round %d", i)
		require.NoError(t, rn.Propose(five), "round %d", i)
		require.ErrorIs(t, rn.Propose(five), ErrProposalDropped, "round %d", i)
		c.stabilize()
		require.Zero(t, r.uncommittedSize, "round %d: the quota frees once the entries commit", i)
	}
	// A lone proposal larger than the quota is let through when nothing
	// is uncommitted, else it could never be made.
	require.NoError(t, rn.Propose(bytes.Repeat([]byte("c"), 3*quota)))
	require.ErrorIs(t, rn.Propose([]byte("d")), ErrProposalDropped)
	c.stabilize()
	require.Zero(t, r.uncommittedSize)
	require.Len(t, c.appliedData(3), 2+50*2+1)
}

// MaxSizePerMsg bounds the entry bytes of one append, but an append always
// carries at least one entry, so an entry larger than the limit still goes.
func TestRawNodeAppendsRespectMaxSizePerMsg(t *testing.T) {
	const limit = 100
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.MaxSizePerMsg = limit })
	c.campaign(1)
	rn := c.nodes[1].rn
	// Make the leader probe, so that proposals accumulate behind one
	// outstanding append and go out together when it is answered.
	rn.ReportUnreachable(2)
	rn.ReportUnreachable(3)
	small := bytes.Repeat([]byte("s"), 10) // 34 bytes with the overhead: 2 fit
	big := bytes.Repeat([]byte("B"), 2*limit)
	var want []string
	for i := range 8 {
		data := small
		if i == 5 {
			data = big
		}
		require.NoError(t, rn.Propose(data))
		want = append(want, string(data))
	}
	var apps []Message
	c.observe = func(m Message) {
		if m.Type == MsgApp && len(m.Entries) > 0 {
			apps = append(apps, m)
		}
	}
	c.stabilize()
	most := 0
	for _, m := range apps {
		most = max(most, len(m.Entries))
		if len(m.Entries) > 1 {
			require.LessOrEqual(t, entsSize(m.Entries), uint64(limit), "append of %d entries", len(m.Entries))
		}
		for _, e := range m.Entries {
			if bytes.Equal(e.Data, big) {
				require.Len(t, m.Entries, 1, "the big entry goes alone")
			}
		}
	}
	require.Equal(t, 2, most, "appends are filled up to the limit")
	for _, id := range c.ids {
		require.Equal(t, want, c.appliedData(id), "node %d", id)
	}
}

// The leader tells a follower a new commit index with an empty append only
// when the follower does not know it yet: not when the append that carried
// the entries already carried the commit index, and not on heartbeats.
func TestRawNodeNoRedundantCommitOnlyAppends(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	isApp := func(to uint64) func(Message) bool {
		return func(m Message) bool { return m.Type == MsgApp && m.To == to }
	}
	// Steady state: one append with the entry, one with the new commit
	// index, per follower and proposal.
	for i := range 5 {
		var n2, n3 int
		n3 = c.countDelivered(isApp(3), func() {
			n2 = c.countDelivered(isApp(2), func() { require.NoError(t, c.propose(1, fmt.Sprint(i))) })
		})
		require.Equal(t, 2, n2, "proposal %d", i)
		require.Equal(t, 2, n3, "proposal %d", i)
	}
	// Heartbeats carry the commit index; no append follows them.
	require.Zero(t, c.countDelivered(func(m Message) bool { return m.Type == MsgApp }, func() { c.tick(1, 5) }))

	// Node 3 lags behind one probe while w and x commit with node 2. When
	// it answers, the append of x carries the commit index of x, so no
	// empty append follows.
	c.nodes[1].rn.ReportUnreachable(3)
	release := c.hold(func(m Message) bool { return m.To == 3 })
	require.NoError(t, c.propose(1, "w"))
	require.NoError(t, c.propose(1, "x"))
	x := c.raft(1).raftLog.lastIndex()
	require.Equal(t, x, c.raft(1).raftLog.committed)
	var toThree []Message
	c.observe = func(m Message) {
		if isApp(3)(m) {
			toThree = append(toThree, m)
		}
	}
	release()
	c.stabilize()
	c.observe = nil
	require.Len(t, toThree, 2, "the held probe of w, then x with the commit index")
	require.Equal(t, x, toThree[1].Commit)
	for _, m := range toThree {
		require.NotEmpty(t, m.Entries, "no empty append: node 3 learned the commit index with x")
	}
	require.Equal(t, x, c.raft(3).raftLog.committed)
}

// A heartbeat carries min(the follower's match, the leader's commit): a
// follower must not commit an index it may not hold, or that holds another
// entry in its log.
func TestRawNodeHeartbeatCommitIsMinOfMatchAndCommit(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	release := c.hold(func(m Message) bool { return m.To == 3 })
	require.NoError(t, c.propose(1, "x"))
	r := c.raft(1)
	commit := r.raftLog.committed
	match3 := r.trk.progress[3].Match
	require.Less(t, match3, commit)

	// Node 2 also acks y before the leader wrote it: its match passes the
	// commit index.
	n1 := c.nodes[1]
	require.NoError(t, n1.rn.Propose([]byte("y")))
	rd := n1.rn.Ready()
	require.NoError(t, c.step(selectMsgs(rd.Messages, MsgApp, 2)[0]))
	require.NoError(t, c.step(selectMsgs(c.output(2), MsgAppResp, 1)[0]))
	require.Equal(t, commit, r.raftLog.committed)
	require.Greater(t, r.trk.progress[2].Match, commit)

	n1.rn.Tick()
	hb2 := selectMsgs(r.msgs, MsgHeartbeat, 2)
	hb3 := selectMsgs(r.msgs, MsgHeartbeat, 3)
	require.Len(t, hb2, 1)
	require.Len(t, hb3, 1)
	require.Equal(t, commit, hb2[0].Commit, "capped by the commit index")
	require.Equal(t, match3, hb3[0].Commit, "capped by what node 3 holds")

	writeReady(t, n1.storage, rd)
	n1.rn.Advance(rd)
	release()
	c.queue = append(c.queue, selectMsgs(rd.Messages, MsgApp, 3)...)
	c.stabilize()
	for _, id := range c.ids {
		require.Equal(t, []string{"x", "y"}, c.appliedData(id), "node %d", id)
	}
}

// A node restarted over storage that contradicts itself refuses to start,
// with an error, rather than run from a state that breaks its invariants.
func TestRawNodeRefusesInconsistentStorage(t *testing.T) {
	voters := []uint64{1, 2, 3}
	config := func(s *MemoryStorage) *Config {
		return &Config{ID: 1, Storage: s, MaxInflightMsgs: 256, Logger: DiscardLogger}
	}
	t.Run("commit past the log", func(t *testing.T) {
		s := newStorageWithLog(t, voters, []uint64{1, 1}, HardState{Term: 1, Commit: 1})
		require.NoError(t, s.SetHardState(HardState{Term: 1, Commit: 5}))
		_, err := NewRawNode(config(s))
		require.Error(t, err)
	})
	t.Run("commit before the snapshot", func(t *testing.T) {
		s := NewMemoryStorage()
		require.NoError(t, s.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 2, ConfState: ConfState{Voters: voters}}}))
		require.NoError(t, s.SetHardState(HardState{Term: 2, Commit: 3}))
		_, err := NewRawNode(config(s))
		require.Error(t, err)
	})
	t.Run("applied past commit", func(t *testing.T) {
		s := newStorageWithLog(t, voters, []uint64{1, 1, 1}, HardState{Term: 1, Commit: 2})
		cfg := config(s)
		cfg.Applied = 3
		_, err := NewRawNode(cfg)
		require.Error(t, err)
	})
	t.Run("node ID 0 in the configuration", func(t *testing.T) {
		s := newStorageWithLog(t, []uint64{0, 1}, []uint64{1}, HardState{Term: 1, Commit: 1})
		_, err := NewRawNode(config(s))
		require.ErrorIs(t, err, ErrInvalidConfChange)
	})
	t.Run("consistent", func(t *testing.T) {
		s := newStorageWithLog(t, voters, []uint64{1, 1, 1}, HardState{Term: 1, Commit: 2})
		cfg := config(s)
		cfg.Applied = 2
		rn, err := NewRawNode(cfg)
		require.NoError(t, err)
		require.Equal(t, uint64(2), rn.BasicStatus().Applied)
	})
}

// Calls a host may make at odd times are harmless: Campaign on a leader,
// Advance without a Ready, a second Advance.
func TestRawNodeHarmlessCalls(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	rn, r := c.nodes[1].rn, c.raft(1)
	before := viewOf(r)
	require.NoError(t, rn.Campaign())
	require.Equal(t, before, viewOf(r), "a leader does not campaign again")
	require.False(t, rn.HasReady())

	rn.Advance(Ready{})
	require.NoError(t, rn.Propose([]byte("x")))
	rd := rn.Ready()
	writeReady(t, c.nodes[1].storage, rd)
	rn.Advance(rd)
	rn.Advance(rd)
	c.queue = append(c.queue, rd.Messages...)
	c.stabilize()
	require.Equal(t, []string{"x"}, c.appliedData(2))

	st := rn.BasicStatus()
	require.Equal(t, uint64(1), st.ID)
	require.Equal(t, StateLeader, st.RaftState)
	require.Equal(t, r.raftLog.committed, st.Commit)
	require.Equal(t, r.raftLog.applied, st.Applied)
	require.Equal(t, None, st.LeadTransferee)
}

// A candidate that the host removes from the configuration while it
// campaigns does not become leader, even with a majority of votes: it no
// longer votes, so it cannot lead.
func TestCandidateRemovedDuringCampaignDoesNotLead(t *testing.T) {
	c := newTestCluster(t, 3)
	release := c.hold(func(m Message) bool { return m.To == 1 })
	c.campaign(1)
	require.Equal(t, StateCandidate, c.raft(1).state)
	c.nodes[1].rn.ApplyConfChange(ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 1}}})
	release()
	c.stabilize()
	require.Equal(t, StateFollower, c.raft(1).state)
	require.NotEqual(t, uint64(1), c.leader())
}

// Proposals stepped between two Readys share one append per follower: the
// leader broadcasts once per Ready, not once per proposal.
func TestRawNodeProposalsBetweenReadysShareOneAppend(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	leader := c.nodes[1].rn
	for _, v := range []string{"x", "y", "z"} {
		require.NoError(t, leader.Propose([]byte(v)))
	}
	out := c.output(1)
	apps := selectMsgs(out, MsgApp, 2)
	require.Len(t, apps, 1)
	require.Len(t, apps[0].Entries, 3)
	c.queue = append(c.queue, out...)
	c.stabilize()
	require.Equal(t, []string{"x", "y", "z"}, c.appliedData(2))
}

// A follower that accepted several appends before its next Ready sends one
// acknowledgement, of the last: it says all the others said.
func TestRawNodeAcksOfOneReadyAreFolded(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	leader := c.nodes[1].rn
	var apps []Message
	for _, v := range []string{"x", "y"} {
		require.NoError(t, leader.Propose([]byte(v)))
		apps = append(apps, selectMsgs(c.output(1), MsgApp, 2)...)
	}
	require.Len(t, apps, 2)
	n2 := c.nodes[2]
	for _, m := range apps {
		require.NoError(t, n2.rn.Step(m))
	}
	rd := n2.rn.Ready()
	writeReady(t, n2.storage, rd)
	n2.rn.Advance(rd)
	acks := selectMsgs(n2.rn.Ready().Messages, MsgAppResp, 1)
	require.Len(t, acks, 1)
	require.Equal(t, apps[1].Entries[0].Index, acks[0].Index)
}
