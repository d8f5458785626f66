package raft

import "github.com/keelraft/raft/internal/quorum"

// readOnly is the leader's queue of read-index requests (Raft paper §8).
//
// In ReadOnlySafe mode each request gets a round number, taken from a counter
// that only grows, and the leader sends heartbeats carrying its newest round.
// A follower's answer to round n confirms that, after every request of round
// n or less was made, the follower still took this node as its leader. Once a
// quorum confirmed round n, every request up to it is answered. Keying on the
// leader's own counter, not on the caller's request context, means a context
// reused by two requests can never let an old answer confirm a newer one.
type readOnly struct {
	option ReadOnlyOption
	// round is the last round handed out. It is never reset, so a round
	// number is never reused, even across terms.
	round uint64
	// pending requests, in increasing round order.
	pending []pendingRead
	// acked is the newest round each voter confirmed, this term.
	acked quorum.MapAckIndexer
	// waiting holds requests that arrived before the leader committed an
	// entry of its term; they are admitted once it has.
	waiting []Message
}

// pendingRead is one request waiting for its round to be confirmed.
type pendingRead struct {
	round uint64
	index uint64
	req   Message
}

func newReadOnly(option ReadOnlyOption) readOnly {
	return readOnly{option: option, acked: quorum.MapAckIndexer{}}
}

// reset drops all requests: the node is no longer leader of this term.
func (ro *readOnly) reset() {
	ro.pending = ro.pending[:0]
	ro.waiting = ro.waiting[:0]
	clear(ro.acked)
}

// lastRound returns the newest round with a request still pending, or 0.
func (ro *readOnly) lastRound() uint64 {
	if len(ro.pending) == 0 {
		return 0
	}
	return ro.round
}

// handleReadIndex serves a read-index request on the leader.
func (r *raft) handleReadIndex(m Message) {
	if !r.committedEntryInCurrentTerm() {
		// Until an entry of this term commits, the leader's commit index
		// may be behind what earlier leaders committed (§8): wait.
		r.readOnly.waiting = append(r.readOnly.waiting, m)
		return
	}
	r.serveReadIndex(m)
}

// committedEntryInCurrentTerm reports whether the leader committed an entry
// of its own term.
func (r *raft) committedEntryInCurrentTerm() bool {
	return zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

// serveReadIndex answers m at once if that is safe, or starts its round.
func (r *raft) serveReadIndex(m Message) {
	index := r.raftLog.committed
	if r.trk.isSingleton() || r.readOnly.option == ReadOnlyLeaseBased {
		// No other voter could have elected another leader (singleton), or
		// the lease says none exists.
		r.answerRead(m, index)
		return
	}
	ro := &r.readOnly
	ro.round++
	ro.pending = append(ro.pending, pendingRead{round: ro.round, index: index, req: m})
	ro.acked[r.id] = quorum.Index(ro.round)
	r.bcastHeartbeat()
}

// confirmReads records that from confirmed rounds up to round, and answers
// the requests a quorum has now confirmed.
func (r *raft) confirmReads(from, round uint64) {
	ro := &r.readOnly
	if len(ro.pending) == 0 || round > ro.round {
		return
	}
	if quorum.Index(round) <= ro.acked[from] {
		return
	}
	ro.acked[from] = quorum.Index(round)
	confirmed := uint64(r.trk.config.Voters.CommittedIndex(ro.acked))
	n := 0
	for n < len(ro.pending) && ro.pending[n].round <= confirmed {
		r.answerRead(ro.pending[n].req, ro.pending[n].index)
		n++
	}
	if n > 0 {
		ro.pending = append(ro.pending[:0], ro.pending[n:]...)
	}
}

// releasePendingReads admits the requests that waited for the first commit
// of the leader's term.
func (r *raft) releasePendingReads() {
	ro := &r.readOnly
	if len(ro.waiting) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	waiting := ro.waiting
	ro.waiting = nil
	for _, m := range waiting {
		r.serveReadIndex(m)
	}
}

// answerRead returns the read index to whoever asked: the local host, or the
// follower that forwarded the request.
func (r *raft) answerRead(req Message, index uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: req.Context})
		return
	}
	r.send(Message{To: req.From, Type: MsgReadIndexResp, Index: index, Context: req.Context})
}
