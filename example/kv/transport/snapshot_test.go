package transport

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/require"
)

// snapMsg is a MsgSnap from one node to another with size random bytes.
func snapMsg(t *testing.T, from, to uint64, size int) raft.Message {
	t.Helper()
	data := make([]byte, size)
	_, err := rand.Read(data)
	require.NoError(t, err)
	return raft.Message{Type: raft.MsgSnap, From: from, To: to, Term: 3, Snapshot: &raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 42, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}},
		Data:     data,
	}}
}

// requireSnapshotDelivered waits for the sender's SnapshotFinish and checks
// that the receiver got sent, intact, exactly once.
func requireSnapshotDelivered(t *testing.T, a, b *node, sent raft.Message) {
	t.Helper()
	require.Eventually(t, func() bool { return len(a.raft.snapReports()) > 0 }, waitFor, tick)
	require.Equal(t, []snapReport{{b.cfg.ID, raft.SnapshotFinish}}, a.raft.snapReports())
	var got []raft.Message
	for _, m := range b.raft.received(a.cfg.ID) {
		if m.Type == raft.MsgSnap {
			got = append(got, m)
		}
	}
	require.Len(t, got, 1)
	require.True(t, bytes.Equal(sent.Snapshot.Data, got[0].Snapshot.Data), "snapshot data differs")
	want := sent
	want.Snapshot = &raft.Snapshot{Metadata: sent.Snapshot.Metadata}
	got[0].Snapshot = &raft.Snapshot{Metadata: got[0].Snapshot.Metadata}
	require.Equal(t, want, got[0])
}

// A snapshot of several MiB, sent in small chunks, arrives intact and the
// sender reports SnapshotFinish.
func TestSnapshotArrivesIntactInChunks(t *testing.T) {
	var chunks atomic.Int64
	a := newNode(t, 1, "", func(c *Config) { c.SnapshotChunk = 64 << 10 })
	a.hooks.afterSnapChunk = func(uint64, uint64) error { chunks.Add(1); return nil }
	b := newNode(t, 2, "", nil)
	connect(a, b)
	m := snapMsg(t, 1, 2, 4<<20+123)
	a.Send([]raft.Message{m})
	requireSnapshotDelivered(t, a, b, m)
	require.EqualValues(t, 65, chunks.Load())
}

// A transfer whose connection breaks halfway resumes, on a new connection,
// from where the receiver stands rather than from the start.
func TestSnapshotResumesAfterBrokenConnection(t *testing.T) {
	a := newNode(t, 1, "", func(c *Config) { c.SnapshotChunk = 64 << 10 })
	var broken atomic.Bool
	a.hooks.afterSnapChunk = func(_ uint64, off uint64) error {
		if off >= 1<<20 && broken.CompareAndSwap(false, true) {
			return errors.New("injected break")
		}
		return nil
	}
	b := newNode(t, 2, "", nil)
	connect(a, b)
	m := snapMsg(t, 1, 2, 3<<20)
	a.Send([]raft.Message{m})
	requireSnapshotDelivered(t, a, b, m)
	require.True(t, broken.Load())
	require.EqualValues(t, 1, a.stats.snapResumes.Load())
	require.EqualValues(t, 1<<20, a.stats.snapResumeFrom.Load(), "resumed just after the last chunk sent")
	require.Positive(t, a.raft.unreachableCount(2), "the broken connection is reported")
}

// While a snapshot transfer is stuck, ordinary messages still flow.
func TestSnapshotDoesNotBlockMessages(t *testing.T) {
	a, entered, release := newStuckSnapshotSender(t)
	b := newNode(t, 2, "", nil)
	connect(a, b)
	m := snapMsg(t, 1, 2, 1<<20)
	a.Send([]raft.Message{m})
	<-entered
	sendUntilDelivered(t, a, b, 1)
	close(release)
	requireSnapshotDelivered(t, a, b, m)
}

// A snapshot to a peer that stays down ends with SnapshotFailure.
func TestSnapshotFailsWhenPeerDown(t *testing.T) {
	a := newNode(t, 1, "", nil)
	a.AddPeer(2, freeAddr(t))
	a.Send([]raft.Message{snapMsg(t, 1, 2, 1000)})
	require.Eventually(t, func() bool { return len(a.raft.snapReports()) > 0 }, waitFor, tick)
	require.Equal(t, []snapReport{{2, raft.SnapshotFailure}}, a.raft.snapReports())
}

// A snapshot the receiver's Raft refuses ends with SnapshotFailure, without
// retries.
func TestSnapshotRefusedByRaftFails(t *testing.T) {
	a, b := newNode(t, 1, "", nil), newNode(t, 2, "", nil)
	b.raft.mu.Lock()
	b.raft.processErr = errors.New("refused")
	b.raft.mu.Unlock()
	connect(a, b)
	a.Send([]raft.Message{snapMsg(t, 1, 2, 1000)})
	require.Eventually(t, func() bool { return len(a.raft.snapReports()) > 0 }, waitFor, tick)
	require.Equal(t, []snapReport{{2, raft.SnapshotFailure}}, a.raft.snapReports())
}

// A newer snapshot to the same peer replaces a transfer in progress; only
// the newer one is delivered and reported.
func TestNewerSnapshotReplacesTransfer(t *testing.T) {
	a, entered, release := newStuckSnapshotSender(t)
	b := newNode(t, 2, "", nil)
	connect(a, b)
	older := snapMsg(t, 1, 2, 1<<20)
	a.Send([]raft.Message{older})
	<-entered
	newer := snapMsg(t, 1, 2, 1<<20)
	newer.Snapshot.Metadata.Index = 50
	a.Send([]raft.Message{newer})
	close(release)
	requireSnapshotDelivered(t, a, b, newer)
}

