package sim

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/keelraft/raft"
)

// Sim is a cluster of raft.RawNodes run in one goroutine. Every choice
// (which node ticks or handles its Ready, which message is delivered,
// dropped or duplicated, which faults strike) is a Step given to Do, so a
// run is a function of its Options and its steps, and replays exactly.
//
// After every step, Sim checks Raft's safety properties (see check.go); the
// first violation stops the run and is returned by Err.
type Sim struct {
	opts Options
	// nodes by ID; ids lists them in increasing order. Membership changes
	// add and remove entries here.
	nodes map[uint64]*node
	ids   []uint64
	// voters is the configuration used to count majorities.
	voters []uint64

	// net holds the messages in flight, oldest first.
	net []envelope
	// cut holds the directed links that drop messages.
	cut map[link]bool

	chk checker

	// steps are the steps that did something, in order: replaying them
	// reproduces the run.
	steps []Step
	// trace is the readable account of the run, kept when tracing.
	trace   []string
	tracing bool

	err *Violation

	nextValue, nextRead int
}

// link is a directed network link.
type link struct{ from, to uint64 }

// envelope is a message in flight. With Options.Wire it travels encoded.
type envelope struct {
	m    raft.Message
	wire []byte
}

// New bootstraps a cluster of opts.Nodes voters. The bootstrap Ready of each
// node is handled in full before the first step.
func New(opts Options) (*Sim, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Sim{opts: opts, nodes: map[uint64]*node{}, cut: map[link]bool{}, chk: newChecker()}
	var peers []raft.Peer
	for id := uint64(1); id <= uint64(opts.Nodes); id++ {
		peers = append(peers, raft.Peer{ID: id})
		s.ids = append(s.ids, id)
	}
	s.voters = slices.Clone(s.ids)
	for _, id := range s.ids {
		disk := raft.NewMemoryStorage()
		rn, err := raft.NewRawNode(opts.config(id, disk, 0))
		if err != nil {
			return nil, err
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, err
		}
		s.nodes[id] = &node{id: id, disk: disk, rn: rn, view: diskView(disk)}
	}
	for _, id := range s.ids {
		s.flush(s.nodes[id])
	}
	s.check()
	if s.err != nil {
		return nil, s.err
	}
	return s, nil
}

// SetTracing turns the readable trace on or off. It costs time, so seed
// sweeps run without it and replay a failing seed with it.
func (s *Sim) SetTracing(on bool) { s.tracing = on }

// Options returns the options the cluster was made with.
func (s *Sim) Options() Options { return s.opts }

// Err returns the first property violation, or nil.
func (s *Sim) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// Steps returns the steps that did something so far: replaying them from
// New(s.Options()) reproduces the run.
func (s *Sim) Steps() []Step { return slices.Clone(s.steps) }

// Trace returns the readable account of the run, one line per step and
// event (empty unless tracing).
func (s *Sim) Trace() string { return strings.Join(s.trace, "\n") }

// Report describes a failed run: the violation, the trace, and a Go literal
// that replays it, ready to paste into a regression test.
func (s *Sim) Report() string {
	var b strings.Builder
	if s.err != nil {
		fmt.Fprintf(&b, "%v\n", s.err)
	}
	fmt.Fprintf(&b, "options: %#v\n", s.opts)
	if s.tracing {
		fmt.Fprintf(&b, "trace:\n%s\n", s.Trace())
	}
	fmt.Fprintf(&b, "replay:\n\topts := %#v\n\tsteps := []Step{%s}\n", s.opts, GoSchedule(s.steps))
	return b.String()
}

func (s *Sim) tracef(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf(format, args...))
	}
}

// Do runs one step and checks the properties. It returns the first violation
// found so far; once there is one, Do does nothing more.
func (s *Sim) Do(st Step) error {
	if s.err != nil {
		return s.err
	}
	mark := len(s.trace)
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf("%4d %#v", len(s.steps)+1, st))
	}
	if !s.run(st, mark) {
		s.trace = s.trace[:mark]
		return nil
	}
	s.steps = append(s.steps, st)
	s.check()
	return s.Err()
}

