package sim

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/keelraft/raft"
)

// The properties a Violation names.
const (
	// PropElectionSafety: at most one leader per term (Raft paper, Figure
	// 3).
	PropElectionSafety = "election safety"
	// PropLeaderAppendOnly: a leader never overwrites or deletes entries of
	// its log during its term.
	PropLeaderAppendOnly = "leader append-only"
	// PropLogMatching: logs that hold an entry with the same index and term
	// are identical up to it.
	PropLogMatching = "log matching"
	// PropLeaderCompleteness: a committed entry is in the log of every
	// leader of a later term.
	PropLeaderCompleteness = "leader completeness"
	// PropStateMachine: no two nodes apply (or commit) different entries at
	// one index, and no node's applied sequence shrinks.
	PropStateMachine = "state machine safety"
	// PropDurability: a committed entry stays on a majority of disks (of
	// each half of the configuration that committed it), and a node's disk
	// covers everything it applied; after healing, every live member
	// applies every acknowledged write.
	PropDurability = "durability"
	// PropRead: a read index covers every write applied before the read
	// was asked.
	PropRead = "read linearizability"
	// PropLiveness: once the network heals and a majority (of each half)
	// of the configuration's voters is up, a leader is elected and a new
	// proposal commits on every live member.
	PropLiveness = "liveness"
	// PropHost: the library handed the host something the Ready contract
	// rules out (writes that cannot be persisted, entries to apply that are
	// not on disk, ...).
	PropHost = "ready contract"
	// PropPanic: the library panicked.
	PropPanic = "no panic"
)

// Violation is a property found broken.
type Violation struct {
	// Property is one of the Prop constants.
	Property string
	// Step is the number of the step that broke it (counting from 1); in
	// the liveness check, the number of steps before it.
	Step int
	// Liveness is set if it broke during the liveness check.
	Liveness bool
	// Detail says what was seen.
	Detail string
}

func (v *Violation) Error() string {
	if v.Liveness {
		return fmt.Sprintf("%s violated in the liveness check after step %d: %s", v.Property, v.Step, v.Detail)
	}
	return fmt.Sprintf("%s violated at step %d: %s", v.Property, v.Step, v.Detail)
}

// fail records a violation of prop, unless one was found before.
func (s *Sim) fail(prop, format string, args ...any) {
	if s.err != nil {
		return
	}
	s.err = &Violation{Property: prop, Step: len(s.steps) + 1, Detail: fmt.Sprintf(format, args...)}
	if s.inLiveness {
		s.err.Step, s.err.Liveness = len(s.steps), true
	}
	s.note("       VIOLATION: %v", s.err)
}

// appliedEntry is an entry of the global applied sequence.
type appliedEntry struct {
	term uint64
	typ  raft.EntryType
	data string
	// hash is the state machine's hash once it applied this entry.
	hash uint64
	// conf is, for a configuration change, the configuration the first
	// node that applied it got from ApplyConfChange.
	conf *raft.ConfState
}

type entryKey struct{ index, term uint64 }

// commitInfo is what is known of a committed entry: its term, and a term
// by which it was committed (it was committed by the leader of that term or
// of an earlier one).
type commitInfo struct {
	term, by uint64
}

// leaderInfo is a leader as it was elected: its log then.
type leaderInfo struct {
	id, term uint64
	view     logView
}

// entryFact is what is known of an entry (index, term) ever persisted
// anywhere: its content, and the term of the entry before it.
type entryFact struct {
	typ      raft.EntryType
	data     string
	prevTerm uint64
}

