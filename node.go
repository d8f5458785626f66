package raft

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrStopped is returned by the methods of a Node that was stopped before
// it took the request.
var ErrStopped = errors.New("raft: node stopped")

// Node is a Raft node run by a goroutine of its own, for hosts that prefer
// channels to driving a RawNode by hand. It is safe for concurrent use.
//
// The host runs the Ready loop: it receives a Ready from Ready(), handles it
// as the Ready type says (send, persist, apply), then calls Advance. The node
// keeps taking ticks, messages and proposals while the host handles a Ready;
// it hands out the next Ready only after Advance.
//
// Methods that take a context.Context give up when it is done and return
// its error. A request given up on may still take effect: a proposal that
// timed out may commit later.
type Node interface {
	// Tick advances the node's logical clock by one tick. It never blocks:
	// if the node has fallen behind by more ticks than it buffers, the tick
	// is dropped and a warning logged, as a late timer would do anyway.
	Tick()

	// Campaign makes the node campaign to become leader now, as if its
	// election timer had fired. A node that may not campaign ignores it
	// (and Campaign returns nil): a leader, a learner, or a node with
	// committed configuration changes it has not applied yet, as a node
	// just started is until the host has applied its first Ready.
	Campaign(ctx context.Context) error

	// Propose proposes data to be appended to the log. It returns once the
	// node took or refused the proposal, not once the entry commits; the
	// entry shows up in a later Ready's CommittedEntries. It returns an
	// error wrapping ErrProposalDropped if the node cannot take it now (no
	// known leader, for example), and the caller may retry. An accepted
	// proposal may still be lost, if leadership changes before it commits.
	// The node keeps data: the caller must not modify it afterwards.
	Propose(ctx context.Context, data []byte) error

	// ProposeConfChange proposes a membership change. Like Propose, it
	// returns once the change is taken or refused; an invalid change is
	// refused with an error wrapping ErrInvalidConfChange. Once the change's
	// entry comes in CommittedEntries, the host calls ApplyConfChange.
	ProposeConfChange(ctx context.Context, cc ConfChange) error

	// Step hands the node a message received from a peer. A local message
	// type (see MessageType) is refused with ErrStepLocalMsg. A proposal
	// (MsgProp) is waited for and its error returned, as in Propose; any
	// other message is handed over and Step returns at once, without
	// waiting for it to be processed. Responses from nodes that are not
	// members are ignored.
	Step(ctx context.Context, m Message) error

	// Ready returns the channel on which the node offers its work. After
	// receiving a Ready, the host must call Advance before another is
	// offered. The channel is never closed, not even by Stop: a host's loop
	// should watch its own stop signal too.
	Ready() <-chan Ready

	// Advance tells the node that the host has handled the last Ready it
	// received: persisted, sent and applied. Call it exactly once per
	// Ready; a call with no Ready outstanding blocks until Stop.
	Advance()

	// ApplyConfChange applies a committed configuration change and returns
	// the configuration now in force. The host calls it for each
	// EntryConfChange of CommittedEntries, before Advance. After Stop it
	// returns an empty ConfState.
	ApplyConfChange(cc ConfChange) *ConfState

	// TransferLeadership asks the leader to hand leadership to transferee
	// (Raft thesis §3.10). The request goes to whichever node this node
	// takes as leader; lead, the leader as the caller knows it, is kept
	// for compatibility with etcd's API and not used. The transfer is
	// aborted if it does not finish within an election timeout; watch
	// SoftState (or Status) to see how it ended.
	TransferLeadership(ctx context.Context, lead, transferee uint64)

	// ReadIndex asks for a read index (Raft paper §8). The answer comes in
	// a later Ready's ReadStates with rctx as its RequestCtx; it may never
	// come (if leadership changes, say), so the caller should retry after a
	// timeout. The error is that of the context or ErrStopped.
	ReadIndex(ctx context.Context, rctx []byte) error

	// Status returns the node's current state, taken by the node's
	// goroutine so that its fields agree with one another. After Stop it
	// returns the zero Status.
	Status() Status

	// ReportUnreachable tells the node that the last message to id could
	// not be delivered. It does not wait for the node to process it.
	ReportUnreachable(id uint64)

	// ReportSnapshot tells the node how sending a snapshot to id ended. It
	// does not wait for the node to process it.
	ReportSnapshot(id uint64, status SnapshotStatus)

	// Stop stops the node's goroutine and returns once it has exited. It
	// may be called any number of times, from any goroutine; every call
	// returns only after the goroutine has exited. Requests the node has
	// not taken yet, and later ones, fail with ErrStopped.
	Stop()
}

