package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// smCluster is a testCluster whose hosts keep a real state machine: the
// sequence of entries each node applied. A host snapshots that state machine
// (snapshot data encodes the applied entries), compacts its log behind the
// snapshot, and restores the state machine from a snapshot it receives or
// restarts from. It also behaves like a host with a real transport: it
// reports how sending a snapshot ended (ReportSnapshot), and a sender reports
// a peer it cannot reach (over a cut link: isolate, partition) with
// ReportUnreachable, unless reportUnreachable is turned off. Messages lost
// by drop or dropTypes are lost silently.
type smCluster struct {
	*testCluster
	// onReady, if set, sees every Ready before its host handles it.
	onReady func(id uint64, rd Ready)
	// frozen holds nodes whose host does not handle Readys for now.
	frozen map[uint64]bool
	// reportUnreachable makes a sender report a peer behind a cut link.
	// newSMCluster turns it on.
	reportUnreachable bool
	// noSnapReports stops hosts from calling ReportSnapshot.
	noSnapReports bool
}

func newSMCluster(t testing.TB, n int, configure ...func(*Config)) *smCluster {
	return &smCluster{testCluster: newTestCluster(t, n, configure...), frozen: map[uint64]bool{}, reportUnreachable: true}
}

// encodeApplied is the snapshot of a state machine that applied ents.
func encodeApplied(t testing.TB, ents []Entry) []byte {
	data, err := json.Marshal(ents)
	require.NoError(t, err)
	return data
}

// decodeApplied restores a state machine from snapshot data.
func decodeApplied(t testing.TB, data []byte) []Entry {
	if len(data) == 0 {
		return nil
	}
	var ents []Entry
	require.NoError(t, json.Unmarshal(data, &ents))
	return ents
}

// handleReady runs one Ready cycle of node id like testCluster.handleReady,
// but restores the state machine from a snapshot, and checks that the applied
// sequence has no gap and no repeat: entry i is the i-th applied.
func (c *smCluster) handleReady(id uint64) bool {
	if c.frozen[id] || !c.nodes[id].rn.HasReady() {
		return false
	}
	c.finishReady(id, c.beginReady(id))
	return true
}

// beginReady takes node id's Ready and sends its messages: the host's
// writes and applies are then in flight until finishReady.
func (c *smCluster) beginReady(id uint64) Ready {
	rd := c.nodes[id].rn.Ready()
	if c.onReady != nil {
		c.onReady(id, rd)
	}
	c.queue = append(c.queue, rd.Messages...)
	return rd
}

// finishReady persists and applies rd, then advances node id.
func (c *smCluster) finishReady(id uint64, rd Ready) {
	n := c.nodes[id]
	if !IsEmptySnap(rd.Snapshot) {
		require.NoError(c.t, n.storage.ApplySnapshot(rd.Snapshot))
		n.confState = rd.Snapshot.Metadata.ConfState
		n.applied = decodeApplied(c.t, rd.Snapshot.Data)
		require.Len(c.t, n.applied, int(rd.Snapshot.Metadata.Index), "node %d: snapshot data does not match its index", id)
	}
	require.NoError(c.t, n.storage.Append(rd.Entries))
	if !IsEmptyHardState(rd.HardState) {
		require.NoError(c.t, n.storage.SetHardState(rd.HardState))
	}
	for _, e := range rd.CommittedEntries {
		require.Equal(c.t, uint64(len(n.applied))+1, e.Index, "node %d applies out of order", id)
		if e.Type == EntryConfChange {
			var cc ConfChange
			require.NoError(c.t, cc.Unmarshal(e.Data))
			n.confState = *n.rn.ApplyConfChange(cc)
		}
		n.applied = append(n.applied, e)
	}
	n.rn.Advance(rd)
}

// deliver delivers the queued messages once, as testCluster.deliver does,
// with the host's reports on snapshots and unreachable peers.
func (c *smCluster) deliver() bool {
	msgs := c.take()
	for _, m := range msgs {
		c.deliverOne(m)
	}
	return len(msgs) > 0
}

// deliverOne delivers m unless its link is cut or it is dropped.
func (c *smCluster) deliverOne(m Message) {
	from := c.nodes[m.From]
	cut := c.cut[[2]uint64{m.From, m.To}]
	if cut || c.dropTypes[m.Type] || (c.drop != nil && c.drop(m)) {
		if from != nil && cut && c.reportUnreachable {
			from.rn.ReportUnreachable(m.To)
		}
		if from != nil && m.Type == MsgSnap && !c.noSnapReports {
			from.rn.ReportSnapshot(m.To, SnapshotFailure)
		}
		return
	}
	if c.observe != nil {
		c.observe(m)
	}
	if n, ok := c.nodes[m.To]; ok {
		_ = n.rn.Step(m)
	}
	if from != nil && m.Type == MsgSnap && !c.noSnapReports {
		from.rn.ReportSnapshot(m.To, SnapshotFinish)
	}
}

