package raft

import (
	"errors"
	"fmt"
)

// ErrStepLocalMsg is returned by RawNode.Step for a message type that only a
// node makes for itself (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus,
// MsgCheckQuorum). Use the matching RawNode method instead.
var ErrStepLocalMsg = errors.New("raft: cannot step raft local message")

// ErrStepPeerNotFound is returned by RawNode.Step for a response from a node
// that is not a member of the configuration.
var ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")

// Ready is a batch of work for the host: state to persist, messages to send,
// entries to apply. Handle it in this order, then call RawNode.Advance:
//
//  1. Send Messages. This may start at once, while step 2 runs: no message
//     in a Ready acknowledges state that this Ready asks to persist (such
//     acknowledgements come in a later Ready, after Advance). So a leader
//     replicates its entries while it writes them (Raft thesis §10.2.1).
//  2. Persist Snapshot (if not empty), then Entries and HardState (if not
//     empty), atomically if you can; fsync when MustSync is set.
//  3. Apply Snapshot, then CommittedEntries, to the state machine. For an
//     EntryConfChange, call ApplyConfChange. Use ReadStates once the applied
//     index reaches their Index.
//  4. Call Advance.
//
// The slices of a Ready belong to the host until Advance; the node does not
// change them.
//
// A host may take the next Ready before it advanced this one, so that its
// disk writes one Ready while the node steps messages and hands out more
// (pipelining): each Ready holds only what no earlier one did. Persist the
// Readys in the order they were taken, and call Advance once for each, in
// that order, once its writes are durable. The messages of a Ready never
// acknowledge writes of a Ready not yet advanced.
type Ready struct {
	// SoftState is the node's volatile state if it changed, else nil. It
	// need not be persisted.
	*SoftState

	// HardState is the state to persist before the next Advance, or the
	// empty HardState if it did not change.
	HardState

	// ReadStates answer ReadIndex requests (§8).
	ReadStates []ReadState

	// Entries are to be appended to stable storage, replacing any stored
	// entries from Entries[0].Index on.
	Entries []Entry

	// Snapshot is to be persisted, replacing the stored log, if not empty.
	Snapshot Snapshot

	// CommittedEntries are to be applied to the state machine, in order.
	// They were persisted before, or are in Entries of this Ready or of an
	// earlier one not yet advanced. Being committed, they are on the disks
	// of a quorum: a host whose applied state does not outlive a crash may
	// apply them before its own write of them is durable.
	CommittedEntries []Entry

	// Messages are to be sent to the nodes named in their To field.
	Messages []Message

	// MustSync says the writes of this Ready must be synced to disk
	// before Advance: they hold a term, vote, entries or a snapshot.
	MustSync bool
}

// mustSync reports whether the writes that take prev to st with ents and a
// snapshot need an fsync: term and vote must never be forgotten (one vote per
// term), nor entries or a snapshot that were acknowledged.
func mustSync(st, prev HardState, entries int, snap bool) bool {
	return entries != 0 || snap || st.Vote != prev.Vote || st.Term != prev.Term
}

// RawNode is a Raft node without goroutines: the host calls its methods
// from one goroutine and drives the Ready loop itself. It is not safe for
// concurrent use; see Node for a goroutine-based wrapper.
type RawNode struct {
	raft       *raft
	prevSoftSt SoftState
	prevHardSt HardState

	// propBuf carries a proposal into Step without allocating.
	propBuf [1]Entry
}

// NewRawNode returns a node over config.Storage. For a new cluster, call
// Bootstrap next; a restarted node resumes from storage.
func NewRawNode(config *Config) (*RawNode, error) {
	r, err := newRaft(config)
	if err != nil {
		return nil, err
	}
	return &RawNode{raft: r, prevSoftSt: r.softState(), prevHardSt: r.hardState()}, nil
}

// ErrBootstrap is wrapped by the errors of Bootstrap.
var ErrBootstrap = errors.New("raft: cannot bootstrap")