// tickBuffer is how many ticks a Node holds while its goroutine is busy.
// Ticks are a clock, so holding more than an election timeout's worth would
// only fire a burst of stale timeouts at once.
const tickBuffer = 128

// StartNode starts a node that bootstraps a new cluster of peers (see
// RawNode.Bootstrap): c.Storage must be empty, and every member of the new
// cluster must start with the same peers. To resume a node from its
// storage, use RestartNode.
//
// StartNode panics if c is invalid (see Config.Validate), if peers is empty
// or if the bootstrap fails: these are mistakes of the program, not of the
// environment.
func StartNode(c *Config, peers []Peer) Node {
	if len(peers) == 0 {
		panic("raft: StartNode needs the peers of the new cluster; use RestartNode to resume from storage")
	}
	rn, err := NewRawNode(c)
	if err != nil {
		panic(fmt.Sprintf("raft: StartNode: %v", err))
	}
	if err := rn.Bootstrap(peers); err != nil {
		panic(fmt.Sprintf("raft: StartNode: %v", err))
	}
	return startNode(c, rn)
}

// RestartNode starts a node that resumes from c.Storage. Set c.Applied to
// the last index the host's state machine holds: the committed entries after
// it are handed out again, to apply. The node's membership starts as the
// storage's ConfState (for MemoryStorage, its snapshot's), which must be the
// one in force at c.Applied; the configuration entries after c.Applied
// change it as the host applies them with ApplyConfChange.
//
// RestartNode panics if c is invalid (see Config.Validate) or the storage
// cannot be read: these are mistakes of the program, not of the
// environment.
func RestartNode(c *Config) Node {
	rn, err := NewRawNode(c)
	if err != nil {
		panic(fmt.Sprintf("raft: RestartNode: %v", err))
	}
	return startNode(c, rn)
}

// node implements Node. Its goroutine (run) is the only one that touches
// rn; every method is a request to that goroutine over a channel.
type node struct {
	rn     *RawNode
	id     uint64
	logger Logger

	tickc    chan struct{}
	recvc    chan Message
	callc    chan call
	readyc   chan Ready
	advancec chan struct{}

	stopOnce sync.Once
	// stopc is closed to ask the goroutine to exit; donec is closed by the
	// goroutine as it exits.
	stopc chan struct{}
	donec chan struct{}
}

// call is a request that runs fn on the node's goroutine. If errc is not
// nil, fn's error is sent on it; it is buffered, so the goroutine never
// waits for a caller that gave up.
type call struct {
	fn   func(rn *RawNode) error
	errc chan error
}

func startNode(c *Config, rn *RawNode) *node {
	n := &node{
		rn:       rn,
		id:       c.ID,
		logger:   c.withDefaults().Logger,
		tickc:    make(chan struct{}, tickBuffer),
		recvc:    make(chan Message),
		callc:    make(chan call),
		readyc:   make(chan Ready),
		advancec: make(chan struct{}),
		stopc:    make(chan struct{}),
		donec:    make(chan struct{}),
	}
	go n.run()
	return n
}

// run is the node's goroutine. It owns the RawNode and serves one request at
// a time, with one rule from the Ready contract: a Ready is taken from the
// RawNode only when the previous one was advanced, and it is then offered
// until the host receives it.
func (n *node) run() {
	defer close(n.donec)
	var (
		rd       Ready
		readyc   chan Ready    // n.readyc while rd is offered, else nil
		advancec chan struct{} // n.advancec while the host handles a Ready, else nil
	)
	for {
		if readyc == nil && advancec == nil && n.rn.HasReady() {
			// RawNode.Ready accepts what it returns, so rd is offered
			// until taken. Requests served meanwhile are in the next Ready.
			rd = n.rn.Ready()
			readyc = n.readyc
		}
		select {
		case <-n.tickc:
			n.rn.Tick()
		case m := <-n.recvc:
			n.step(m)
		case c := <-n.callc:
			err := c.fn(n.rn)
			if c.errc != nil {
				c.errc <- err
			}
		case readyc <- rd:
			rd = Ready{}
			readyc = nil
			advancec = n.advancec
		case <-advancec:
			n.rn.Advance(Ready{})
			advancec = nil
		case <-n.stopc:
			return
		}
	}
}

