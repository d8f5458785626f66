package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/keelraft/raft"
)

// phase is how far a host got in handling a Ready. A crash between two
// phases loses what the later phases would have done.
type phase uint8

const (
	// phaseIdle: no Ready is being handled.
	phaseIdle phase = iota
	// phaseSent: the Ready was taken and its messages sent; its writes
	// are not yet persisted.
	phaseSent
	// phasePersisted: the snapshot, entries and HardState are on disk.
	phasePersisted
	// phaseApplied: the snapshot and committed entries are applied; Advance
	// is next.
	phaseApplied
)

var phaseNames = [...]string{"idle", "sent", "persisted", "applied"}

func (p phase) String() string { return phaseNames[p] }

// machine is the replicated state machine: a hash chain over the entries it
// applied. Two machines that applied the same sequence are equal, so a
// snapshot of it (its encoding) says exactly which prefix it covers.
type machine struct {
	index, term uint64
	hash        uint64
}

// next returns the machine after applying e.
func (m machine) next(e raft.Entry) machine {
	return machine{index: e.Index, term: e.Term, hash: chain(m.hash, e)}
}

// chain extends the hash h of a sequence by e.
func chain(h uint64, e raft.Entry) uint64 {
	f := fnv.New64a()
	var b [33]byte
	binary.BigEndian.PutUint64(b[0:], h)
	binary.BigEndian.PutUint64(b[8:], e.Index)
	binary.BigEndian.PutUint64(b[16:], e.Term)
	binary.BigEndian.PutUint64(b[24:], uint64(len(e.Data)))
	b[32] = byte(e.Type)
	f.Write(b[:])
	f.Write(e.Data)
	return f.Sum64()
}

// encode is the snapshot data of m.
func (m machine) encode() []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b[0:], m.index)
	binary.BigEndian.PutUint64(b[8:], m.term)
	binary.BigEndian.PutUint64(b[16:], m.hash)
	return b
}

func decodeMachine(b []byte) (machine, error) {
	if len(b) != 24 {
		return machine{}, fmt.Errorf("snapshot data of %d bytes, want 24", len(b))
	}
	return machine{
		index: binary.BigEndian.Uint64(b[0:]),
		term:  binary.BigEndian.Uint64(b[8:]),
		hash:  binary.BigEndian.Uint64(b[16:]),
	}, nil
}

// node is one member as its host runs it. Only disk survives a crash.
type node struct {
	id   uint64
	disk *raft.MemoryStorage
	// rn is nil while the node is down.
	rn *raft.RawNode

	// The Readys being handled, oldest first, each with how far it got.
	// A host that pipelines (Options.PipelineDepth) takes the next Ready
	// before it advanced the last; the oldest is always the furthest.
	readies []handling

	// The state machine and the configuration the host applied.
	sm        machine
	confState raft.ConfState

	// What the checks remember of the node.
	//
	// view is the node's log as of its last Ready: the disk with that
	// Ready's writes laid over it. viewTerm is the node's term then, or 0
	// if it took no Ready since it started.
	view     logView
	viewTerm uint64
	// maxApplied is the highest index the node ever applied, across
	// crashes.
	maxApplied uint64
	// status is the node's state as last observed, for the trace.
	status raft.BasicStatus
	// certTerm is the term in which the node was last seen leading, and
	// certBase the commit index up to which its commits in that term are
	// recorded (see Sim.certify).
	certTerm, certBase uint64
}

func (n *node) up() bool { return n.rn != nil }

// handling is a Ready a host took and has not advanced yet.
type handling struct {
	rd    raft.Ready
	phase phase
}

// phase describes how far n's host got with its Readys, for the trace.
func (n *node) phase() string {
	if len(n.readies) == 0 {
		return phaseIdle.String()
	}
	var b strings.Builder
	for i, h := range n.readies {
		if i > 0 {
			b.WriteByte('+')
		}
		b.WriteString(h.phase.String())
	}
	return b.String()
}

// logView is a copy of a log: the entry at base (compacted, or a snapshot's
// last entry; only its term is known) and the entries after it.
type logView struct {
	base raft.Entry
	ents []raft.Entry
}

func (v logView) last() uint64 { return v.base.Index + uint64(len(v.ents)) }

// term returns the term of entry i, if the view knows it.
func (v logView) term(i uint64) (uint64, bool) {
	switch {
	case i == v.base.Index:
		return v.base.Term, true
	case i < v.base.Index || i > v.last():
		return 0, false
	}
	return v.ents[i-v.base.Index-1].Term, true
}

