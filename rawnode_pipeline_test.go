package raft

// Tests of pipelined Readys: a host that takes the next Ready before it
// advanced the last one (see Ready). Each Ready hands out only what no
// earlier one did, and each Advance completes the oldest Ready.

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A leader whose first write is still going on hands out a second Ready
// with only the new entry, and sends it on at once: replication does not
// wait for the fsync of the previous Ready.
func TestRawNodePipelinedLeaderSendsWhileItWrites(t *testing.T) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	n1 := c.nodes[1]

	require.NoError(t, n1.rn.Propose([]byte("x")))
	rd1 := n1.rn.Ready()
	require.Len(t, rd1.Entries, 1)
	x := rd1.Entries[0]

	require.NoError(t, n1.rn.Propose([]byte("y")))
	require.True(t, n1.rn.HasReady())
	rd2 := n1.rn.Ready()
	require.Len(t, rd2.Entries, 1, "x is being written already: only y is new")
	y := rd2.Entries[0]
	require.Equal(t, []byte("y"), y.Data)
	require.Equal(t, x.Index+1, y.Index)
	requireOneAppendEach(t, rd2.Messages, []Entry{y}, 2, 3) // before x is written
	require.False(t, n1.rn.HasReady())

	// The first Advance completes rd1 only: the leader counts x, not y.
	writeReady(t, n1.storage, rd1)
	n1.rn.Advance(rd1)
	require.Equal(t, x.Index, c.status(1).Progress[1].Match)
	writeReady(t, n1.storage, rd2)
	n1.rn.Advance(rd2)
	require.Equal(t, y.Index, c.status(1).Progress[1].Match)

	// Followers acknowledge both; each entry is applied exactly once.
	c.queue = append(c.queue, rd1.Messages...)
	c.queue = append(c.queue, rd2.Messages...)
	c.stabilize()
	var applied []Entry
	for _, e := range n1.applied {
		if e.Index >= x.Index {
			applied = append(applied, e)
		}
	}
	require.Equal(t, []Entry{x, y}, applied)
}

// A follower's acknowledgements wait for the Advance of the Ready that
// wrote what they acknowledge, not for a later one, nor an earlier one.
func TestRawNodePipelinedAcksWaitForTheirOwnAdvance(t *testing.T) {
	c, apps := twoAppendsTo2(t)
	x, y := apps[0].Entries[0].Index, apps[1].Entries[0].Index

	n2 := c.nodes[2]
	require.NoError(t, n2.rn.Step(apps[0]))
	rd1 := n2.rn.Ready()
	require.NoError(t, n2.rn.Step(apps[1]))
	rd2 := n2.rn.Ready()
	require.Equal(t, apps[1].Entries, rd2.Entries, "only y is new")
	require.Empty(t, selectMsgs(rd2.Messages, MsgAppResp, 1))

	writeReady(t, n2.storage, rd1)
	n2.rn.Advance(rd1)
	rd3 := n2.rn.Ready() // taken while rd2 is still being written
	acks := selectMsgs(rd3.Messages, MsgAppResp, 1)
	require.Len(t, acks, 1)
	require.Equal(t, x, acks[0].Index, "x is written, y is not")

	writeReady(t, n2.storage, rd2)
	n2.rn.Advance(rd2)
	rd4 := n2.rn.Ready()
	acks = selectMsgs(rd4.Messages, MsgAppResp, 1)
	require.Len(t, acks, 1)
	require.Equal(t, y, acks[0].Index)
	n2.rn.Advance(rd3)
	n2.rn.Advance(rd4)
	require.False(t, n2.rn.HasReady())
}