// step runs one round: a Ready cycle of every node, then one delivery.
func (c *smCluster) step() bool {
	busy := false
	for _, id := range c.ids {
		if c.handleReady(id) {
			busy = true
		}
	}
	if c.deliver() {
		busy = true
	}
	return busy
}

func (c *smCluster) stabilize() {
	for range 10000 {
		if !c.step() {
			return
		}
	}
	c.t.Fatal("cluster did not stabilize")
}

// runUntil runs the cluster one Ready cycle or one message at a time until
// cond holds, and reports whether it did before the cluster went quiet.
func (c *smCluster) runUntil(cond func() bool) bool {
	for range 10000 {
		if cond() {
			return true
		}
		busy := false
		for _, id := range c.ids {
			if c.handleReady(id) {
				busy = true
				if cond() {
					return true
				}
			}
		}
		for _, m := range c.take() {
			busy = true
			c.deliverOne(m)
			if cond() {
				// Keep what is left for later.
				return true
			}
		}
		if !busy {
			return cond()
		}
	}
	c.t.Fatal("cluster did not stabilize")
	return false
}

func (c *smCluster) tick(id uint64, n int) {
	for range n {
		c.nodes[id].rn.Tick()
		c.stabilize()
	}
}

func (c *smCluster) tickAll(n int) {
	for range n {
		for _, id := range c.ids {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
	}
}

func (c *smCluster) campaign(id uint64) {
	require.NoError(c.t, c.nodes[id].rn.Campaign())
	c.stabilize()
}

func (c *smCluster) propose(id uint64, data string) error {
	err := c.nodes[id].rn.Propose([]byte(data))
	c.stabilize()
	return err
}

// proposeN proposes n entries "<prefix>i" on id and stabilizes after each.
func (c *smCluster) proposeN(id uint64, prefix string, n int) {
	for i := range n {
		require.NoError(c.t, c.propose(id, fmt.Sprintf("%s%d", prefix, i)))
	}
}

func (c *smCluster) proposeConfChange(id uint64, cc ConfChange) error {
	err := c.nodes[id].rn.ProposeConfChange(cc)
	c.stabilize()
	return err
}

// restart restarts node id from its storage and restores its state machine
// from the stored snapshot.
func (c *smCluster) restart(id uint64) {
	c.testCluster.restart(id)
	snap, err := c.nodes[id].storage.Snapshot()
	require.NoError(c.t, err)
	c.nodes[id].applied = decodeApplied(c.t, snap.Data)
}

// compact makes node id's host snapshot its state machine at the index it
// applied and discard the log up to there. It returns that index.
func (c *smCluster) compact(id uint64) uint64 {
	n := c.nodes[id]
	applied := uint64(len(n.applied))
	require.Equal(c.t, applied, n.rn.raft.raftLog.applied, "node %d: host and node disagree on the applied index", id)
	cs := n.confState
	_, err := n.storage.CreateSnapshot(applied, &cs, encodeApplied(c.t, n.applied))
	require.NoError(c.t, err)
	require.NoError(c.t, n.storage.Compact(applied))
	return applied
}

func (c *smCluster) committed(id uint64) uint64 { return c.raft(id).raftLog.committed }

func (c *smCluster) lastIndex(id uint64) uint64 { return c.raft(id).raftLog.lastIndex() }

func (c *smCluster) firstIndex(id uint64) uint64 { return c.raft(id).raftLog.firstIndex() }

// progress returns the leader lead's progress of follower id.
func (c *smCluster) progress(lead, id uint64) *Progress {
	pr := c.raft(lead).trk.progress[id]
	require.NotNil(c.t, pr, "leader %d has no progress of %d", lead, id)
	return pr
}

// requireConverged checks that the nodes ids hold the same log (over the
// indexes they all still store), the same commit index, and applied the
// same entries.
func (c *smCluster) requireConverged(ids ...uint64) {
	c.t.Helper()
	first, want := ids[0], c.nodes[ids[0]].applied
	require.NotEmpty(c.t, want)
	for _, id := range ids[1:] {
		require.Equal(c.t, c.lastIndex(first), c.lastIndex(id), "last index of %d and %d", first, id)
		require.Equal(c.t, c.committed(first), c.committed(id), "commit index of %d and %d", first, id)
		lo := max(c.firstIndex(first), c.firstIndex(id))
		for i := lo; i <= c.lastIndex(id); i++ {
			a, err := c.raft(first).raftLog.term(i)
			require.NoError(c.t, err)
			b, err := c.raft(id).raftLog.term(i)
			require.NoError(c.t, err)
			require.Equal(c.t, a, b, "term of entry %d on %d and %d", i, first, id)
		}
		require.Equal(c.t, want, c.nodes[id].applied, "applied entries of %d and %d", first, id)
	}
}

// countSent runs f and counts the messages any node sends (put in a Ready)
// for which match returns true, whether or not they are delivered.
func (c *smCluster) countSent(match func(Message) bool, f func()) int {
	n := 0
	prev := c.onReady
	c.onReady = func(id uint64, rd Ready) {
		if prev != nil {
			prev(id, rd)
		}
		for _, m := range rd.Messages {
			if match(m) {
				n++
			}
		}
	}
	defer func() { c.onReady = prev }()
	f()
	return n
}

// requireConfState checks that two ConfStates describe the same
// configuration; an empty list and a nil one are the same.
func requireConfState(t testing.TB, want, got ConfState, msgAndArgs ...any) {
	t.Helper()
	norm := func(cs ConfState) ConfState {
		for _, ids := range []*[]uint64{&cs.Voters, &cs.Learners, &cs.VotersOutgoing, &cs.LearnersNext} {
			if len(*ids) == 0 {
				*ids = nil
			} else {
				*ids = slices.Sorted(slices.Values(*ids))
			}
		}
		return cs
	}
	require.Equal(t, norm(want), norm(got), msgAndArgs...)
}

func isMsg(t MessageType, to uint64) func(Message) bool {
	return func(m Message) bool { return m.Type == t && m.To == to }
}

// snapshotLaggingFollower builds the common scene: leader 1 of {1, 2, 3}
// committed entries while 3 was cut off, and compacted its log past what 3
// holds. It returns the leader's snapshot index.
func snapshotLaggingFollower(c *smCluster, entries int) uint64 {
	c.campaign(1)
	c.isolate(3)
	c.proposeN(1, "v", entries)
	snap := c.compact(1)
	c.compact(2)
	require.Greater(c.t, c.firstIndex(1), c.lastIndex(3)+1, "3 must need entries the leader compacted")
	return snap
}

// §7: a follower that lags behind the leader's compacted log catches up
// through InstallSnapshot, and ends with the same log and state machine.
func TestSnapshotCatchesUpPartitionedFollower(t *testing.T) {
	c := newSMCluster(t, 3)
	snapIndex := snapshotLaggingFollower(c, 30)

	var snaps []Message
	c.observe = func(m Message) {
		if m.Type == MsgSnap {
			snaps = append(snaps, m)
		}
	}
	var restored []Snapshot
	c.onReady = func(id uint64, rd Ready) {
		if id == 3 && !IsEmptySnap(rd.Snapshot) {
			restored = append(restored, rd.Snapshot)
		}
	}
	c.heal()
	c.tick(1, 3)

	require.Len(t, snaps, 1, "exactly one snapshot is sent")
	require.Equal(t, snapIndex, snaps[0].Snapshot.Metadata.Index)
	require.Len(t, restored, 1, "3 persists and applies the snapshot")
	require.Equal(t, snapIndex, restored[0].Metadata.Index)
	c.requireConverged(1, 2, 3)
	require.Len(t, c.appliedData(3), 30)
	pr := c.progress(1, 3)
	require.Equal(t, StateReplicate, pr.State)
	require.Equal(t, c.lastIndex(1), pr.Match)

	// Replication goes on from the snapshot as usual.
	require.NoError(t, c.propose(1, "after"))
	c.requireConverged(1, 2, 3)
	require.Equal(t, "after", c.appliedData(3)[30])
}

// heldAppends builds the scene of a snapshot that races appends: leader 1
// of {1, 2, 3} replicates while the network holds every append and snapshot
// for 3 (and loses the rest of its traffic). The leader commits v0..v9,
// compacts at the last of them (the returned index), appends y0 and y1 after
// it, and finally (told 3 is unreachable, and hearing from it again) sends
// it the snapshot. It returns what the network holds for 3, in sent order.
func heldAppends(t *testing.T, c *smCluster) (held []Message, snapIndex uint64) {
	c.noSnapReports = true
	c.campaign(1)
	hold := func(m Message) bool {
		if m.To == 3 && (m.Type == MsgApp || m.Type == MsgSnap) {
			held = append(held, m)
			return true
		}
		return false
	}
	c.drop = func(m Message) bool { return hold(m) || m.To == 3 || m.From == 3 }
	c.proposeN(1, "v", 10)
	snapIndex = c.compact(1)
	c.compact(2)
	c.proposeN(1, "y", 2)
	c.nodes[1].rn.ReportUnreachable(3)
	c.drop = hold
	c.tick(1, 1)
	require.Equal(t, StateSnapshot, c.progress(1, 3).State)
	require.Equal(t, snapIndex, c.progress(1, 3).PendingSnapshot)
	c.drop = nil
	require.Equal(t, MsgSnap, held[len(held)-1].Type)
	require.Equal(t, snapIndex, held[len(held)-1].Snapshot.Metadata.Index)
	return held, snapIndex
}

// §7: a snapshot may reach a follower before, after or in the middle of the
// appends sent to it earlier, and while the follower is still writing some
// of them. Each order ends with the follower holding the leader's log and
// state, and one snapshot sent.
func TestSnapshotRacesAppendsInFlight(t *testing.T) {
	t.Run("snapshot first", func(t *testing.T) {
		c := newSMCluster(t, 3)
		held, _ := heldAppends(t, c)
		snaps := c.countSent(func(m Message) bool { return m.Type == MsgSnap }, func() {
			snap := held[len(held)-1]
			c.deliverOne(snap)
			c.nodes[1].rn.ReportSnapshot(3, SnapshotFinish)
			// The older appends arrive after the snapshot: those below it
			// are answered with the commit index, those after it apply.
			for _, m := range held[:len(held)-1] {
				c.deliverOne(m)
			}
			c.stabilize()
			c.tick(1, 2)
		})
		require.Zero(t, snaps)
		c.requireConverged(1, 2, 3)
		require.Equal(t, StateReplicate, c.progress(1, 3).State)
	})
	t.Run("appends first", func(t *testing.T) {
		c := newSMCluster(t, 3)
		held, snapIndex := heldAppends(t, c)
		snaps := c.countSent(func(m Message) bool { return m.Type == MsgSnap }, func() {
			// 3 takes every append (they follow its log) before the
			// snapshot, which then only confirms what it holds.
			for _, m := range held[:len(held)-1] {
				c.deliverOne(m)
			}
			c.stabilize()
			require.Greater(t, c.lastIndex(3), snapIndex)
			c.deliverOne(held[len(held)-1])
			c.nodes[1].rn.ReportSnapshot(3, SnapshotFinish)
			c.stabilize()
			c.tick(1, 2)
		})
		require.Zero(t, snaps)
		c.requireConverged(1, 2, 3)
		require.Equal(t, uint64(1), c.firstIndex(3), "3 kept its log: it never needed the snapshot's data")
	})
	t.Run("snapshot overtakes the follower's write", func(t *testing.T) {
		c := newSMCluster(t, 3)
		held, snapIndex := heldAppends(t, c)
		// 3 takes the first appends and starts writing them...
		for _, m := range held[:4] {
			c.deliverOne(m)
		}
		rd := c.beginReady(3)
		require.NotEmpty(t, rd.Entries)
		// ...when the snapshot arrives, before that write is done.
		c.deliverOne(held[len(held)-1])
		c.nodes[1].rn.ReportSnapshot(3, SnapshotFinish)
		c.finishReady(3, rd)
		var restored Snapshot
		c.onReady = func(id uint64, rd Ready) {
			if id == 3 && !IsEmptySnap(rd.Snapshot) {
				restored = rd.Snapshot
			}
		}
		for _, m := range held[4 : len(held)-1] {
			c.deliverOne(m)
		}
		c.stabilize()
		c.tick(1, 2)
		require.Equal(t, snapIndex, restored.Metadata.Index)
		c.requireConverged(1, 2, 3)
	})
}

// A snapshot at or below the commit index is old news: the follower ignores
// it and answers with its commit index, so the leader learns where it is.
func TestSnapshotStaleIsIgnored(t *testing.T) {
	for _, below := range []uint64{0, 3} {
		t.Run(fmt.Sprintf("commit-%d", below), func(t *testing.T) {
			c := newSMCluster(t, 3)
			c.campaign(1)
			c.proposeN(1, "v", 10)
			c.compact(1)
			c.proposeN(1, "w", 2)
			commit := c.committed(2)
			snap := Snapshot{Metadata: SnapshotMetadata{
				Index:     commit - below,
				Term:      c.raft(1).Term,
				ConfState: c.nodes[1].confState,
			}}
			snap.Data = encodeApplied(t, c.nodes[2].applied[:snap.Metadata.Index])
			first, last := c.firstIndex(2), c.lastIndex(2)

			var resps []Message
			var restored bool
			c.onReady = func(id uint64, rd Ready) {
				if id != 2 {
					return
				}
				restored = restored || !IsEmptySnap(rd.Snapshot)
				for _, m := range rd.Messages {
					if m.Type == MsgAppResp {
						resps = append(resps, m)
					}
				}
			}
			require.NoError(t, c.nodes[2].rn.Step(Message{Type: MsgSnap, From: 1, To: 2, Term: c.raft(1).Term, Snapshot: &snap}))
			c.stabilize()

			require.False(t, restored)
			require.Equal(t, []Message{{Type: MsgAppResp, From: 2, To: 1, Term: c.raft(1).Term, Index: commit}}, resps)
			require.Equal(t, first, c.firstIndex(2))
			require.Equal(t, last, c.lastIndex(2))
			require.Equal(t, commit, c.committed(2))
			c.requireConverged(1, 2, 3)
		})
	}
}

// A snapshot whose last entry the follower already holds (same index and
// term) only moves its commit index forward: by Log Matching (§5.3) the log
// before that entry is the leader's, so it is kept, entries after it too.
func TestSnapshotOnlyFastForwardsCommit(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	// 3 gets every entry but neither its acks reach the leader nor the
	// leader's later commit indexes reach it.
	c.drop = func(m Message) bool {
		return (m.From == 3 && m.Type == MsgAppResp) ||
			(m.To == 3 && (m.Type == MsgHeartbeat || (m.Type == MsgApp && len(m.Entries) == 0)))
	}
	commitBefore := c.committed(3)
	for i := range 10 {
		require.NoError(t, c.nodes[1].rn.Propose(fmt.Appendf(nil, "v%d", i)))
	}
	c.stabilize()
	last := c.lastIndex(1)
	require.Equal(t, last, c.lastIndex(3))
	require.Equal(t, commitBefore, c.committed(3))
	snapIndex := c.compact(1)
	require.Equal(t, last, snapIndex)
	c.drop = nil

	var restored bool
	var committed []Entry
	c.onReady = func(id uint64, rd Ready) {
		if id == 3 {
			restored = restored || !IsEmptySnap(rd.Snapshot)
			committed = append(committed, rd.CommittedEntries...)
		}
	}
	snaps := c.countSent(func(m Message) bool { return m.Type == MsgSnap }, func() {
		// The leader, which thinks 3 lags, sends it the snapshot.
		c.nodes[1].rn.ReportUnreachable(3)
		c.tick(1, 1)
	})
	require.Equal(t, 1, snaps)
	require.False(t, restored, "the snapshot is not installed")
	require.Equal(t, snapIndex, c.committed(3))
	require.Equal(t, uint64(1), c.firstIndex(3), "3 keeps its log")
	require.Equal(t, last, c.lastIndex(3))
	require.Equal(t, commitBefore+1, committed[0].Index, "3 applies the entries themselves")
	require.Equal(t, snapIndex, committed[len(committed)-1].Index)
	require.Equal(t, StateReplicate, c.progress(1, 3).State)
	require.Equal(t, last, c.progress(1, 3).Match)
	c.requireConverged(1, 2, 3)
}

// A snapshot whose sending failed is sent again, once the follower answers
// a heartbeat: the leader does not resend blindly, and does not give up.
func TestSnapshotFailureThenRetrySucceeds(t *testing.T) {
	c := newSMCluster(t, 3)
	snapIndex := snapshotLaggingFollower(c, 10)
	c.heal()
	lost := false
	c.drop = func(m Message) bool {
		if m.Type == MsgSnap && !lost {
			lost = true // the host reports SnapshotFailure
			return true
		}
		return false
	}
	isSnap := isMsg(MsgSnap, 3)
	require.Equal(t, 1, c.countSent(isSnap, func() { c.tick(1, 1) }))
	require.True(t, lost)
	pr := c.progress(1, 3)
	require.Equal(t, StateProbe, pr.State, "failure ends StateSnapshot")
	require.True(t, pr.MsgAppFlowPaused, "and waits for the follower to answer")
	require.Zero(t, pr.PendingSnapshot)

	require.Equal(t, 1, c.countSent(isSnap, func() { c.tick(1, 1) }), "retried after a heartbeat")
	require.Equal(t, snapIndex, c.nodes[3].storage.snapshot.Metadata.Index)
	c.requireConverged(1, 2, 3)
	require.Zero(t, c.countSent(isSnap, func() { c.tick(1, 3) }))
}

// snapUnavailableStorage is a MemoryStorage whose snapshot is still being
// built for the first unavailable calls.
type snapUnavailableStorage struct {
	*MemoryStorage
	unavailable int
	calls       int
}

func (s *snapUnavailableStorage) Snapshot() (Snapshot, error) {
	s.calls++
	if s.unavailable > 0 {
		s.unavailable--
		return Snapshot{}, fmt.Errorf("still building: %w", ErrSnapshotTemporarilyUnavailable)
	}
	return s.MemoryStorage.Snapshot()
}

// restartOver restarts node id over storage, which must read through to
// the node's MemoryStorage (where the host keeps writing).
func (c *smCluster) restartOver(id uint64, storage Storage) {
	n := c.nodes[id]
	snap, err := n.storage.Snapshot()
	require.NoError(c.t, err)
	cfg := c.config(id, n.storage)
	cfg.Storage = storage
	cfg.Applied = snap.Metadata.Index
	rn, err := NewRawNode(cfg)
	require.NoError(c.t, err)
	c.nodes[id] = &testNode{rn: rn, storage: n.storage, confState: snap.Metadata.ConfState, applied: decodeApplied(c.t, snap.Data)}
	c.queue = slices.DeleteFunc(c.queue, func(m Message) bool { return m.To == id || m.From == id })
	c.stabilize()
}

// Storage.Snapshot may answer ErrSnapshotTemporarilyUnavailable: the leader
// sends nothing, does not crash, and tries again on a later heartbeat.
func TestSnapshotTemporarilyUnavailableIsRetried(t *testing.T) {
	c := newSMCluster(t, 3)
	s := &snapUnavailableStorage{MemoryStorage: c.nodes[1].storage}
	c.restartOver(1, s)
	snapshotLaggingFollower(c, 10)
	c.heal()
	s.unavailable = 3
	s.calls = 0
	isSnap := isMsg(MsgSnap, 3)
	sent := c.countSent(isSnap, func() { c.tick(1, 3) })
	require.Zero(t, sent)
	require.Equal(t, 3, s.calls, "one attempt per heartbeat answer")
	require.NotEqual(t, StateSnapshot, c.progress(1, 3).State)
	require.Equal(t, 1, c.countSent(isSnap, func() { c.tick(1, 2) }))
	c.requireConverged(1, 2, 3)
}

// A snapshot is large; the leader sends one only to a follower it heard
// from within the last election timeout (CheckQuorum tracks that).
func TestSnapshotOnlyToRecentlyActiveFollower(t *testing.T) {
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = true })
	c.reportUnreachable = false // the leader keeps replicating to 3 blindly
	snapshotLaggingFollower(c, 10)
	c.tick(1, 10) // a quorum check forgets who was active
	pr := c.progress(1, 3)
	require.False(t, pr.RecentActive)
	require.True(t, c.progress(1, 2).RecentActive)
	require.Equal(t, StateReplicate, pr.State)
	// Told 3 is unreachable, the leader would probe it at once, and 3 needs
	// a snapshot.
	c.nodes[1].rn.ReportUnreachable(3)
	require.Equal(t, StateProbe, pr.State)
	require.False(t, pr.isPaused())
	require.Less(t, pr.Next, c.firstIndex(1))

	isSnap := isMsg(MsgSnap, 3)
	require.Zero(t, c.countSent(isSnap, func() {
		require.NoError(t, c.propose(1, "x"))
		c.tick(1, 3)
	}), "3 is not recently active")
	require.Equal(t, StateProbe, pr.State)
	require.False(t, pr.isPaused(), "nothing was sent instead")

	c.heal()
	require.Equal(t, 1, c.countSent(isSnap, func() { c.tick(1, 1) }), "3 answered a heartbeat")
	c.requireConverged(1, 2, 3)
}