// checker is what the property checks remember across steps.
type checker struct {
	// leaders maps each term to the leader seen in it; elected lists
	// them in the order they were elected.
	leaders map[uint64]uint64
	elected []leaderInfo
	// seq is the applied sequence all state machines must follow: seq[i]
	// is the entry applied at index i (seq[0] is the empty start).
	seq []appliedEntry
	// committed[i] is the entry known committed at index i (term 0 if
	// unknown); known means applied by a node, or under the commit index a
	// node persisted. That node's term at the time bounds the term in which
	// the entry was committed: a node learns commit indexes only from the
	// leader of its term.
	committed []commitInfo
	// facts holds every entry ever persisted, by (index, term).
	facts map[entryKey]entryFact
	// reads maps the context of each read asked to the least index its
	// answer may have.
	reads map[string]uint64
	// answered holds the contexts of the reads answered.
	answered map[string]bool
	// acked maps each client value applied to the index it was first
	// applied at: the write was acknowledged to its client then.
	acked map[string]uint64
	// dirty holds the nodes whose disks changed since the last check.
	dirty map[uint64]bool

	// conf is the configuration of the applied sequence: that of its
	// last configuration change, at confIndex. everMember holds every
	// node that was ever a member of it.
	conf      raft.ConfState
	confIndex uint64
	// prevConf is the configuration before conf.
	prevConf   raft.ConfState
	everMember map[uint64]bool
	// certs are the commit certificates of leaders, by increasing index
	// (see Sim.certify).
	certs []cert
}

func newChecker() checker {
	return checker{
		leaders:   map[uint64]uint64{},
		seq:       []appliedEntry{{}},
		committed: []commitInfo{{}},
		facts:     map[entryKey]entryFact{},
		reads:     map[string]uint64{},
		answered:  map[string]bool{},
		acked:     map[string]uint64{},
		dirty:     map[uint64]bool{},

		everMember: map[uint64]bool{},
	}
}

// appliedMax is the highest index applied anywhere.
func (c *checker) appliedMax() uint64 { return uint64(len(c.seq) - 1) }

