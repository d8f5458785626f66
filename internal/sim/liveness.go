package sim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/keelraft/raft"
)

// LivenessElectionTimeouts is the liveness bound in election timeouts, with
// PreVote: once the faults end, a leader must be elected and a new proposal
// (and a read at every live node) must complete within
// LivenessElectionTimeouts * ElectionTick rounds. A round ticks every live
// node once, in a shuffled order, and after each tick handles every Ready
// and delivers every message until the cluster is quiet: messages are fast
// next to the clock, and no node's clock is systematically first.
//
// Why 20: an election that is not split ends within one randomized timeout,
// under 2 election timeouts. Before it, up to one election timeout may pass
// while followers still honour a leader lease (CheckQuorum) or a leadership
// transfer runs out, and a node whose term rose while it was cut off may
// depose the first leader it meets, costing another election. A restarted
// node campaigns only once it applied its configuration, and a lagging
// follower gets a snapshot within a heartbeat. That is about 6 election
// timeouts; the rest is room for split votes. With PreVote a node that cannot
// win (its log is behind) does not disturb the others, so the node that can
// win times out within 2 election timeouts of the last election. Over the
// first 40,000 seeds the slowest recovery with PreVote took 3.3 election
// timeouts.
const LivenessElectionTimeouts = 20

// LivenessElectionTimeoutsNoPreVote is the liveness bound without PreVote.
// Then a node that cannot win still campaigns: it raises every node's term
// and restarts their election timers, and the election starts over. When
// only a majority is up and one of its nodes can win, that node must time
// out first among up to 4 (of 7) nodes: about one chance in 4 per election,
// so recovery time has a geometric tail. Over the first 40,000 seeds, 99.9%
// of the runs without PreVote recovered within 6 election timeouts and the
// slowest took 16.3; an earlier mix of faults had one take 26.6.
// 100 election timeouts make a spurious failure vanishingly rare, and still
// catch a cluster that cannot recover.
const LivenessElectionTimeoutsNoPreVote = 100

// LivenessBound returns the liveness bound of the cluster, in rounds.
func (s *Sim) LivenessBound() int {
	if s.opts.PreVote {
		return LivenessElectionTimeouts * s.opts.ElectionTick
	}
	return LivenessElectionTimeoutsNoPreVote * s.opts.ElectionTick
}

// settleLimit bounds the Ready-and-deliver loop of one liveness round:
// without ticks the nodes must fall quiet.
const settleLimit = 10000