// The leader stops waiting for a snapshot when an answer shows the follower
// already holds everything from the leader's first index on (here a delayed
// answer to earlier appends). It then replicates to it as usual.
func TestProgressLeavesSnapshotStateWhenFollowerCaughtUp(t *testing.T) {
	c := newSMCluster(t, 3)
	c.noSnapReports = true
	c.campaign(1)
	var acks, snaps []Message
	c.drop = func(m Message) bool {
		switch {
		case m.From == 3 && m.Type == MsgAppResp:
			acks = append(acks, m)
		case m.To == 3 && m.Type == MsgSnap:
			snaps = append(snaps, m)
		default:
			return false
		}
		return true
	}
	c.proposeN(1, "v", 10)
	snapIndex := c.compact(1)
	c.nodes[1].rn.ReportUnreachable(3)
	c.tick(1, 1)
	pr := c.progress(1, 3)
	require.Equal(t, StateSnapshot, pr.State)
	require.Len(t, snaps, 1)
	c.drop = nil
	// Unreachable reports do not end StateSnapshot: only the snapshot's
	// outcome, or an answer, does.
	c.nodes[1].rn.ReportUnreachable(3)
	require.Equal(t, StateSnapshot, pr.State)

	// Answers up to snapIndex-1 are not enough: entry snapIndex is gone
	// from the leader's log, so 3 still needs the snapshot.
	require.Equal(t, snapIndex, acks[len(acks)-1].Index)
	for _, m := range acks {
		if m.Index < snapIndex {
			c.deliverOne(m)
		}
	}
	require.Equal(t, StateSnapshot, pr.State)
	require.Equal(t, snapIndex-1, pr.Match)

	c.deliverOne(acks[len(acks)-1])
	require.Equal(t, StateReplicate, pr.State)
	require.Equal(t, snapIndex, pr.Match)
	require.Zero(t, pr.PendingSnapshot)
	require.Contains(t, pr.String(), "StateReplicate")

	// The late report on the abandoned snapshot changes nothing.
	c.nodes[1].rn.ReportSnapshot(3, SnapshotFailure)
	require.Equal(t, StateReplicate, pr.State)
	require.Zero(t, c.countSent(isMsg(MsgSnap, 3), func() { c.proposeN(1, "w", 3) }))
	c.requireConverged(1, 2, 3)
}

