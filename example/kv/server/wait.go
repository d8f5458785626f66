package server

import (
	"errors"

	"github.com/keelraft/raft/example/kv/store"
)

// Why a proposal or read did not get its answer. The HTTP layer turns them
// into status codes (see statusOf).
var (
	// errNotLeader: the node was not the leader when the request reached
	// the loop; nothing was proposed.
	errNotLeader = errors.New("not leader")
	// errLeadershipLost: the node stopped leading while the request
	// waited. A write may still commit under the next leader.
	errLeadershipLost = errors.New("leadership lost; outcome unknown")
	// errEntryLost: another entry was applied at the index the write had;
	// the write was not applied there and will not be.
	errEntryLost = errors.New("entry replaced by a newer leader; not applied")
	// errRemoved: the node is no longer a member of the cluster.
	errRemoved = errors.New("node removed from the cluster")
	// errFailed: the node's log failed and the node stopped working.
	errFailed = errors.New("node failed; see its log")
	// errBusy: the leader refused the proposal (too many uncommitted
	// entries, a leadership transfer); nothing was proposed.
	errBusy = errors.New("proposal dropped by the leader; retry")
	// errAbandoned: the node stopped, or the request ended, after the
	// write was handed to the loop: it may still be applied.
	errAbandoned = errors.New("stopped waiting for the write; the outcome is unknown")
)

// proposal is a command handed to the loop by an HTTP handler. The loop
// proposes it and, once the entry at (index, term) is applied, answers on
// done.
type proposal struct {
	data      []byte
	requestID uint64
	done      chan applied // buffered: the loop never blocks on it

	index, term uint64 // set by the loop once the leader appended it
}

// applied is the outcome of a proposal.
type applied struct {
	res   store.Result
	index uint64
	err   error
}

// waiters are the proposals of this node that wait for their entry,
// by index. Only a leader has any.
type waiters struct {
	byIndex map[uint64]*proposal
}

func (w *waiters) add(p *proposal) {
	if w.byIndex == nil {
		w.byIndex = map[uint64]*proposal{}
	}
	w.byIndex[p.index] = p
}

// take removes and returns the waiter of index, if any.
func (w *waiters) take(index uint64) *proposal {
	p := w.byIndex[index]
	if p != nil {
		delete(w.byIndex, index)
	}
	return p
}

// failUpTo fails the waiters at or below index: a snapshot covered them,
// and their results are not known.
func (w *waiters) failUpTo(index uint64, err error) {
	for i, p := range w.byIndex {
		if i <= index {
			p.done <- applied{err: err}
			delete(w.byIndex, i)
		}
	}
}

// failAll fails every waiter with err.
func (w *waiters) failAll(err error) {
	for i, p := range w.byIndex {
		p.done <- applied{err: err}
		delete(w.byIndex, i)
	}
}

// confChange is a membership change handed to the loop by an HTTP handler.
type confChange struct {
	change changeRequest
	done   chan error // buffered

	index, term uint64
}

// changeRequest is what a member change asks for.
type changeRequest struct {
	remove bool         // remove member.ID; else add or update member
	member store.Member // with Learner false on a learner: promote it
}

// readRequest is a linearizable read waiting for its read index to be
// applied.
type readRequest struct {
	done chan error // buffered
}

// readBatch is the reads that share one ReadIndex request.
type readBatch struct {
	reqs  []*readRequest
	index uint64 // the read index, once the ReadState came
	tick  uint64 // when it was asked, to drop batches never answered
}
