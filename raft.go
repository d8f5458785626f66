package raft

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/keelraft/raft/internal/bugs"
)

// ErrProposalDropped is returned when a proposal is not accepted: there is no
// leader, a leadership transfer is under way, the uncommitted-entries quota is
// used up, this node may not forward it, or a configuration change is already
// pending. The caller may retry.
var ErrProposalDropped = errors.New("raft: proposal dropped")

// campaignType says why a node campaigns.
type campaignType uint8

const (
	campaignPreElection campaignType = iota // PreVote phase (thesis §9.6)
	campaignElection                        // a normal election (§5.2)
	campaignTransfer                        // forced by leadership transfer
)

// campaignTransferCtx marks the vote requests of a transfer campaign, which
// followers grant even while they still hear from the old leader.
var campaignTransferCtx = []byte("CampaignTransfer")

type stepFunc func(r *raft, m Message) error

// raft is one node's protocol state. Everything a node does starts in Step,
// ticks included (they become local messages), so its behaviour is a pure
// function of its state and the messages it is given.
type raft struct {
	id uint64

	// Term and Vote are persisted (HardState) before any message that
	// depends on them leaves the node (Figure 2).
	Term uint64
	Vote uint64

	raftLog *raftLog
	trk     tracker

	state StateType
	lead  uint64
	// isLearner is set while this node is a learner.
	isLearner bool

	// msgs go out with the next Ready. msgsAfterAppend acknowledge state that
	// is not yet persisted (votes, appends): they go out only after the
	// Advance that confirms the write; those addressed to this node itself
	// (its own vote, the leader's own append) are stepped then.
	msgs            []Message
	msgsAfterAppend []Message
	// readies are the Readys handed out and not yet advanced, oldest
	// first (see readyRecord). Records past the length keep their arrays
	// for reuse.
	readies []readyRecord

	// appendsPending and heartbeatPending ask for an append broadcast and a
	// heartbeat round with the next Ready, so that many proposals (or
	// reads) stepped between two Readys share one message per follower.
	appendsPending   bool
	heartbeatPending bool

	readStates []ReadState
	readOnly   readOnly
	// bootLease is set at start under lease reads, until the first reset:
	// before a crash this node may have confirmed a leader's lease, so for
	// an election timeout it acts as if it had heard from a leader.
	bootLease bool

	maxMsgSize         uint64
	maxUncommittedSize uint64
	uncommittedSize    uint64

	// leadTransferee is the node a leadership transfer is handing over to,
	// and transferElapsed the ticks since the transfer started: it is
	// aborted after an election timeout.
	leadTransferee  uint64
	transferElapsed int
	// pendingConfIndex is the index of the latest configuration change the
	// leader appended; another may be proposed only once it is applied.
	pendingConfIndex uint64

	checkQuorum               bool
	preVote                   bool
	disableProposalForwarding bool

	// electionElapsed counts ticks since the last election timeout (leader,
	// candidate) or since the follower last heard from its leader;
	// heartbeatElapsed counts ticks since the leader's last heartbeat.
	electionElapsed  int
	heartbeatElapsed int
	// ticks counts every tick since the node started; the leader's lease is
	// measured in it.
	ticks uint64

	heartbeatTimeout          int
	electionTimeout           int
	randomizedElectionTimeout int
	rand                      *rand.Rand

	tick func()
	step stepFunc

	logger Logger
}

