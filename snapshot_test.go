package raft

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// smCluster is a testCluster whose hosts keep a real state machine: the
// sequence of entries each node applied. A host snapshots that state machine
// (snapshot data encodes the applied entries), compacts its log behind the
// snapshot, and restores the state machine from a snapshot it receives or
// restarts from. It also behaves like a host with a real transport: it
// reports how sending a snapshot ended (ReportSnapshot), and, if
// reportUnreachable is set, reports peers it could not reach (a cut link) with
// ReportUnreachable. Messages lost by drop or dropTypes are lost silently.
type smCluster struct {
	*testCluster
	// onReady, if set, sees every Ready before its host handles it.
	onReady func(id uint64, rd Ready)
	// frozen holds nodes whose host does not handle Readys for now.
	frozen map[uint64]bool
	// reportUnreachable makes a sender report a peer behind a cut link.
	reportUnreachable bool
	// noSnapReports stops hosts from calling ReportSnapshot.
	noSnapReports bool
}

func newSMCluster(t testing.TB, n int, configure ...func(*Config)) *smCluster {
	return &smCluster{testCluster: newTestCluster(t, n, configure...), frozen: map[uint64]bool{}}
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
	n := c.nodes[id]
	if c.frozen[id] || !n.rn.HasReady() {
		return false
	}
	rd := n.rn.Ready()
	if c.onReady != nil {
		c.onReady(id, rd)
	}
	c.queue = append(c.queue, rd.Messages...)
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
	return true
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
	c.reportUnreachable = true
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