// entry returns entry i, if the view holds it.
func (v logView) entry(i uint64) (raft.Entry, bool) {
	if i <= v.base.Index || i > v.last() {
		return raft.Entry{}, false
	}
	return v.ents[i-v.base.Index-1], true
}

// diskView reads the whole log of disk.
func diskView(disk *raft.MemoryStorage) logView {
	first, _ := disk.FirstIndex()
	last, _ := disk.LastIndex()
	baseTerm, err := disk.Term(first - 1)
	if err != nil {
		panic(fmt.Sprintf("sim: term of the compaction point %d: %v", first-1, err))
	}
	v := logView{base: raft.Entry{Index: first - 1, Term: baseTerm}}
	if last >= first {
		ents, err := disk.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			panic(fmt.Sprintf("sim: read the log [%d, %d]: %v", first, last, err))
		}
		v.ents = ents
	}
	return v
}

// overlay returns the log v becomes once the writes of rd are persisted,
// following MemoryStorage's rules: a snapshot replaces the log, and entries
// replace everything from their first index on. It fails if the entries
// leave a gap.
func (v logView) overlay(rd raft.Ready) (logView, error) {
	if !raft.IsEmptySnap(rd.Snapshot) {
		md := rd.Snapshot.Metadata
		v = logView{base: raft.Entry{Index: md.Index, Term: md.Term}}
	}
	ents := rd.Entries
	for len(ents) > 0 && ents[0].Index <= v.base.Index {
		ents = ents[1:]
	}
	if len(ents) == 0 {
		return v, nil
	}
	first := ents[0].Index
	if first > v.last()+1 {
		return v, fmt.Errorf("Ready.Entries start at %d, after the last index %d", first, v.last())
	}
	kept := v.ents[:first-v.base.Index-1]
	out := make([]raft.Entry, 0, len(kept)+len(ents))
	out = append(append(out, kept...), ents...)
	return logView{base: v.base, ents: out}, nil
}

// readyPhase runs the next phase of n's Ready cycle: it takes a Ready if
// none is being handled, or, when the host pipelines and take is set, one
// more; otherwise it moves the oldest Ready on.
func (s *Sim) readyPhase(n *node, take bool) {
	switch {
	case len(n.readies) == 0,
		take && len(n.readies) < s.opts.pipelineDepth() && n.rn.HasReady():
		s.takeReady(n)
	default:
		s.moveOldest(n)
	}
}

// moveOldest runs the next phase of n's oldest Ready: the host persists,
// applies and advances its Readys in the order it took them.
func (s *Sim) moveOldest(n *node) {
	h := &n.readies[0]
	switch h.phase {
	case phaseSent:
		s.persist(n, h)
	case phasePersisted:
		s.apply(n, h)
	case phaseApplied:
		s.advance(n)
	}
}

// flush runs n's Ready cycles to their end, taking a Ready if none is being
// handled.
func (s *Sim) flush(n *node) {
	if len(n.readies) == 0 {
		if !n.rn.HasReady() {
			return
		}
		s.takeReady(n)
	}
	for len(n.readies) > 0 && s.err == nil {
		s.moveOldest(n)
	}
}

// takeReady takes n's Ready and sends its messages at once, before its
// writes are persisted (the Ready contract allows it).
func (s *Sim) takeReady(n *node) {
	pending := make([]raft.Ready, len(n.readies))
	for i, h := range n.readies {
		if h.phase == phaseSent {
			pending[i] = h.rd // not on disk yet
		}
	}
	rd := n.rn.Ready()
	st := n.rn.BasicStatus()
	n.readies = append(n.readies, handling{rd: rd, phase: phaseSent})
	s.tracef("       n%d takes Ready: %s", n.id, readyText{&rd})
	s.chk.onReady(s, n, pending, rd, st)
	for _, m := range rd.Messages {
		s.send(m)
	}
}

// persist writes the Ready's snapshot, entries and HardState to disk.
func (s *Sim) persist(n *node, h *handling) {
	rd := h.rd
	prevHS, _, _ := n.disk.InitialState()
	before := diskView(n.disk)
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.disk.ApplySnapshot(rd.Snapshot); err != nil {
			s.fail(PropHost, "n%d cannot persist the Ready's snapshot: %v", n.id, err)
			return
		}
	}
	if err := n.disk.Append(rd.Entries); err != nil {
		s.fail(PropHost, "n%d cannot persist the Ready's entries %s: %v", n.id, describeEntries(rd.Entries), err)
		return
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.disk.SetHardState(rd.HardState); err != nil {
			s.fail(PropHost, "n%d cannot persist %+v: %v", n.id, rd.HardState, err)
			return
		}
	}
	h.phase = phasePersisted
	s.tracef("       n%d persisted", n.id)
	s.chk.onPersist(s, n, rd, prevHS, before)
}