// A node restarts from a snapshot plus the entries after it: it resumes with
// the snapshot's membership, then re-applies the later entries (a
// membership change among them), and ends with the same commit index,
// applied index, membership and state as before.
func TestRestartFromSnapshotAndLaterEntries(t *testing.T) {
	for _, snapAfterChange := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot after change=%v", snapAfterChange), func(t *testing.T) {
			c := newSMCluster(t, 3)
			c.campaign(1)
			c.addNode(4, nil)
			c.proposeN(1, "v", 5)
			snapIndex := c.compact(2)
			require.NoError(t, c.proposeConfChange(1, ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddLearnerNode, NodeID: 4}}}))
			if snapAfterChange {
				snapIndex = c.compact(2)
			}
			c.proposeN(1, "w", 3)
			before := c.status(2)
			applied := c.nodes[2].applied
			require.Equal(t, []uint64{4}, before.Config.Learners)

			c.restart(2)
			st := c.status(2)
			require.Equal(t, before.HardState, st.HardState)
			require.Equal(t, snapIndex, st.Applied, "applied resumes at the snapshot")
			if snapAfterChange {
				requireConfState(t, before.Config, st.Config)
			} else {
				requireConfState(t, ConfState{Voters: []uint64{1, 2, 3}}, st.Config, "the snapshot's membership")
			}
			c.stabilize()
			st = c.status(2)
			require.Equal(t, before.Commit, st.Commit)
			require.Equal(t, before.Commit, st.Applied)
			requireConfState(t, before.Config, st.Config)
			requireConfState(t, before.Config, c.nodes[2].confState)
			require.Equal(t, applied, c.nodes[2].applied)

			require.NoError(t, c.propose(1, "after"))
			c.requireConverged(1, 2, 3, 4)
		})
	}
}