func sameEntry(a, b raft.Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

// learnCommitted records that the entry at index i, of term t, is committed,
// by term by at the latest. A leader elected in a term after by must hold it.
func (c *checker) learnCommitted(s *Sim, i, t, by uint64, source fmt.Stringer) {
	for uint64(len(c.committed)) <= i {
		c.committed = append(c.committed, commitInfo{})
	}
	ci := &c.committed[i]
	switch {
	case ci.term == 0:
		*ci = commitInfo{term: t, by: by}
	case ci.term != t:
		s.fail(PropStateMachine, "index %d committed with term %d, and with term %d per %s", i, ci.term, t, source)
		return
	case by < ci.by:
		ci.by = by
	default:
		return
	}
	for _, l := range c.elected {
		if l.term > ci.by && !holds(l.view, i, t) {
			s.fail(PropLeaderCompleteness, "n%d was elected leader of term %d without %d@%d, which was committed by term %d (per %s)",
				l.id, l.term, i, t, ci.by, source)
			return
		}
	}
}

// commitSource says how a commit was learned; it is rendered only for a
// violation.
type commitSource struct {
	kind              uint8
	node, index, term uint64
}

const (
	fromSnapshot uint8 = iota
	fromCommitIndex
	fromApply
)

func (c commitSource) String() string {
	switch c.kind {
	case fromSnapshot:
		return fmt.Sprintf("the snapshot n%d persisted in term %d", c.node, c.term)
	case fromCommitIndex:
		return fmt.Sprintf("n%d's commit index %d in term %d", c.node, c.index, c.term)
	}
	return fmt.Sprintf("n%d applying it in term %d", c.node, c.term)
}

// holds reports whether log v holds entry i@t, or compacted it (snapshots
// are checked against the applied sequence).
func holds(v logView, i, t uint64) bool {
	if i < v.base.Index {
		return true
	}
	got, ok := v.term(i)
	return ok && got == t
}

// onReady checks a Ready as the host takes it: a leader's log only grows in
// its term, and read answers cover what was applied before the read.
func (c *checker) onReady(s *Sim, n *node, pending []raft.Ready, rd raft.Ready, st raft.BasicStatus) {
	disk := diskView(n.disk)
	// The node's log is the disk with the writes of the Readys still to be
	// persisted laid over it, in order, and then rd's.
	view := disk
	for _, p := range append(pending, rd) {
		var err error
		if view, err = view.overlay(p); err != nil {
			s.fail(PropHost, "n%d: %v", n.id, err)
			return
		}
	}
	if checkAcks {
		c.checkAcks(s, n, rd, disk)
	}
	if st.RaftState == raft.StateLeader && n.viewTerm == st.Term {
		// Since its last Ready the node was candidate or leader of this
		// term (a follower cannot become leader without a new term), and
		// neither changes its log except by appending.
		old := n.view
		for i := max(old.base.Index, view.base.Index) + 1; i <= old.last(); i++ {
			was, _ := old.entry(i)
			now, ok := view.entry(i)
			if !ok {
				s.fail(PropLeaderAppendOnly, "n%d, leader of term %d, deleted its entry %s (its log now ends at %d)",
					n.id, st.Term, describeEntry(was), view.last())
				return
			}
			if !sameEntry(was, now) {
				s.fail(PropLeaderAppendOnly, "n%d, leader of term %d, replaced its entry %s with %s",
					n.id, st.Term, describeEntry(was), describeEntry(now))
				return
			}
		}
	}
	n.view, n.viewTerm = view, st.Term
	for _, rs := range rd.ReadStates {
		least, ok := c.reads[string(rs.RequestCtx)]
		c.answered[string(rs.RequestCtx)] = true
		switch {
		case !ok:
			s.fail(PropRead, "n%d got an answer to a read %q nobody asked", n.id, rs.RequestCtx)
		case rs.Index < least:
			s.fail(PropRead, "n%d got read index %d for %s, but index %d was applied before the read was asked",
				n.id, rs.Index, rs.RequestCtx, least)
		}
	}
}

// checkAcks enables the check that a node's acknowledgements are durable
// when they leave it. TestInjectedBugs turns it off to show that the
// properties themselves catch a node that forgets what it acknowledged.
var checkAcks = true

// checkAcks checks that the messages of a Ready acknowledge only what the
// disk already holds, as the Ready contract promises (the host may send them
// before it persists the Ready's writes): a granted vote is on disk, and so
// are the entries an append response acknowledges.
//
// An append response of a term older than the disk's is not checked: the
// entries it acknowledges may have been replaced, before they reached the
// disk, by those of a leader of a later term. Its receiver, a leader of the
// older term, cannot tell it from a response sent just before that leader
// of a later term replaced the entries on disk, which is how Raft always
// worked: a follower's log may be cut after it answered.
func (c *checker) checkAcks(s *Sim, n *node, rd raft.Ready, disk logView) {
	hs, _, _ := n.disk.InitialState()
	for _, m := range rd.Messages {
		if m.Reject || (m.Type != raft.MsgVoteResp && m.Type != raft.MsgAppResp) {
			continue
		}
		if m.Term > hs.Term {
			s.fail(PropHost, "n%d sent %s, but its disk holds term %d", n.id, describe(m), hs.Term)
			return
		}
		if m.Type == raft.MsgVoteResp && m.Term == hs.Term && hs.Vote != m.To {
			s.fail(PropHost, "n%d sent %s, but its disk holds term %d, vote %d", n.id, describe(m), hs.Term, hs.Vote)
			return
		}
		if m.Type == raft.MsgAppResp && m.Term == hs.Term {
			// The entries of a leader of term m.Term have terms up to
			// m.Term.
			if t, ok := disk.term(m.Index); (!ok && m.Index > disk.last()) || t > m.Term {
				s.fail(PropHost, "n%d sent %s, but its disk holds entries up to %d, with term %d at %d",
					n.id, describe(m), disk.last(), t, m.Index)
				return
			}
		}
	}
}

// onPersist checks what a host just wrote: committed entries never change,
// an (index, term) pair always names the same entry after the same
// predecessor, and the commit index is within the persisted log. It learns
// which entries are committed.
func (c *checker) onPersist(s *Sim, n *node, rd raft.Ready, prevHS raft.HardState, before logView) {
	c.dirty[n.id] = true
	after := diskView(n.disk)
	for _, e := range rd.Entries {
		if e.Index <= prevHS.Commit {
			if old, ok := before.entry(e.Index); ok && !sameEntry(old, e) {
				s.fail(PropDurability, "n%d overwrote its committed entry %s with %s (commit index %d)",
					n.id, describeEntry(old), describeEntry(e), prevHS.Commit)
				return
			}
		}
		if e.Index <= after.base.Index {
			continue // below the snapshot: MemoryStorage ignores it
		}
		prev, _ := after.term(e.Index - 1)
		key := entryKey{e.Index, e.Term}
		fact, seen := c.facts[key]
		if !seen {
			c.facts[key] = entryFact{typ: e.Type, data: string(e.Data), prevTerm: prev}
			continue
		}
		if fact.typ != e.Type || fact.data != string(e.Data) {
			s.fail(PropLogMatching, "n%d persisted %s, but %d@%d was persisted elsewhere with data %q",
				n.id, describeEntry(e), e.Index, e.Term, fact.data)
			return
		}
		if fact.prevTerm != prev {
			s.fail(PropLogMatching, "n%d persisted %d@%d after %d@%d, but elsewhere it follows %d@%d",
				n.id, e.Index, e.Term, e.Index-1, prev, e.Index-1, fact.prevTerm)
			return
		}
	}
	hs, _, _ := n.disk.InitialState()
	if snap := rd.Snapshot; !raft.IsEmptySnap(snap) {
		c.checkSnapshot(s, n, snap)
		c.learnCommitted(s, snap.Metadata.Index, snap.Metadata.Term, hs.Term, commitSource{fromSnapshot, n.id, 0, hs.Term})
	}
	if hs.Commit > after.last() {
		s.fail(PropHost, "n%d persisted commit index %d past its persisted log (last index %d)", n.id, hs.Commit, after.last())
		return
	}
	// Every entry up to the commit index is committed. Check the last one;
	// log matching extends the check to those before it.
	for i := max(after.base.Index, uint64(len(c.committed))-1, 1); i <= hs.Commit; i++ {
		if t, ok := after.term(i); ok {
			c.learnCommitted(s, i, t, hs.Term, commitSource{fromCommitIndex, n.id, hs.Commit, hs.Term})
		}
	}
	if hs.Commit > after.base.Index && hs.Commit < uint64(len(c.committed)) {
		t, _ := after.term(hs.Commit)
		c.learnCommitted(s, hs.Commit, t, hs.Term, commitSource{fromCommitIndex, n.id, hs.Commit, hs.Term})
	}
}

// checkSnapshot checks that a snapshot holds the state of the global
// sequence at its index.
func (c *checker) checkSnapshot(s *Sim, n *node, snap raft.Snapshot) {
	md := snap.Metadata
	sm, err := decodeMachine(snap.Data)
	switch {
	case err != nil:
		s.fail(PropStateMachine, "n%d: snapshot %d@%d: %v", n.id, md.Index, md.Term, err)
	case sm.index != md.Index || sm.term != md.Term:
		s.fail(PropStateMachine, "n%d: snapshot %d@%d holds the state at %d@%d", n.id, md.Index, md.Term, sm.index, sm.term)
	case md.Index >= uint64(len(c.seq)):
		s.fail(PropStateMachine, "n%d: snapshot %d@%d is past everything applied (%d)", n.id, md.Index, md.Term, c.appliedMax())
	case c.seq[md.Index].term != md.Term || c.seq[md.Index].hash != sm.hash:
		s.fail(PropStateMachine, "n%d: snapshot %d@%d holds a state that differs from the applied sequence", n.id, md.Index, md.Term)
	}
}

// onSnapshot checks a snapshot a host just created.
func (c *checker) onSnapshot(s *Sim, n *node, snap raft.Snapshot) { c.checkSnapshot(s, n, snap) }

// onRestore checks a snapshot the host is about to apply: its state is the
// global sequence's at its index, past what the node applied.
func (c *checker) onRestore(s *Sim, n *node, snap raft.Snapshot, sm machine) {
	c.checkSnapshot(s, n, snap)
	if sm.index <= n.sm.index {
		s.fail(PropStateMachine, "n%d was handed snapshot %d@%d, but it applied up to %d", n.id, sm.index, sm.term, n.sm.index)
	}
	n.maxApplied = max(n.maxApplied, sm.index)
}

// onApply checks an entry the host is about to apply: it follows what the
// node applied, it is on disk, and it is the entry of the global sequence
// at its index (or extends it).
func (c *checker) onApply(s *Sim, n *node, e raft.Entry) {
	if e.Index != n.sm.index+1 {
		s.fail(PropHost, "n%d was handed %s to apply, but it applied up to %d", n.id, describeEntry(e), n.sm.index)
		return
	}
	if t, err := n.disk.Term(e.Index); (err == nil && t != e.Term) || errors.Is(err, raft.ErrUnavailable) {
		s.fail(PropHost, "n%d was handed %s to apply, which its disk does not hold (term %d, %v)", n.id, describeEntry(e), t, err)
		return
	}
	if e.Index < uint64(len(c.seq)) {
		if g := c.seq[e.Index]; g.term != e.Term || g.typ != e.Type || g.data != string(e.Data) {
			s.fail(PropStateMachine, "n%d applied %s, but %s was applied at that index before",
				n.id, describeEntry(e), describeEntry(raft.Entry{Index: e.Index, Term: g.term, Type: g.typ, Data: []byte(g.data)}))
			return
		}
	} else {
		c.seq = append(c.seq, appliedEntry{term: e.Term, typ: e.Type, data: string(e.Data), hash: chain(c.seq[e.Index-1].hash, e)})
	}
	hs, _, _ := n.disk.InitialState()
	c.learnCommitted(s, e.Index, e.Term, hs.Term, commitSource{fromApply, n.id, 0, hs.Term})
	n.maxApplied = max(n.maxApplied, e.Index)
	if e.Type == raft.EntryNormal && len(e.Data) > 0 {
		if _, ok := c.acked[string(e.Data)]; !ok {
			c.acked[string(e.Data)] = e.Index
		}
	}
}

// onRestart checks that the disk of a restarting node commits everything
// the node applied before its crash: its applied sequence must not shrink.
func (c *checker) onRestart(s *Sim, n *node, snap raft.Snapshot) {
	hs, _, _ := n.disk.InitialState()
	if covered := max(hs.Commit, snap.Metadata.Index); covered < n.maxApplied {
		s.fail(PropDurability, "n%d applied up to %d before it crashed, but its disk commits only up to %d",
			n.id, n.maxApplied, covered)
	}
}

// check runs the checks that look at the whole cluster after a step.
func (s *Sim) check() {
	s.observe()
	s.retireRemoved()
	s.checkMajority()
	if len(s.chk.dirty) > 0 {
		s.checkLogMatching()
		clear(s.chk.dirty)
	}
}

// observe looks at every node's role: at most one leader per term, and a
// new leader must hold every entry committed before its term. Steps that
// run many events (deliveries, Ready cycles) observe after each, so that no
// leader goes unseen.
func (s *Sim) observe() {
	c := &s.chk
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up() {
			continue
		}
		st := n.rn.BasicStatus()
		if st.SoftState != n.status.SoftState || st.Term != n.status.Term {
			s.tracef("       n%d is %s in term %d (leader %d)", id, st.RaftState, st.Term, st.Lead)
		}
		n.status = st
		if st.RaftState != raft.StateLeader {
			continue
		}
		s.certify(n, st)
		lead, seen := c.leaders[st.Term]
		switch {
		case !seen:
			c.leaders[st.Term] = id
			c.elected = append(c.elected, leaderInfo{id: id, term: st.Term, view: n.view})
			s.checkCompleteness(n, st.Term)
		case lead != id:
			s.fail(PropElectionSafety, "n%d and n%d are both leaders of term %d", lead, id, st.Term)
		}
	}
}