// CheckLiveness ends every fault and checks that the cluster recovers: it
// heals the network, restarts down voters (lowest ID first) until a
// majority of each half of the configuration is up, then runs rounds of
// ticks and fair delivery. The configuration is that of the applied
// sequence (the newest one applied anywhere); before each round, voters are
// restarted again if it changed. Within the bound (see LivenessBound) a
// leader must exist, a new proposal must be applied by every live member,
// every live member must have applied every write acknowledged before
// (durability) and everything it applied before a crash, and a read asked
// at each live member must be answered. Removed nodes that still run
// (see membership.go) are ticked and delivered to, but nothing is asked of
// them. Safety is checked throughout.
func (s *Sim) CheckLiveness() error {
	if s.err != nil {
		return s.err
	}
	s.inLiveness = true
	defer func() { s.quiet = false }()
	s.tracef("---- liveness: heal, restart voters until a majority is up, then tick and deliver fairly")
	clear(s.cut)
	for i := range s.net {
		s.net[i].held = false
	}
	s.restartQuorum()

	bound := s.LivenessBound()
	var (
		proposed  []string // values proposed in this phase
		propLead  *node    // the leader and term of the last proposal
		propTerm  uint64
		reads     []string // reads asked once the proposal applied
		lastState string
	)
	// The rounds are traced as one line each when the cluster's state
	// changes; their messages are not.
	s.quiet = true
	s.settle()
	order := rand.New(rand.NewPCG(uint64(len(s.steps)), 0))
	for round := 1; round <= bound && s.err == nil; round++ {
		s.LivenessRounds = round
		// The configuration may change in the liveness check too (a
		// change committed now, a joint configuration left): a majority of
		// the new one must be up.
		s.restartQuorum()
		s.refreshSnapshots()
		up := s.upNodes()
		order.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
		for _, n := range up {
			if !n.up() {
				continue // retired by the settling of an earlier tick
			}
			n.rn.Tick()
			if !s.opts.LeaseReads {
				s.settle()
			}
		}
		if s.opts.LeaseReads {
			// One clock for all (see Options.LeaseReads).
			s.settle()
		}
		if s.err != nil {
			break
		}
		if state := s.summary(); state != lastState {
			s.note("     round %d: %s", round, state)
			lastState = state
		}
		lead := s.leader()
		if lead == nil {
			continue
		}
		if reads == nil {
			if v, ok := s.appliedEverywhere(proposed); ok {
				s.note("     round %d: %s applied by every live node; asking a read at each", round, v)
				for _, n := range s.liveMembers() {
					ctx := fmt.Sprintf("live-r%d", s.nextRead)
					s.nextRead++
					s.chk.reads[ctx] = s.chk.appliedMax()
					n.rn.ReadIndex([]byte(ctx))
					reads = append(reads, ctx)
				}
				s.settle()
			}
		}
		if reads != nil {
			if s.allAnswered(reads) {
				s.checkCaughtUp()
				return s.Err()
			}
			continue
		}
		if st := lead.rn.BasicStatus(); lead != propLead || st.Term != propTerm {
			v := fmt.Sprintf("live%d", s.nextValue)
			s.nextValue++
			if err := lead.rn.Propose([]byte(v)); err == nil {
				proposed = append(proposed, v)
				propLead, propTerm = lead, st.Term
			}
			s.settle()
		}
	}
	if s.err == nil {
		what := "no leader"
		switch {
		case reads != nil:
			what = "reads unanswered"
		case len(proposed) > 0:
			what = fmt.Sprintf("proposals %v not applied by every live node", proposed)
		}
		s.fail(PropLiveness, "%s after %d rounds (%d election timeouts) of fair ticks and delivery:\n%s",
			what, bound, bound/s.opts.ElectionTick, s.statusDump())
	}
	return s.Err()
}

// settle runs stabilize until the cluster is quiet, checking the
// properties after each round.
func (s *Sim) settle() {
	for range settleLimit {
		quiet := s.stabilize(1)
		s.check()
		if s.err != nil || quiet {
			return
		}
	}
	s.fail(PropLiveness, "the cluster is not quiet after %d rounds of Ready handling and delivery without ticks", settleLimit)
}

// restartQuorum restarts down voters of the applied sequence's
// configuration, lowest ID first, until a majority of each half is up. In
// a run with membership changes it restarts every down voter of that
// configuration and of the one before it: a node that has not learned
// that the newest configuration committed still counts votes in the one
// before, and a majority of the newest one may then be unable to elect
// anyone. For example, with [1 2 3 4] changed to [1 3 4] and the learner
// 2, committed on 2, 3 and 4: if 3 crashes, 1 and 4 still count in
// [1 2 3 4], where 2, a learner by its own configuration, cannot
// campaign, and its log is ahead of theirs, so it votes for neither.
func (s *Sim) restartQuorum() {
	for !s.quorumUp() {
		n := s.downVoter(s.chk.conf)
		s.note("     restart n%d, a voter of %s", n.id, confText(s.chk.conf))
		s.restart(n)
	}
	if !s.opts.Membership {
		return
	}
	for _, cs := range []raft.ConfState{s.chk.conf, s.chk.prevConf} {
		for n := s.downVoter(cs); n != nil; n = s.downVoter(cs) {
			s.note("     restart n%d, a voter of %s", n.id, confText(cs))
			s.restart(n)
		}
	}
}

// quorumUp reports whether a majority of each half of the applied
// sequence's configuration is up.
func (s *Sim) quorumUp() bool {
	return quorumOf(s.chk.conf, func(id uint64) bool { return s.nodes[id].up() })
}

