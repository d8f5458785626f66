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
	// nodes by ID, retired ones included (their disks stay for the
	// checks); ids lists the nodes that are not retired, in increasing
	// order. Membership changes add nodes to both, and retire removed
	// nodes from ids (see membership.go).
	nodes map[uint64]*node
	ids   []uint64
	// nextID is the ID the next new node gets: IDs are never reused.
	nextID uint64

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
	// quiet mutes the trace but for notes and violations.
	quiet bool
	// inLiveness is set once CheckLiveness started.
	inLiveness bool

	err *Violation

	nextValue, nextRead int

	// LivenessRounds is the number of rounds CheckLiveness ran.
	LivenessRounds int

	// profile and swarm are the profile and op weights of a seed's run,
	// for the report.
	profile string
	swarm   Swarm
}

// link is a directed network link.
type link struct{ from, to uint64 }

// envelope is a message in flight. With Options.Wire it travels encoded.
type envelope struct {
	m    raft.Message
	wire []byte
	// held messages are slow: only OpDeliver delivers them (until the
	// liveness check).
	held bool
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
	s.nextID = uint64(opts.Nodes) + 1
	// The bootstrap entries are committed on every disk, by no leader.
	first := raft.ConfState{Voters: slices.Clone(s.ids)}
	s.chk.addCert(uint64(opts.Nodes), first)
	s.chk.conf, s.chk.prevConf, s.chk.confIndex = first, first, uint64(opts.Nodes)
	for _, id := range s.ids {
		s.chk.everMember[id] = true
	}
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
	if s.profile != "" {
		fmt.Fprintf(&b, "profile %s, op weights: %v\n", s.profile, s.swarm)
	}
	if s.tracing {
		fmt.Fprintf(&b, "trace:\n%s\n", s.Trace())
	}
	fmt.Fprintf(&b, "replay:\n\topts := %#v\n\tsteps := []Step{%s}\n", s.opts, GoSchedule(s.steps))
	return b.String()
}

func (s *Sim) tracef(format string, args ...any) {
	if s.tracing && !s.quiet {
		s.trace = append(s.trace, fmt.Sprintf(format, args...))
	}
}

