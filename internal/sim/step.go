package sim

import (
	"fmt"
	"slices"
	"strings"
)

// Op is one kind of step of a schedule.
type Op uint8

// The operations a schedule is made of. A and B are the step's arguments; a
// step names nodes and messages by position among the candidates (the nodes
// that are up, the nodes that have a Ready to handle, the messages in
// flight, ...), taken modulo their number when it runs, so that every step
// is valid in every state (a shrinker may delete any step and the schedule
// still runs). A step that finds no candidate changes nothing and is left
// out of the recorded schedule.
const (
	// OpTick ticks up node A.
	OpTick Op = iota
	// OpTickAll ticks every node that is up, in ID order.
	OpTickAll
	// OpReady runs the next phase of the Ready cycle of node A among those
	// with a Ready to handle: take the Ready and send its messages, persist
	// its writes, apply, or Advance. With an odd B, a host that pipelines
	// (Options.PipelineDepth) takes one more Ready instead, if it has room.
	OpReady
	// OpFlush runs the Ready cycle of node A among those with a Ready to
	// handle to its end, taking a new Ready if none is being handled.
	OpFlush
	// OpDeliver delivers message A of the network; a message across a cut
	// link is dropped instead, and the sender told it is unreachable if B
	// is odd.
	OpDeliver
	// OpDeliverAll delivers every message in flight, oldest first (but
	// those delayed, see OpHold).
	OpDeliverAll
	// OpStabilize handles every Ready and delivers every message, oldest
	// first (but those delayed), until the cluster is quiet (or a bounded
	// number of rounds passed): the network works normally for a while.
	OpStabilize
	// OpDrop drops message A; if B is odd the sender is told the peer is
	// unreachable.
	OpDrop
	// OpDuplicate copies message A to the end of the network.
	OpDuplicate
	// OpPartition cuts every link between the nodes whose bit is set in A
	// and the others (a mask that selects none or all isolates one node).
	OpPartition
	// OpCutLink cuts the one-way link from node A to another node chosen
	// by B.
	OpCutLink
	// OpHeal restores every link.
	OpHeal
	// OpCrash crashes up node A: it loses what it has not persisted, and
	// the messages in flight to and from it.
	OpCrash
	// OpRestart restarts down node A (counted among the nodes that are
	// down) from its disk.
	OpRestart
	// OpPropose has a client propose a new value at up node A.
	OpPropose
	// OpRead has a client ask up node A for a read index.
	OpRead
	// OpCompact makes node A, among the up nodes that applied entries past
	// their snapshot, snapshot its state machine and compact its log up to
	// B entries before the snapshot's index.
	OpCompact
	// OpTransfer asks the leader (if any) to hand leadership to node A.
	OpTransfer
	// OpCampaign makes up node A campaign.
	OpCampaign
	// OpReboot crashes up node A and restarts it at once.
	OpReboot
	// OpIsolateLeader partitions the leader (if any) and B other nodes (a
	// minority in all) from the rest, so that the rest elects a new leader
	// while the old one still holds entries it could not commit.
	OpIsolateLeader
	// OpRebootLeader crashes the leader (if any) and restarts it at once:
	// the messages it just sent are lost, with what it did not persist.
	OpRebootLeader
	// OpRun lets the cluster work normally for A+1 events, an event being
	// one whole Ready cycle of a node or the delivery of the oldest message,
	// taken in turn. The fault that follows lands at a random point of the
	// protocol's progress, where a random pick of single steps would rarely
	// get far.
	OpRun
	// OpHold delays message A (among those not delayed yet): OpDeliverAll,
	// OpStabilize and OpRun pass it by, so it arrives, if ever, when an
	// OpDeliver picks it, possibly terms later.
	OpHold
	// OpConfChange has the leader (if any) propose a membership change, if
	// Options.Membership is set: A chooses the kind (add a voter, add a
	// learner, remove a member, promote a learner, demote a voter, or
	// several at once through a joint configuration), B seeds the choice
	// of nodes and of the joint transition (see changeKind). While the
	// leader's configuration is joint it proposes the empty change that
	// leaves it instead.
	OpConfChange

	numOps
)

