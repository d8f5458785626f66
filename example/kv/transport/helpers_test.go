package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/require"
)

// Generous bounds for asynchronous outcomes; no test asserts a duration.
const (
	waitFor = 10 * time.Second
	tick    = 5 * time.Millisecond
)

// fakeRaft records what a Transport delivers and reports.
type fakeRaft struct {
	mu          sync.Mutex
	msgs        []raft.Message
	unreachable map[uint64]int
	snaps       []snapReport
	processErr  error
}

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

func newFakeRaft() *fakeRaft { return &fakeRaft{unreachable: make(map[uint64]int)} }

func (f *fakeRaft) Process(_ context.Context, m raft.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.processErr != nil {
		return f.processErr
	}
	f.msgs = append(f.msgs, m)
	return nil
}

func (f *fakeRaft) ReportUnreachable(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable[id]++
}

func (f *fakeRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps = append(f.snaps, snapReport{id, status})
}

// received returns the messages delivered so far from peer from.
func (f *fakeRaft) received(from uint64) []raft.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []raft.Message
	for _, m := range f.msgs {
		if m.From == from {
			out = append(out, m)
		}
	}
	return out
}

// indexes returns the Index of each message delivered from peer from: the
// tests number their messages that way.
func (f *fakeRaft) indexes(from uint64) []uint64 {
	var out []uint64
	for _, m := range f.received(from) {
		out = append(out, m.Index)
	}
	return out
}

func (f *fakeRaft) unreachableCount(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unreachable[id]
}

func (f *fakeRaft) snapReports() []snapReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]snapReport(nil), f.snaps...)
}

// node is a Transport with the fakeRaft it delivers to.
type node struct {
	*Transport
	raft *fakeRaft
}

// testLogger writes the transport's lines when the test runs with -v.
func testLogger() *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newNode starts a transport for id on addr ("" = a free port); edit may
// adjust the config. Close is registered as cleanup (closing twice is fine).
func newNode(t *testing.T, id uint64, addr string, edit func(*Config)) *node {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	f := newFakeRaft()
	cfg := Config{
		ID:            id,
		ListenAddr:    addr,
		AdvertiseHTTP: fmt.Sprintf("http://node%d.test", id),
		Raft:          f,
		Logger:        testLogger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return &node{Transport: tr, raft: f}
}

// connect makes every node a peer of every other.
func connect(nodes ...*node) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.AddPeer(b.cfg.ID, b.Addr())
			}
		}
	}
}

// msg is a numbered heartbeat from one node to another.
func msg(from, to, index uint64) raft.Message {
	return raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: 1, Index: index}
}

// seq returns first, first+1, ..., last.
func seq(first, last uint64) []uint64 {
	var out []uint64
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}

// sendUntilDelivered sends numbered messages from a to b, one more each
// round, until b has one of them: a connection (re)established. It returns
// once the last one sent has arrived too, so no straggler arrives later, and
// returns the next free number.
func sendUntilDelivered(t *testing.T, a, b *node, next uint64) uint64 {
	t.Helper()
	start := len(b.raft.received(a.cfg.ID))
	require.Eventually(t, func() bool {
		a.Send([]raft.Message{msg(a.cfg.ID, b.cfg.ID, next)})
		next++
		return len(b.raft.received(a.cfg.ID)) > start
	}, waitFor, 20*time.Millisecond)
	require.Eventually(t, func() bool { return slices.Contains(b.raft.indexes(a.cfg.ID), next-1) }, waitFor, tick)
	return next
}

// requireDelivered waits until b has received from peer from the messages
// numbered want, consecutively and in order, wherever they start in what b
// received (earlier rounds may have left stragglers).
func requireDelivered(t *testing.T, b *node, from uint64, want []uint64) {
	t.Helper()
	last := want[len(want)-1]
	require.Eventually(t, func() bool { return slices.Contains(b.raft.indexes(from), last) }, waitFor, tick)
	got := b.raft.indexes(from)
	i := slices.Index(got, want[0])
	require.GreaterOrEqual(t, i, 0, "message %d never arrived", want[0])
	require.Equal(t, want, got[i:min(len(got), i+len(want))])
}

// freeAddr returns a local address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// rawDial opens a connection to n's peer port for speaking the protocol by
// hand.
func rawDial(t *testing.T, n *node) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// requireClosedByPeer asserts that the other end closes c: a read returns
// EOF or a reset rather than data or a timeout.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	var b [1]byte
	_, err := c.Read(b[:])
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open: %v", err)
}
