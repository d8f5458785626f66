package raft

import (
	"errors"
	"fmt"

	"github.com/keelraft/raft/internal/bugs"
)

// maybeSendAppend sends to the follower to the entries it lacks, if flow
// control allows, or a snapshot if the leader no longer has them. With
// sendIfEmpty it sends an append even when there is nothing new, as a probe.
// It reports whether it sent anything.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.progress[to]
	if pr.isPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, err := r.raftLog.term(prevIndex)
	if err != nil {
		// The entry before Next is compacted: only a snapshot can help.
		return r.maybeSendSnapshot(to, pr)
	}
	ents, err := r.raftLog.entries(pr.Next, r.maxMsgSize)
	if errors.Is(err, ErrCompacted) {
		return r.maybeSendSnapshot(to, pr)
	}
	commit := r.raftLog.committed
	if len(ents) == 0 && !sendIfEmpty && !pr.canBumpCommit(commit) {
		return false
	}
	r.send(Message{
		To:      to,
		Type:    MsgApp,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: ents,
		Commit:  commit,
	})
	last := prevIndex + uint64(len(ents))
	pr.sentEntries(len(ents), payloadsSize(ents), last, commit)
	return true
}

// bcastAppend asks for every follower to be sent what it lacks (entries or
// the commit index) with the next Ready. Deferring lets the proposals and
// acknowledgements stepped between two Readys share one append per
// follower.
func (r *raft) bcastAppend() { r.appendsPending = true }

// flushBroadcasts sends the broadcasts asked for since the last Ready.
func (r *raft) flushBroadcasts() {
	if r.state != StateLeader {
		r.appendsPending, r.heartbeatPending = false, false
		return
	}
	if r.heartbeatPending {
		r.heartbeatPending = false
		r.bcastHeartbeat()
	}
	if r.appendsPending {
		r.appendsPending = false
		r.trk.visit(func(id uint64, _ *Progress) {
			if id != r.id {
				r.maybeSendAppend(id, false)
			}
		})
	}
}

// bcastHeartbeat sends every follower a heartbeat of a new round (see
// readOnly).
func (r *raft) bcastHeartbeat() {
	round := r.nextRound()
	r.trk.visit(func(id uint64, _ *Progress) {
		if id != r.id {
			r.sendHeartbeat(id, round)
		}
	})
}

// sendHeartbeat sends a heartbeat. Its commit index is capped at what the
// follower is known to hold: the follower might not have the leader's
// entries beyond that, and must not commit entries it has not got.
func (r *raft) sendHeartbeat(to, round uint64) {
	pr := r.trk.progress[to]
	r.send(Message{
		To:     to,
		Type:   MsgHeartbeat,
		Commit: min(pr.Match, r.raftLog.committed),
		Index:  round,
	})
}

// maybeCommit raises the commit index to what a quorum stores, if that index
// holds an entry of the current term. Entries of earlier terms are never
// committed by counting replicas (§5.4.2, Figure 8): they commit when an
// entry of the current term after them does.
func (r *raft) maybeCommit() bool {
	index := r.trk.committed()
	term := r.Term
	if bugs.CommitOldTerms {
		term = zeroTermOnOutOfBounds(r.raftLog.term(index))
	}
	if !r.raftLog.maybeCommit(entryID{term: term, index: index}) {
		return false
	}
	r.releasePendingReads()
	return true
}

// handleAppendEntries is the follower's side of AppendEntries (§5.3).
func (r *raft) handleAppendEntries(m Message) {
	if err := checkAppendEntries(m); err != nil {
		r.logger.Warningf("%x ignored a malformed %s from %x: %v", r.id, m.Type, m.From, err)
		return
	}
	if m.Index < r.raftLog.committed {
		// The leader is behind on what we committed (a delayed or
		// duplicated message). Tell it where we are.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if n := len(m.Entries); n > 0 && m.Entries[0].Index <= r.raftLog.lastIndex() {
		// The append overlaps our log. If it replaces entries that are not
		// persisted yet, their acknowledgements must not go out.
		if i := r.raftLog.findConflict(m.Entries); i != 0 && i <= r.raftLog.lastIndex() && r.raftLog.matchTerm(entryID{term: m.LogTerm, index: m.Index}) {
			r.dropAppendAcks(i)
		}
	}
	if lastNew, ok := r.raftLog.maybeAppend(entryID{term: m.LogTerm, index: m.Index}, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: lastNew})
		return
	}
	// The consistency check failed. Hint where the logs may still match, so
	// the leader skips a whole term per round trip instead of one entry.
	//
	// For example, a follower with terms [1 1 1 4 4 5 5 5] at 1..8 and a
	// leader with [1 1 1 2 2 3 3 3 3]: the leader probes (index 9, term 3).
	// The follower looks from min(9, 8) = 8 down for a term <= 3 and finds
	// index 3, term 1. The leader then looks from 3 down for a term <= 1 in
	// its own log, finds 3, and probes (3, term 1) next, which matches.
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debugf("%x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x",
		r.id, zeroTermOnOutOfBounds(r.raftLog.term(m.Index)), m.Index, m.LogTerm, m.Index, m.From)
	r.send(Message{
		To:         m.From,
		Type:       MsgAppResp,
		Index:      m.Index,
		Reject:     true,
		RejectHint: hintIndex,
		LogTerm:    hintTerm,
	})
}

