package server

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/store"
)

// errUndecodable answers a proposal whose entry the store could not
// decode; it cannot happen with commands built by this package.
var errUndecodable = errors.New("entry is not a command")

// applyEntry applies one committed entry and answers its waiter, if this
// node proposed it.
func (s *Server) applyEntry(e *raft.Entry) {
	n := &s.n
	switch e.Type {
	case raft.EntryNormal:
		res, err := s.store.Apply(e.Index, e.Data)
		if err != nil {
			s.log.Error("applied an entry that is not a command", "index", e.Index, "err", err)
		}
		if p := n.waiters.take(e.Index); p != nil {
			p.done <- s.outcome(p, e, res, err)
		}
	case raft.EntryConfChange:
		s.applyConfChange(e)
		s.store.MarkApplied(e.Index)
	default:
		s.log.Error("applied an entry of unknown type", "index", e.Index, "type", e.Type)
		s.store.MarkApplied(e.Index)
	}
	n.applied = e.Index
}

// outcome is the answer to p, whose entry was expected at e's index: the
// store's result if e is p's entry, an error if another entry took the
// place.
func (s *Server) outcome(p *proposal, e *raft.Entry, res store.Result, err error) applied {
	// The same (index, term) is the same entry (Log Matching, §5.3); the
	// request id confirms it.
	if e.Term != p.term || len(e.Data) == 0 {
		return applied{err: errEntryLost}
	}
	if err != nil {
		return applied{err: fmt.Errorf("%w: %w", errUndecodable, err)}
	}
	if res.RequestID != p.requestID {
		return applied{err: errEntryLost}
	}
	return applied{res: res, index: e.Index}
}

// applyConfChange applies a membership change to the node, the address
// book and the transport, and answers its waiter.
func (s *Server) applyConfChange(e *raft.Entry) {
	n := &s.n
	var cc raft.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		s.log.Error("applied a configuration change that does not decode", "index", e.Index, "err", err)
		s.answerConf(e, err)
		return
	}
	cs := n.rn.ApplyConfChange(cc)
	n.confState = *cs
	for _, ch := range cc.Changes {
		s.applyMemberChange(ch, cc.Context, cs)
	}
	s.answerConf(e, nil)
}

// answerConf answers the waiter of the change at e's index, if any.
func (s *Server) answerConf(e *raft.Entry, err error) {
	c := s.n.conf
	if c == nil || c.index != e.Index {
		return
	}
	if c.term != e.Term {
		err = errEntryLost
	}
	c.done <- err
	s.n.conf = nil
}

// applyMemberChange records one change in the address book and the
// transport, if raft took it: raft refuses a change that breaks its rules,
// on every node alike, and the address book must follow raft.
func (s *Server) applyMemberChange(ch raft.ConfChangeSingle, ctx []byte, cs *raft.ConfState) {
	n := &s.n
	id := ch.NodeID
	voter := slices.Contains(cs.Voters, id) || slices.Contains(cs.VotersOutgoing, id)
	learner := slices.Contains(cs.Learners, id) || slices.Contains(cs.LearnersNext, id)
	switch ch.Type {
	case raft.ConfChangeAddNode, raft.ConfChangeAddLearnerNode:
		if !voter && !learner {
			return
		}
		var m store.Member
		if err := m.Unmarshal(ctx); err != nil || m.ID != id {
			m = store.Member{ID: id}
		}
		m.Learner = !voter
		if m.PeerAddr == "" {
			m.PeerAddr = s.memberAddr(id)
		}
		s.store.SetMember(m)
		delete(n.removeAt, id)
		if id != s.cfg.ID && m.PeerAddr != "" && n.peers[id] != m.PeerAddr {
			s.tr.AddPeer(id, m.PeerAddr)
			n.peers[id] = m.PeerAddr
		}
		s.log.Info("member added", "member", id, "peer_addr", m.PeerAddr, "learner", m.Learner)
	case raft.ConfChangeRemoveNode:
		if voter || learner {
			return
		}
		s.store.RemoveMember(id)
		if id == s.cfg.ID {
			n.removed = true
			s.log.Warn("this node was removed from the cluster; it no longer serves writes")
			return
		}
		if _, ok := n.peers[id]; ok {
			// The transport keeps the peer a little longer: the messages
			// that commit its removal, sent with this Ready, tell it that
			// it was removed.
			n.removeAt[id] = n.ticks + removePeerAfterTicks
		}
		s.log.Info("member removed", "member", id)
	}
}

// memberAddr is the peer address the address book has for id, or "".
func (s *Server) memberAddr(id uint64) string {
	m, _ := s.member(id)
	return m.PeerAddr
}

// removePeerAfterTicks is how long the transport keeps a removed peer.
const removePeerAfterTicks = 20

// removePeers drops from the transport the removed peers whose time came.
func (s *Server) removePeers() {
	n := &s.n
	for id, at := range n.removeAt {
		if n.ticks >= at {
			s.tr.RemovePeer(id)
			delete(n.peers, id)
			delete(n.removeAt, id)
		}
	}
}

// applySnapshot replaces the store with a snapshot from the leader, and
// brings the transport and the membership in line with it.
func (s *Server) applySnapshot(snap raft.Snapshot) error {
	n := &s.n
	if err := s.store.Restore(snap.Data); err != nil {
		// The snapshot is in the log already: the node cannot go on.
		return fmt.Errorf("restore snapshot at index %d: %w", snap.Metadata.Index, err)
	}
	n.applied, n.snapIndex = snap.Metadata.Index, snap.Metadata.Index
	n.confState = snap.Metadata.ConfState
	// Whatever waited for an entry the snapshot covers cannot know its
	// result.
	n.waiters.failUpTo(snap.Metadata.Index, errLeadershipLost)
	members := map[uint64]string{}
	for _, m := range s.store.Members() {
		if m.ID != s.cfg.ID {
			members[m.ID] = m.PeerAddr
		}
	}
	for id, addr := range members {
		if addr != "" && n.peers[id] != addr {
			s.tr.AddPeer(id, addr)
			n.peers[id] = addr
		}
	}
	for id := range n.peers {
		if _, ok := members[id]; !ok {
			s.tr.RemovePeer(id)
			delete(n.peers, id)
			delete(n.removeAt, id)
		}
	}
	cs := n.confState
	n.removed = !slices.Contains(cs.Voters, s.cfg.ID) && !slices.Contains(cs.Learners, s.cfg.ID) &&
		!slices.Contains(cs.VotersOutgoing, s.cfg.ID) && !slices.Contains(cs.LearnersNext, s.cfg.ID)
	s.log.Info("installed a snapshot", "index", snap.Metadata.Index, "term", snap.Metadata.Term)
	return nil
}

// maybeSnapshot snapshots the store once SnapshotEvery entries were applied
// since the last snapshot; the log drops the entries it covers.
func (s *Server) maybeSnapshot() error {
	n := &s.n
	if n.applied < n.snapIndex+s.cfg.SnapshotEvery {
		return nil
	}
	data, err := s.store.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot the store: %w", err)
	}
	cs := n.confState
	if _, err := s.wal.CreateSnapshot(n.applied, &cs, data); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) || errors.Is(err, raft.ErrUnavailable) {
			// Out of date, or applied before this node's own copy of the
			// entries was written (see handleReadies): next time.
			return nil
		}
		return err
	}
	n.snapIndex = n.applied
	s.log.Info("created a snapshot", "index", n.applied)
	return nil
}
