package transport

import (
	"bytes"
	"crypto/rand"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/require"
)

// Three nodes each send numbered messages to the two others; every receiver
// gets each sender's messages complete and in the order sent.
func TestMessagesArriveInOrder(t *testing.T) {
	nodes := []*node{newNode(t, 1, "", nil), newNode(t, 2, "", nil), newNode(t, 3, "", nil)}
	connect(nodes...)
	const n = 300
	for i := uint64(1); i <= n; i++ {
		for _, a := range nodes {
			var batch []raft.Message
			for _, b := range nodes {
				if a != b {
					batch = append(batch, msg(a.cfg.ID, b.cfg.ID, i))
				}
			}
			a.Send(batch)
		}
		if i%50 == 0 {
			// Stay below the queue size even if a connection is slow to come
			// up; what is measured is order, not the queue.
			for _, b := range nodes {
				for _, a := range nodes {
					if a != b {
						require.Eventually(t, func() bool { return len(b.raft.received(a.cfg.ID)) >= int(i) }, waitFor, tick)
					}
				}
			}
		}
	}
	for _, b := range nodes {
		for _, a := range nodes {
			if a != b {
				require.Equal(t, seq(1, n), b.raft.indexes(a.cfg.ID), "node %d from %d", b.cfg.ID, a.cfg.ID)
			}
		}
	}
}

// Entries and other fields survive the trip.
func TestMessageContentsSurvive(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	connect(a, b)
	m := raft.Message{
		Type: raft.MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 7, Commit: 6,
		Entries: []raft.Entry{{Term: 3, Index: 8, Data: []byte("x")}, {Term: 3, Index: 9, Type: raft.EntryConfChange}},
		Context: []byte("ctx"),
	}
	a.Send([]raft.Message{m})
	require.Eventually(t, func() bool { return len(b.raft.received(1)) == 1 }, waitFor, tick)
	require.Equal(t, m, b.raft.received(1)[0])
}

// A peer learns the other's AdvertiseHTTP from its handshake.
func TestPeerHTTPIsWhatThePeerAdvertised(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	require.Empty(t, b.PeerHTTP(1))
	a.AddPeer(2, b.Addr())
	require.Eventually(t, func() bool { return b.PeerHTTP(1) == "http://node1.test" }, waitFor, tick)
	require.Empty(t, a.PeerHTTP(2), "b never dialed a")
}

// Everything queued while the writer is busy goes out in one flush.
func TestWriterFlushesQueuedMessagesAtOnce(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	a.hooks.beforeBatch = func(uint64) {
		if first { // only the writer goroutine runs the hook
			first = false
			close(entered)
			<-release
		}
	}
	a.AddPeer(2, b.Addr())

	a.Send([]raft.Message{msg(1, 2, 1)})
	<-entered // the writer holds message 1
	var batch []raft.Message
	for i := uint64(2); i <= 500; i++ {
		batch = append(batch, msg(1, 2, i))
	}
	a.Send(batch)
	close(release)

	require.Eventually(t, func() bool { return len(b.raft.received(1)) == 500 }, waitFor, tick)
	require.Equal(t, seq(1, 500), b.raft.indexes(1))
	require.EqualValues(t, 1, peerOf(a, 2).flushes.Load(), "500 messages, one flush")
}

// When a peer's queue is full, Send drops the message and the Raft hears
// that the peer is unreachable; what was queued still goes out.
func TestFullQueueDropsAndReportsUnreachable(t *testing.T) {
	a := newNode(t, 1, "", func(c *Config) { c.QueueSize = 8 })
	b := newNode(t, 2, "", nil)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	a.hooks.beforeBatch = func(uint64) {
		if first {
			first = false
			close(entered)
			<-release
		}
	}
	a.AddPeer(2, b.Addr())

	a.Send([]raft.Message{msg(1, 2, 1)})
	<-entered
	var batch []raft.Message
	for i := uint64(2); i <= 100; i++ {
		batch = append(batch, msg(1, 2, i))
	}
	a.Send(batch) // 8 fit, 91 are dropped
	require.Eventually(t, func() bool { return a.raft.unreachableCount(2) > 0 }, waitFor, tick)
	close(release)

	require.Eventually(t, func() bool { return len(b.raft.received(1)) == 9 }, waitFor, tick)
	require.Equal(t, seq(1, 9), b.raft.indexes(1))
}

// A message to a peer nobody listens for makes the Raft hear it is
// unreachable.
func TestReportsUnreachableWhenPeerDown(t *testing.T) {
	a := newNode(t, 1, "", nil)
	a.AddPeer(2, freeAddr(t))
	a.Send([]raft.Message{msg(1, 2, 1)})
	require.Eventually(t, func() bool { return a.raft.unreachableCount(2) > 0 }, waitFor, tick)
}

// A message to a peer never added is dropped and reported.
func TestSendToUnknownPeerReportsUnreachable(t *testing.T) {
	a := newNode(t, 1, "", nil)
	a.Send([]raft.Message{msg(1, 9, 1), {Type: raft.MsgSnap, From: 1, To: 9, Snapshot: &raft.Snapshot{}}})
	require.Eventually(t, func() bool {
		return a.raft.unreachableCount(9) == 1 && slices.Equal(a.raft.snapReports(), []snapReport{{9, raft.SnapshotFailure}})
	}, waitFor, tick)
}