// snapRapidTB lets a rapid property use helpers written for testing.TB:
// failures go to rapid, which then shrinks the case; the embedded TB only
// supplies what rapid.T lacks.
type snapRapidTB struct {
	testing.TB
	rt *rapid.T
}

func (tb snapRapidTB) Helper()                         {}
func (tb snapRapidTB) Error(args ...any)               { tb.rt.Error(args...) }
func (tb snapRapidTB) Errorf(format string, a ...any)  { tb.rt.Errorf(format, a...) }
func (tb snapRapidTB) Fail()                           { tb.rt.Fail() }
func (tb snapRapidTB) FailNow()                        { tb.rt.FailNow() }
func (tb snapRapidTB) Failed() bool                    { return tb.rt.Failed() }
func (tb snapRapidTB) Fatal(args ...any)               { tb.rt.Fatal(args...) }
func (tb snapRapidTB) Fatalf(format string, a ...any)  { tb.rt.Fatalf(format, a...) }
func (tb snapRapidTB) Log(args ...any)                 { tb.rt.Log(args...) }
func (tb snapRapidTB) Logf(format string, args ...any) { tb.rt.Logf(format, args...) }

// compactAt makes node id's host snapshot its state machine as of index i
// (which it applied) and discard its log up to there. The snapshot records
// the membership in force now: no membership change may lie after i.
func (c *smCluster) compactAt(id, i uint64) {
	n := c.nodes[id]
	cs := n.confState
	_, err := n.storage.CreateSnapshot(i, &cs, encodeApplied(c.t, n.applied[:i]))
	require.NoError(c.t, err)
	require.NoError(c.t, n.storage.Compact(i))
}

