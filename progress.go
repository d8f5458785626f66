package raft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keelraft/raft/internal/inflight"
	"github.com/keelraft/raft/internal/quorum"
)

// ProgressState is how the leader currently replicates to one follower.
type ProgressState uint8

const (
	// StateProbe: the leader does not know where the follower's log ends. It
	// sends one append at a time (at most one per heartbeat interval) and
	// backs up Next on each rejection until the follower accepts.
	StateProbe ProgressState = iota
	// StateReplicate: the follower's log is known to match; the leader
	// pipelines appends optimistically, up to the inflight window.
	StateReplicate
	// StateSnapshot: the follower needs entries the leader has compacted; a
	// snapshot is on its way and no appends are sent until it lands.
	StateSnapshot
)

var progressStateNames = [...]string{"StateProbe", "StateReplicate", "StateSnapshot"}

func (s ProgressState) String() string {
	return enumName(progressStateNames[:], uint8(s), "ProgressState")
}

// Progress is the leader's view of one follower (or learner): how far their
// logs are known to match, and what to send next.
type Progress struct {
	// Match is the highest index known to be in the follower's log; Next is
	// the index of the next entry to send. Match < Next always.
	Match, Next uint64
	// State says how the leader replicates to this follower.
	State ProgressState
	// PendingSnapshot is the index of the snapshot in flight, in StateSnapshot.
	PendingSnapshot uint64
	// RecentActive is set when the follower was heard from since the last
	// quorum check; a leader sends snapshots only to recently active
	// followers.
	RecentActive bool
	// MsgAppFlowPaused is set in StateProbe after an append was sent, until
	// the follower answers or a heartbeat interval passes.
	MsgAppFlowPaused bool
	// IsLearner is set for learners, which receive the log but do not vote.
	IsLearner bool

	// sentCommit is the highest commit index sent to the follower, so that
	// an append carrying nothing new is not sent.
	sentCommit uint64
	inflights  *inflight.Inflights
}

// InflightCount returns the number of appends sent and not yet acknowledged.
func (pr *Progress) InflightCount() int { return pr.inflights.Count() }

// InflightBytes returns the bytes of entries sent and not yet acknowledged.
func (pr *Progress) InflightBytes() uint64 { return pr.inflights.Bytes() }

// resetState enters state with a clean flow-control slate.
func (pr *Progress) resetState(state ProgressState) {
	pr.State = state
	pr.MsgAppFlowPaused = false
	pr.PendingSnapshot = 0
	pr.inflights.Reset()
}

// becomeProbe starts probing from just past what the follower is known to
// hold, or past the snapshot it was sent.
func (pr *Progress) becomeProbe() {
	next := pr.Match + 1
	if pr.State == StateSnapshot {
		next = max(next, pr.PendingSnapshot+1)
	}
	pr.resetState(StateProbe)
	pr.Next = next
}

// becomeReplicate starts pipelining after the known match.
func (pr *Progress) becomeReplicate() {
	pr.resetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// becomeSnapshot records that the snapshot at index snapshot is on its way.
func (pr *Progress) becomeSnapshot(snapshot uint64) {
	pr.resetState(StateSnapshot)
	pr.PendingSnapshot = snapshot
	pr.Next = snapshot + 1
}

// sentEntries records an append carrying entries up to last (bytes of
// payload) and the commit index commit.
func (pr *Progress) sentEntries(count int, bytes, last, commit uint64) {
	switch pr.State {
	case StateReplicate:
		if count > 0 {
			pr.Next = last + 1
			pr.inflights.Add(last, bytes)
		}
	case StateProbe:
		// One probe per heartbeat interval: wait for the answer.
		pr.MsgAppFlowPaused = true
	}
	pr.sentCommit = max(pr.sentCommit, commit)
}

// maybeUpdate records that the follower holds entries up to n. It returns
// false if the news is old.
func (pr *Progress) maybeUpdate(n uint64) bool {
	if n <= pr.Match {
		return false
	}
	pr.Match = n
	pr.Next = max(pr.Next, n+1)
	pr.MsgAppFlowPaused = false
	return true
}

// maybeDecrTo backs up Next after the follower rejected an append whose
// previous entry was at index rejected; matchHint is the highest index at
// which, the follower says, its log may still match. It returns false for a
// stale rejection (of an append the leader has since moved past).
func (pr *Progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		// In pipelining, appends may be answered out of order: a rejection
		// below Match is old news.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe only the latest probe (the one just before Next) counts.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.MsgAppFlowPaused = false
	return true
}

// isPaused reports whether the leader should hold back appends to this
// follower.
func (pr *Progress) isPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.MsgAppFlowPaused
	case StateReplicate:
		return pr.inflights.Full()
	default:
		return true
	}
}