func newRaft(c *Config) (*raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cfg := c.withDefaults()
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: read initial state: %w", err)
	}
	raftlog := newLog(cfg.Storage, cfg.Logger, cfg.MaxCommittedSizePerReady)
	r := &raft{
		id:                        cfg.ID,
		raftLog:                   raftlog,
		trk:                       newTracker(cfg.MaxInflightMsgs, cfg.MaxInflightBytes),
		lead:                      None,
		maxMsgSize:                cfg.MaxSizePerMsg,
		maxUncommittedSize:        cfg.MaxUncommittedEntriesSize,
		readOnly:                  newReadOnly(cfg.ReadOnlyOption),
		checkQuorum:               cfg.CheckQuorum,
		preVote:                   cfg.PreVote,
		disableProposalForwarding: cfg.DisableProposalForwarding,
		heartbeatTimeout:          cfg.HeartbeatTick,
		electionTimeout:           cfg.ElectionTick,
		// Seeded from the ID and the stored term: different nodes draw
		// different timeouts, and a simulation replays exactly.
		rand:   rand.New(rand.NewPCG(cfg.ID, hs.Term)),
		logger: cfg.Logger,
	}
	cfgState, err := configFromConfState(cs)
	if err != nil {
		return nil, fmt.Errorf("raft: storage's ConfState: %w", err)
	}
	r.switchToConfig(cfgState)

	if !IsEmptyHardState(hs) {
		if err := r.loadState(hs); err != nil {
			return nil, err
		}
	}
	if cfg.Applied > 0 {
		if cfg.Applied > r.raftLog.committed {
			return nil, fmt.Errorf("raft: Config.Applied %d is past the commit index %d", cfg.Applied, r.raftLog.committed)
		}
		r.raftLog.appliedTo(cfg.Applied)
	}
	r.becomeFollower(r.Term, None)
	// A node that never had a term (new, or added and started empty) has
	// confirmed no lease.
	r.bootLease = cfg.ReadOnlyOption == ReadOnlyLeaseBased && r.Term > 0

	r.logger.Infof("newRaft %x [peers: %v, term: %d, commit: %d, applied: %d, lastindex: %d, lastterm: %d]",
		r.id, r.trk.config, r.Term, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.raftLog.lastEntryID().term)
	return r, nil
}

// loadState resumes from a persisted HardState.
func (r *raft) loadState(hs HardState) error {
	if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
		return fmt.Errorf("raft: stored commit index %d is outside the stored log [%d, %d]",
			hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
	}
	r.raftLog.committed = hs.Commit
	r.Term = hs.Term
	r.Vote = hs.Vote
	return nil
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

func (r *raft) hardState() HardState {
	hs := HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
	if bugs.ForgetVote {
		hs.Vote = None
	}
	return hs
}

// send queues m. Responses that acknowledge unpersisted state wait in
// msgsAfterAppend (see raft.msgsAfterAppend).
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		// The term of a (pre)vote message is set by the caller: a
		// pre-candidate asks about a term it has not entered yet.
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s sent without a term", m.Type))
		}
	default:
		// Proposals and read requests forwarded to the leader carry no
		// term: they are valid whatever the term.
		if m.Type != MsgProp && m.Type != MsgReadIndex {
			m.Term = r.Term
		}
	}
	switch m.Type {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp:
		if n := len(r.msgsAfterAppend); n > 0 && supersedes(m, r.msgsAfterAppend[n-1]) {
			// A newer acknowledgement says all the older one said.
			r.msgsAfterAppend[n-1] = m
			return
		}
		r.msgsAfterAppend = append(r.msgsAfterAppend, m)
	default:
		if m.To == r.id {
			panic(fmt.Sprintf("raft: %x sent %s to itself", r.id, m.Type))
		}
		r.msgs = append(r.msgs, m)
	}
}

// supersedes reports whether the acknowledgement m makes old redundant: both
// accept appends of the same term, to the same node, and m covers more.
func supersedes(m, old Message) bool {
	return m.Type == MsgAppResp && old.Type == MsgAppResp && !m.Reject && !old.Reject &&
		m.To == old.To && m.Term == old.Term && m.Index >= old.Index
}

// dropAppendAcks withdraws the acknowledgements, not yet sent, of entries at
// or after index: they were replaced (by a conflicting append or a
// snapshot) before they reached storage, so they will never be persisted.
func (r *raft) dropAppendAcks(index uint64) {
	stale := func(m Message) bool {
		return m.Type == MsgAppResp && !m.Reject && m.To != r.id && m.Index >= index
	}
	r.msgsAfterAppend = slices.DeleteFunc(r.msgsAfterAppend, stale)
	for i := range r.readies {
		r.readies[i].held = slices.DeleteFunc(r.readies[i].held, stale)
	}
}

// readyRecord is what Advance needs of a Ready: what it asked to persist,
// what it handed out to apply, and the acknowledgements it held back,
// which its Advance releases.
type readyRecord struct {
	last    entryID // the last entry of Entries, zero if none
	snap    uint64  // the index of Snapshot, 0 if none
	applied uint64  // the last index of CommittedEntries, 0 if none
	held    []Message
}

