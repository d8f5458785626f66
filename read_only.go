package raft

import "github.com/keelraft/raft/internal/quorum"

// readOnly is the leader's bookkeeping for read-index requests (Raft paper
// §8, thesis §6.4) and for its lease.
//
// Every heartbeat broadcast is a numbered round: the number comes from a
// counter that only grows, and the heartbeats carry it in Message.Index. A
// follower's answer to round n says that when it received round n, it still
// took this node as its leader. Once a quorum answered round n (or a later
// one), the leader knows it still led when round n was sent:
//
//   - ReadOnlySafe: a request is answered once a round sent after it
//     arrived is confirmed. Keying on the leader's own counter, not on the
//     caller's request context, means a context reused by two requests can
//     never let an old answer confirm a newer one.
//   - ReadOnlyLeaseBased: followers that heard from the leader refuse to
//     vote for an election timeout (CheckQuorum). So the leader may answer
//     at once until an election timeout after the newest confirmed round was
//     sent, counted in its own ticks.
type readOnly struct {
	option ReadOnlyOption
	// round is the last round sent. It is never reset, so a round number is
	// never reused, even across terms.
	round uint64
	// sent lists the rounds sent this term and not yet confirmed, with the
	// tick each was sent at, in increasing order.
	sent []sentRound
	// confirmed is the newest round a quorum answered this term, sent at
	// confirmedTick.
	confirmed     uint64
	confirmedTick uint64
	// acked is the newest round each member answered, this term.
	acked quorum.MapAckIndexer
	// pending requests wait for their round, in increasing round order.
	pending []pendingRead
	// waiting holds requests that arrived before the leader committed an
	// entry of its term; they are admitted once it has.
	waiting []Message
	// leaseRevoked is set once this leader asked another node to campaign
	// (leadership transfer): that node's votes are granted despite the
	// followers' leases, so the lease no longer holds this term.
	leaseRevoked bool
}

type sentRound struct {
	round, tick uint64
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

// reset drops all requests and confirmations: the node is no longer leader
// of this term.
func (ro *readOnly) reset() {
	ro.sent = ro.sent[:0]
	ro.confirmed, ro.confirmedTick = 0, 0
	clear(ro.acked)
	ro.pending = ro.pending[:0]
	ro.waiting = ro.waiting[:0]
	ro.leaseRevoked = false
}

// nextRound starts a round sent at tick, answered by the leader itself.
func (r *raft) nextRound() uint64 {
	ro := &r.readOnly
	ro.round++
	ro.sent = append(ro.sent, sentRound{round: ro.round, tick: r.ticks})
	ro.acked[r.id] = quorum.Index(ro.round)
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

// serveReadIndex answers m at once if that is safe, or queues it for the
// next round.
func (r *raft) serveReadIndex(m Message) {
	index := r.raftLog.committed
	if r.trk.isSingleton() || r.leaseHolds() {
		// No other voter could have elected another leader (singleton), or
		// none can have while the lease holds.
		r.answerRead(m, index)
		return
	}
	// The next heartbeat broadcast, sent with the next Ready, is the round
	// that confirms this request.
	ro := &r.readOnly
	ro.pending = append(ro.pending, pendingRead{round: ro.round + 1, index: index, req: m})
	r.heartbeatPending = true
}

// leaseHolds reports whether lease-based reads may be answered now: the
// option is on, no transfer is handing leadership away, and a quorum
// confirmed a round sent less than an election timeout ago.
func (r *raft) leaseHolds() bool {
	ro := &r.readOnly
	return ro.option == ReadOnlyLeaseBased && r.leadTransferee == None && !ro.leaseRevoked &&
		ro.confirmed != 0 && r.ticks < ro.confirmedTick+uint64(r.electionTimeout)
}

// confirmReads records that from answered round, and answers the requests
// whose round a quorum has now confirmed.
func (r *raft) confirmReads(from, round uint64) {
	ro := &r.readOnly
	if round > ro.round || quorum.Index(round) <= ro.acked[from] {
		return
	}
	ro.acked[from] = quorum.Index(round)
	confirmed := uint64(r.trk.config.Voters.CommittedIndex(ro.acked))
	if confirmed <= ro.confirmed {
		return
	}
	ro.confirmed = confirmed
	n := 0
	for n < len(ro.sent) && ro.sent[n].round <= confirmed {
		ro.confirmedTick = ro.sent[n].tick
		n++
	}
	ro.sent = append(ro.sent[:0], ro.sent[n:]...)

	n = 0
	for n < len(ro.pending) && ro.pending[n].round <= confirmed {
		r.answerRead(ro.pending[n].req, ro.pending[n].index)
		n++
	}
	ro.pending = append(ro.pending[:0], ro.pending[n:]...)
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

// heardLeaderRecently reports whether a leader may still count on this node:
// it heard from one less than an election timeout ago, or (under lease
// reads) started less than an election timeout ago, having perhaps
// confirmed a lease before a crash. Such a node refuses votes with
// CheckQuorum and, under lease reads, does not campaign on its host's word.
func (r *raft) heardLeaderRecently() bool {
	return (r.lead != None || r.bootLease) && r.electionElapsed < r.electionTimeout
}