// A peer that restarts on the same address gets messages again, in order,
// over a new connection, and the Raft hears of the broken one.
func TestReconnectsAfterPeerRestart(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	connect(a, b)
	next := sendUntilDelivered(t, a, b, 1)
	sendUntilDelivered(t, b, a, 1)

	addr := b.Addr()
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return a.raft.unreachableCount(2) > 0 }, waitFor, tick)

	b2 := newNode(t, 2, addr, nil)
	b2.AddPeer(1, a.Addr())
	next = sendUntilDelivered(t, a, b2, next)
	var batch []raft.Message
	for i := next; i < next+100; i++ {
		batch = append(batch, msg(1, 2, i))
	}
	a.Send(batch)
	requireDelivered(t, b2, 1, seq(next, next+99))
	sendUntilDelivered(t, b2, a, 1000) // and the other way
}

// Cut drops messages to and from the peer until healed.
func TestCutDropsBothWays(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	connect(a, b)
	sendUntilDelivered(t, a, b, 1)
	sendUntilDelivered(t, b, a, 1)

	a.Cut(2, true)
	a.Send([]raft.Message{msg(1, 2, 10000)})
	b.Send([]raft.Message{msg(2, 1, 20000)})
	// Both dropped at a: on Send, and on receipt.
	require.Eventually(t, func() bool { return a.stats.cutDrops.Load() == 2 }, waitFor, tick)
	a.Send([]raft.Message{{Type: raft.MsgSnap, From: 1, To: 2, Snapshot: &raft.Snapshot{Data: []byte("s")}}})
	require.Eventually(t, func() bool {
		return slices.Equal(a.raft.snapReports(), []snapReport{{2, raft.SnapshotFailure}})
	}, waitFor, tick)

	a.Cut(2, false)
	a.Send([]raft.Message{msg(1, 2, 10001)})
	b.Send([]raft.Message{msg(2, 1, 20001)})
	requireDelivered(t, b, 1, []uint64{10001})
	requireDelivered(t, a, 2, []uint64{20001})
	require.NotContains(t, b.raft.indexes(1), uint64(10000))
	require.NotContains(t, a.raft.indexes(2), uint64(20000))
}

// After RemovePeer, messages to the peer are dropped and reported.
func TestRemovePeerStopsSending(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	connect(a, b)
	sendUntilDelivered(t, a, b, 1)
	a.RemovePeer(2)
	a.Send([]raft.Message{msg(1, 2, 10000)})
	require.Eventually(t, func() bool { return a.raft.unreachableCount(2) > 0 }, waitFor, tick)
	require.NotContains(t, b.raft.indexes(1), uint64(10000))
}

// Close ends every goroutine the transports started: writers, readers,
// snapshot transfers, redials to a peer that is down.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	nodes := []*node{newNode(t, 1, "", nil), newNode(t, 2, "", nil), newNode(t, 3, "", nil)}
	connect(nodes...)
	nodes[0].AddPeer(4, freeAddr(t))
	sendUntilDelivered(t, nodes[0], nodes[1], 1)
	sendUntilDelivered(t, nodes[2], nodes[0], 1)
	data := make([]byte, 256<<10)
	_, _ = rand.Read(data)
	nodes[1].Send([]raft.Message{{Type: raft.MsgSnap, From: 2, To: 3, Snapshot: &raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 5, Term: 1}, Data: data}}})
	require.Eventually(t, func() bool { return len(nodes[1].raft.snapReports()) == 1 }, waitFor, tick)
	// A transfer still retrying when Close comes.
	nodes[0].Send([]raft.Message{{Type: raft.MsgSnap, From: 1, To: 4, Snapshot: &raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 5, Term: 1}, Data: data}}})

	for _, n := range nodes {
		require.NoError(t, n.Close())
	}
	// Not require.Eventually: it polls from a goroutine of its own.
	for deadline := time.Now().Add(waitFor); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	require.NoError(t, nodes[0].Close(), "a second Close")
	nodes[0].Send([]raft.Message{msg(1, 2, 1)}) // after Close: nothing happens
}

// New refuses a config it cannot work with.
func TestNewChecksConfig(t *testing.T) {
	f := newFakeRaft()
	_, err := New(Config{ListenAddr: "127.0.0.1:0", Raft: f})
	require.Error(t, err)
	_, err = New(Config{ID: 1, ListenAddr: "127.0.0.1:0"})
	require.Error(t, err)
	_, err = New(Config{ID: 1, ListenAddr: "256.0.0.1:0", Raft: f})
	require.Error(t, err)
	_, err = New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Raft: f, AdvertiseHTTP: string(bytes.Repeat([]byte("x"), 5000))})
	require.Error(t, err)
}

// peerOf returns n's peer id.
func peerOf(n *node, id uint64) *peer {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.peers[id]
}
