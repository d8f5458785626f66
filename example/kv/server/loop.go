package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keelraft/raft"
)

// Batch limits of one loop round: how many queued inputs of one kind are
// taken together before the Ready is handled.
const (
	maxBatchProposals = 1024
	maxBatchMessages  = 512
	maxBatchReads     = 1024
	// readTimeoutTicks is how long a read index request may go unanswered
	// before its readers are failed (they may retry).
	readTimeoutTicks = 50
)

// node is the state the loop goroutine owns: no other goroutine touches
// it.
type node struct {
	rn *raft.RawNode

	lastIndex uint64 // the last index of the log, persisted or not
	// leadTerm is the term of the node's leadership as the last Ready
	// showed it, 0 if it did not lead. A node that won an election since
	// its last Ready proposes only after the next one: until then
	// lastIndex lacks the entry the new leader appended.
	leadTerm  uint64
	inFlight  int    // Readys given to the persister and not yet advanced
	applied   uint64 // the last index applied to the store
	snapIndex uint64 // the index of the newest snapshot in the log
	confState raft.ConfState
	peers     map[uint64]string // the peers the transport knows
	removeAt  map[uint64]uint64 // removed peers the transport drops at that tick
	removed   bool              // this node was removed from the cluster
	ticks     uint64

	waiters waiters
	conf    *confChange // the membership change waiting for its entry

	readSeq   uint64
	reads     map[string]*readBatch // by request context, until the ReadState
	readQueue []*readBatch          // with a read index, until it is applied
}

// run is the node loop: it owns the RawNode (see the package doc).
func (s *Server) run() {
	err := s.loop()
	// The log is closed after the loop: let the writes given to the
	// persister end first.
	for ; s.n.inFlight > 0; s.n.inFlight -= (<-s.persist.out).count {
	}
	s.persist.close()
	// The entries of the waiting writes may still commit under another
	// leader, or when this node restarts.
	abandoned := fmt.Errorf("%w: %w", errAbandoned, err)
	s.n.waiters.failAll(abandoned)
	if c := s.n.conf; c != nil {
		c.done <- abandoned
		s.n.conf = nil
	}
	s.failReads(err, true)
	s.loopErr = err
	close(s.loopDone)
}

func (s *Server) loop() error {
	n := &s.n
	ticker := time.NewTicker(s.cfg.TickInterval)
	defer ticker.Stop()
	for {
		if err := s.handleReadies(); err != nil {
			s.log.Error("node failed: its state cannot be restored; stop and restart it", "err", err)
			return errFailed
		}
		s.publish()

		select {
		case <-s.stopc:
			return errStopped
		case r := <-s.persist.out:
			if err := s.finishSaves(r); err != nil {
				s.log.Error("node failed: its log cannot be written; stop and restart it", "err", err)
				return errFailed
			}
		case <-ticker.C:
			n.rn.Tick()
			n.ticks++
			s.expireReads()
			s.removePeers()
		case m := <-s.adapter.recvc:
			s.step(m)
			for i := 1; i < maxBatchMessages; i++ {
				select {
				case m := <-s.adapter.recvc:
					s.step(m)
					continue
				default:
				}
				break
			}
		case <-s.adapter.notify:
			for _, r := range s.adapter.takeReports() {
				if r.snapshot {
					n.rn.ReportSnapshot(r.id, r.status)
				} else {
					n.rn.ReportUnreachable(r.id)
				}
			}
		case p := <-s.propc:
			s.propose(p)
			for i := 1; i < maxBatchProposals; i++ {
				select {
				case p := <-s.propc:
					s.propose(p)
					continue
				default:
				}
				break
			}
		case r := <-s.readc:
			batch := []*readRequest{r}
			for len(batch) < maxBatchReads {
				select {
				case r := <-s.readc:
					batch = append(batch, r)
					continue
				default:
				}
				break
			}
			s.readIndex(batch)
		case c := <-s.confc:
			s.proposeConfChange(c)
		case f := <-s.callc:
			f()
		}
	}
}

// step hands a peer's message to the node.
func (s *Server) step(m raft.Message) {
	if err := s.n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		s.log.Debug("dropped a message", "type", m.Type, "from", m.From, "err", err)
	}
}

// leading reports whether the node leads in the term the last Ready
// showed, so that lastIndex counts every entry of its log.
func (s *Server) leading() bool {
	bs := s.n.rn.BasicStatus()
	return bs.RaftState == raft.StateLeader && bs.Term == s.n.leadTerm
}

// propose proposes p if this node leads, and registers it to wait for its
// entry. The leader appends a proposal at once, at the index after its
// last, in its term: that (index, term) names the entry from now on.
func (s *Server) propose(p *proposal) {
	n := &s.n
	switch {
	case n.removed:
		p.done <- applied{err: errRemoved}
		return
	case !s.leading():
		p.done <- applied{err: errNotLeader}
		return
	}
	if err := n.rn.Propose(p.data); err != nil {
		p.done <- applied{err: fmt.Errorf("%w: %w", errBusy, err)}
		return
	}
	n.lastIndex++
	p.index, p.term = n.lastIndex, n.leadTerm
	n.waiters.add(p)
}