var opNames = [...]string{
	"OpTick", "OpTickAll", "OpReady", "OpFlush", "OpDeliver", "OpDeliverAll",
	"OpStabilize", "OpDrop", "OpDuplicate", "OpPartition", "OpCutLink", "OpHeal", "OpCrash",
	"OpRestart", "OpPropose", "OpRead", "OpCompact", "OpTransfer", "OpCampaign",
	"OpReboot", "OpIsolateLeader", "OpRebootLeader", "OpRun", "OpHold", "OpConfChange",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Step is one choice of a schedule.
type Step struct {
	// Op is what the step does.
	Op Op
	// A and B are its arguments, as each Op says.
	A, B int
}

// GoString renders the step as a Go literal, for regression tests.
func (s Step) GoString() string { return fmt.Sprintf("{%s, %d, %d}", s.Op, s.A, s.B) }

// GoSchedule renders steps as the body of a []Step literal, a few per line.
func GoSchedule(steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		if i%6 == 0 {
			b.WriteString("\n\t")
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(s.GoString())
		b.WriteByte(',')
	}
	b.WriteByte('\n')
	return b.String()
}

// Source makes the choices of a schedule: rapid's generator in property
// tests, a seeded *rand.Rand in seed sweeps.
type Source interface {
	// Intn returns a value in [0, n); label names the choice.
	Intn(n int, label string) int
}

// Group is a family of steps; a rapid test picks a group, then a step of
// it.
type Group uint8

// The groups of steps.
const (
	// GroupTick ticks nodes.
	GroupTick Group = iota
	// GroupRun lets the cluster work normally for a while.
	GroupRun
	// GroupStep moves one node's Ready cycle, or one message, on.
	GroupStep
	// GroupFault injects a fault: a message dropped or duplicated, a
	// partition, a crash, a leader isolated, ...
	GroupFault
	// GroupClient proposes, reads, compacts, campaigns, transfers
	// leadership and changes the membership.
	GroupClient

	numGroups
)

var groupNames = [...]string{"tick", "run", "step", "fault", "client"}

func (g Group) String() string {
	if int(g) < len(groupNames) {
		return groupNames[g]
	}
	return fmt.Sprintf("Group(%d)", g)
}

// Groups lists every group.
func Groups() []Group {
	gs := make([]Group, numGroups)
	for i := range gs {
		gs[i] = Group(i)
	}
	return gs
}

// maxArg bounds the position arguments: a node or message index is taken
// modulo the number of candidates, so a small range is enough, and it keeps
// the choices small for the shrinker.
const maxArg = 64

// pick chooses an option from a table of weights; the first option is the one
// a shrinker drifts to (rapid shrinks draws toward 0), so it should be the
// simplest.
func pick(src Source, label string, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := src.Intn(total, label)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	panic("unreachable")
}

// weightedOp is an op and its weight in a draw.
type weightedOp struct {
	op     Op
	weight int
}

// groupOps lists the ops of each group, weighted. The first of each is where
// a shrinker drifts, so it is the plainest.
var groupOps = [numGroups][]weightedOp{
	GroupTick: {{OpTickAll, 3}, {OpTick, 2}},
	GroupRun:  {{OpRun, 4}, {OpStabilize, 1}},
	GroupStep: {{OpDeliver, 4}, {OpReady, 2}, {OpFlush, 1}, {OpDeliverAll, 1}},
	GroupFault: {
		{OpDrop, 4}, {OpDuplicate, 2}, {OpHold, 2}, {OpPartition, 2}, {OpCutLink, 1}, {OpHeal, 3},
		{OpCrash, 1}, {OpRestart, 2}, {OpReboot, 1}, {OpIsolateLeader, 2}, {OpRebootLeader, 1},
	},
	GroupClient: {{OpPropose, 6}, {OpRead, 3}, {OpCompact, 2}, {OpCampaign, 1}, {OpTransfer, 1}, {OpConfChange, 2}},
}

// Gen draws one step of group g.
func Gen(src Source, g Group) Step {
	ops := groupOps[g]
	weights := make([]int, len(ops))
	for i, o := range ops {
		weights[i] = o.weight
	}
	return GenOp(src, ops[pick(src, g.String(), weights...)].op)
}

// GenOp draws the arguments of a step of op.
func GenOp(src Source, op Op) Step {
	arg := func(label string) int { return src.Intn(maxArg, label) }
	switch op {
	case OpReady:
		return Step{Op: op, A: arg("node"), B: src.Intn(2, "takeAhead")}
	case OpTick, OpFlush, OpCrash, OpRestart, OpReboot, OpPropose, OpRead, OpTransfer, OpCampaign:
		return Step{Op: op, A: arg("node")}
	case OpDeliver, OpDrop:
		return Step{Op: op, A: arg("msg"), B: src.Intn(2, "unreachable")}
	case OpDuplicate, OpHold:
		return Step{Op: op, A: arg("msg")}
	case OpRun:
		// Roughly log-uniform, 1 to 63 events: short runs, which let a
		// fault land between any two events, are as likely as long ones.
		n := 1 << src.Intn(6, "log2(events)")
		return Step{Op: op, A: n - 1 + src.Intn(n, "events")}
	case OpPartition:
		return Step{Op: op, A: src.Intn(1<<7, "mask")}
	case OpCutLink:
		return Step{Op: op, A: arg("from"), B: arg("to")}
	case OpCompact:
		return Step{Op: op, A: arg("node"), B: src.Intn(4, "lag")}
	case OpIsolateLeader:
		return Step{Op: op, B: arg("with")}
	case OpConfChange:
		return Step{Op: op, A: src.Intn(int(numChangeKinds), "kind"), B: src.Intn(1<<16, "changes")}
	case OpTickAll, OpDeliverAll, OpStabilize, OpHeal, OpRebootLeader:
		return Step{Op: op}
	}
	panic(fmt.Sprintf("sim: unknown op %d", op))
}

// Swarm weighs every op of a seed's schedule. Each seed draws its own
// (swarm testing): a schedule that never heals, or never delivers in bulk,
// or isolates every new leader, reaches states that an even mix of every
// fault rarely does, because some faults undo the work of others.
type Swarm [numOps]int

// progressOps move the cluster forward; they weigh more, so that the
// cluster gets somewhere between faults.
var progressOps = []Op{OpTick, OpTickAll, OpReady, OpFlush, OpDeliver, OpDeliverAll, OpStabilize, OpRun}

// DrawSwarm draws the weights of a seed's ops: each 0, 1, 2, 4 or 8 (times 3
// for progress ops), but with some way to tick, handle Readies, deliver,
// and restart crashed nodes.
func DrawSwarm(src Source) Swarm {
	var w Swarm
	for op := range w {
		w[op] = [...]int{0, 1, 2, 4, 8}[src.Intn(5, "weight")]
		if slices.Contains(progressOps, Op(op)) {
			w[op] *= 3
		}
	}
	if w[OpTick]+w[OpTickAll] == 0 {
		w[OpTick] = 3
	}
	if w[OpReady]+w[OpFlush]+w[OpStabilize]+w[OpRun] == 0 {
		w[OpRun] = 3
	}
	if w[OpDeliver]+w[OpDeliverAll]+w[OpStabilize]+w[OpRun] == 0 {
		w[OpRun] = 3
	}
	if w[OpCrash] > 0 && w[OpRestart] == 0 {
		w[OpRestart] = w[OpCrash]
	}
	return w
}

// Gen draws a step.
func (w Swarm) Gen(src Source) Step { return GenOp(src, Op(pick(src, "op", w[:]...))) }

func (w Swarm) String() string {
	var parts []string
	for op, weight := range w {
		if weight > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", strings.TrimPrefix(Op(op).String(), "Op"), weight))
		}
	}
	return strings.Join(parts, " ")
}

