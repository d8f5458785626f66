package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/store"
)

// Why a membership change was refused.
var (
	// errChangePending: another membership change is not yet applied.
	errChangePending = errors.New("a membership change is pending")
	// errInvalidChange: raft refuses the change (for example, it would
	// remove the last voter).
	errInvalidChange = errors.New("invalid membership change")
)

// proposeConfChange proposes c's membership change if this node leads,
// and registers it to wait for its entry.
func (s *Server) proposeConfChange(c *confChange) {
	n := &s.n
	switch {
	case n.removed:
		c.done <- errRemoved
		return
	case !s.leading():
		c.done <- errNotLeader
		return
	case n.conf != nil:
		c.done <- errChangePending
		return
	}
	var cc raft.ConfChange
	m := c.change.member
	switch {
	case c.change.remove:
		cc.Changes = []raft.ConfChangeSingle{{Type: raft.ConfChangeRemoveNode, NodeID: m.ID}}
	default:
		typ := raft.ConfChangeAddNode
		if m.Learner {
			typ = raft.ConfChangeAddLearnerNode
		}
		ctx, err := m.Marshal()
		if err != nil {
			c.done <- err
			return
		}
		cc.Changes = []raft.ConfChangeSingle{{Type: typ, NodeID: m.ID}}
		cc.Context = ctx
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		switch {
		case errors.Is(err, raft.ErrConfChangePending):
			err = fmt.Errorf("%w: %w", errChangePending, err)
		case errors.Is(err, raft.ErrInvalidConfChange):
			err = fmt.Errorf("%w: %w", errInvalidChange, err)
		default:
			err = fmt.Errorf("%w: %w", errBusy, err)
		}
		c.done <- err
		return
	}
	n.lastIndex++
	c.index, c.term = n.lastIndex, n.leadTerm
	n.conf = c
}

// changeMembers hands a membership change to the loop and waits until it
// is applied.
func (s *Server) changeMembers(ctx context.Context, ch changeRequest) error {
	c := &confChange{change: ch, done: make(chan error, 1)}
	err, waitErr := handOver(s, ctx, s.confc, c, c.done)
	if waitErr != nil {
		return waitErr
	}
	return err
}

// call runs f on the loop goroutine, where it may use the RawNode, and
// waits for it.
func (s *Server) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case s.callc <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loopDone:
		return s.loopErr
	}
	<-done
	return nil
}

// member returns the address book entry of id.
func (s *Server) member(id uint64) (store.Member, bool) {
	for _, m := range s.store.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return store.Member{}, false
}