// Bootstrap makes the node a member of a new cluster of peers: it appends
// one configuration entry per peer, at term 1, and commits them. Every
// member of the new cluster must bootstrap with the same peers, over empty
// storage. The entries reach the host in the next Ready, to persist and
// apply (with ApplyConfChange) like any others.
func (rn *RawNode) Bootstrap(peers []Peer) error {
	if len(peers) == 0 {
		return fmt.Errorf("%w: no peers", ErrBootstrap)
	}
	last, err := rn.raft.raftLog.storage.LastIndex()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBootstrap, err)
	}
	if last != 0 || rn.raft.raftLog.lastIndex() != 0 {
		return fmt.Errorf("%w: storage is not empty (last index %d)", ErrBootstrap, last)
	}
	seen := map[uint64]bool{}
	for _, p := range peers {
		if p.ID == None || seen[p.ID] {
			return fmt.Errorf("%w: peer ID %d is zero or repeated", ErrBootstrap, p.ID)
		}
		seen[p.ID] = true
	}
	// The previous HardState is the empty one, so the bootstrap term and
	// commit index are persisted with the entries.
	rn.prevHardSt = HardState{}
	r := rn.raft
	r.becomeFollower(1, None)
	ents := make([]Entry, len(peers))
	for i, p := range peers {
		cc := ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: p.ID}}, Context: p.Context}
		data, err := cc.Marshal()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBootstrap, err)
		}
		ents[i] = Entry{Type: EntryConfChange, Term: 1, Index: uint64(i + 1), Data: data}
	}
	r.raftLog.append(ents...)
	// The entries are committed by definition: every member starts with
	// them. They are applied like any other, so the host sees them.
	r.raftLog.committed = uint64(len(ents))
	for _, p := range peers {
		if _, err := r.applyConfChange(ConfChange{Changes: []ConfChangeSingle{{Type: ConfChangeAddNode, NodeID: p.ID}}}); err != nil {
			return fmt.Errorf("%w: %w", ErrBootstrap, err)
		}
	}
	return nil
}

// Tick advances the node's logical clock by one tick: elections and
// heartbeats are counted in ticks.
func (rn *RawNode) Tick() { rn.raft.tick() }

// Campaign makes the node campaign to become leader now (with PreVote if
// configured).
func (rn *RawNode) Campaign() error { return rn.raft.Step(Message{Type: MsgHup, From: rn.raft.id}) }

// Propose proposes data to be appended to the log. It returns
// ErrProposalDropped if the node cannot take it now; an accepted proposal may
// still be lost (for example, if leadership changes before it commits).
func (rn *RawNode) Propose(data []byte) error {
	rn.propBuf[0] = Entry{Data: data}
	err := rn.raft.Step(Message{Type: MsgProp, From: rn.raft.id, Entries: rn.propBuf[:]})
	rn.propBuf[0] = Entry{}
	return err
}

// ProposeConfChange proposes a membership change. A change that is invalid
// against the current configuration is refused with an error wrapping
// ErrInvalidConfChange; one made while another is pending, with
// ErrConfChangePending (on the leader).
func (rn *RawNode) ProposeConfChange(cc ConfChange) error {
	if _, err := changeConfig(rn.raft.trk.config, cc); err != nil {
		return err
	}
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	return rn.raft.Step(Message{Type: MsgProp, From: rn.raft.id, Entries: []Entry{{Type: EntryConfChange, Data: data}}})
}

// ApplyConfChange applies a committed configuration change and returns the
// configuration now in force. The host calls it for each EntryConfChange
// it applies. A change that breaks a rule (which every node decides alike)
// leaves the configuration as it was.
func (rn *RawNode) ApplyConfChange(cc ConfChange) *ConfState {
	cs, _ := rn.raft.applyConfChange(cc)
	return &cs
}

