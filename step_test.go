package raft

// Bad input to Step: "Bad input never crashes the node and never corrupts its
// state" (DESIGN.md). Hand-picked cases first, then a rapid property test and
// a fuzz test that feed a node arbitrary messages.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// nodeView is what bad input must not change.
type nodeView struct {
	state     StateType
	term      uint64
	vote      uint64
	lead      uint64
	last      entryID
	committed uint64
}

func viewOf(r *raft) nodeView {
	return nodeView{state: r.state, term: r.Term, vote: r.Vote, lead: r.lead,
		last: r.raftLog.lastEntryID(), committed: r.raftLog.committed}
}

// A response from a node that is not a member is refused with
// ErrStepPeerNotFound; other messages from it are handled by the protocol's
// rules like any other, and never crash the node.
func TestStepMessageFromUnknownPeer(t *testing.T) {
	const stranger = 99
	for _, role := range everyRole {
		t.Run(role.String(), func(t *testing.T) {
			for _, typ := range []MessageType{MsgAppResp, MsgVoteResp, MsgHeartbeatResp, MsgPreVoteResp, MsgReadIndexResp} {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				before := viewOf(r)
				for _, term := range []uint64{r.Term - 1, r.Term, r.Term + 1} {
					m := msgWithLastEntry(r, typ, stranger, 1, term)
					require.ErrorIs(t, c.step(m), ErrStepPeerNotFound, "%s", typ)
				}
				require.Equal(t, before, viewOf(r), "%s", typ)
			}
			for _, typ := range []MessageType{MsgApp, MsgHeartbeat, MsgSnap, MsgVote, MsgPreVote, MsgTimeoutNow, MsgTransferLeader, MsgReadIndex, MsgProp} {
				for _, dterm := range []int{-1, 0, 1} {
					c := newClusterInRole(t, role)
					r := c.raft(1)
					before := viewOf(r)
					m := msgWithLastEntry(r, typ, stranger, 1, uint64(int(r.Term)+dterm))
					m.Commit = r.raftLog.committed
					m.Entries = []Entry{{Index: m.Index + 1, Term: m.Term, Data: []byte("s")}}
					if typ == MsgSnap {
						m.Entries = nil
						m.Snapshot = &Snapshot{Metadata: SnapshotMetadata{Index: before.last.index + 2, Term: m.Term,
							ConfState: ConfState{Voters: []uint64{1, 2, stranger}}}}
					}
					_ = c.step(m)
					c.output(1)
					require.GreaterOrEqual(t, r.Term, before.term, "%s", typ)
					require.GreaterOrEqual(t, r.raftLog.committed, before.committed, "%s", typ)
					require.LessOrEqual(t, r.raftLog.committed, r.raftLog.lastIndex(), "%s", typ)
				}
			}
		})
	}
}

