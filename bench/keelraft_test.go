package bench

import (
	"testing"

	"github.com/keelraft/raft"
)

// The keelraft driver: RawNode over MemoryStorage, every node in one
// goroutine, messages handed to the target's Step.

func init() {
	register(driver{
		name:  "keelraft",
		order: 0,
		replicate: func(b *testing.B, w workload) {
			benchStepped(b, w, newKeelraftCluster(b, w.voters))
		},
		encoding: []namedBench{
			{"encode", benchKeelraftEncode},
			{"decode", benchKeelraftDecode},
			{"encode+decode", benchKeelraftRoundTrip},
		},
	})
}

type keelraftNode struct {
	id        uint64
	rn        *raft.RawNode
	storage   *raft.MemoryStorage
	confState raft.ConfState
	applied   uint64 // index of the last entry applied
	snapIndex uint64 // index of the last snapshot taken
	proposals int    // proposals (non-empty normal entries) applied
}

type keelraftCluster struct {
	tb      testing.TB
	nodes   []*keelraftNode // nodes[i] has ID i+1
	leader  *keelraftNode
	msgs    int // messages delivered
	mailbox []raft.Message
}

// newKeelraftCluster bootstraps voters nodes, elects node 1 and lets the
// cluster settle.
func newKeelraftCluster(tb testing.TB, voters int) *keelraftCluster {
	c := &keelraftCluster{tb: tb}
	peers := make([]raft.Peer, voters)
	for i := range peers {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
	}
	for _, p := range peers {
		nd := &keelraftNode{id: p.ID, storage: raft.NewMemoryStorage()}
		rn, err := raft.NewRawNode(&raft.Config{
			ID:                       p.ID,
			ElectionTick:             10,
			HeartbeatTick:            1,
			Storage:                  nd.storage,
			MaxSizePerMsg:            maxSizePerMsg,
			MaxCommittedSizePerReady: maxSizePerMsg,
			MaxInflightMsgs:          maxInflightMsgs,
			CheckQuorum:              true,
			PreVote:                  true,
			Logger:                   raft.DiscardLogger,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if err := rn.Bootstrap(peers); err != nil {
			tb.Fatal(err)
		}
		nd.rn = rn
		c.nodes = append(c.nodes, nd)
	}
	settle(tb, c)
	c.leader = c.nodes[0]
	if err := c.leader.rn.Campaign(); err != nil {
		tb.Fatal(err)
	}
	settle(tb, c)
	if st := c.leader.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		tb.Fatalf("node 1 campaigned but is %s", st.RaftState)
	}
	return c
}

func (c *keelraftCluster) propose(data []byte, n int) {
	for range n {
		if err := c.leader.rn.Propose(data); err != nil {
			c.tb.Fatal(err)
		}
	}
}

// cycle handles the Ready of each node as the Ready type says, in the same
// order as the etcd driver: persist, send, apply, Advance. (keelraft allows
// sending first; nothing is delivered before every node has persisted
// anyway.)
func (c *keelraftCluster) cycle() bool {
	busy := false
	for _, nd := range c.nodes {
		if !nd.rn.HasReady() {
			continue
		}
		busy = true
		rd := nd.rn.Ready()
		if !raft.IsEmptySnap(rd.Snapshot) {
			c.check(nd.storage.ApplySnapshot(rd.Snapshot))
			nd.confState = rd.Snapshot.Metadata.ConfState
			nd.applied = rd.Snapshot.Metadata.Index
			nd.snapIndex = nd.applied
		}
		c.check(nd.storage.Append(rd.Entries))
		if !raft.IsEmptyHardState(rd.HardState) {
			c.check(nd.storage.SetHardState(rd.HardState))
		}
		c.mailbox = append(c.mailbox, rd.Messages...)
		c.apply(nd, rd.CommittedEntries)
		nd.rn.Advance(rd)
		c.maybeCompact(nd)
	}
	mail := c.mailbox
	for i := range mail {
		c.check(c.nodes[mail[i].To-1].rn.Step(mail[i]))
	}
	c.msgs += len(mail)
	clear(mail) // let the delivered entries be collected
	c.mailbox = mail[:0]
	return busy || len(mail) > 0
}

func (c *keelraftCluster) apply(nd *keelraftNode, ents []raft.Entry) {
	for i := range ents {
		e := &ents[i]
		switch e.Type {
		case raft.EntryNormal:
			if len(e.Data) > 0 {
				nd.proposals++
			}
		case raft.EntryConfChange:
			var cc raft.ConfChange
			c.check(cc.Unmarshal(e.Data))
			nd.confState = *nd.rn.ApplyConfChange(cc)
		}
		nd.applied = e.Index
	}
}

// maybeCompact takes a snapshot every snapshotEvery applied entries and
// compacts the log behind it, keeping catchUpEntries.
func (c *keelraftCluster) maybeCompact(nd *keelraftNode) {
	if nd.applied < nd.snapIndex+snapshotEvery {
		return
	}
	cs := nd.confState
	_, err := nd.storage.CreateSnapshot(nd.applied, &cs, nil)
	c.check(err)
	nd.snapIndex = nd.applied
	first, err := nd.storage.FirstIndex()
	c.check(err)
	if nd.applied > catchUpEntries && nd.applied-catchUpEntries >= first {
		c.check(nd.storage.Compact(nd.applied - catchUpEntries))
	}
}

func (c *keelraftCluster) applied() int {
	n := c.nodes[0].proposals
	for _, nd := range c.nodes[1:] {
		n = min(n, nd.proposals)
	}
	return n
}

func (c *keelraftCluster) delivered() int { return c.msgs }

func (c *keelraftCluster) check(err error) {
	if err != nil {
		c.tb.Helper()
		c.tb.Fatal(err)
	}
}

// keelraftW5Message is the W5 append message.
func keelraftW5Message() raft.Message {
	data := payload(w5Payload)
	ents := make([]raft.Entry, w5Entries)
	for i := range ents {
		ents[i] = raft.Entry{Term: w5Term, Index: w5FirstIndex + uint64(i), Type: raft.EntryNormal, Data: data}
	}
	return raft.Message{
		Type:    raft.MsgApp,
		To:      2,
		From:    1,
		Term:    w5Term,
		LogTerm: w5Term,
		Index:   w5FirstIndex - 1,
		Entries: ents,
		Commit:  w5Commit,
	}
}

func benchKeelraftEncode(b *testing.B) {
	m := keelraftW5Message()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		buf, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	reportWireBytes(b, n)
}

func benchKeelraftDecode(b *testing.B) {
	m := keelraftW5Message()
	buf, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var got raft.Message
		if err := got.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		if len(got.Entries) != w5Entries {
			b.Fatalf("decoded %d entries, want %d", len(got.Entries), w5Entries)
		}
	}
	reportWireBytes(b, len(buf))
}

func benchKeelraftRoundTrip(b *testing.B) {
	m := keelraftW5Message()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		buf, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		var got raft.Message
		if err := got.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	reportWireBytes(b, n)
}