// downVoter returns the voter of cs, of either half, that is down and not
// retired, with the lowest ID, or nil.
func (s *Sim) downVoter(cs raft.ConfState) *node {
	var down []uint64
	for _, id := range append(slices.Clone(cs.Voters), cs.VotersOutgoing...) {
		if !s.nodes[id].up() && slices.Contains(s.ids, id) {
			down = append(down, id)
		}
	}
	if len(down) == 0 {
		return nil
	}
	return s.nodes[slices.Min(down)]
}

// refreshSnapshots has the host of every node that is up take a snapshot
// (keeping its log) when its log was compacted and its snapshot's
// configuration is not the one it applied. A member added after the last
// snapshot could not install it (a snapshot of a configuration without
// the node is refused), and would wait for the next compaction; hosts
// snapshot from time to time, and this is the liveness check's stand-in.
func (s *Sim) refreshSnapshots() {
	for _, n := range s.upNodes() {
		snap, _ := n.disk.Snapshot()
		if raft.IsEmptySnap(snap) || n.sm.index <= snap.Metadata.Index || sameConf(snap.Metadata.ConfState, n.confState) {
			continue
		}
		s.note("     n%d snapshots at %d for %s", n.id, n.sm.index, confText(n.confState))
		s.compact(n, n.sm.index)
	}
}

// appliedEverywhere returns a value of vs that every live member applied,
// if there is one.
func (s *Sim) appliedEverywhere(vs []string) (string, bool) {
	for _, v := range vs {
		i, ok := s.chk.acked[v]
		if !ok {
			continue
		}
		all := true
		for _, n := range s.liveMembers() {
			if n.sm.index < i {
				all = false
			}
		}
		if all {
			return v, true
		}
	}
	return "", false
}

func (s *Sim) allAnswered(ctxs []string) bool {
	for _, ctx := range ctxs {
		if !s.chk.answered[ctx] {
			return false
		}
	}
	return true
}

// checkCaughtUp checks, once the cluster recovered, that every live member
// applied every acknowledged write and everything it applied before.
func (s *Sim) checkCaughtUp() {
	var maxAcked uint64
	var maxValue string
	for v, i := range s.chk.acked {
		if i > maxAcked {
			maxAcked, maxValue = i, v
		}
	}
	for _, n := range s.liveMembers() {
		if n.sm.index < maxAcked {
			s.fail(PropDurability, "n%d recovered but applied only up to %d, not the acknowledged write %s at %d",
				n.id, n.sm.index, maxValue, maxAcked)
			return
		}
		if n.sm.index < n.maxApplied {
			s.fail(PropStateMachine, "n%d recovered but applied only up to %d, though it applied up to %d before",
				n.id, n.sm.index, n.maxApplied)
			return
		}
	}
}

// summary is a one-line state of the cluster for the liveness trace.
func (s *Sim) summary() string {
	var parts []string
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up() {
			parts = append(parts, fmt.Sprintf("n%d down", id))
			continue
		}
		st := n.rn.BasicStatus()
		parts = append(parts, fmt.Sprintf("n%d %s t%d", id, shortState(st.RaftState), st.Term))
	}
	return strings.Join(parts, ", ")
}

func shortState(st raft.StateType) string {
	switch st {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	}
	return "follower"
}

// statusDump describes every node, for a liveness failure.
func (s *Sim) statusDump() string {
	var b strings.Builder
	for _, id := range s.ids {
		n := s.nodes[id]
		first, _ := n.disk.FirstIndex()
		last, _ := n.disk.LastIndex()
		if !n.up() {
			fmt.Fprintf(&b, "\tn%d down; disk [%d, %d]\n", id, first, last)
			continue
		}
		st := n.rn.Status()
		fmt.Fprintf(&b, "\t%v; sm %d; disk [%d, %d]\n", st, n.sm.index, first, last)
		for _, pid := range slices.Sorted(maps.Keys(st.Progress)) {
			pr := st.Progress[pid]
			fmt.Fprintf(&b, "\t\tn%d: %s\n", pid, &pr)
		}
	}
	return b.String()
}