// apply applies the Ready's snapshot and committed entries to the state
// machine, and configuration changes to the node.
func (s *Sim) apply(n *node, h *handling) {
	rd := h.rd
	h.phase = phaseApplied
	if !raft.IsEmptySnap(rd.Snapshot) {
		sm, err := decodeMachine(rd.Snapshot.Data)
		if err != nil {
			s.fail(PropStateMachine, "n%d cannot restore the snapshot %d@%d: %v",
				n.id, rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term, err)
			return
		}
		s.chk.onRestore(s, n, rd.Snapshot, sm)
		n.sm = sm
		n.confState = rd.Snapshot.Metadata.ConfState
		s.tracef("       n%d restored snapshot %d@%d", n.id, sm.index, sm.term)
	}
	for _, e := range rd.CommittedEntries {
		if s.err != nil {
			return
		}
		s.chk.onApply(s, n, e)
		n.sm = n.sm.next(e)
		if e.Type == raft.EntryConfChange {
			var cc raft.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				s.fail(PropHost, "n%d cannot decode the ConfChange at %d: %v", n.id, e.Index, err)
				return
			}
			// Commits made so far were made under the configuration
			// that this change replaces.
			s.certify(n, n.rn.BasicStatus())
			n.confState = *n.rn.ApplyConfChange(cc)
			s.chk.onConfApplied(s, n, e.Index, n.confState)
		}
	}
	if len(rd.CommittedEntries) > 0 {
		s.tracef("       n%d applied %s", n.id, entriesText(rd.CommittedEntries))
	}
}

// advance advances n's oldest Ready.
func (s *Sim) advance(n *node) {
	n.rn.Advance(n.readies[0].rd)
	n.readies[0] = handling{}
	n.readies = n.readies[1:]
}

// crash stops n: what it did not persist is lost, with the messages in
// flight to and from it. Senders of snapshots to n learn they failed.
func (s *Sim) crash(n *node) {
	n.rn = nil
	n.readies = nil
	n.sm, n.confState = machine{}, raft.ConfState{}
	n.viewTerm = 0
	n.certTerm, n.certBase = 0, 0
	var lost []envelope
	s.net = slices.DeleteFunc(s.net, func(e envelope) bool {
		if e.m.From == n.id || e.m.To == n.id {
			lost = append(lost, e)
			return true
		}
		return false
	})
	for _, e := range lost {
		s.lose(e, false)
	}
}

// restart rebuilds n from its disk. Its state machine starts from the
// disk's snapshot; the node hands out the committed entries after it again.
func (s *Sim) restart(n *node) {
	snap, err := n.disk.Snapshot()
	if err != nil {
		panic(err)
	}
	s.chk.onRestart(s, n, snap)
	rn, err := raft.NewRawNode(s.opts.config(n.id, n.disk, snap.Metadata.Index))
	if err != nil {
		s.fail(PropHost, "n%d cannot restart from its disk: %v", n.id, err)
		return
	}
	n.rn = rn
	n.sm = machine{}
	if !raft.IsEmptySnap(snap) {
		if n.sm, err = decodeMachine(snap.Data); err != nil {
			s.fail(PropHost, "n%d cannot restore its snapshot: %v", n.id, err)
			return
		}
	}
	n.confState = snap.Metadata.ConfState
	n.view, n.viewTerm = diskView(n.disk), 0
	n.status = raft.BasicStatus{}
}

// compact snapshots n's state machine at its applied index and compacts the
// log up to lag entries before it.
func (s *Sim) compact(n *node, lag uint64) {
	cs := n.confState
	snap, err := n.disk.CreateSnapshot(n.sm.index, &cs, n.sm.encode())
	if err != nil {
		s.fail(PropHost, "n%d cannot snapshot at its applied index %d: %v", n.id, n.sm.index, err)
		return
	}
	s.chk.onSnapshot(s, n, snap)
	first, _ := n.disk.FirstIndex()
	at := n.sm.index - min(lag, n.sm.index)
	if at < first {
		s.tracef("       n%d snapshot at %d, log kept", n.id, n.sm.index)
		return
	}
	if err := n.disk.Compact(at); err != nil {
		s.fail(PropHost, "n%d cannot compact to %d: %v", n.id, at, err)
		return
	}
	s.chk.dirty[n.id] = true
	s.tracef("       n%d snapshot at %d, log compacted to %d", n.id, n.sm.index, at)
}