// pushReady records a Ready being handed out, with the acknowledgements
// it takes, and returns the record for the caller to fill in.
func (r *raft) pushReady() *readyRecord {
	k := len(r.readies)
	if k < cap(r.readies) {
		r.readies = r.readies[:k+1]
	} else {
		r.readies = append(r.readies, readyRecord{})
	}
	rec := &r.readies[k]
	*rec = readyRecord{held: append(rec.held[:0], r.msgsAfterAppend...)}
	clear(r.msgsAfterAppend)
	r.msgsAfterAppend = r.msgsAfterAppend[:0]
	return rec
}

// advanceReady completes the oldest Ready not yet advanced: its writes
// are durable and its committed entries applied. Its acknowledgements are
// released: those to this node are stepped, the others go out with the
// next Ready.
func (r *raft) advanceReady() {
	if len(r.readies) == 0 {
		return
	}
	rec := r.readies[0]
	copy(r.readies, r.readies[1:])
	// The record's array goes past the length, for reuse.
	r.readies[len(r.readies)-1] = readyRecord{held: rec.held}
	r.readies = r.readies[:len(r.readies)-1]

	if rec.snap != 0 {
		r.raftLog.stableSnapTo(rec.snap)
		if rec.snap > r.raftLog.applied {
			r.raftLog.appliedTo(rec.snap)
		}
	}
	if rec.last.index != 0 {
		r.raftLog.stableTo(rec.last)
	}
	if rec.applied > r.raftLog.applied {
		r.appliedTo(rec.applied)
	}
	for _, m := range rec.held {
		if m.To == r.id {
			_ = r.Step(m)
		} else {
			r.msgs = append(r.msgs, m)
		}
	}
	clear(rec.held)
}

// reset starts term with a clean volatile state.
func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.bootLease = false
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.resetVotes()
	last := r.raftLog.lastIndex()
	r.trk.visit(func(id uint64, pr *Progress) {
		pr.Match = 0
		pr.sentCommit = 0
		pr.resetState(StateProbe)
		pr.Next = last + 1
		pr.RecentActive = true
	})
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	r.appendsPending = false
	r.heartbeatPending = false
	r.readOnly.reset()
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

// becomeFollower makes the node a follower of lead (None if unknown) in term.
func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Infof("%x became follower at term %d", r.id, r.Term)
}

// becomePreCandidate starts a PreVote round: unlike becomeCandidate it keeps
// the term and the vote, so a node that cannot win disturbs nobody.
func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> pre-candidate]")
	}
	r.step = stepCandidate
	r.trk.resetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Infof("%x became pre-candidate at term %d", r.id, r.Term)
}

// becomeCandidate enters a new term and votes for itself (§5.2).
func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.logger.Infof("%x became candidate at term %d", r.id, r.Term)
}

// becomeLeader takes over the term it won, and appends an empty entry of
// that term: committing it commits every earlier entry (§5.4.2), and it
// tells the new leader which of its entries are committed (§8).
func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader

	// The leader's own entries count toward commitment only once persisted:
	// what the host already wrote counts now, the rest on Advance.
	self := r.trk.progress[r.id]
	self.becomeReplicate()
	self.Match = r.raftLog.lastStableIndex()
	self.Next = r.raftLog.lastIndex() + 1

	// A configuration change may be in the unapplied tail; be conservative.
	r.pendingConfIndex = r.raftLog.lastIndex()

	if bugs.LeaderTruncates && r.raftLog.lastIndex() > r.raftLog.committed {
		// Injected bug: drop the uncommitted tail by overwriting it.
		r.raftLog.unstable.truncateAndAppend([]Entry{{Term: r.Term, Index: r.raftLog.committed + 1}})
	}
	if !r.appendEntry(Entry{}) {
		panic("raft: the empty entry of a new leader was refused")
	}
	r.logger.Infof("%x became leader at term %d", r.id, r.Term)
}