// note adds a line to the trace even when it is quiet.
func (s *Sim) note(format string, args ...any) {
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
	switch st.Op {
	case OpTick:
		if s.opts.LeaseReads {
			// One clock for all: see Options.LeaseReads.
			if len(s.upNodes()) == 0 {
				return false
			}
			s.title(mark, "tick all (global clock)")
			for _, n := range s.upNodes() {
				n.rn.Tick()
			}
			break
		}
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		s.title(mark, "tick n%d", n.id)
		n.rn.Tick()
	case OpTickAll:
		if len(s.upNodes()) == 0 {
			return false
		}
		s.title(mark, "tick all")
		for _, n := range s.upNodes() {
			n.rn.Tick()
		}
	case OpReady:
		n := pickNode(s.busyNodes(), st.A)
		if n == nil {
			return false
		}
		s.title(mark, "ready n%d", n.id)
		s.readyPhase(n, st.B%2 == 1)
	case OpFlush:
		n := pickNode(s.busyNodes(), st.A)
		if n == nil {
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
		if s.oldest() < 0 {
			return false
		}
		s.title(mark, "deliver all")
		for i := s.oldest(); i >= 0 && s.err == nil; i = s.oldest() {
			s.deliver(s.take(i), false)
			s.observe()
		}
	case OpHold:
		var free []int
		for i, e := range s.net {
			if !e.held {
				free = append(free, i)
			}
		}
		if len(free) == 0 {
			return false
		}
		e := &s.net[free[st.A%len(free)]]
		s.title(mark, "delay %s", msgText{&e.m})
		e.held = true
	case OpStabilize:
		if s.oldest() < 0 && len(s.busyNodes()) == 0 {
			return false
		}
		s.title(mark, "stabilize")
		s.stabilize(stabilizeRounds)
	case OpDrop:
		if len(s.net) == 0 {
			return false
		}
		e := s.take(st.A)
		s.title(mark, "drop %s", msgText{&e.m})
		s.lose(e, st.B%2 == 1)
	case OpDuplicate:
		if len(s.net) == 0 {
			return false
		}
		e := s.net[st.A%len(s.net)]
		e.held = false
		s.title(mark, "duplicate %s", msgText{&e.m})
		s.net = append(s.net, e)
	case OpPartition:
		side := s.side(st.A)
		s.title(mark, "partition %v | %v", side, s.others(side))
		s.partition(side)
	case OpCutLink:
		if len(s.ids) < 2 {
			return false
		}
		from := s.nodeAt(st.A).id
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
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		s.title(mark, "crash n%d (Ready %s)", n.id, n.phase())
		s.crash(n)
	case OpRestart:
		down := s.down()
		if len(down) == 0 {
			return false
		}
		n := down[st.A%len(down)]
		s.title(mark, "restart n%d", n.id)
		s.restart(n)
	case OpPropose:
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		v := fmt.Sprintf("v%d", s.nextValue)
		s.nextValue++
		err := n.rn.Propose([]byte(v))
		s.title(mark, "propose %s at n%d%s", v, n.id, errSuffix(err))
	case OpRead:
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		ctx := fmt.Sprintf("r%d", s.nextRead)
		s.nextRead++
		s.chk.reads[ctx] = s.chk.appliedMax()
		s.title(mark, "read %s at n%d (must see index >= %d)", ctx, n.id, s.chk.reads[ctx])
		n.rn.ReadIndex([]byte(ctx))
	case OpCompact:
		var can []*node
		for _, n := range s.upNodes() {
			if snap, _ := n.disk.Snapshot(); n.sm.index > snap.Metadata.Index {
				can = append(can, n)
			}
		}
		n := pickNode(can, st.A)
		if n == nil {
			return false
		}
		s.title(mark, "compact n%d", n.id)
		s.compact(n, uint64(st.B))
	case OpTransfer:
		lead := s.leader()
		if lead == nil {
			return false
		}
		n := s.nodeAt(st.A)
		s.title(mark, "transfer leadership n%d -> n%d", lead.id, n.id)
		lead.rn.TransferLeader(n.id)
	case OpCampaign:
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		err := n.rn.Campaign()
		s.title(mark, "campaign n%d%s", n.id, errSuffix(err))
	case OpReboot:
		n := pickNode(s.upNodes(), st.A)
		if n == nil {
			return false
		}
		s.title(mark, "reboot n%d (Ready %s)", n.id, n.phase())
		s.crash(n)
		s.restart(n)
	case OpRun:
		if s.oldest() < 0 && len(s.busyNodes()) == 0 {
			return false
		}
		s.title(mark, "run %d events", st.A+1)
		s.runEvents(st.A + 1)
	case OpRebootLeader:
		lead := s.leader()
		if lead == nil {
			return false
		}
		s.title(mark, "reboot leader n%d (Ready %s)", lead.id, lead.phase())
		s.crash(lead)
		s.restart(lead)
	case OpIsolateLeader:
		lead := s.leader()
		if lead == nil {
			return false
		}
		side := []uint64{lead.id}
		for i, others := 0, s.others(side); i < st.B%max((len(s.ids)-1)/2, 1); i++ {
			side = append(side, others[(st.B+i)%len(others)])
		}
		slices.Sort(side)
		s.title(mark, "isolate leader: partition %v | %v", side, s.others(side))
		s.partition(side)
	case OpConfChange:
		return s.confChange(st, mark)
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

// pickNode returns candidate i (modulo their number), or nil if there are
// none.
func pickNode(candidates []*node, i int) *node {
	if len(candidates) == 0 {
		return nil
	}
	return candidates[i%len(candidates)]
}

// upNodes returns the nodes that are up, in ID order.
func (s *Sim) upNodes() []*node {
	var out []*node
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up() {
			out = append(out, n)
		}
	}
	return out
}

// busyNodes returns the nodes that are up and have a Ready to take or
// finish, in ID order.
func (s *Sim) busyNodes() []*node {
	var out []*node
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up() && (len(n.readies) > 0 || n.rn.HasReady()) {
			out = append(out, n)
		}
	}
	return out
}

// oldest returns the position of the oldest message that is not held, or
// -1.
func (s *Sim) oldest() int {
	for i, e := range s.net {
		if !e.held {
			return i
		}
	}
	return -1
}

// runEvents runs up to n events: whole Ready cycles of busy nodes and
// deliveries of the oldest message not held, alternately, so that neither
// starves.
func (s *Sim) runEvents(n int) {
	next := 0 // the next node to consider, in ID order
	for e := 0; e < n && s.err == nil; e++ {
		busy := s.busyNodes()
		oldest := s.oldest()
		if len(busy) == 0 && oldest < 0 {
			return
		}
		if oldest >= 0 && (len(busy) == 0 || e%2 == 1) {
			s.deliver(s.take(oldest), false)
			s.observe()
			continue
		}
		n := busy[0]
		for _, b := range busy {
			if b.id >= uint64(next) {
				n = b
				break
			}
		}
		next = int(n.id) + 1
		s.flush(n)
		s.observe()
	}
}

// stabilizeRounds bounds OpStabilize.
const stabilizeRounds = 50

// stabilize handles every Ready and delivers every message not held, oldest
// first, until the cluster is quiet or rounds rounds passed. It reports
// whether the cluster is quiet.
func (s *Sim) stabilize(rounds int) bool {
	for range rounds {
		busy := s.busyNodes()
		if len(busy) == 0 && s.oldest() < 0 {
			return true
		}
		for _, n := range busy {
			s.flush(n)
			s.observe()
		}
		for i := s.oldest(); i >= 0 && s.err == nil; i = s.oldest() {
			s.deliver(s.take(i), false)
			s.observe()
		}
		if s.err != nil {
			return false
		}
	}
	return len(s.busyNodes()) == 0 && s.oldest() < 0
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

// partition cuts every link between side and the other nodes, and heals
// every other link.
func (s *Sim) partition(side []uint64) {
	clear(s.cut)
	for _, a := range side {
		for _, b := range s.others(side) {
			s.cut[link{a, b}] = true
			s.cut[link{b, a}] = true
		}
	}
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
		s.tracef("       send %s: lost, n%d is down", msgText{&m}, m.To)
		s.lose(e, false)
		return
	}
	s.tracef("       send %s", msgText{&m})
	s.net = append(s.net, e)
}

// deliver hands e to its destination, unless the link is cut. A delivered
// snapshot is reported as finished to its sender.
func (s *Sim) deliver(e envelope, reportUnreachable bool) {
	m := e.m
	if s.cut[link{m.From, m.To}] {
		s.tracef("       %s: lost on cut link", msgText{&m})
		s.lose(e, reportUnreachable)
		return
	}
	to := s.nodes[m.To]
	if to == nil || !to.up() {
		s.tracef("       %s: lost, n%d is down", msgText{&m}, m.To)
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
	s.tracef("       deliver %s%s", msgText{&m}, errSuffix(err))
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