// checkAppendEntries rejects an append that no correct leader sends: entries
// that do not follow Index one by one, or whose terms go backwards or exceed
// the message's term. Accepting one would corrupt the log.
func checkAppendEntries(m Message) error {
	prevTerm := m.LogTerm
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Index != m.Index+1+uint64(i) {
			return fmt.Errorf("entry %d has index %d, want %d", i, e.Index, m.Index+1+uint64(i))
		}
		if e.Term < prevTerm || e.Term > m.Term {
			return fmt.Errorf("entry %d has term %d outside [%d, %d]", i, e.Term, prevTerm, m.Term)
		}
		prevTerm = e.Term
	}
	if m.LogTerm > m.Term {
		return fmt.Errorf("previous term %d is past the message term %d", m.LogTerm, m.Term)
	}
	return nil
}

// handleAppendResponse is the leader's side of an append answer.
func (r *raft) handleAppendResponse(m Message, pr *Progress) {
	pr.RecentActive = true
	if m.From == r.id {
		// The host persisted the leader's own entries up to m.Index.
		if pr.maybeUpdate(m.Index) && r.maybeCommit() {
			r.bcastAppend()
		}
		return
	}
	if m.Reject {
		r.handleAppendRejection(m, pr)
		return
	}
	if m.Index > r.raftLog.lastIndex() {
		// No follower can hold more than the leader sent it.
		r.logger.Warningf("%x ignored MsgAppResp from %x for index %d past its last index %d", r.id, m.From, m.Index, r.raftLog.lastIndex())
		return
	}
	if !pr.maybeUpdate(m.Index) && !(pr.Match == m.Index && pr.State == StateProbe) {
		// Old news.
		return
	}
	switch pr.State {
	case StateProbe:
		// The follower's log matches up to Match: pipeline from here.
		pr.becomeReplicate()
	case StateSnapshot:
		// The follower caught up (by the snapshot, or by other means, which
		// aborts the pending snapshot) if it holds what we can send next.
		if pr.Match+1 >= r.raftLog.firstIndex() {
			r.logger.Debugf("%x recovered from needing snapshot, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
			pr.becomeProbe()
			pr.becomeReplicate()
		}
	case StateReplicate:
		pr.inflights.FreeLE(m.Index)
	}
	if r.maybeCommit() {
		r.bcastAppend()
	}
	// Fill the window again.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("%x sent MsgTimeoutNow to %x after received MsgAppResp", r.id, m.From)
		r.sendTimeoutNow(m.From)
	}
}

// handleAppendRejection backs up to where the follower's log may match.
func (r *raft) handleAppendRejection(m Message, pr *Progress) {
	r.logger.Debugf("%x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d",
		r.id, m.RejectHint, m.LogTerm, m.From, m.Index)
	next := m.RejectHint
	if m.LogTerm > 0 {
		// The follower's log has term m.LogTerm at RejectHint; ours can
		// match there only where our term is at most that.
		next, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
	}
	if pr.maybeDecrTo(m.Index, next) {
		if pr.State == StateReplicate {
			pr.becomeProbe()
		}
		r.maybeSendAppend(m.From, true)
	}
}

// handleHeartbeat is the follower's side of a heartbeat.
func (r *raft) handleHeartbeat(m Message) {
	// Clamp: a correct leader never sends a commit index past our log,
	// but a malformed message must not make us claim entries we lack.
	r.raftLog.commitTo(min(m.Commit, r.raftLog.lastIndex()))
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Index: m.Index})
}

// handleHeartbeatResponse is the leader's side of a heartbeat answer: the
// follower is alive, may need entries, and confirms read rounds.
func (r *raft) handleHeartbeatResponse(m Message, pr *Progress) {
	pr.RecentActive = true
	// A probe that got lost is retried once per heartbeat: the follower is
	// reachable again, so it can never stay stuck in probe.
	pr.MsgAppFlowPaused = false
	if pr.State == StateReplicate && pr.inflights.Full() {
		// Answers to the whole window are overdue, yet the follower is
		// alive: appends were likely lost. Send one more; if the follower
		// misses entries before it, its rejection puts us back in probe.
		pr.inflights.FreeFirstOne()
	}
	if pr.Match < r.raftLog.lastIndex() || pr.State == StateProbe {
		// Send even if there is nothing new: while pipelining, an append
		// lost on the way leaves Next past the entries the follower lacks,
		// and only its rejection of this probe brings them back.
		r.maybeSendAppend(m.From, true)
	}
	if m.Index != 0 {
		r.confirmReads(m.From, m.Index)
	}
}