// checkCompleteness checks that n, just elected in term, holds every entry
// known committed in an earlier term. Its log is its view: a candidate does
// not change its log, and it took a Ready (the one that sent its vote
// requests) since it became one. Entries found committed later are checked
// against it by learnCommitted.
func (s *Sim) checkCompleteness(n *node, term uint64) {
	c := &s.chk
	for i, ci := range c.committed {
		if ci.term != 0 && ci.by < term && !holds(n.view, uint64(i), ci.term) {
			s.fail(PropLeaderCompleteness, "n%d became leader of term %d without %d@%d, which was committed by term %d (its log: base %d@%d, last %d)",
				n.id, term, i, ci.term, ci.by, n.view.base.Index, n.view.base.Term, n.view.last())
			return
		}
	}
}

// checkMajority checks that the newest committed entry is on a majority of
// the disks of each half of a configuration that committed it (a snapshot
// covering it counts: snapshots are checked against the applied sequence).
// Log matching extends this to the entries before it.
//
// The configuration is that of a leader's commit certificate at or past
// the entry: the leader then had a quorum of its configuration holding the
// certificate's index, and so the entry. Checking against the newest
// configuration instead would be wrong: a voter added by a simple change
// counts in it, but did not help commit what came before.
func (s *Sim) checkMajority() {
	c := &s.chk
	top := uint64(len(c.committed)) - 1
	for top > 0 && c.committed[top].term == 0 {
		top--
	}
	if top == 0 {
		return
	}
	cert, ok := c.certFor(top)
	if !ok {
		s.fail(PropDurability, "%d@%d is known committed, but no leader committed it (the newest commit certificate is at %d)",
			top, c.committed[top].term, c.certs[len(c.certs)-1].index)
		return
	}
	want := c.committed[top].term
	holds := func(id uint64) bool {
		disk := s.nodes[id].disk
		snap, _ := disk.Snapshot()
		if snap.Metadata.Index >= top {
			return true
		}
		t, err := disk.Term(top)
		return err == nil && t == want
	}
	if !quorumOf(cert.conf, holds) {
		var on []uint64
		for _, id := range members(cert.conf) {
			if holds(id) {
				on = append(on, id)
			}
		}
		s.fail(PropDurability, "the committed entry %d@%d is on the disks of %v only, not a quorum of %s, which committed it by %d",
			top, want, on, confText(cert.conf), cert.index)
	}
}