// run runs one step and reports whether it did something. A panic of the
// library is a violation.
func (s *Sim) run(st Step, mark int) (did bool) {
	defer func() {
		if p := recover(); p != nil {
			did = true
			s.fail(PropPanic, "panic: %v\n%s", p, debug.Stack())
		}
	}()
	n := s.nodeAt(st.A)
	switch st.Op {
	case OpTick:
		if !n.up() {
			return false
		}
		s.title(mark, "tick n%d", n.id)
		n.rn.Tick()
	case OpTickAll:
		if !s.anyUp() {
			return false
		}
		s.title(mark, "tick all")
		for _, id := range s.ids {
			if m := s.nodes[id]; m.up() {
				m.rn.Tick()
			}
		}
	case OpReady:
		if !n.up() || (n.phase == phaseIdle && !n.rn.HasReady()) {
			return false
		}
		s.title(mark, "ready n%d", n.id)
		s.readyPhase(n)
	case OpFlush:
		if !n.up() || (n.phase == phaseIdle && !n.rn.HasReady()) {
			return false
		}
		s.title(mark, "flush n%d", n.id)
		s.flush(n)
	case OpDeliver:
		if len(s.net) == 0 {
			return false
		}
		s.title(mark, "deliver")
		s.deliver(s.take(st.A), st.B%2 == 1)
	case OpDeliverAll:
		if len(s.net) == 0 {
			return false
		}
		s.title(mark, "deliver all")
		for len(s.net) > 0 {
			s.deliver(s.take(0), false)
		}
	case OpDrop:
		if len(s.net) == 0 {
			return false
		}
		e := s.take(st.A)
		s.title(mark, "drop %s", describe(e.m))
		s.lose(e, st.B%2 == 1)
	case OpDuplicate:
		if len(s.net) == 0 {
			return false
		}
		e := s.net[st.A%len(s.net)]
		s.title(mark, "duplicate %s", describe(e.m))
		s.net = append(s.net, e)
	case OpPartition:
		side := s.side(st.A)
		s.title(mark, "partition %v | %v", side, s.others(side))
		clear(s.cut)
		for _, a := range side {
			for _, b := range s.others(side) {
				s.cut[link{a, b}] = true
				s.cut[link{b, a}] = true
			}
		}
	case OpCutLink:
		from := n.id
		to := s.nodeAt(st.A%len(s.ids) + 1 + st.B%(len(s.ids)-1)).id
		if s.cut[link{from, to}] {
			return false
		}
		s.title(mark, "cut link %d->%d", from, to)
		s.cut[link{from, to}] = true
	case OpHeal:
		if len(s.cut) == 0 {
			return false
		}
		s.title(mark, "heal")
		clear(s.cut)
	case OpCrash:
		if !n.up() {
			return false
		}
		s.title(mark, "crash n%d (Ready %s)", n.id, n.phase)
		s.crash(n)
	case OpRestart:
		down := s.down()
		if len(down) == 0 {
			return false
		}
		n = down[st.A%len(down)]
		s.title(mark, "restart n%d", n.id)
		s.restart(n)
	case OpPropose:
		if !n.up() {
			return false
		}
		v := fmt.Sprintf("v%d", s.nextValue)
		s.nextValue++
		err := n.rn.Propose([]byte(v))
		s.title(mark, "propose %s at n%d%s", v, n.id, errSuffix(err))
	case OpRead:
		if !n.up() {
			return false
		}
		ctx := fmt.Sprintf("r%d", s.nextRead)
		s.nextRead++
		s.chk.reads[ctx] = s.chk.appliedMax()
		s.title(mark, "read %s at n%d (must see index >= %d)", ctx, n.id, s.chk.reads[ctx])
		n.rn.ReadIndex([]byte(ctx))
	case OpCompact:
		if !n.up() {
			return false
		}
		snap, _ := n.disk.Snapshot()
		if n.sm.index <= snap.Metadata.Index {
			return false
		}
		s.title(mark, "compact n%d", n.id)
		s.compact(n, uint64(st.B))
	case OpTransfer:
		lead := s.leader()
		if lead == nil {
			return false
		}
		s.title(mark, "transfer leadership n%d -> n%d", lead.id, n.id)
		lead.rn.TransferLeader(n.id)
	case OpCampaign:
		if !n.up() {
			return false
		}
		err := n.rn.Campaign()
		s.title(mark, "campaign n%d%s", n.id, errSuffix(err))
	default:
		panic(fmt.Sprintf("sim: unknown op %d", st.Op))
	}
	return true
}