// Step is the one way into the node: every message, from a peer, the host
// or the node's own timers, passes here.
func (r *raft) Step(m Message) error {
	if m.Term == 0 && !termless(m.Type) {
		r.logger.Debugf("%x ignored %s from %x without a term", r.id, m.Type, m.From)
		return nil
	}
	switch {
	case m.Term == 0:
		// A local or termless message.
	case m.Term > r.Term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := bytes.Equal(m.Context, campaignTransferCtx)
			heardLeader := r.heardLeaderRecently()
			// With PreVote, a pre-vote is refused while we hear from a
			// leader (thesis §9.6); with CheckQuorum, so is a vote.
			sticky := r.checkQuorum || (r.preVote && m.Type == MsgPreVote)
			if !force && heardLeader && sticky {
				// We heard from a leader within the minimum election
				// timeout, so this candidate is likely a node coming back
				// from a partition (thesis §4.2.3). A pre-candidate is
				// told so, and returns to following; a candidate's
				// request is ignored.
				if m.Type == MsgPreVote {
					r.send(r.voteResp(m, r.Term, true))
				}
				r.logger.Infof("%x [logterm: %d, index: %d, vote: %x] ignored %s from %x [logterm: %d, index: %d] at term %d: lease is not expired (remaining ticks: %d)",
					r.id, r.raftLog.lastEntryID().term, r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term, r.electionTimeout-r.electionElapsed)
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote does not change our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// We raise our term when we get a quorum of these.
		default:
			r.logger.Infof("%x [term: %d] received %s from %x at term %d", r.id, r.Term, m.Type, m.From, m.Term)
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.Term:
		switch {
		case (r.checkQuorum || r.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp):
			// A leader of an older term: tell it our term so it steps
			// down. Without this, a node whose term rose while it was
			// cut off (and whose votes others ignore, by stickiness or
			// PreVote) could never rejoin.
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			r.send(r.voteResp(m, r.Term, true))
		default:
			r.logger.Debugf("%x [term: %d] ignored %s from %x at older term %d", r.id, r.Term, m.Type, m.From, m.Term)
		}
		return nil
	}

	switch m.Type {
	case MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
	default:
		return r.step(r, m)
	}
	return nil
}

// termless reports whether a message of type t is valid without a term:
// local messages and requests forwarded to the leader.
func termless(t MessageType) bool {
	return isLocalMsg(t) || t == MsgProp || t == MsgReadIndex || t == MsgTransferLeader
}

// stepLeader is the leader's behaviour.
func stepLeader(r *raft, m Message) error {
	// Messages that need no progress of a peer.
	switch m.Type {
	case MsgBeat:
		r.bcastHeartbeat()
		return nil
	case MsgCheckQuorum:
		if !r.trk.quorumActive(r.id) {
			r.logger.Warningf("%x stepped down to follower since quorum is not active", r.id)
			r.becomeFollower(r.Term, None)
		}
		// Start a new observation window.
		r.trk.visit(func(id uint64, pr *Progress) {
			if id != r.id {
				pr.RecentActive = false
			}
		})
		return nil
	case MsgProp:
		return r.handlePropose(m)
	case MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.progress[m.From]
	if pr == nil {
		r.logger.Debugf("%x no progress available for %x, ignored %s", r.id, m.From, m.Type)
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		r.handleHeartbeatResponse(m, pr)
	case MsgSnapStatus:
		r.handleSnapStatus(m, pr)
	case MsgUnreachable:
		// The transport failed: appends in flight are likely lost.
		if pr.State == StateReplicate {
			pr.becomeProbe()
		}
		r.logger.Debugf("%x failed to send message to %x because it is unreachable [%s]", r.id, m.From, pr)
	case MsgTransferLeader:
		r.handleTransferLeader(m, pr)
	}
	return nil
}

// stepCandidate is the behaviour of candidates and pre-candidates.
func stepCandidate(r *raft, m Message) error {
	// A pre-candidate counts pre-votes, a candidate votes; stale answers of
	// the other kind are ignored.
	myVoteResp := MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		r.logger.Infof("%x no leader at term %d; dropping proposal", r.id, r.Term)
		return ErrProposalDropped
	case MsgApp:
		// A leader of our term exists (§5.2): follow it.
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteResp:
		r.handleVoteResponse(m)
	case MsgTimeoutNow:
		r.logger.Debugf("%x [term %d state %s] ignored MsgTimeoutNow from %x", r.id, r.Term, r.state, m.From)
	}
	return nil
}

// stepFollower is the follower's behaviour.
func stepFollower(r *raft, m Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping proposal", r.id, r.Term)
			return ErrProposalDropped
		}
		if r.disableProposalForwarding {
			r.logger.Infof("%x not forwarding to leader %x at term %d; dropping proposal", r.id, r.lead, r.Term)
			return ErrProposalDropped
		}
		m.To = r.lead
		// The entries may live in the caller's buffer (RawNode.Propose
		// reuses one); the message outlives the call.
		m.Entries = slices.Clone(m.Entries)
		r.send(m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping leader transfer msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.send(m)
	case MsgTimeoutNow:
		r.logger.Infof("%x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership", r.id, r.Term, m.From)
		// A transfer campaign skips PreVote: the leader asked for it.
		r.hup(campaignTransfer)
	case MsgReadIndex:
		if r.lead == None {
			r.logger.Infof("%x no leader at term %d; dropping index reading msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.send(m)
	case MsgReadIndexResp:
		if m.From != r.lead {
			r.logger.Debugf("%x ignored MsgReadIndexResp from %x, which is not its leader %x", r.id, m.From, r.lead)
			return nil
		}
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

// tickElection is the tick of followers and candidates: campaign when no
// leader was heard from for a randomized election timeout (§5.2).
func (r *raft) tickElection() {
	r.ticks++
	r.electionElapsed++
	if r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout {
		// The timer has run out: no leader counts on us any longer (see
		// heardLeaderRecently), so the clock restarts only after the step.
		r.bootLease = false
		if err := r.Step(Message{From: r.id, Type: MsgHup}); err != nil {
			r.logger.Debugf("error occurred during election: %v", err)
		}
		r.electionElapsed = 0
	}
}

// tickHeartbeat is the leader's tick: heartbeats every heartbeat timeout, a
// quorum check every election timeout (with CheckQuorum), and the end of a
// leadership transfer that has not finished within an election timeout of
// its own start.
func (r *raft) tickHeartbeat() {
	r.ticks++
	r.heartbeatElapsed++
	r.electionElapsed++

	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(Message{From: r.id, Type: MsgCheckQuorum})
			if r.state != StateLeader {
				return
			}
		}
	}
	if r.leadTransferee != None {
		r.transferElapsed++
		if r.transferElapsed >= r.electionTimeout {
			r.logger.Infof("%x [term %d] abort leadership transfer to %x: it took an election timeout", r.id, r.Term, r.leadTransferee)
			r.abortLeaderTransfer()
		}
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(Message{From: r.id, Type: MsgBeat})
	}
}

// promotable reports whether this node may campaign: it is a voter and has
// no snapshot waiting to be persisted.
func (r *raft) promotable() bool {
	pr := r.trk.progress[r.id]
	return pr != nil && !pr.IsLearner && r.raftLog.unstable.snapshot == nil
}

// handlePropose appends a proposal to the leader's log and replicates it.
func (r *raft) handlePropose(m Message) error {
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: proposal without entries", ErrProposalDropped)
	}
	if r.trk.progress[r.id] == nil {
		// Removed from the configuration while leading.
		return fmt.Errorf("%w: leader %x is not a member", ErrProposalDropped, r.id)
	}
	if r.leadTransferee != None {
		r.logger.Debugf("%x [term %d] transfer leadership to %x is in progress; dropping proposal", r.id, r.Term, r.leadTransferee)
		return fmt.Errorf("%w: leadership transfer to %x in progress", ErrProposalDropped, r.leadTransferee)
	}
	confIndex := uint64(0)
	for i := range m.Entries {
		if m.Entries[i].Type != EntryConfChange {
			continue
		}
		if confIndex != 0 {
			return fmt.Errorf("%w: %w: two changes in one proposal", ErrProposalDropped, ErrConfChangePending)
		}
		if err := r.checkConfChangeProposal(m.Entries[i].Data); err != nil {
			r.logger.Infof("%x refused configuration change: %v", r.id, err)
			return err
		}
		confIndex = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(m.Entries...) {
		return fmt.Errorf("%w: uncommitted entries exceed MaxUncommittedEntriesSize", ErrProposalDropped)
	}
	if confIndex != 0 {
		r.pendingConfIndex = confIndex
	}
	r.bcastAppend()
	return nil
}

// appendEntry appends es to the leader's log in its term. It refuses them
// if they would exceed the uncommitted-size quota.
func (r *raft) appendEntry(es ...Entry) bool {
	last := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = last + 1 + uint64(i)
	}
	if !r.increaseUncommittedSize(es) {
		r.logger.Warningf("%x appending new entries to log would exceed uncommitted entry size limit; dropping proposal", r.id)
		return false
	}
	last = r.raftLog.append(es...)
	// The leader's own copy counts toward commitment once it is persisted.
	r.send(Message{To: r.id, Type: MsgAppResp, Index: last})
	return true
}

// increaseUncommittedSize charges es against the quota. A lone proposal is
// always let through when nothing is uncommitted, so that an entry larger
// than the whole quota can still be made.
func (r *raft) increaseUncommittedSize(es []Entry) bool {
	s := payloadsSize(es)
	if r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += s
	return true
}

// reduceUncommittedSize returns the quota of entries that committed.
func (r *raft) reduceUncommittedSize(s uint64) {
	r.uncommittedSize -= min(s, r.uncommittedSize)
}

// payloadsSize is the quota charge of entries: their data bytes.
func payloadsSize(ents []Entry) uint64 {
	var s uint64
	for i := range ents {
		s += uint64(len(ents[i].Data))
	}
	return s
}

// handleTransferLeader starts handing leadership to the sender of m (§3.10
// of the Raft thesis).
func (r *raft) handleTransferLeader(m Message, pr *Progress) {
	if pr.IsLearner {
		r.logger.Infof("%x [term %d] ignored transferring leadership to learner %x", r.id, r.Term, m.From)
		return
	}
	transferee := m.From
	if last := r.leadTransferee; last != None {
		if last == transferee {
			r.logger.Infof("%x [term %d] transfer leadership to %x is in progress, ignores request to same node", r.id, r.Term, transferee)
			return
		}
		r.abortLeaderTransfer()
		r.logger.Infof("%x [term %d] abort previous transferring leadership to %x", r.id, r.Term, last)
	}
	if transferee == r.id {
		r.logger.Infof("%x is already leader; ignored transferring leadership to self", r.id)
		return
	}
	r.logger.Infof("%x [term %d] starts to transfer leadership to %x", r.id, r.Term, transferee)
	// The transfer must end within an election timeout.
	r.transferElapsed = 0
	r.leadTransferee = transferee
	if pr.Match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(transferee)
		r.logger.Infof("%x sends MsgTimeoutNow to %x immediately as %x already has up-to-date log", r.id, transferee, transferee)
	} else {
		r.maybeSendAppend(transferee, true)
	}
}