// randomCompact has node id's host snapshot and compact at a random index it
// applied, if it applied any past its snapshot and the bootstrap entries
// (so that the membership then is the one in force).
func (c *smCluster) randomCompact(rt *rapid.T, id uint64) {
	const bootstrap = 3 // the membership entries, at indexes 1..3
	n := c.nodes[id]
	lo := max(n.storage.snapshot.Metadata.Index, bootstrap) + 1
	if applied := uint64(len(n.applied)); applied >= lo {
		// Drawn as a distance from the applied index, since rapid favours
		// small numbers: compactions mostly keep little of the log.
		c.compactAt(id, applied-rapid.Uint64Range(0, applied-lo).Draw(rt, "keep"))
	}
}

// requireAppliedAgree checks that no two nodes applied different entries at
// the same index: of any two applied sequences, one is a prefix of the
// other.
func (c *smCluster) requireAppliedAgree() {
	for _, a := range c.ids {
		for _, b := range c.ids {
			x, y := c.nodes[a].applied, c.nodes[b].applied
			n := min(len(x), len(y))
			require.Equal(c.t, x[:n], y[:n], "nodes %d and %d applied different entries", a, b)
		}
	}
}

func (c *smCluster) appliedConverged() bool {
	for _, id := range c.ids[1:] {
		if !slices.EqualFunc(c.nodes[c.ids[0]].applied, c.nodes[id].applied, func(a, b Entry) bool {
			return a.Index == b.Index && a.Term == b.Term && string(a.Data) == string(b.Data)
		}) {
			return false
		}
	}
	return true
}