// Step hands the node a message from a peer.
func (rn *RawNode) Step(m Message) error {
	if isLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	if m.To != None && m.To != rn.raft.id {
		return fmt.Errorf("raft: message %s for %x stepped into %x", m.Type, m.To, rn.raft.id)
	}
	if m.Type != MsgProp && m.Type != MsgReadIndex && (m.From == None || m.From == rn.raft.id) {
		// Only the node's own host speaks for the node, and it does so
		// through RawNode's methods. A peer message claiming to come from
		// this node (or from no node) would make it follow or vote for
		// itself.
		return fmt.Errorf("%w: %s from %x", ErrStepPeerNotFound, m.Type, m.From)
	}
	if isResponseMsg(m.Type) && rn.raft.trk.progress[m.From] == nil {
		return ErrStepPeerNotFound
	}
	return rn.raft.Step(m)
}

// HasReady reports whether Ready would return work.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if (r.appendsPending || r.heartbeatPending) && r.state == StateLeader {
		return true
	}
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !IsEmptyHardState(hs) && hs != rn.prevHardSt {
		return true
	}
	if r.raftLog.unstable.hasNext() {
		return true
	}
	if len(r.msgs) > 0 || len(r.msgsAfterAppend) > 0 || len(r.readStates) > 0 {
		return true
	}
	return r.raftLog.hasNextCommittedEnts()
}

// Ready returns the work to do now. Handle it as the Ready type says, then
// call Advance; the next call to Ready may come before that Advance (see
// Ready on pipelining).
func (rn *RawNode) Ready() Ready {
	r := rn.raft
	r.flushBroadcasts()
	rd := Ready{
		Entries:          r.raftLog.unstable.nextEntries(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	if r.softState() != rn.prevSoftSt {
		ss := r.softState()
		rd.SoftState = &ss
		rn.prevSoftSt = ss
	}
	if hs := r.hardState(); hs != rn.prevHardSt {
		rd.HardState = hs
	}
	if s := r.raftLog.unstable.nextSnapshot(); s != nil {
		rd.Snapshot = *s
	}
	rd.MustSync = mustSync(r.hardState(), rn.prevHardSt, len(rd.Entries), !IsEmptySnap(rd.Snapshot))
	if !IsEmptyHardState(rd.HardState) {
		rn.prevHardSt = rd.HardState
	}

	// Accept the Ready: what it hands out is not handed out again.
	// The host owns rd.Messages now; size the next batch like this one.
	r.msgs = make([]Message, 0, len(rd.Messages))
	r.readStates = nil
	r.raftLog.unstable.acceptHandedOut()
	rec := r.pushReady()
	rec.snap = rd.Snapshot.Metadata.Index
	if n := len(rd.Entries); n > 0 {
		rec.last = entryID{term: rd.Entries[n-1].Term, index: rd.Entries[n-1].Index}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		rec.applied = rd.CommittedEntries[n-1].Index
		r.raftLog.acceptApplying(rec.applied)
		r.reduceUncommittedSize(payloadsSize(rd.CommittedEntries))
	}
	return rd
}

// Advance tells the node the host has handled its oldest Ready not yet
// advanced: its writes are durable and its committed entries applied.
// Acknowledgements of those writes are released to the next Ready; the
// node's own (its vote, the leader's own log) take effect now. The argument
// is ignored; it is kept for compatibility with etcd's API.
func (rn *RawNode) Advance(_ Ready) { rn.raft.advanceReady() }

// Status returns the node's current state, with the progress of every
// follower if it leads.
func (rn *RawNode) Status() Status { return getStatus(rn.raft) }

// BasicStatus returns the node's state without the progress map; it does
// not allocate.
func (rn *RawNode) BasicStatus() BasicStatus { return getBasicStatus(rn.raft) }

// ReportUnreachable tells the leader that a message to id could not be
// delivered; it stops pipelining to id until id answers again.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(Message{Type: MsgUnreachable, From: id})
}

// ReportSnapshot tells the leader how sending a snapshot to id ended.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(Message{Type: MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}

// TransferLeader asks the leader to hand leadership to transferee (Raft
// thesis §3.10). On a follower the request is forwarded to the leader.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(Message{Type: MsgTransferLeader, From: transferee})
}

// ReadIndex asks for a read index (§8). The answer comes in a later Ready's
// ReadStates, with rctx as its RequestCtx; it may never come (for example,
// if leadership changes), so the caller should retry after a timeout.
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(Message{Type: MsgReadIndex, Context: rctx})
}