// canBumpCommit reports whether the follower has not been told commit yet and
// could use it: only an index it is known to hold, or is about to receive,
// can be committed on its side.
func (pr *Progress) canBumpCommit(commit uint64) bool {
	return pr.sentCommit < min(commit, pr.Next-1)
}

func (pr *Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.IsLearner {
		b.WriteString(" learner")
	}
	if pr.isPaused() {
		b.WriteString(" paused")
	}
	if pr.PendingSnapshot > 0 {
		fmt.Fprintf(&b, " pendingSnap=%d", pr.PendingSnapshot)
	}
	if !pr.RecentActive {
		b.WriteString(" inactive")
	}
	if n := pr.InflightCount(); n > 0 {
		fmt.Fprintf(&b, " inflight=%d", n)
		if pr.inflights.Full() {
			b.WriteString("[full]")
		}
	}
	return b.String()
}

// clone returns a copy that shares nothing with pr.
func (pr *Progress) clone() Progress {
	c := *pr
	c.inflights = pr.inflights.Clone()
	return c
}

// trackerConfig is the cluster membership as the leader counts it.
type trackerConfig struct {
	// Voters holds the incoming voters in Voters[0] and, while joint, the
	// outgoing ones in Voters[1] (§6).
	Voters quorum.JointConfig
	// AutoLeave: leave the joint configuration automatically.
	AutoLeave bool
	// Learners never vote. LearnersNext are outgoing voters that become
	// learners when the joint configuration is left; until then they stay
	// voters (a node is never a voter and learner at once).
	Learners     map[uint64]struct{}
	LearnersNext map[uint64]struct{}
}

func (c trackerConfig) joint() bool { return len(c.Voters[1]) > 0 }

func (c trackerConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "voters=%s", c.Voters)
	if c.Learners != nil {
		fmt.Fprintf(&b, " learners=%s", quorum.MajorityConfig(c.Learners))
	}
	if c.LearnersNext != nil {
		fmt.Fprintf(&b, " learners_next=%s", quorum.MajorityConfig(c.LearnersNext))
	}
	if c.AutoLeave {
		b.WriteString(" autoleave")
	}
	return b.String()
}

// confState describes c as a ConfState.
func (c trackerConfig) confState() ConfState {
	return ConfState{
		Voters:         c.Voters[0].Slice(),
		VotersOutgoing: c.Voters[1].Slice(),
		Learners:       quorum.MajorityConfig(c.Learners).Slice(),
		LearnersNext:   quorum.MajorityConfig(c.LearnersNext).Slice(),
		AutoLeave:      c.AutoLeave,
	}
}

// progressMap maps node IDs to their progress.
type progressMap map[uint64]*Progress

// AckedIndex lets the quorum package read Match indexes.
func (m progressMap) AckedIndex(id uint64) (quorum.Index, bool) {
	pr, ok := m[id]
	if !ok {
		return 0, false
	}
	return quorum.Index(pr.Match), true
}

