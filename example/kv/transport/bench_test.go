package transport

import (
	"context"
	"testing"

	"github.com/keelraft/raft"
)

// countingRaft counts delivered messages and signals every n-th.
type countingRaft struct {
	n    int
	seen int
	c    chan struct{}
}

func (r *countingRaft) Process(context.Context, raft.Message) error {
	r.seen++ // one connection: one goroutine calls Process
	if r.seen%r.n == 0 {
		r.c <- struct{}{}
	}
	return nil
}
func (*countingRaft) ReportUnreachable(uint64)                   {}
func (*countingRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// BenchmarkSendMsgApp is the cost of one MsgApp of 4 entries of 128 bytes,
// from Send to Process, in batches of 64.
func BenchmarkSendMsgApp(b *testing.B) {
	const batch = 64
	recv := &countingRaft{n: batch, c: make(chan struct{}, 1)}
	t1, err := New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Raft: &countingRaft{n: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	defer t1.Close()
	t2, err := New(Config{ID: 2, ListenAddr: "127.0.0.1:0", Raft: recv})
	if err != nil {
		b.Fatal(err)
	}
	defer t2.Close()
	t1.AddPeer(2, t2.Addr())
	ents := make([]raft.Entry, 4)
	for i := range ents {
		ents[i] = raft.Entry{Term: 1, Index: uint64(i + 1), Data: make([]byte, 128)}
	}
	msgs := make([]raft.Message, batch)
	for i := range msgs {
		msgs[i] = raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 1, Index: 10, LogTerm: 1, Commit: 9, Entries: ents}
	}
	b.ReportAllocs()
	b.SetBytes(batch * 4 * 128)
	b.ResetTimer()
	for range b.N {
		t1.Send(msgs)
		<-recv.c
	}
}