// A message without a term (other than the ones valid without one:
// proposals, read requests and transfer requests) is ignored.
func TestStepZeroTermMessageIsIgnored(t *testing.T) {
	for _, role := range everyRole {
		t.Run(role.String(), func(t *testing.T) {
			c := newClusterInRole(t, role)
			r := c.raft(1)
			c.output(1)
			before := viewOf(r)
			last := before.last
			for _, m := range []Message{
				{Type: MsgApp, Index: last.index, LogTerm: last.term, Entries: []Entry{{Index: last.index + 1}}, Commit: last.index + 1},
				{Type: MsgHeartbeat, Commit: last.index},
				{Type: MsgSnap, Snapshot: &Snapshot{Metadata: SnapshotMetadata{Index: last.index + 3, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}},
				{Type: MsgVote, Index: last.index + 5, LogTerm: last.term + 5},
				{Type: MsgPreVote, Index: last.index + 5, LogTerm: last.term + 5},
				{Type: MsgTimeoutNow},
				{Type: MsgAppResp, Index: last.index},
				{Type: MsgVoteResp},
				{Type: MsgPreVoteResp},
				{Type: MsgHeartbeatResp},
				{Type: MsgReadIndexResp, Index: 1},
			} {
				m.From, m.To = 2, 1
				require.NoError(t, c.step(m), "%s", m.Type)
				require.Equal(t, before, viewOf(r), "%s", m.Type)
				require.Empty(t, c.output(1), "%s", m.Type)
			}
		})
	}
}

// An append whose previous index is past the end of the log is rejected,
// with a hint inside the log, and changes nothing.
func TestStepAppendPastEndOfLogIsRejected(t *testing.T) {
	c := newClusterInRole(t, StateFollower)
	r := c.raft(1)
	c.output(1)
	before := viewOf(r)
	for _, index := range []uint64{before.last.index + 1, before.last.index + 10, 1 << 62} {
		require.NoError(t, c.step(Message{Type: MsgApp, From: 3, To: 1, Term: r.Term, Index: index, LogTerm: r.Term,
			Entries: []Entry{{Index: index + 1, Term: r.Term}}, Commit: index + 1}))
		require.Equal(t, before, viewOf(r))
		resp := selectMsgs(c.output(1), MsgAppResp, 3)
		require.Len(t, resp, 1)
		require.True(t, resp[0].Reject)
		require.LessOrEqual(t, resp[0].RejectHint, before.last.index)
	}
}

// A commit index past the end of the log never makes a node claim entries
// it does not hold: a follower commits at most the last entry the leader
// sent it, and a leader ignores acknowledgements of entries it never had.
func TestStepCommitPastLastIndexIsCapped(t *testing.T) {
	t.Run("append", func(t *testing.T) {
		c := newClusterInRole(t, StateFollower)
		r := c.raft(1)
		last := r.raftLog.lastEntryID()
		// An empty append matching the first entries: commit is capped at
		// its previous index, not the end of the log (whose tail the leader
		// did not vouch for).
		require.NoError(t, c.step(Message{Type: MsgApp, From: 3, To: 1, Term: r.Term, Index: last.index, LogTerm: last.term, Commit: 1 << 40}))
		require.Equal(t, last.index, r.raftLog.committed)
		require.NoError(t, c.step(Message{Type: MsgApp, From: 3, To: 1, Term: r.Term, Index: last.index, LogTerm: last.term,
			Entries: []Entry{{Index: last.index + 1, Term: r.Term}}, Commit: 1 << 40}))
		require.Equal(t, last.index+1, r.raftLog.committed)
		c.output(1)
	})
	t.Run("heartbeat", func(t *testing.T) {
		c := newClusterInRole(t, StateFollower)
		r := c.raft(1)
		require.NoError(t, c.step(Message{Type: MsgHeartbeat, From: 3, To: 1, Term: r.Term, Commit: 1 << 40}))
		require.LessOrEqual(t, r.raftLog.committed, r.raftLog.lastIndex())
		c.output(1)
		hs, _, err := c.nodes[1].storage.InitialState()
		require.NoError(t, err)
		last, err := c.nodes[1].storage.LastIndex()
		require.NoError(t, err)
		require.LessOrEqual(t, hs.Commit, last)
	})
	t.Run("leader", func(t *testing.T) {
		c := newClusterInRole(t, StateLeader)
		r := c.raft(1)
		before := viewOf(r)
		match := r.trk.progress[2].Match
		for _, from := range []uint64{2, 3} {
			require.NoError(t, c.step(Message{Type: MsgAppResp, From: from, To: 1, Term: r.Term, Index: before.last.index + 5}))
		}
		require.Equal(t, match, r.trk.progress[2].Match)
		require.Equal(t, before, viewOf(r))
	})
}

// An append whose entries do not follow its previous index one by one, or
// whose terms go backwards or past the message's term, is one no leader
// sends; it is ignored, and the log stays as it was.
func TestStepMalformedAppendIsIgnored(t *testing.T) {
	// Indexes are relative to the follower's last index, terms to the
	// leader's term (which is also the term of the follower's last entry).
	type relEntry struct{ index, term int }
	for _, tc := range []struct {
		name    string
		logTerm int
		ents    []relEntry
	}{
		{name: "gap", ents: []relEntry{{1, 0}, {3, 0}}},
		{name: "repeated index", ents: []relEntry{{1, 0}, {1, 0}}},
		{name: "decreasing index", ents: []relEntry{{2, 0}, {1, 0}}},
		{name: "first not after prev", ents: []relEntry{{2, 0}}},
		{name: "first is prev", ents: []relEntry{{0, 0}}},
		{name: "terms go backwards", ents: []relEntry{{1, 0}, {2, -1}}},
		{name: "term below prev term", ents: []relEntry{{1, -1}}},
		{name: "term past message term", ents: []relEntry{{1, 1}}},
		{name: "prev term past message term", logTerm: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterInRole(t, StateFollower)
			r := c.raft(1)
			c.output(1)
			before := viewOf(r)
			last := before.last
			require.Equal(t, r.Term, last.term)
			m := Message{Type: MsgApp, From: 3, To: 1, Term: r.Term, Index: last.index,
				LogTerm: uint64(int(last.term) + tc.logTerm), Commit: last.index + 2}
			for _, e := range tc.ents {
				m.Entries = append(m.Entries, Entry{Index: uint64(int(last.index) + e.index),
					Term: uint64(int(r.Term) + e.term), Data: []byte("bad")})
			}
			terms := c.logTerms(1)
			require.NoError(t, c.step(m))
			require.Equal(t, before, viewOf(r))
			require.Equal(t, terms, c.logTerms(1))
			for _, out := range c.output(1) {
				require.False(t, out.Type == MsgAppResp && !out.Reject && out.Index > last.index, "acknowledged a malformed append: %+v", out)
			}
		})
	}
}