// tracker is the leader's (and candidate's) bookkeeping: the configuration,
// each member's progress, and the votes of the current election.
type tracker struct {
	config   trackerConfig
	progress progressMap
	// ids lists every member in increasing order, so that the node's output
	// does not depend on map iteration order (deterministic simulation).
	ids   []uint64
	votes map[uint64]bool

	maxInflight      int
	maxInflightBytes uint64
}

func newTracker(maxInflight int, maxInflightBytes uint64) tracker {
	return tracker{
		progress:         progressMap{},
		votes:            map[uint64]bool{},
		maxInflight:      maxInflight,
		maxInflightBytes: maxInflightBytes,
	}
}

// committed returns the largest index stored on a quorum of voters (of both
// halves while joint).
func (t *tracker) committed() uint64 {
	return uint64(t.config.Voters.CommittedIndex(t.progress))
}

// isVoter reports whether id votes in either half of the configuration.
func (t *tracker) isVoter(id uint64) bool {
	_, in := t.config.Voters[0][id]
	_, out := t.config.Voters[1][id]
	return in || out
}

// isSingleton reports whether one node is the only voter of the
// configuration: of both halves while joint ([1]&[1], entered to change
// learners only), so that its own vote or acknowledgement is a quorum.
func (t *tracker) isSingleton() bool {
	in, out := t.config.Voters[0], t.config.Voters[1]
	if len(in) != 1 || len(out) > 1 {
		return false
	}
	for id := range out {
		_, same := in[id]
		return same
	}
	return true
}

// visit calls f for each member in increasing order of ID.
func (t *tracker) visit(f func(id uint64, pr *Progress)) {
	for _, id := range t.ids {
		f(id, t.progress[id])
	}
}

// quorumActive reports whether a quorum of voters was recently active. The
// caller counts itself as active.
func (t *tracker) quorumActive(self uint64) bool {
	votes := map[uint64]bool{}
	t.visit(func(id uint64, pr *Progress) {
		if !pr.IsLearner {
			votes[id] = pr.RecentActive || id == self
		}
	})
	return t.config.Voters.VoteResult(votes) == quorum.VoteWon
}

// resetVotes forgets the votes of an earlier election.
func (t *tracker) resetVotes() { clear(t.votes) }

// recordVote records id's answer, keeping the first one.
func (t *tracker) recordVote(id uint64, granted bool) {
	if _, ok := t.votes[id]; !ok {
		t.votes[id] = granted
	}
}

// tallyVotes counts the votes of voters and decides the election.
func (t *tracker) tallyVotes() (granted, rejected int, result quorum.VoteResult) {
	for id, v := range t.votes {
		if !t.isVoter(id) {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	return granted, rejected, t.config.Voters.VoteResult(t.votes)
}

// setConfig installs cfg, keeping the progress of members that stay and
// starting new ones in probe just past lastIndex.
func (t *tracker) setConfig(cfg trackerConfig, lastIndex uint64) {
	t.config = cfg
	members := map[uint64]bool{}
	for _, half := range cfg.Voters {
		for id := range half {
			members[id] = false
		}
	}
	for id := range cfg.Learners {
		members[id] = true
	}
	for id := range cfg.LearnersNext {
		// Still a voter until the joint configuration is left.
		members[id] = false
	}
	for id := range t.progress {
		if _, ok := members[id]; !ok {
			delete(t.progress, id)
		}
	}
	t.ids = t.ids[:0]
	for id, learner := range members {
		t.ids = append(t.ids, id)
		if pr, ok := t.progress[id]; ok {
			pr.IsLearner = learner
			continue
		}
		t.progress[id] = &Progress{
			Next:      lastIndex + 1,
			IsLearner: learner,
			// A new member counts as active so that a leader does not
			// step down (CheckQuorum) before it could hear from it.
			RecentActive: true,
			inflights:    inflight.New(t.maxInflight, t.maxInflightBytes),
		}
	}
	slices.Sort(t.ids)
}