// checkLogMatching compares the disks that changed with every other disk.
func (s *Sim) checkLogMatching() {
	all := slices.Sorted(maps.Keys(s.nodes))
	views := make(map[uint64]logView, len(all))
	for _, id := range all {
		views[id] = diskView(s.nodes[id].disk)
	}
	for _, a := range all {
		if !s.chk.dirty[a] {
			continue
		}
		for _, b := range all {
			if b == a || (s.chk.dirty[b] && b < a) {
				continue
			}
			if err := matchLogs(views[a], views[b]); err != nil {
				s.fail(PropLogMatching, "disks of n%d and n%d: %v", a, b, err)
				return
			}
		}
	}
}

// matchLogs checks two logs: below the highest index where both hold an
// entry of the same term, they must hold the same entries.
func matchLogs(a, b logView) error {
	lo, hi := max(a.base.Index, b.base.Index), min(a.last(), b.last())
	if lo > hi {
		return nil
	}
	match, found := hi, false
	for ; match >= lo; match-- {
		ta, _ := a.term(match)
		tb, _ := b.term(match)
		if ta == tb {
			found = true
			break
		}
		if match == 0 {
			break
		}
	}
	if !found {
		return nil
	}
	mt, _ := a.term(match)
	for i := lo; i <= match; i++ {
		ta, _ := a.term(i)
		tb, _ := b.term(i)
		if ta != tb {
			return fmt.Errorf("both hold %d@%d, but they differ at %d (terms %d and %d)", match, mt, i, ta, tb)
		}
		ea, oka := a.entry(i)
		eb, okb := b.entry(i)
		if oka && okb && !sameEntry(ea, eb) {
			return fmt.Errorf("%s and %s differ", describeEntry(ea), describeEntry(eb))
		}
	}
	return nil
}