// §7 under random schedules: proposals, compactions at random applied
// indexes on random nodes, isolations, heals, restarts and ticks. No two
// nodes ever apply different entries at an index, and once the network
// heals every node converges to the same applied sequence, catching up
// through snapshots where the log it needs is gone, and new proposals
// commit everywhere.
func TestSnapshotCompactionRandomized(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		tb := snapRapidTB{TB: t, rt: rt}
		preVote := rapid.Bool().Draw(rt, "preVote")
		c := newSMCluster(tb, 3, func(cfg *Config) { cfg.PreVote = preVote })
		c.campaign(1)
		proposals := 0
		for range rapid.IntRange(5, 50).Draw(rt, "steps") {
			id := rapid.Uint64Range(1, 3).Draw(rt, "node")
			switch rapid.SampledFrom([]string{"propose", "propose", "propose", "compact", "compactAll", "isolate", "heal", "tick", "restart"}).Draw(rt, "action") {
			case "propose":
				for range rapid.IntRange(1, 8).Draw(rt, "proposals") {
					_ = c.propose(id, fmt.Sprintf("p%d", proposals))
					proposals++
				}
			case "compact":
				c.randomCompact(rt, id)
			case "compactAll":
				for _, id := range c.ids {
					c.randomCompact(rt, id)
				}
			case "isolate":
				c.isolate(id)
			case "heal":
				c.heal()
			case "tick":
				c.tickAll(rapid.IntRange(1, 25).Draw(rt, "ticks"))
			case "restart":
				c.restart(id)
				c.stabilize()
			}
			c.requireAppliedAgree()
		}

		c.heal()
		c.tickUntilConverged()
		require.NoError(rt, c.propose(c.leader(), "final"))
		c.tickUntilConverged()
		c.requireConverged(c.ids...)
		require.Equal(rt, "final", c.appliedData(3)[len(c.appliedData(3))-1])
	})
}