// snapPeer speaks the snapshot protocol by hand, as peer 7, to node n.
type snapPeer struct {
	t  *testing.T
	c  net.Conn
	fr *frameReader
}

func dialSnapshot(t *testing.T, n *node) *snapPeer {
	c := rawDial(t, n)
	_, err := c.Write(hello{kind: kindSnapshot, from: 7, to: n.cfg.ID, httpURL: "http://seven"}.appendFrame(nil))
	require.NoError(t, err)
	return &snapPeer{t: t, c: c, fr: newFrameReader(c)}
}

func (s *snapPeer) write(typ byte, payload []byte) {
	_, err := s.c.Write(frame(typ, payload))
	require.NoError(s.t, err)
}

// begin sends a begin frame for data declared with crc, and returns the
// acked offset.
func (s *snapPeer) begin(m raft.Message, crc uint32) uint64 {
	enc, err := func() ([]byte, error) {
		meta := m
		meta.Snapshot = &raft.Snapshot{Metadata: m.Snapshot.Metadata}
		return meta.Marshal()
	}()
	require.NoError(s.t, err)
	p := binary.BigEndian.AppendUint64(nil, uint64(len(m.Snapshot.Data)))
	p = binary.BigEndian.AppendUint32(p, crc)
	s.write(frameSnapBegin, append(p, enc...))
	typ, b, err := s.fr.next(64)
	require.NoError(s.t, err)
	require.Equal(s.t, frameSnapAck, typ)
	return binary.BigEndian.Uint64(b)
}

func (s *snapPeer) chunk(off uint64, data []byte) {
	s.write(frameSnapChunk, append(binary.BigEndian.AppendUint64(nil, off), data...))
}

func (s *snapPeer) done() byte {
	typ, b, err := s.fr.next(64)
	require.NoError(s.t, err)
	require.Equal(s.t, frameSnapDone, typ)
	require.Len(s.t, b, 1)
	return b[0]
}

// The receiver keeps a partial transfer across connections and acks, on the
// next one, the offset to resume from.
func TestReceiverAcksResumeOffset(t *testing.T) {
	b := newNode(t, 2, "", nil)
	m := snapMsg(t, 7, 2, 100_000)
	data, crc := m.Snapshot.Data, crc32.Checksum(m.Snapshot.Data, castagnoli)

	s := dialSnapshot(t, b)
	require.Zero(t, s.begin(m, crc))
	s.chunk(0, data[:30_000])
	s.chunk(30_000, data[30_000:60_000])
	require.NoError(t, s.c.Close())

	s = dialSnapshot(t, b)
	require.EqualValues(t, 60_000, s.begin(m, crc))
	s.chunk(60_000, data[60_000:])
	require.Equal(t, snapOK, s.done())
	require.Equal(t, "http://seven", b.PeerHTTP(7))

	got := b.raft.received(7)
	require.Len(t, got, 1)
	require.True(t, bytes.Equal(data, got[0].Snapshot.Data))

	// The finished transfer is forgotten: the same snapshot again starts at 0.
	s = dialSnapshot(t, b)
	require.Zero(t, s.begin(m, crc))
}

// Data whose checksum does not match is dropped, not delivered, and the
// next attempt starts over.
func TestReceiverRejectsBadChecksum(t *testing.T) {
	b := newNode(t, 2, "", nil)
	m := snapMsg(t, 7, 2, 10_000)
	crc := crc32.Checksum(m.Snapshot.Data, castagnoli)

	s := dialSnapshot(t, b)
	require.Zero(t, s.begin(m, crc+1))
	s.chunk(0, m.Snapshot.Data)
	require.Equal(t, snapBadSum, s.done())
	require.Empty(t, b.raft.received(7))

	s = dialSnapshot(t, b)
	require.Zero(t, s.begin(m, crc))
	s.chunk(0, m.Snapshot.Data)
	require.Equal(t, snapOK, s.done())
	require.Len(t, b.raft.received(7), 1)
}

// A chunk at the wrong offset, or past the declared size, closes the
// connection; the partial transfer stays resumable.
func TestReceiverClosesOnBadChunk(t *testing.T) {
	b := newNode(t, 2, "", nil)
	m := snapMsg(t, 7, 2, 10_000)
	crc := crc32.Checksum(m.Snapshot.Data, castagnoli)

	s := dialSnapshot(t, b)
	require.Zero(t, s.begin(m, crc))
	s.chunk(0, m.Snapshot.Data[:4000])
	s.chunk(5000, m.Snapshot.Data[5000:6000]) // a gap
	requireClosedByPeer(t, s.c)

	s = dialSnapshot(t, b)
	require.EqualValues(t, 4000, s.begin(m, crc))
	s.chunk(4000, append(slices.Clone(m.Snapshot.Data[4000:]), 1)) // one byte too many
	requireClosedByPeer(t, s.c)

	s = dialSnapshot(t, b)
	require.EqualValues(t, 4000, s.begin(m, crc))
	s.chunk(4000, m.Snapshot.Data[4000:])
	require.Equal(t, snapOK, s.done())
}

// newStuckSnapshotSender returns node 1, sending snapshots in 64 KiB
// chunks, whose first snapshot transfer stops after its first chunk:
// entered is closed once it stopped, and closing release lets it go on.
func newStuckSnapshotSender(t *testing.T) (a *node, entered, release chan struct{}) {
	a = newNode(t, 1, "", func(c *Config) { c.SnapshotChunk = 64 << 10 })
	entered, release = make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	a.hooks.afterSnapChunk = func(uint64, uint64) error {
		if once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return nil
	}
	return a, entered, release
}
