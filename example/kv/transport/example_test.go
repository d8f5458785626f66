package transport_test

import (
	"context"
	"fmt"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/transport"
)

// inbox is a transport.Raft that hands received messages to a channel.
type inbox chan raft.Message

func (in inbox) Process(ctx context.Context, m raft.Message) error {
	select {
	case in <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (inbox) ReportUnreachable(uint64)                   {}
func (inbox) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// Two nodes on free local ports; node 1 sends node 2 a heartbeat.
func Example() {
	in1, in2 := make(inbox, 1), make(inbox, 1)
	t1, err := transport.New(transport.Config{ID: 1, ListenAddr: "127.0.0.1:0", AdvertiseHTTP: "http://127.0.0.1:8001", Raft: in1})
	if err != nil {
		panic(err)
	}
	defer t1.Close()
	t2, err := transport.New(transport.Config{ID: 2, ListenAddr: "127.0.0.1:0", AdvertiseHTTP: "http://127.0.0.1:8002", Raft: in2})
	if err != nil {
		panic(err)
	}
	defer t2.Close()
	t1.AddPeer(2, t2.Addr())
	t2.AddPeer(1, t1.Addr())

	t1.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1, Commit: 5}})
	m := <-in2
	fmt.Println(m.Type, "from", m.From, "commit", m.Commit)
	fmt.Println("node 1 serves clients at", t2.PeerHTTP(1))
	// Output:
	// MsgHeartbeat from 1 commit 5
	// node 1 serves clients at http://127.0.0.1:8001
}