// Entries being written in a Ready not yet advanced are replaced by a
// leader of a later term: the replacements come in the next Ready, to be
// written after; the acknowledgement of the replaced entries never leaves,
// and advancing the first Ready does not mark the replacements persisted.
func TestRawNodePipelinedReplacedEntries(t *testing.T) {
	c, x, rd1 := node3WritingX(t)
	n3, r3 := c.nodes[3], c.raft(3)

	// Node 2, leader of the next term, never got x: it replaces it with z.
	z := Entry{Index: x.Index, Term: x.Term + 1, Data: []byte("z")}
	prevTerm, err := r3.raftLog.term(x.Index - 1)
	require.NoError(t, err)
	require.NoError(t, n3.rn.Step(Message{Type: MsgApp, From: 2, To: 3, Term: z.Term,
		Index: x.Index - 1, LogTerm: prevTerm, Entries: []Entry{z}, Commit: x.Index - 1}))
	rd2 := n3.rn.Ready()
	require.Equal(t, []Entry{z}, rd2.Entries)

	writeReady(t, n3.storage, rd1)
	n3.rn.Advance(rd1)
	require.Equal(t, x.Index-1, r3.raftLog.lastStableIndex(), "z is not written yet")
	rd3 := n3.rn.Ready()
	require.Empty(t, selectMsgs(rd3.Messages, MsgAppResp, 1), "x was replaced: its ack never leaves")

	writeReady(t, n3.storage, rd2)
	n3.rn.Advance(rd2)
	require.Equal(t, z.Index, r3.raftLog.lastStableIndex())
	rd4 := n3.rn.Ready()
	acks := selectMsgs(rd4.Messages, MsgAppResp, 2)
	require.Len(t, acks, 1)
	require.Equal(t, z.Index, acks[0].Index)
	n3.rn.Advance(rd3)
	n3.rn.Advance(rd4)

	stored, err := n3.storage.Entries(z.Index, z.Index+1, noLimit)
	require.NoError(t, err)
	require.Equal(t, []Entry{z}, stored)
	require.False(t, n3.rn.HasReady())
}

// A snapshot that arrives while a Ready is being written comes in the next
// Ready, once; its committed entries wait until it is advanced.
func TestRawNodePipelinedSnapshot(t *testing.T) {
	c, x, rd1 := node3WritingX(t)
	n3 := c.nodes[3]

	cs := c.status(1).Config
	snap := Snapshot{Metadata: SnapshotMetadata{Index: x.Index + 5, Term: x.Term, ConfState: cs}, Data: []byte("state")}
	require.NoError(t, n3.rn.Step(Message{Type: MsgSnap, From: 1, To: 3, Term: x.Term, Snapshot: &snap}))
	rd2 := n3.rn.Ready()
	require.Equal(t, snap.Metadata, rd2.Snapshot.Metadata)
	require.Empty(t, rd2.Entries)
	require.Empty(t, rd2.CommittedEntries, "nothing to apply before the snapshot")
	require.False(t, n3.rn.HasReady(), "the snapshot is handed out once")

	writeReady(t, n3.storage, rd1)
	n3.rn.Advance(rd1)
	writeReady(t, n3.storage, rd2)
	n3.rn.Advance(rd2)
	require.Equal(t, snap.Metadata.Index, c.raft(3).raftLog.applied)
	rd3 := n3.rn.Ready()
	acks := selectMsgs(rd3.Messages, MsgAppResp, 1)
	require.NotEmpty(t, acks)
	require.Equal(t, snap.Metadata.Index, acks[len(acks)-1].Index)
	n3.rn.Advance(rd3)
	require.False(t, n3.rn.HasReady())
}

// node3WritingX elects node 1 of a 3-node cluster, which proposes x; node
// 3 gets the append and takes the Ready that writes x, not yet advanced.
func node3WritingX(t *testing.T) (*testCluster, Entry, Ready) {
	c := newTestCluster(t, 3)
	c.campaign(1)
	require.NoError(t, c.nodes[1].rn.Propose([]byte("x")))
	app := selectMsgs(c.output(1), MsgApp, 3)[0]
	x := app.Entries[0]
	require.NoError(t, c.nodes[3].rn.Step(app))
	rd1 := c.nodes[3].rn.Ready()
	require.Equal(t, []Entry{x}, rd1.Entries)
	return c, x, rd1
}