// step steps a message from a peer, for which nobody waits: errors are
// only logged. A response from a non-member is normal after a membership
// change, and is ignored quietly.
func (n *node) step(m Message) {
	err := n.rn.Step(m)
	switch {
	case err == nil:
	case errors.Is(err, ErrStepPeerNotFound):
		n.logger.Debugf("%x ignored %s from %x: not a member", n.id, m.Type, m.From)
	default:
		n.logger.Warningf("%x failed to step %s from %x: %v", n.id, m.Type, m.From, err)
	}
}

// do runs fn on the node's goroutine and returns its error, or ctx's error,
// or ErrStopped.
func (n *node) do(ctx context.Context, fn func(rn *RawNode) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := call{fn: fn, errc: make(chan error, 1)}
	select {
	case n.callc <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	// The goroutine took the call: it sends fn's result before it looks
	// at anything else, Stop included, so there is no need to watch donec.
	select {
	case err := <-c.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post runs fn on the node's goroutine without waiting for it to run.
func (n *node) post(fn func(rn *RawNode) error) {
	select {
	case n.callc <- call{fn: fn}:
	case <-n.donec:
	}
}

func (n *node) Tick() {
	select {
	case n.tickc <- struct{}{}:
	case <-n.donec:
	default:
		n.logger.Warningf("%x dropped a tick: the node's goroutine is %d ticks behind", n.id, len(n.tickc))
	}
}

func (n *node) Campaign(ctx context.Context) error {
	return n.do(ctx, (*RawNode).Campaign)
}

func (n *node) Propose(ctx context.Context, data []byte) error {
	return n.do(ctx, func(rn *RawNode) error { return rn.Propose(data) })
}

func (n *node) ProposeConfChange(ctx context.Context, cc ConfChange) error {
	return n.do(ctx, func(rn *RawNode) error { return rn.ProposeConfChange(cc) })
}

func (n *node) Step(ctx context.Context, m Message) error {
	if isLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	if m.Type == MsgProp {
		return n.do(ctx, func(rn *RawNode) error { return rn.Step(m) })
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
}

func (n *node) Ready() <-chan Ready { return n.readyc }

func (n *node) Advance() {
	select {
	case n.advancec <- struct{}{}:
	case <-n.donec:
	}
}

func (n *node) ApplyConfChange(cc ConfChange) *ConfState {
	var cs *ConfState
	err := n.do(context.Background(), func(rn *RawNode) error {
		cs = rn.ApplyConfChange(cc)
		return nil
	})
	if err != nil {
		return &ConfState{}
	}
	return cs
}

func (n *node) TransferLeadership(ctx context.Context, _, transferee uint64) {
	_ = n.do(ctx, func(rn *RawNode) error {
		rn.TransferLeader(transferee)
		return nil
	})
}

func (n *node) ReadIndex(ctx context.Context, rctx []byte) error {
	return n.do(ctx, func(rn *RawNode) error {
		rn.ReadIndex(rctx)
		return nil
	})
}

func (n *node) Status() Status {
	var st Status
	err := n.do(context.Background(), func(rn *RawNode) error {
		st = rn.Status()
		return nil
	})
	if err != nil {
		return Status{}
	}
	return st
}

func (n *node) ReportUnreachable(id uint64) {
	n.post(func(rn *RawNode) error {
		rn.ReportUnreachable(id)
		return nil
	})
}

func (n *node) ReportSnapshot(id uint64, status SnapshotStatus) {
	n.post(func(rn *RawNode) error {
		rn.ReportSnapshot(id, status)
		return nil
	})
}

func (n *node) Stop() {
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.donec
}
