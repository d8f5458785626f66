package sim

import (
	"fmt"
	"strings"
)

// Op is one kind of step of a schedule.
type Op uint8

// The operations a schedule is made of. A and B are the step's arguments; a
// step names nodes and messages by position, taken modulo the number of
// candidates when it runs, so that every step is valid in every state (a
// shrinker may delete any step and the schedule still runs). A step that
// finds nothing to do (a tick of a node that is down, a delivery from an
// empty network) changes nothing and is left out of the recorded schedule.
const (
	// OpTick ticks node A.
	OpTick Op = iota
	// OpTickAll ticks every node that is up, in ID order.
	OpTickAll
	// OpReady runs the next phase of node A's Ready cycle: take the Ready
	// and send its messages, persist its writes, apply, or Advance.
	OpReady
	// OpFlush runs node A's Ready cycle to its end, taking a new Ready if
	// none is being handled.
	OpFlush
	// OpDeliver delivers message A of the network; a message across a cut
	// link is dropped instead, and the sender told it is unreachable if B
	// is odd.
	OpDeliver
	// OpDeliverAll delivers every message in flight, oldest first.
	OpDeliverAll
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
	// OpCrash crashes node A: it loses what it has not persisted, and the
	// messages in flight to and from it.
	OpCrash
	// OpRestart restarts down node A (counted among the nodes that are
	// down) from its disk.
	OpRestart
	// OpPropose has a client propose a new value at node A.
	OpPropose
	// OpRead has a client ask node A for a read index.
	OpRead
	// OpCompact makes node A snapshot its state machine and compact its log
	// up to B entries before the snapshot's index.
	OpCompact
	// OpTransfer asks the leader (if any) to hand leadership to node A.
	OpTransfer
	// OpCampaign makes node A campaign.
	OpCampaign

	numOps
)

var opNames = [...]string{
	"OpTick", "OpTickAll", "OpReady", "OpFlush", "OpDeliver", "OpDeliverAll",
	"OpDrop", "OpDuplicate", "OpPartition", "OpCutLink", "OpHeal", "OpCrash",
	"OpRestart", "OpPropose", "OpRead", "OpCompact", "OpTransfer", "OpCampaign",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Step is one choice of a schedule.
type Step struct {
	Op   Op
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

// Group is a family of steps; a schedule picks a group, then a step of it.
type Group uint8

// The groups of steps.
const (
	// GroupTick ticks nodes.
	GroupTick Group = iota
	// GroupReady runs Ready cycles.
	GroupReady
	// GroupDeliver delivers messages.
	GroupDeliver
	// GroupNet injects network faults: drops, duplicates, partitions.
	GroupNet
	// GroupNode crashes, restarts and compacts nodes.
	GroupNode
	// GroupClient proposes, reads, transfers leadership and campaigns.
	GroupClient

	numGroups
)

var groupNames = [...]string{"tick", "ready", "deliver", "net", "node", "client"}

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

// Gen draws one step of group g.
func Gen(src Source, g Group) Step {
	arg := func(label string) int { return src.Intn(maxArg, label) }
	switch g {
	case GroupTick:
		if pick(src, "tick", 4, 1) == 0 {
			return Step{Op: OpTick, A: arg("node")}
		}
		return Step{Op: OpTickAll}
	case GroupReady:
		if pick(src, "ready", 1, 2) == 0 {
			return Step{Op: OpFlush, A: arg("node")}
		}
		return Step{Op: OpReady, A: arg("node")}
	case GroupDeliver:
		if pick(src, "deliver", 8, 1) == 0 {
			return Step{Op: OpDeliver, A: arg("msg"), B: src.Intn(2, "unreachable")}
		}
		return Step{Op: OpDeliverAll}
	case GroupNet:
		switch pick(src, "net", 4, 2, 1, 1, 2) {
		case 0:
			return Step{Op: OpDrop, A: arg("msg"), B: src.Intn(2, "unreachable")}
		case 1:
			return Step{Op: OpDuplicate, A: arg("msg")}
		case 2:
			return Step{Op: OpPartition, A: src.Intn(1<<7, "mask")}
		case 3:
			return Step{Op: OpCutLink, A: arg("from"), B: arg("to")}
		default:
			return Step{Op: OpHeal}
		}
	case GroupNode:
		switch pick(src, "node", 2, 2, 3) {
		case 0:
			return Step{Op: OpCrash, A: arg("node")}
		case 1:
			return Step{Op: OpRestart, A: arg("node")}
		default:
			return Step{Op: OpCompact, A: arg("node"), B: src.Intn(4, "lag")}
		}
	case GroupClient:
		switch pick(src, "client", 4, 2, 1, 1) {
		case 0:
			return Step{Op: OpPropose, A: arg("node")}
		case 1:
			return Step{Op: OpRead, A: arg("node")}
		case 2:
			return Step{Op: OpTransfer, A: arg("node")}
		default:
			return Step{Op: OpCampaign, A: arg("node")}
		}
	}
	panic(fmt.Sprintf("sim: unknown group %d", g))
}

// Mix weighs the groups of a seed sweep's schedule.
type Mix struct {
	Name    string
	Weights [numGroups]int
}

// Mixes are the fault mixes a seed sweep cycles through. Each stresses one
// kind of trouble, so that a bug that needs many of one fault in a short
// time is found quickly.
var Mixes = []Mix{
	//                           tick ready deliver net node client
	{Name: "balanced", Weights: [numGroups]int{6, 8, 8, 2, 1, 3}},
	{Name: "lossy", Weights: [numGroups]int{6, 8, 8, 6, 0, 3}},
	{Name: "crashy", Weights: [numGroups]int{6, 8, 8, 1, 3, 3}},
	{Name: "busy", Weights: [numGroups]int{4, 8, 8, 1, 1, 8}},
}

// GenMix draws a step from mix m: first its group, then the step.
func GenMix(src Source, m Mix) Step {
	return Gen(src, Group(pick(src, "group", m.Weights[:]...)))
}