// tickUntilConverged ticks every node until all of them follow one leader
// in its term, and committed and applied the leader's whole log, the same
// everywhere. It fails if that takes more than a few dozen election
// timeouts.
func (c *smCluster) tickUntilConverged() {
	for range 300 {
		if lead := c.leader(); lead != None && c.appliedConverged() {
			done := true
			for _, id := range c.ids {
				r := c.raft(id)
				done = done && r.Term == c.raft(lead).Term && r.lead == lead &&
					c.committed(id) == c.lastIndex(lead) && uint64(len(c.nodes[id].applied)) == c.lastIndex(lead)
			}
			if done {
				return
			}
		}
		c.tickAll(1)
		c.requireAppliedAgree()
	}
	for _, id := range c.ids {
		c.t.Logf("%s last=%d", c.status(id), c.lastIndex(id))
	}
	c.t.Fatal("nodes did not converge")
}

// Bad input never crashes a follower or corrupts its state: a MsgSnap
// without a snapshot, a snapshot from a later term than its message, or one
// whose configuration is invalid or leaves the follower out, is ignored.
func TestSnapshotMalformedIsIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap func(s *Snapshot) *Snapshot
	}{
		{"no snapshot", func(*Snapshot) *Snapshot { return nil }},
		{"term past the message's", func(s *Snapshot) *Snapshot { s.Metadata.Term += 5; return s }},
		{"follower not in the configuration", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2}}
			return s
		}},
		{"node ID 0", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{0, 1, 2, 3}}
			return s
		}},
		{"voter and learner", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{3}}
			return s
		}},
		{"outgoing voter and learner", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{3}}
			return s
		}},
		{"learner next not outgoing", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2}, LearnersNext: []uint64{3}}
			return s
		}},
		{"learner next and incoming voter", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}}
			return s
		}},
		{"auto leave not joint", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Voters: []uint64{1, 2, 3}, AutoLeave: true}
			return s
		}},
		{"learners without voters", func(s *Snapshot) *Snapshot {
			s.Metadata.ConfState = ConfState{Learners: []uint64{1, 2, 3}}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMCluster(t, 3)
			snapshotLaggingFollower(c, 10)
			snap, err := c.nodes[1].storage.Snapshot()
			require.NoError(t, err)
			before := c.status(3)
			last := c.lastIndex(3)
			var restored bool
			c.onReady = func(id uint64, rd Ready) { restored = restored || (id == 3 && !IsEmptySnap(rd.Snapshot)) }

			m := Message{Type: MsgSnap, From: 1, To: 3, Term: c.raft(1).Term, Snapshot: tc.snap(&snap)}
			require.NotPanics(t, func() { _ = c.nodes[3].rn.Step(m) })
			c.stabilize()
			require.False(t, restored)
			after := c.status(3)
			require.Equal(t, before.Commit, after.Commit)
			requireConfState(t, before.Config, after.Config)
			require.Equal(t, last, c.lastIndex(3))
		})
	}
}

// brokenSnapStorage is a MemoryStorage whose Snapshot returns err and snap.
type brokenSnapStorage struct {
	*MemoryStorage
	snap Snapshot
	err  error
}

func (s *brokenSnapStorage) Snapshot() (Snapshot, error) { return s.snap, s.err }

// A storage that compacted entries without a snapshot covering them breaks
// a promise but does not crash the leader: the follower just waits. A
// storage whose Snapshot fails outright is broken: the leader panics,
// naming the call.
func TestSnapshotStorageWithoutSnapshot(t *testing.T) {
	c := newSMCluster(t, 3)
	s := &brokenSnapStorage{MemoryStorage: c.nodes[1].storage}
	c.restartOver(1, s)
	snapshotLaggingFollower(c, 10)
	c.heal()
	require.Zero(t, c.countSent(isMsg(MsgSnap, 3), func() { c.tick(1, 3) }))
	require.Equal(t, StateProbe, c.progress(1, 3).State)
	require.NoError(t, c.propose(1, "x"), "the others go on")
	require.Equal(t, "x", c.appliedData(2)[10])

	s.err = errors.New("disk on fire")
	require.PanicsWithValue(t,
		"raft: Storage.Snapshot failed: disk on fire (the host's storage must not fail or lose entries it acknowledged)",
		func() { c.tick(1, 1) })
}

func TestSnapshotStatusString(t *testing.T) {
	require.Equal(t, "SnapshotFinish", SnapshotFinish.String())
	require.Equal(t, "SnapshotFailure", SnapshotFailure.String())
}
