package raft

import (
	"github.com/keelraft/raft/internal/bugs"
	"github.com/keelraft/raft/internal/quorum"
)

// hup starts a campaign of type t if this node may campaign.
func (r *raft) hup(t campaignType) {
	if r.state == StateLeader {
		r.logger.Debugf("%x ignoring MsgHup because already leader", r.id)
		return
	}
	if !r.promotable() {
		r.logger.Warningf("%x is unpromotable and can not campaign", r.id)
		return
	}
	if t != campaignTransfer && r.readOnly.option == ReadOnlyLeaseBased && r.heardLeaderRecently() {
		// Our leader may be answering reads from a lease that counts on
		// us not to elect anyone else for an election timeout (§6.4).
		r.logger.Warningf("%x ignoring MsgHup: leader %x may hold a read lease for %d more ticks", r.id, r.lead, r.electionTimeout-r.electionElapsed)
		return
	}
	if r.hasUnappliedConfChanges() {
		r.logger.Warningf("%x cannot campaign at term %d since there are still pending configuration changes to apply", r.id, r.Term)
		return
	}
	r.logger.Infof("%x is starting a new election at term %d", r.id, r.Term)
	r.campaign(t)
}

// campaign asks every voter for its vote (or pre-vote). The node's own vote
// is sent to itself like the others' answers, and so counts only once the
// host has persisted it.
func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = MsgPreVote
		// A pre-vote asks about the next term without entering it.
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = MsgVote
		term = r.Term
	}
	last := r.raftLog.lastEntryID()
	var ctx []byte
	if t == campaignTransfer {
		ctx = campaignTransferCtx
	}
	for _, id := range r.trk.ids {
		if !r.trk.isVoter(id) {
			continue
		}
		if id == r.id {
			r.send(Message{To: id, Term: term, Type: voteRespMsgType(voteMsg)})
			continue
		}
		r.logger.Infof("%x [logterm: %d, index: %d] sent %s request to %x at term %d",
			r.id, last.term, last.index, voteMsg, id, r.Term)
		r.send(Message{To: id, Term: term, Type: voteMsg, Index: last.index, LogTerm: last.term, Context: ctx})
	}
}

// handleVoteRequest answers a vote or pre-vote request of the current term
// (or a later one, already adopted by Step).
func (r *raft) handleVoteRequest(m Message) {
	// We may vote for a candidate we already voted for (a repeated request),
	// or for anyone if we have not voted and know of no leader in this term.
	// A pre-vote for a later term may always be granted: it changes nothing.
	canVote := r.Vote == m.From ||
		(r.Vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.Term)
	upToDate := r.raftLog.isUpToDate(entryID{term: m.LogTerm, index: m.Index}) || bugs.VoteWithoutLogCheck
	last := r.raftLog.lastEntryID()
	if canVote && upToDate {
		r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] at term %d",
			r.id, last.term, last.index, r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
		// The answer carries the candidate's term: for a pre-vote that is
		// a term we have not entered.
		r.send(r.voteResp(m, m.Term, false))
		if m.Type == MsgVote {
			// Granting a vote resets the election timer (§5.2).
			r.electionElapsed = 0
			r.Vote = m.From
		}
		return
	}
	r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d",
		r.id, last.term, last.index, r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
	r.send(r.voteResp(m, r.Term, true))
}

// voteResp is the answer to the (pre-)vote request m. It carries this
// node's commit index and the term of its entry there, which the candidate
// may not know committed (see learnCommit).
func (r *raft) voteResp(m Message, term uint64, reject bool) Message {
	c := r.raftLog.committed
	return Message{To: m.From, Term: term, Type: voteRespMsgType(m.Type), Reject: reject,
		Commit: c, LogTerm: zeroTermOnOutOfBounds(r.raftLog.term(c))}
}

// learnCommit commits what a voter's answer says it has committed, if this
// node holds the same entry at that index: by Log Matching (§5.3) the logs
// then agree up to it, and it is committed. Without this a candidate that
// missed the commit of a configuration change keeps counting votes in the
// configuration before it, where a voter demoted to learner by its own
// configuration, with a log ahead of ours, can neither campaign nor vote
// for us: no one is ever elected. Knowing the commit, the host applies the
// change and the next campaign counts the configuration in force.
func (r *raft) learnCommit(m Message) {
	id := entryID{term: m.LogTerm, index: m.Commit}
	if id.index > r.raftLog.committed && r.raftLog.matchTerm(id) {
		r.raftLog.commitTo(id.index)
	}
}

// handleVoteResponse counts an answer to this node's campaign.
func (r *raft) handleVoteResponse(m Message) {
	r.learnCommit(m)
	r.trk.recordVote(m.From, !m.Reject)
	granted, rejected, result := r.trk.tallyVotes()
	r.logger.Infof("%x has received %d %s votes and %d vote rejections", r.id, granted, m.Type, rejected)
	switch result {
	case quorum.VoteWon:
		if !r.trk.isVoter(r.id) {
			// The configuration changed under the campaign.
			r.becomeFollower(r.Term, None)
			return
		}
		if r.state == StatePreCandidate {
			r.campaign(campaignElection)
			return
		}
		r.becomeLeader()
		r.bcastAppend()
	case quorum.VoteLost:
		// A pre-candidate returns to its term; a candidate stays in the
		// term it raised, as a follower.
		r.becomeFollower(r.Term, None)
	}
}

func voteRespMsgType(t MessageType) MessageType {
	if t == MsgPreVote {
		return MsgPreVoteResp
	}
	return MsgVoteResp
}