// Profile is a kind of seed: the weights of its ops, and constraints on its
// options.
type Profile struct {
	// Name names the profile in reports.
	Name string
	// Weights of the ops; all zero means each seed draws its own (see
	// DrawSwarm).
	Weights Swarm
	// Nodes, if not 0, is the cluster size.
	Nodes int
	// OneEntryPerAppend sets MaxSizePerMsg and MaxInflightMsgs to 1: a
	// leader sends one entry at a time and waits for its answer, so a new
	// leader's old entries and its own travel apart.
	OneEntryPerAppend bool
	// Plain runs the protocol of the Raft paper: no PreVote, no
	// CheckQuorum, and the shortest election timeout, so that elections
	// are many.
	Plain bool
}

// churn makes leaders come and go: it isolates the leader often, with a
// minority, and lets the cluster run a little in between. Leaders then keep
// entries that only they hold, and later leaders of other terms write
// other entries at the same indexes: the ground of Figure 8 of the Raft
// paper (§5.4.2), and of votes cast twice by nodes that reboot.
var churn = Swarm{
	OpTick: 12, OpRun: 30, OpIsolateLeader: 10, OpPropose: 6, OpCampaign: 2,
	OpDrop: 2, OpHold: 1, OpDeliver: 2, OpReboot: 2, OpRead: 1, OpCompact: 1,
}

// Profiles are the kinds of seeds a sweep cycles through, with their
// weights: swarm testing for breadth, and leader churn for depth, in a
// small cluster that runs the paper's protocol and sends one entry at a
// time, and in any cluster.
var Profiles = []struct {
	Profile
	Weight int
}{
	{Profile{Name: "swarm"}, 2},
	{Profile{Name: "churn-small", Weights: churn, Nodes: 3, OneEntryPerAppend: true, Plain: true}, 2},
	{Profile{Name: "churn", Weights: churn}, 1},
}

// DrawProfile draws a profile, weighted.
func DrawProfile(src Source) Profile {
	weights := make([]int, len(Profiles))
	for i, p := range Profiles {
		weights[i] = p.Weight
	}
	return Profiles[pick(src, "profile", weights...)].Profile
}

// tune narrows opts as p says.
func (p Profile) tune(opts *Options) {
	if p.Nodes != 0 {
		opts.Nodes = p.Nodes
	}
	if p.OneEntryPerAppend {
		opts.MaxSizePerMsg, opts.MaxInflightMsgs = 1, 1
	}
	if p.Plain {
		opts.PreVote, opts.CheckQuorum, opts.LeaseReads = false, false, false
		opts.ElectionTick, opts.HeartbeatTick = 3, 1
	}
}
