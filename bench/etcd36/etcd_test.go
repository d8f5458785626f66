package bench

import (
	"io"
	"log"
	"testing"

	etcd "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The etcd/raft v3.6 driver: the same as ../etcd_test.go (v3.7) but for the
// gogoproto-generated raftpb of v3.6, whose messages and entries are values
// and which encodes with generated Marshal and Unmarshal methods. The two
// versions share a module path, so they cannot share a build: this module
// links ../workloads_test.go and ../keelraft_test.go to compare keelraft with
// v3.6 in the same run.

// etcdVersion is the version of go.etcd.io/raft/v3 in go.mod.
const etcdVersion = "v3.6.0"

func TestEtcdVersion(t *testing.T) { checkRequire(t, "go.etcd.io/raft/v3", etcdVersion) }

func init() {
	register(driver{
		name:  "etcd-" + etcdVersion,
		order: 1,
		replicate: func(b *testing.B, w workload) {
			benchStepped(b, w, newEtcdCluster(b, w.voters))
		},
		encoding: []namedBench{
			{"encode", benchEtcdEncode},
			{"decode", benchEtcdDecode},
			{"encode+decode", benchEtcdRoundTrip},
		},
	})
}

type etcdNode struct {
	id        uint64
	rn        *etcd.RawNode
	storage   *etcd.MemoryStorage
	confState pb.ConfState
	applied   uint64
	snapIndex uint64
	proposals int
}

type etcdCluster struct {
	tb      testing.TB
	nodes   []*etcdNode
	leader  *etcdNode
	msgs    int // messages delivered
	mailbox []pb.Message
}

func newEtcdCluster(tb testing.TB, voters int) *etcdCluster {
	c := &etcdCluster{tb: tb}
	peers := make([]etcd.Peer, voters)
	for i := range peers {
		peers[i] = etcd.Peer{ID: uint64(i + 1)}
	}
	for _, p := range peers {
		nd := &etcdNode{id: p.ID, storage: etcd.NewMemoryStorage()}
		rn, err := etcd.NewRawNode(&etcd.Config{
			ID:                       p.ID,
			ElectionTick:             10,
			HeartbeatTick:            1,
			Storage:                  nd.storage,
			MaxSizePerMsg:            maxSizePerMsg,
			MaxCommittedSizePerReady: maxSizePerMsg,
			MaxInflightMsgs:          maxInflightMsgs,
			CheckQuorum:              true,
			PreVote:                  true,
			Logger:                   &etcd.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
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
	if st := c.leader.rn.BasicStatus(); st.RaftState != etcd.StateLeader {
		tb.Fatalf("node 1 campaigned but is %s", st.RaftState)
	}
	return c
}

func (c *etcdCluster) propose(data []byte, n int) {
	for range n {
		if err := c.leader.rn.Propose(data); err != nil {
			c.tb.Fatal(err)
		}
	}
}

// cycle follows etcd's synchronous contract: persist, then send (messages
// leave only after every node has persisted anyway), apply, Advance.
func (c *etcdCluster) cycle() bool {
	busy := false
	for _, nd := range c.nodes {
		if !nd.rn.HasReady() {
			continue
		}
		busy = true
		rd := nd.rn.Ready()
		if !etcd.IsEmptySnap(rd.Snapshot) {
			c.check(nd.storage.ApplySnapshot(rd.Snapshot))
			nd.confState = rd.Snapshot.Metadata.ConfState
			nd.applied = rd.Snapshot.Metadata.Index
			nd.snapIndex = nd.applied
		}
		c.check(nd.storage.Append(rd.Entries))
		if !etcd.IsEmptyHardState(rd.HardState) {
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
	clear(mail)
	c.mailbox = mail[:0]
	return busy || len(mail) > 0
}

func (c *etcdCluster) apply(nd *etcdNode, ents []pb.Entry) {
	for i := range ents {
		e := &ents[i]
		switch e.Type {
		case pb.EntryNormal:
			if len(e.Data) > 0 {
				nd.proposals++
			}
		case pb.EntryConfChange:
			var cc pb.ConfChange
			c.check(cc.Unmarshal(e.Data))
			nd.confState = *nd.rn.ApplyConfChange(cc)
		}
		nd.applied = e.Index
	}
}

func (c *etcdCluster) maybeCompact(nd *etcdNode) {
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

func (c *etcdCluster) applied() int {
	n := c.nodes[0].proposals
	for _, nd := range c.nodes[1:] {
		n = min(n, nd.proposals)
	}
	return n
}

func (c *etcdCluster) delivered() int { return c.msgs }

func (c *etcdCluster) check(err error) {
	if err != nil {
		c.tb.Helper()
		c.tb.Fatal(err)
	}
}

// etcdW5Message is the W5 append message.
func etcdW5Message() pb.Message {
	data := payload(w5Payload)
	ents := make([]pb.Entry, w5Entries)
	for i := range ents {
		ents[i] = pb.Entry{Term: w5Term, Index: w5FirstIndex + uint64(i), Type: pb.EntryNormal, Data: data}
	}
	return pb.Message{
		Type:    pb.MsgApp,
		To:      2,
		From:    1,
		Term:    w5Term,
		LogTerm: w5Term,
		Index:   w5FirstIndex - 1,
		Entries: ents,
		Commit:  w5Commit,
	}
}

func benchEtcdEncode(b *testing.B) {
	m := etcdW5Message()
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

func benchEtcdDecode(b *testing.B) {
	m := etcdW5Message()
	buf, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var got pb.Message
		if err := got.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		if len(got.Entries) != w5Entries {
			b.Fatalf("decoded %d entries, want %d", len(got.Entries), w5Entries)
		}
	}
	reportWireBytes(b, len(buf))
}

func benchEtcdRoundTrip(b *testing.B) {
	m := etcdW5Message()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		buf, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		var got pb.Message
		if err := got.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	reportWireBytes(b, n)
}
