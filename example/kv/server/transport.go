package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/keelraft/raft"
)

// peerTransport is what the node needs of its transport: the methods of
// transport.Transport that the server calls. Tests may swap in a fake with
// newTransport.
type peerTransport interface {
	Send(msgs []raft.Message)
	AddPeer(id uint64, addr string)
	RemovePeer(id uint64)
	PeerHTTP(id uint64) string
	Cut(id uint64, cut bool)
	Addr() string
	Close() error
}

// transportConfig is what Start hands to newTransport.
type transportConfig struct {
	ID            uint64
	ListenAddr    string
	AdvertiseHTTP string
	Raft          *raftAdapter
	Logger        *slog.Logger
}

// errStopped is returned to callers once the server is stopping.
var errStopped = errors.New("server stopped")

// raftAdapter is the transport's view of the node (transport.Raft): it
// hands messages and reports into the node loop.
type raftAdapter struct {
	recvc chan raft.Message
	stopc <-chan struct{}

	mu      sync.Mutex
	reports []report // unreachable peers and snapshot outcomes, in order
	notify  chan struct{}
}

// report is a ReportUnreachable or ReportSnapshot call of the transport,
// queued for the loop.
type report struct {
	id       uint64
	snapshot bool
	status   raft.SnapshotStatus
}

func newRaftAdapter(stopc <-chan struct{}) *raftAdapter {
	return &raftAdapter{
		recvc:  make(chan raft.Message, 4096),
		stopc:  stopc,
		notify: make(chan struct{}, 1),
	}
}

// Process hands m to the node loop. It blocks while the loop's queue is
// full, so a slow node pushes back on its peers' connections.
//
// The node keeps m's entries in its log long after Process returns, so m
// is copied first: a message decoded by raft.Message.Unmarshal aliases the
// bytes it was decoded from, and a transport may reuse its read buffer.
func (a *raftAdapter) Process(ctx context.Context, m raft.Message) error {
	m = cloneMessage(m)
	select {
	case a.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.stopc:
		return errStopped
	}
}

// cloneMessage returns m with its byte slices copied into one new buffer.
func cloneMessage(m raft.Message) raft.Message {
	n := len(m.Context)
	for i := range m.Entries {
		n += len(m.Entries[i].Data)
	}
	if m.Snapshot != nil {
		n += len(m.Snapshot.Data)
	}
	if n == 0 && len(m.Entries) == 0 {
		return m
	}
	buf := make([]byte, 0, n)
	dup := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	m.Context = dup(m.Context)
	if len(m.Entries) > 0 {
		ents := make([]raft.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = dup(e.Data)
			ents[i] = e
		}
		m.Entries = ents
	}
	if m.Snapshot != nil {
		sn := *m.Snapshot
		sn.Data = dup(sn.Data)
		m.Snapshot = &sn
	}
	return m
}

// ReportUnreachable queues the report for the loop; it never blocks.
func (a *raftAdapter) ReportUnreachable(id uint64) { a.queue(report{id: id}) }

// ReportSnapshot queues the report for the loop; it never blocks and never
// drops one, since a lost snapshot report would leave the follower waiting.
func (a *raftAdapter) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	a.queue(report{id: id, snapshot: true, status: status})
}

func (a *raftAdapter) queue(r report) {
	a.mu.Lock()
	// Repeated unreachable reports of one peer say nothing new.
	dup := false
	if !r.snapshot {
		for _, q := range a.reports {
			if !q.snapshot && q.id == r.id {
				dup = true
				break
			}
		}
	}
	if !dup {
		a.reports = append(a.reports, r)
	}
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// takeReports returns the queued reports and empties the queue.
func (a *raftAdapter) takeReports() []report {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.reports
	a.reports = nil
	return r
}