// sendTimeoutNow tells the transferee to campaign. Its forced campaign
// overrides the followers' leases, so this leader's lease ends here.
func (r *raft) sendTimeoutNow(to uint64) {
	r.readOnly.leaseRevoked = true
	r.send(Message{To: to, Type: MsgTimeoutNow})
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

// hasUnappliedConfChanges reports whether a committed configuration change
// waits to be applied. A node does not campaign then: it could win under a
// configuration that is already outdated.
func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	lo, hi := r.raftLog.applied+1, r.raftLog.committed+1
	const pageSize = 1 << 20
	for lo < hi {
		ents, err := r.raftLog.slice(lo, hi, pageSize)
		if err != nil {
			r.logger.Errorf("error scanning unapplied entries [%d, %d): %v", lo, hi, err)
			return true
		}
		for i := range ents {
			if ents[i].Type == EntryConfChange {
				return true
			}
		}
		lo += uint64(len(ents))
	}
	return false
}

// appliedTo is called when the host applied entries up to index: the leader
// may now leave a joint configuration it entered with AutoLeave.
func (r *raft) appliedTo(index uint64) {
	r.raftLog.appliedTo(index)
	if r.state == StateLeader && r.trk.config.AutoLeave && index >= r.pendingConfIndex {
		// The empty ConfChange leaves the joint configuration (§6).
		data, err := ConfChange{}.Marshal()
		if err != nil {
			panic(fmt.Sprintf("raft: encode empty ConfChange: %v", err))
		}
		if r.appendEntry(Entry{Type: EntryConfChange, Data: data}) {
			r.pendingConfIndex = r.raftLog.lastIndex()
			r.logger.Infof("initiating automatic transition out of joint configuration %s", r.trk.config)
			r.bcastAppend()
		}
	}
}