// title sets the line of the step being run (the first line after mark).
func (s *Sim) title(mark int, format string, args ...any) {
	if s.tracing {
		s.trace[mark] = fmt.Sprintf("%4d ", len(s.steps)+1) + fmt.Sprintf(format, args...)
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (%v)", err)
}

// nodeAt returns the node at position i (modulo the number of nodes).
func (s *Sim) nodeAt(i int) *node { return s.nodes[s.ids[i%len(s.ids)]] }

func (s *Sim) anyUp() bool {
	for _, id := range s.ids {
		if s.nodes[id].up() {
			return true
		}
	}
	return false
}

// down returns the nodes that are down, in ID order.
func (s *Sim) down() []*node {
	var out []*node
	for _, id := range s.ids {
		if n := s.nodes[id]; !n.up() {
			out = append(out, n)
		}
	}
	return out
}

// side returns the nodes selected by mask; a mask that selects none or all
// selects one node instead.
func (s *Sim) side(mask int) []uint64 {
	var out []uint64
	for i, id := range s.ids {
		if mask>>i&1 == 1 {
			out = append(out, id)
		}
	}
	if len(out) == 0 || len(out) == len(s.ids) {
		out = []uint64{s.ids[mask%len(s.ids)]}
	}
	return out
}

func (s *Sim) others(side []uint64) []uint64 {
	var out []uint64
	for _, id := range s.ids {
		if !slices.Contains(side, id) {
			out = append(out, id)
		}
	}
	return out
}

// leader returns the node that is up and leads in the highest term, or nil.
func (s *Sim) leader() *node {
	var lead *node
	var term uint64
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up() {
			continue
		}
		if st := n.rn.BasicStatus(); st.RaftState == raft.StateLeader && st.Term >= term {
			lead, term = n, st.Term
		}
	}
	return lead
}

// take removes message i (modulo the number in flight) from the network.
func (s *Sim) take(i int) envelope {
	i %= len(s.net)
	e := s.net[i]
	s.net = slices.Delete(s.net, i, i+1)
	return e
}

// send puts m on the network. A message to a node that is down is lost at
// once, as a transport would fail to connect.
func (s *Sim) send(m raft.Message) {
	e := envelope{m: m}
	if s.opts.Wire {
		b, err := m.Marshal()
		if err != nil {
			s.fail(PropHost, "encode %s: %v", describe(m), err)
			return
		}
		e.wire = b
	}
	if to := s.nodes[m.To]; to == nil || !to.up() {
		s.tracef("       send %s: lost, n%d is down", describe(m), m.To)
		s.lose(e, false)
		return
	}
	s.tracef("       send %s", describe(m))
	s.net = append(s.net, e)
}

// deliver hands e to its destination, unless the link is cut. A delivered
// snapshot is reported as finished to its sender.
func (s *Sim) deliver(e envelope, reportUnreachable bool) {
	m := e.m
	if s.cut[link{m.From, m.To}] {
		s.tracef("       %s: lost on cut link", describe(m))
		s.lose(e, reportUnreachable)
		return
	}
	to := s.nodes[m.To]
	if to == nil || !to.up() {
		s.tracef("       %s: lost, n%d is down", describe(m), m.To)
		s.lose(e, reportUnreachable)
		return
	}
	if e.wire != nil {
		if err := m.Unmarshal(e.wire); err != nil {
			s.fail(PropHost, "decode %s: %v", describe(e.m), err)
			return
		}
	}
	err := to.rn.Step(m)
	s.tracef("       deliver %s%s", describe(m), errSuffix(err))
	if m.Type == raft.MsgSnap {
		if from := s.nodes[m.From]; from != nil && from.up() {
			from.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
		}
	}
}

// lose accounts for a message that never arrives: its sender learns that a
// snapshot failed, and, if reportUnreachable, that the peer is unreachable.
func (s *Sim) lose(e envelope, reportUnreachable bool) {
	from := s.nodes[e.m.From]
	if from == nil || !from.up() {
		return
	}
	if reportUnreachable {
		from.rn.ReportUnreachable(e.m.To)
	}
	if e.m.Type == raft.MsgSnap {
		from.rn.ReportSnapshot(e.m.To, raft.SnapshotFailure)
	}
}

// readyPhase runs the next phase of n's Ready cycle.
func (s *Sim) readyPhase(n *node) {
	switch n.phase {
	case phaseIdle:
		s.takeReady(n)
	case phaseSent:
		s.persist(n)
	case phasePersisted:
		s.apply(n)
	case phaseApplied:
		s.advance(n)
	}
}

// flush runs n's Ready cycle to its end, taking a Ready if none is being
// handled.
func (s *Sim) flush(n *node) {
	if n.phase == phaseIdle {
		if !n.rn.HasReady() {
			return
		}
		s.takeReady(n)
	}
	for n.phase != phaseIdle && s.err == nil {
		s.readyPhase(n)
	}
}

// takeReady takes n's Ready and sends its messages at once, before its
// writes are persisted (the Ready contract allows it).
func (s *Sim) takeReady(n *node) {
	rd := n.rn.Ready()
	st := n.rn.BasicStatus()
	n.rd, n.phase = rd, phaseSent
	s.tracef("       n%d takes Ready: %s", n.id, describeReady(rd))
	s.chk.onReady(s, n, rd, st)
	for _, m := range rd.Messages {
		s.send(m)
	}
}