// A MsgSnap without a snapshot, or with one no leader would send, is
// ignored; the node keeps its log.
func TestStepBadSnapshotIsIgnored(t *testing.T) {
	voters := ConfState{Voters: []uint64{1, 2, 3}}
	for _, tc := range []struct {
		name string
		snap func(r *raft) *Snapshot
	}{
		{name: "nil", snap: func(*raft) *Snapshot { return nil }},
		{name: "older than commit", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.committed - 1, Term: 1, ConfState: voters}}
		}},
		{name: "empty", snap: func(*raft) *Snapshot { return &Snapshot{} }},
		{name: "term past message term", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.lastIndex() + 5, Term: r.Term + 1, ConfState: voters}}
		}},
		{name: "not a member", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.lastIndex() + 5, Term: r.Term, ConfState: ConfState{Voters: []uint64{2, 3}}}}
		}},
		{name: "zero ID in config", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.lastIndex() + 5, Term: r.Term, ConfState: ConfState{Voters: []uint64{0, 1, 2}}}}
		}},
		{name: "voter and learner", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.lastIndex() + 5, Term: r.Term, ConfState: ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}}}}
		}},
		{name: "no voters", snap: func(r *raft) *Snapshot {
			return &Snapshot{Metadata: SnapshotMetadata{Index: r.raftLog.lastIndex() + 5, Term: r.Term, ConfState: ConfState{Learners: []uint64{1}}}}
		}},
	} {
		for _, role := range everyRole {
			t.Run(fmt.Sprintf("%s/%s", tc.name, role), func(t *testing.T) {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				c.output(1)
				terms, last, committed := c.logTerms(1), r.raftLog.lastIndex(), r.raftLog.committed
				require.NoError(t, c.step(Message{Type: MsgSnap, From: 3, To: 1, Term: r.Term, Snapshot: tc.snap(r)}))
				c.output(1)
				require.Equal(t, terms, c.logTerms(1))
				require.Equal(t, last, r.raftLog.lastIndex())
				require.Equal(t, committed, r.raftLog.committed)
				snap, err := c.nodes[1].storage.Snapshot()
				require.NoError(t, err)
				require.Zero(t, snap.Metadata.Index, "no snapshot was written")
			})
		}
	}
}

// Local messages are made by a node for itself; RawNode.Step refuses them
// with ErrStepLocalMsg, whoever they claim to come from.
func TestRawNodeStepRefusesLocalMessages(t *testing.T) {
	for _, role := range everyRole {
		for _, typ := range []MessageType{MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum} {
			t.Run(fmt.Sprintf("%s/%s", role, typ), func(t *testing.T) {
				c := newClusterInRole(t, role)
				r := c.raft(1)
				c.output(1)
				before := viewOf(r)
				for _, from := range []uint64{0, 1, 2, 99} {
					require.ErrorIs(t, c.step(Message{Type: typ, From: from, To: 1, Term: r.Term}), ErrStepLocalMsg)
				}
				require.Equal(t, before, viewOf(r))
				require.Empty(t, c.output(1))
			})
		}
	}
	require.ErrorIs(t, newTestCluster(t, 1).nodes[1].rn.Step(Message{}), ErrStepLocalMsg, "the zero Message is a MsgHup")
}