// readIndex asks the leader for one read index for the batch of reads.
func (s *Server) readIndex(batch []*readRequest) {
	n := &s.n
	var err error
	switch {
	case n.removed:
		err = errRemoved
	case !s.leading():
		err = errNotLeader
	}
	if err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	n.readSeq++
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], n.readSeq)
	n.reads[string(rctx[:])] = &readBatch{reqs: batch, tick: n.ticks}
	n.rn.ReadIndex(rctx[:])
}

// expireReads fails the reads whose read index did not come in time (the
// request or its answer was lost).
func (s *Server) expireReads() {
	n := &s.n
	for k, b := range n.reads {
		if n.ticks-b.tick > readTimeoutTicks {
			for _, r := range b.reqs {
				r.done <- errLeadershipLost
			}
			delete(n.reads, k)
		}
	}
}

// failReads fails the reads still waiting for their read index, and with
// all set also those waiting for it to be applied.
func (s *Server) failReads(err error, all bool) {
	n := &s.n
	for k, b := range n.reads {
		for _, r := range b.reqs {
			r.done <- err
		}
		delete(n.reads, k)
	}
	if all {
		for _, b := range n.readQueue {
			for _, r := range b.reqs {
				r.done <- err
			}
		}
		n.readQueue = nil
	}
}

// handleReadies takes the node's Readys and handles each in the order the
// library asks: send, persist, apply; the persister writes them in order
// on its goroutine, and finishSaves advances them once durable. So the
// loop does not wait for the disk: it goes on stepping messages and
// proposals, and the next Ready sends them on at once (see raft.Ready on
// pipelining). An error means the node cannot go on.
func (s *Server) handleReadies() error {
	n := &s.n
	for n.inFlight < maxReadiesInFlight && n.rn.HasReady() {
		rd := n.rn.Ready()
		// 1. Messages go at once: none acknowledges a write not yet
		// advanced, so the leader replicates while it writes (Raft thesis
		// §10.2.1).
		if len(rd.Messages) > 0 {
			s.tr.Send(rd.Messages)
		}
		// 2. Persist, on the persister's goroutine.
		s.persist.in <- saveRequest{hs: rd.HardState, entries: rd.Entries, snapshot: rd.Snapshot, sync: rd.MustSync}
		n.inFlight++
		if !raft.IsEmptySnap(rd.Snapshot) {
			n.lastIndex = rd.Snapshot.Metadata.Index
		}
		if k := len(rd.Entries); k > 0 {
			n.lastIndex = rd.Entries[k-1].Index
		}
		// 3. Apply at once, while the write goes on: a committed entry is
		// on the disks of a quorum already (the leader counts its own copy
		// only once written), and the store does not outlive a crash: it
		// is rebuilt from the snapshot and the log.
		if err := s.apply(rd); err != nil {
			return err
		}
	}
	return nil
}

// finishSaves advances the Readys the persister wrote (4. Advance), and
// snapshots the store when it is time. An error means the log is
// unusable.
func (s *Server) finishSaves(r saved) error {
	n := &s.n
	n.inFlight -= r.count
	if r.err != nil {
		return r.err
	}
	for range r.count {
		n.rn.Advance(raft.Ready{})
	}
	return s.maybeSnapshot()
}

// sync handles Readys until the node has none and every write is
// durable.
func (s *Server) sync() error {
	for {
		if err := s.handleReadies(); err != nil {
			return err
		}
		if s.n.inFlight == 0 {
			return nil
		}
		if err := s.finishSaves(<-s.persist.out); err != nil {
			return err
		}
	}
}

// apply applies what rd commits and answers the requests waiting for it.
func (s *Server) apply(rd raft.Ready) error {
	n := &s.n
	for _, rs := range rd.ReadStates {
		if b := n.reads[string(rs.RequestCtx)]; b != nil {
			delete(n.reads, string(rs.RequestCtx))
			b.index = rs.Index
			n.readQueue = append(n.readQueue, b)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := s.applySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	for i := range rd.CommittedEntries {
		s.applyEntry(&rd.CommittedEntries[i])
	}
	if ss := rd.SoftState; ss != nil {
		bs := n.rn.BasicStatus()
		n.leadTerm = 0
		if ss.RaftState == raft.StateLeader {
			n.leadTerm = bs.Term
		} else {
			// Entries this node proposed may still commit under the next
			// leader, or be replaced: their outcome is unknown. Reads not
			// yet confirmed will not be.
			n.waiters.failAll(errLeadershipLost)
			if c := n.conf; c != nil {
				c.done <- errLeadershipLost
				n.conf = nil
			}
			s.failReads(errLeadershipLost, false)
		}
		s.log.Info("role changed", "role", ss.RaftState, "leader", ss.Lead, "term", bs.Term)
	}
	s.releaseReads()
	return nil
}

// releaseReads lets the reads whose read index is applied read the store.
func (s *Server) releaseReads() {
	n := &s.n
	k := 0
	for _, b := range n.readQueue {
		if b.index <= n.applied {
			for _, r := range b.reqs {
				r.done <- nil
			}
			continue
		}
		n.readQueue[k] = b
		k++
	}
	clear(n.readQueue[k:])
	n.readQueue = n.readQueue[:k]
}