// persist writes the Ready's snapshot, entries and HardState to disk.
func (s *Sim) persist(n *node) {
	rd := n.rd
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
	n.phase = phasePersisted
	s.tracef("       n%d persisted", n.id)
	s.chk.onPersist(s, n, rd, prevHS, before)
}

// apply applies the Ready's snapshot and committed entries to the state
// machine, and configuration changes to the node.
func (s *Sim) apply(n *node) {
	rd := n.rd
	n.phase = phaseApplied
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
			n.confState = *n.rn.ApplyConfChange(cc)
		}
	}
	if len(rd.CommittedEntries) > 0 {
		s.tracef("       n%d applied %s", n.id, describeEntries(rd.CommittedEntries))
	}
}

func (s *Sim) advance(n *node) {
	n.rn.Advance(n.rd)
	n.rd, n.phase = raft.Ready{}, phaseIdle
}

// crash stops n: what it did not persist is lost, with the messages in
// flight to and from it. Senders of snapshots to n learn they failed.
func (s *Sim) crash(n *node) {
	n.rn = nil
	n.rd, n.phase = raft.Ready{}, phaseIdle
	n.sm, n.confState = machine{}, raft.ConfState{}
	n.viewTerm = 0
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

// describe renders m for the trace.
func describe(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d->%d t%d", m.Type, m.From, m.To, m.Term)
	switch m.Type {
	case raft.MsgApp:
		fmt.Fprintf(&b, " prev %d@%d %s commit %d", m.Index, m.LogTerm, describeEntries(m.Entries), m.Commit)
	case raft.MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " reject %d hint %d@%d", m.Index, m.RejectHint, m.LogTerm)
		} else {
			fmt.Fprintf(&b, " index %d", m.Index)
		}
	case raft.MsgVote, raft.MsgPreVote:
		fmt.Fprintf(&b, " last %d@%d", m.Index, m.LogTerm)
		if len(m.Context) > 0 {
			b.WriteString(" (transfer)")
		}
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" rejected")
		} else {
			b.WriteString(" granted")
		}
	case raft.MsgSnap:
		if m.Snapshot != nil {
			fmt.Fprintf(&b, " snapshot %d@%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
		}
	case raft.MsgHeartbeat:
		fmt.Fprintf(&b, " commit %d round %d", m.Commit, m.Index)
	case raft.MsgHeartbeatResp:
		fmt.Fprintf(&b, " round %d", m.Index)
	case raft.MsgProp:
		fmt.Fprintf(&b, " %s", describeEntries(m.Entries))
	case raft.MsgReadIndex:
		fmt.Fprintf(&b, " %s", m.Context)
	case raft.MsgReadIndexResp:
		fmt.Fprintf(&b, " %s index %d", m.Context, m.Index)
	}
	return b.String()
}

// describeEntries renders entries as index@term, with client values.
func describeEntries(ents []raft.Entry) string {
	if len(ents) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range ents {
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(ents) > 8 && i == 3 {
			fmt.Fprintf(&b, "... (%d more)", len(ents)-6)
			ents = ents[len(ents)-3:]
			for _, e := range ents {
				b.WriteByte(' ')
				b.WriteString(describeEntry(e))
			}
			break
		}
		b.WriteString(describeEntry(e))
	}
	b.WriteByte(']')
	return b.String()
}

func describeEntry(e raft.Entry) string {
	switch {
	case e.Type == raft.EntryConfChange:
		return fmt.Sprintf("%d@%d:conf", e.Index, e.Term)
	case len(e.Data) == 0:
		return fmt.Sprintf("%d@%d", e.Index, e.Term)
	}
	return fmt.Sprintf("%d@%d:%s", e.Index, e.Term, e.Data)
}

// describeReady renders what a Ready holds, messages aside (each is traced
// as it is sent).
func describeReady(rd raft.Ready) string {
	var parts []string
	if rd.SoftState != nil {
		parts = append(parts, fmt.Sprintf("%s lead %d", rd.RaftState, rd.Lead))
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		parts = append(parts, fmt.Sprintf("hs t%d v%d c%d", rd.Term, rd.Vote, rd.Commit))
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		parts = append(parts, fmt.Sprintf("snapshot %d@%d", rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term))
	}
	if len(rd.Entries) > 0 {
		parts = append(parts, "entries "+describeEntries(rd.Entries))
	}
	if len(rd.CommittedEntries) > 0 {
		parts = append(parts, "committed "+describeEntries(rd.CommittedEntries))
	}
	for _, rs := range rd.ReadStates {
		parts = append(parts, fmt.Sprintf("read %s index %d", rs.RequestCtx, rs.Index))
	}
	if len(rd.Messages) > 0 {
		parts = append(parts, fmt.Sprintf("%d messages", len(rd.Messages)))
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, "; ")
}
