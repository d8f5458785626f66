package server

import (
	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/wal"
)

// maxReadiesInFlight bounds the Readys handed to the persister and not yet
// advanced. The loop takes no more Readys past it, so a disk that stalls
// pushes back on the node instead of queueing without end.
const maxReadiesInFlight = 32

// saveRequest is what one Ready asks to persist.
type saveRequest struct {
	hs       raft.HardState
	entries  []raft.Entry
	snapshot raft.Snapshot
	sync     bool
}

// saved reports that the persister wrote the oldest count requests not
// yet reported, or failed to (then the log is unusable).
type saved struct {
	count int
	err   error
}

// persister writes the Readys' writes on a goroutine of its own, in the
// order the loop took the Readys, so that the loop goes on stepping
// messages and handing out Readys while the disk syncs (see raft.Ready
// on pipelining). The requests that queue up during one fsync are written
// together, with one fsync: the group commit.
type persister struct {
	wal  *wal.Storage
	in   chan saveRequest // capacity maxReadiesInFlight: the loop never blocks
	out  chan saved
	done chan struct{} // closed once in is closed and drained

	// heldHardState is a HardState whose only change was the commit index,
	// not written yet: it goes with the next write that must reach the disk
	// anyway. The commit index on disk may lag; it is a lower bound, and
	// the node learns the rest from the leader after a restart.
	heldHardState raft.HardState
}

func newPersister(w *wal.Storage) *persister {
	return &persister{
		wal:  w,
		in:   make(chan saveRequest, maxReadiesInFlight),
		out:  make(chan saved, maxReadiesInFlight),
		done: make(chan struct{}),
	}
}

// run is the persister goroutine. It returns once in is closed, after
// writing the commit index it held back.
func (p *persister) run() {
	defer close(p.done)
	batch := make([]saveRequest, 0, maxReadiesInFlight)
	for req := range p.in {
		batch = append(batch[:0], req)
	drain:
		for len(batch) < cap(batch) {
			select {
			case req, ok := <-p.in:
				if !ok {
					break drain
				}
				batch = append(batch, req)
			default:
				break drain
			}
		}
		err := p.save(batch)
		clear(batch) // the entries belong to the node again after Advance
		p.out <- saved{count: len(batch), err: err}
	}
	if hs := p.heldHardState; !raft.IsEmptyHardState(hs) {
		_ = p.wal.Save(hs, nil, raft.Snapshot{}, false)
	}
}

// close stops the goroutine once it wrote what it was given.
func (p *persister) close() {
	close(p.in)
	<-p.done
}

// save writes the requests of batch as one: a later snapshot replaces what
// came before it, later entries replace earlier ones from their index on,
// and the last HardState wins.
func (p *persister) save(batch []saveRequest) error {
	var (
		hs   raft.HardState
		snap raft.Snapshot
		ents []raft.Entry
		sync bool
	)
	for _, r := range batch {
		if !raft.IsEmptySnap(r.snapshot) {
			snap, ents = r.snapshot, nil
		}
		ents = mergeEntries(ents, r.entries)
		if !raft.IsEmptyHardState(r.hs) {
			hs = r.hs
		}
		sync = sync || r.sync
	}
	if !sync && len(ents) == 0 && raft.IsEmptySnap(snap) {
		if !raft.IsEmptyHardState(hs) {
			p.heldHardState = hs
		}
		return nil
	}
	if raft.IsEmptyHardState(hs) {
		hs = p.heldHardState
	}
	p.heldHardState = raft.HardState{}
	return p.wal.Save(hs, ents, snap, sync)
}

// mergeEntries returns the log tail a then b make when b is written after
// a: b replaces a from b's first index on. It never writes into a's array,
// which belongs to the node.
func mergeEntries(a, b []raft.Entry) []raft.Entry {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0 || b[0].Index <= a[0].Index:
		return b
	}
	keep := min(b[0].Index-a[0].Index, uint64(len(a)))
	out := make([]raft.Entry, 0, keep+uint64(len(b)))
	return append(append(out, a[:keep]...), b...)
}