// A message addressed to another node is refused, not acted on.
func TestRawNodeStepRefusesMessageForAnotherNode(t *testing.T) {
	for _, role := range everyRole {
		t.Run(role.String(), func(t *testing.T) {
			c := newClusterInRole(t, role)
			r := c.raft(1)
			c.output(1)
			before := viewOf(r)
			for _, typ := range []MessageType{MsgApp, MsgHeartbeat, MsgVote, MsgSnap, MsgTimeoutNow, MsgProp, MsgAppResp} {
				m := msgWithLastEntry(r, typ, 3, 2, r.Term+1)
				m.Entries = []Entry{{Index: m.Index + 1, Term: m.Term, Data: []byte("x")}}
				require.Error(t, c.nodes[1].rn.Step(m), "%s", typ)
			}
			require.Equal(t, before, viewOf(r))
			require.Empty(t, c.output(1))
		})
	}
}

// No peer sends a message in the name of the node itself: such a message is
// bad input, like one from a stranger. It must neither crash the node (now or
// later) nor change its state, for instance by making it follow itself.
// (Proposals, read requests and transfer requests are what the node's own
// host makes, so they may carry its ID and are not tried here.)
func TestRawNodeStepMessageFromItself(t *testing.T) {
	for _, role := range everyRole {
		t.Run(role.String(), func(t *testing.T) {
			var panicked, changed []string
			for _, typ := range []MessageType{MsgApp, MsgHeartbeat, MsgSnap, MsgVote, MsgPreVote, MsgTimeoutNow,
				MsgAppResp, MsgHeartbeatResp, MsgVoteResp, MsgPreVoteResp, MsgReadIndexResp} {
				for _, dterm := range []uint64{0, 1} {
					name := fmt.Sprintf("%s(term+%d)", typ, dterm)
					c := newClusterInRole(t, role)
					r := c.raft(1)
					c.output(1)
					before := viewOf(r)
					m := msgWithLastEntry(r, typ, 1, 1, r.Term+dterm)
					m.Commit = r.raftLog.committed
					if typ == MsgSnap {
						m.Snapshot = &Snapshot{Metadata: SnapshotMetadata{Index: before.last.index + 2, Term: m.Term,
							ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}
					}
					p := catchPanic(func() {
						_ = c.step(m)
						c.output(1)
						if viewOf(r) != before {
							changed = append(changed, fmt.Sprintf("%s: %+v -> %+v", name, before, viewOf(r)))
						}
						// The node keeps working afterwards.
						_ = c.nodes[1].rn.Propose([]byte("after"))
						c.nodes[1].rn.ReadIndex([]byte("after"))
						c.output(1)
					})
					if p != nil {
						panicked = append(panicked, fmt.Sprintf("%s: %v", name, p))
					}
				}
			}
			require.Empty(t, panicked, "messages from the node itself crashed it")
			require.Empty(t, changed, "messages from the node itself changed its state")
		})
	}
}

// catchPanic runs f and returns what it panicked with, or nil.
func catchPanic(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// §5.2: a node grants at most one vote per term, whatever the requests
// claim. A request without a sender (From 0, the ID that means "no node")
// must not be granted in a way that leaves the node free to vote again.
func TestFollowerGrantsAtMostOneVotePerTermWhateverTheSender(t *testing.T) {
	c := newClusterInRole(t, StateFollower)
	r := c.raft(1)
	term := r.Term + 1
	var granted []Message
	for _, from := range []uint64{0, 2, 3} {
		_ = c.step(msgWithLastEntry(r, MsgVote, from, 1, term))
		for _, m := range c.output(1) {
			if m.Type == MsgVoteResp && m.Term == term && !m.Reject {
				granted = append(granted, m)
			}
		}
	}
	require.LessOrEqual(t, len(granted), 1, "votes granted in term %d: %+v", term, granted)
}

// The Ready contract: an append acknowledgement "comes in a later Ready,
// after the Advance that confirmed the write". Entries that are replaced
// before they are written (by an append or a snapshot of a later term) are
// never written, so they must never be acknowledged. Correct peers cannot
// produce this input (a leader of a later term has the entries the node
// holds, persisted or not, or it could not have been elected with the
// quorum that must include a node holding them), but inconsistent input
// must not make the node acknowledge what it does not store.
func TestRawNodeNoAckForEntriesReplacedBeforeWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace Message
	}{
		{name: "append", replace: Message{Type: MsgApp, From: 3, To: 1, Term: 5, Index: 3, LogTerm: 2,
			Entries: []Entry{{Index: 4, Term: 5}}}},
		{name: "snapshot", replace: Message{Type: MsgSnap, From: 3, To: 1, Term: 5, Snapshot: &Snapshot{
			Metadata: SnapshotMetadata{Index: 5, Term: 5, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLoneNodeWithLog(t, []uint64{1, 1, 2}, HardState{Term: 3, Commit: 1})
			require.NoError(t, c.step(Message{Type: MsgApp, From: 2, To: 1, Term: 4, Index: 3, LogTerm: 2,
				Entries: []Entry{{Index: 4, Term: 4}, {Index: 5, Term: 4}, {Index: 6, Term: 4}}}))
			require.NoError(t, c.step(tc.replace))
			out := c.output(1)
			stored, err := c.nodes[1].storage.LastIndex()
			require.NoError(t, err)
			require.Less(t, stored, uint64(6))
			for _, m := range out {
				if m.Type == MsgAppResp && !m.Reject {
					require.LessOrEqual(t, m.Index, stored, "acknowledged entry %d, but storage ends at %d: %+v", m.Index, stored, m)
				}
			}
		})
	}
}

// Every message with all fields but its type zero is handled without a
// panic, in every role.
func TestStepEmptyMessages(t *testing.T) {
	for _, role := range everyRole {
		t.Run(role.String(), func(t *testing.T) {
			c := newClusterInRole(t, role)
			r := c.raft(1)
			for typ := MessageType(0); typ <= MsgPreVoteResp+1; typ++ {
				before := viewOf(r)
				_ = c.nodes[1].rn.Step(Message{Type: typ})
				_ = c.nodes[1].rn.Step(Message{Type: typ, To: 1, From: 2})
				c.output(1)
				require.Equal(t, before, viewOf(r), "%s", typ)
			}
		})
	}
}

// --- Arbitrary input ---

// stepInput is where arbitrary input comes from: rapid's generators or the
// bytes of a fuzz input.
type stepInput interface {
	// intn returns a number in [0, n); n is positive.
	intn(n int, label string) int
}

type rapidInput struct{ t *rapid.T }

func (in rapidInput) intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(in.t, label) }

// bytesInput reads numbers from fuzz bytes; once they run out it returns 0.
type bytesInput struct{ b []byte }

func (in *bytesInput) intn(n int, _ string) int {
	var v uint64
	for w := n - 1; w > 0; w >>= 8 {
		if len(in.b) == 0 {
			break
		}
		v = v<<8 | uint64(in.b[0])
		in.b = in.b[1:]
	}
	return int(v % uint64(n))
}

// stepHarness is the host of node 1 of a 3-node cluster that receives
// arbitrary messages and calls. It persists each Ready to MemoryStorage and
// applies committed entries like a real host, and after every call checks
// what must hold whatever the input.
type stepHarness struct {
	t  require.TestingT
	c  *testCluster
	rn *RawNode
	s  *MemoryStorage
	in stepInput

	// confState is the membership the host applied last.
	confState ConfState
	// applied is the last index the host applied (entries or snapshot).
	applied uint64
	// term, commit and hardState are the largest seen so far.
	term, commit uint64
	hardState    HardState
	// committed holds each entry seen committed, by index.
	committed map[uint64]Entry
	// calm runs send no message of a newer term and no campaign, so that
	// a leader lives long enough to meet its rarer paths.
	calm bool
}

func newStepHarness(tb testing.TB, t require.TestingT, in stepInput) *stepHarness {
	role := everyRole[in.intn(len(everyRole), "role")]
	maxSize := []uint64{noLimit, 1, 100}[in.intn(3, "MaxSizePerMsg")]
	inflight := []int{256, 1, 2}[in.intn(3, "MaxInflightMsgs")]
	c := newClusterInRole(tb, role, func(cfg *Config) {
		cfg.MaxSizePerMsg = maxSize
		cfg.MaxInflightMsgs = inflight
	})
	// Options that would change how the cluster was set up are switched on
	// afterwards.
	r := c.raft(1)
	r.preVote = r.preVote || in.intn(2, "PreVote") == 1
	r.checkQuorum = in.intn(2, "CheckQuorum") == 1
	if r.checkQuorum && in.intn(2, "ReadOnlyLeaseBased") == 1 {
		r.readOnly.option = ReadOnlyLeaseBased
	}
	r.disableProposalForwarding = in.intn(2, "DisableProposalForwarding") == 1
	if in.intn(2, "MaxUncommittedEntriesSize") == 1 {
		r.maxUncommittedSize = 16
	}
	c.output(1)
	n := c.nodes[1]
	h := &stepHarness{t: t, c: c, rn: n.rn, s: n.storage, in: in, confState: n.confState,
		applied: r.raftLog.applied, committed: map[uint64]Entry{}, calm: in.intn(3, "calm") == 0}
	h.check()
	return h
}

// genMessage returns a message to node 1 that is plausible enough to reach
// deep into Step: terms near the node's term, indexes near its log, entries
// that are mostly well formed.
func (h *stepHarness) genMessage() Message {
	in, r := h.in, h.rn.raft
	last := r.raftLog.lastIndex()
	m := Message{
		Type: MessageType(in.intn(int(MsgPreVoteResp)+2, "type")),
		From: uint64(in.intn(5, "from")), // 0: none, 1: itself, 4: a stranger
		To:   1,
	}
	if in.intn(16, "misaddressed") == 0 {
		m.To = uint64(in.intn(5, "to"))
	}
	switch in.intn(8, "term") {
	case 0:
		m.Term = 0
	case 1:
		m.Term = uint64(in.intn(int(r.Term)+1, "stale term"))
	case 2, 3:
		m.Term = r.Term
		if !h.calm {
			m.Term += 1 + uint64(in.intn(2, "new term"))
		}
	default:
		m.Term = r.Term
	}
	m.LogTerm = uint64(in.intn(int(m.Term)+2, "log term"))
	m.Index = uint64(in.intn(int(last)+4, "index"))
	m.Commit = uint64(in.intn(int(last)+4, "commit"))
	m.Reject = in.intn(2, "reject") == 1
	m.RejectHint = uint64(in.intn(int(last)+3, "hint"))
	if n := in.intn(4, "entries"); n > 0 {
		wellFormed := in.intn(4, "well formed") > 0
		term := m.LogTerm
		for i := range n {
			e := Entry{Index: m.Index + 1 + uint64(i), Data: []byte{byte(in.intn(256, "data"))}}
			if wellFormed {
				term += uint64(in.intn(2, "term step"))
				e.Term = min(term, m.Term)
			} else {
				e.Index = uint64(in.intn(int(last)+4, "entry index"))
				e.Term = uint64(in.intn(int(m.Term)+2, "entry term"))
			}
			if in.intn(8, "conf change") == 0 {
				e.Type = EntryConfChange
				e.Data = h.genConfChangeData()
			}
			m.Entries = append(m.Entries, e)
		}
	}
	if m.Type == MsgSnap || in.intn(16, "stray snapshot") == 0 {
		if in.intn(5, "snapshot") > 0 {
			m.Snapshot = &Snapshot{
				Metadata: SnapshotMetadata{
					Index:     uint64(in.intn(int(last)+6, "snap index")),
					Term:      uint64(in.intn(int(m.Term)+2, "snap term")),
					ConfState: h.genConfState(),
				},
				Data: []byte("snap"),
			}
		}
	}
	switch in.intn(4, "context") {
	case 1:
		m.Context = campaignTransferCtx
	case 2:
		m.Context = []byte{byte(in.intn(256, "ctx"))}
	}
	return m
}

// genConfState returns a membership, usually one that holds node 1.
func (h *stepHarness) genConfState() ConfState {
	var cs ConfState
	for id := uint64(1); id <= 4; id++ {
		switch h.in.intn(4, "member") {
		case 0, 1:
			cs.Voters = append(cs.Voters, id)
		case 2:
			cs.Learners = append(cs.Learners, id)
		}
	}
	if h.in.intn(4, "joint") == 0 {
		cs.VotersOutgoing = []uint64{1, 2, 3}
		cs.AutoLeave = h.in.intn(2, "auto leave") == 1
	}
	return cs
}

// genConfChangeData returns an encoded ConfChange, or (rarely) garbage.
func (h *stepHarness) genConfChangeData() []byte {
	if h.in.intn(8, "garbage conf change") == 0 {
		return []byte{0xc1, byte(h.in.intn(256, "garbage"))}
	}
	cc := ConfChange{Transition: ConfChangeTransition(h.in.intn(3, "transition"))}
	for range h.in.intn(3, "changes") {
		cc.Changes = append(cc.Changes, ConfChangeSingle{
			Type:   ConfChangeType(h.in.intn(3, "change type")),
			NodeID: uint64(1 + h.in.intn(4, "change node")),
		})
	}
	data, err := cc.Marshal()
	require.NoError(h.t, err)
	return data
}

// run performs one arbitrary call on the node, then checks it.
func (h *stepHarness) run() {
	rn := h.rn
	switch op := h.in.intn(20, "op"); {
	case op < 10:
		m := h.genMessage()
		err := rn.Step(m)
		if isLocalMsg(m.Type) {
			require.ErrorIs(h.t, err, ErrStepLocalMsg)
		}
	case op < 13:
		h.ready()
	case op < 15:
		rn.Tick()
	case op == 15:
		if h.in.intn(4, "propose conf change") == 0 {
			var cc ConfChange
			_ = cc.Unmarshal(h.genConfChangeData())
			_ = rn.ProposeConfChange(cc)
		} else {
			_ = rn.Propose(bytes.Repeat([]byte("p"), h.in.intn(20, "size")))
		}
	case op == 16:
		if h.in.intn(2, "read or transfer") == 0 {
			rn.ReadIndex([]byte{byte(h.in.intn(256, "rctx"))})
		} else {
			rn.TransferLeader(uint64(h.in.intn(5, "transferee")))
		}
	case op == 17:
		switch h.in.intn(3, "report") {
		case 0:
			if !h.calm {
				_ = rn.Campaign()
			}
		case 1:
			rn.ReportUnreachable(uint64(h.in.intn(5, "unreachable")))
		default:
			rn.ReportSnapshot(uint64(h.in.intn(5, "snapshot of")), SnapshotStatus(h.in.intn(2, "snapshot status")))
		}
	case op == 18:
		h.compact()
	default:
		// A whole Ready loop, as a host running freely would.
		for i := 0; i < 10 && rn.HasReady(); i++ {
			h.ready()
		}
	}
	h.check()
}

// ready handles one Ready like a host, checking that no message in it
// acknowledges state that is not yet on storage.
func (h *stepHarness) ready() {
	rn, s, t := h.rn, h.s, h.t
	if !rn.HasReady() {
		return
	}
	rd := rn.Ready()
	hs, _, err := s.InitialState()
	require.NoError(t, err)
	for _, m := range rd.Messages {
		require.NotEqual(t, uint64(1), m.To, "a message to itself left the node: %+v", m)
		switch {
		case m.Type == MsgVoteResp && !m.Reject:
			require.True(t, hs.Term > m.Term || hs.Term == m.Term && hs.Vote == m.To,
				"sent a vote of term %d for %d, but storage holds %+v", m.Term, m.To, hs)
		}
	}

	if !IsEmptySnap(rd.Snapshot) {
		require.NoError(t, s.ApplySnapshot(rd.Snapshot), "writing the Ready's snapshot")
		require.Greater(t, rd.Snapshot.Metadata.Index, h.applied)
		h.applied = rd.Snapshot.Metadata.Index
		h.confState = rd.Snapshot.Metadata.ConfState
	}
	require.NoError(t, s.Append(rd.Entries), "writing the Ready's entries")
	if !IsEmptyHardState(rd.HardState) {
		require.NoError(t, s.SetHardState(rd.HardState))
		require.GreaterOrEqual(t, rd.HardState.Term, h.hardState.Term, "persisted term went down")
		require.GreaterOrEqual(t, rd.HardState.Commit, h.hardState.Commit, "persisted commit went down")
		h.hardState = rd.HardState
	}
	last, err := s.LastIndex()
	require.NoError(t, err)
	require.LessOrEqual(t, h.hardState.Commit, last, "persisted commit is past the persisted log")

	for _, e := range rd.CommittedEntries {
		require.Equal(t, h.applied+1, e.Index, "applied entries must follow each other")
		require.LessOrEqual(t, e.Index, h.hardState.Commit, "applied an entry not persisted as committed")
		if want, ok := h.committed[e.Index]; ok {
			require.Equal(t, want, e, "applied another entry than the one committed at %d", e.Index)
		}
		h.applied = e.Index
		if e.Type == EntryConfChange {
			var cc ConfChange
			if cc.Unmarshal(e.Data) == nil {
				h.confState = *rn.ApplyConfChange(cc)
			}
		}
	}
	rn.Advance(rd)
}

// compact makes the host snapshot what it applied and discard the log
// before it, so the leader may need to send snapshots.
func (h *stepHarness) compact() {
	first, err := h.s.FirstIndex()
	require.NoError(h.t, err)
	if h.applied < first || h.rn.raft.raftLog.applying > h.applied {
		return
	}
	_, err = h.s.CreateSnapshot(h.applied, &h.confState, []byte("state"))
	require.NoError(h.t, err)
	require.NoError(h.t, h.s.Compact(h.applied))
}

// entryAt returns the entry at index i if the log still holds it.
func (h *stepHarness) entryAt(i uint64) (Entry, bool) {
	l := h.rn.raft.raftLog
	if i > l.lastIndex() || i < l.firstIndex() {
		return Entry{}, false
	}
	ents, err := l.slice(i, i+1, noLimit)
	if err != nil || len(ents) != 1 {
		return Entry{}, false
	}
	return ents[0], true
}

// check verifies what bad input must never break: the term and the commit
// index only grow, the commit index stays within the log, and a committed
// entry never changes.
func (h *stepHarness) check() {
	t, r := h.t, h.rn.raft
	l := r.raftLog
	require.GreaterOrEqual(t, r.Term, h.term, "term went down")
	require.GreaterOrEqual(t, l.committed, h.commit, "commit index went down")
	require.LessOrEqual(t, l.committed, l.lastIndex(), "commit index is past the log")
	require.LessOrEqual(t, l.applied, l.committed)
	for i := h.commit + 1; i <= l.committed; i++ {
		if e, ok := h.entryAt(i); ok {
			h.committed[i] = e
		}
	}
	for i, want := range h.committed {
		if e, ok := h.entryAt(i); ok {
			require.Equal(t, want, e, "committed entry %d changed", i)
		}
	}
	h.term, h.commit = r.Term, l.committed
}

// Whatever messages and calls a node receives, in any role, it does not
// panic, its term and commit index never go down, its committed entries
// never change, what it persists is consistent, and it never acknowledges
// what it has not persisted.
func TestStepArbitraryInputKeepsInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newStepHarness(t, rt, rapidInput{rt})
		steps := rapid.IntRange(1, 300).Draw(rt, "steps")
		for range steps {
			h.run()
		}
	})
}

// FuzzStep feeds node 1 of a 3-node cluster a sequence of calls and
// messages decoded from the fuzz input, with the checks of
// TestStepArbitraryInputKeepsInvariants.
func FuzzStep(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0})
	for seed := range uint64(8) {
		var b []byte
		for i := range uint64(64) {
			b = binary.LittleEndian.AppendUint64(b, (seed+1)*0x9e3779b97f4a7c15*(i+1))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A panic fails this input without taking the other tests down.
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		in := &bytesInput{b: data}
		h := newStepHarness(t, t, in)
		for len(in.b) > 0 {
			h.run()
		}
		for i := 0; i < 10 && h.rn.HasReady(); i++ {
			h.ready()
			h.check()
		}
	})
}
