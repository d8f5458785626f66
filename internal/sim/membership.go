package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/keelraft/raft"
)

// Membership changes (Options.Membership).
//
// OpConfChange has the leader propose a change drawn against the
// configuration it applied. A new voter or learner is a new node: its host
// starts it with empty storage and no bootstrap, at once, so that it gets
// the log (or a snapshot) from the leader once the leader applies the
// change. Hosts apply a change with ApplyConfChange when its entry is
// applied, and keep the resulting ConfState in the snapshots they make.
//
// A removed node keeps running, as it would in reality, until every member
// of the configuration without it has applied that configuration: no
// member can then need its vote, and its host retires it (it stops for
// good; its disk stays for the checks). Until then it may not know it was
// removed, and may campaign: the properties check that it disrupts
// nothing unsafe. IDs are never reused, and at most maxNodes nodes run
// (members, removed nodes not yet retired, and new nodes whose change was
// lost, which the next addition reuses).

// changeKind is the kind of change an OpConfChange proposes (its A).
type changeKind uint8

const (
	changeAddVoter changeKind = iota
	changeAddLearner
	changeRemove
	changePromote
	changeDemote
	// changeJoint makes one to three of the changes above at once, through
	// a joint configuration left automatically or explicitly.
	changeJoint

	numChangeKinds
)

// maxNodes bounds the nodes that run at once.
const maxNodes = 7

// draft is a configuration being changed, as a simple change or the
// incoming half of a joint one sees it.
type draft struct {
	voters, learners []uint64
	// spawn lists the new nodes the change adds.
	spawn []uint64
}

// confChange runs OpConfChange: see its comment.
func (s *Sim) confChange(st Step, mark int) bool {
	if !s.opts.Membership {
		return false
	}
	lead := s.leader()
	if lead == nil {
		return false
	}
	cs := lead.confState
	var cc raft.ConfChange
	rng := rand.New(rand.NewPCG(uint64(st.B), 0x6d656d62657273))
	d := &draft{voters: slices.Clone(cs.Voters), learners: slices.Clone(cs.Learners)}
	switch kind := changeKind(st.A % int(numChangeKinds)); {
	case len(cs.VotersOutgoing) > 0:
		// Joint: the only valid change leaves it. With AutoLeave the
		// leader proposes it by itself, and refuses this one while its
		// own is pending.
	case kind == changeJoint:
		for range 1 + rng.IntN(3) {
			if ch, ok := s.drawChange(d, changeKind(rng.IntN(int(changeJoint))), rng); ok {
				cc.Changes = append(cc.Changes, ch)
			}
		}
		if len(cc.Changes) == 0 {
			return false
		}
		cc.Transition = []raft.ConfChangeTransition{
			raft.ConfChangeTransitionJointImplicit, raft.ConfChangeTransitionJointExplicit, raft.ConfChangeTransitionAuto,
		}[rng.IntN(3)]
		if cc.Transition == raft.ConfChangeTransitionAuto && len(cc.Changes) == 1 {
			cc.Transition = raft.ConfChangeTransitionJointImplicit
		}
	default:
		ch, ok := s.drawChange(d, kind, rng)
		if !ok {
			return false
		}
		cc.Changes = []raft.ConfChangeSingle{ch}
	}
	for _, id := range d.spawn {
		s.spawn(id)
	}
	err := lead.rn.ProposeConfChange(cc)
	s.title(mark, "propose %s at leader n%d (config %s)%s", ccText(cc), lead.id, confText(cs), errSuffix(err))
	return true
}

// drawChange draws one change of kind to d, and makes it in d. It fails if
// d has no node the kind applies to, or if the change would leave no voter
// or need more than maxNodes nodes.
func (s *Sim) drawChange(d *draft, kind changeKind, rng *rand.Rand) (raft.ConfChangeSingle, bool) {
	pickFrom := func(ids []uint64) uint64 { return ids[rng.IntN(len(ids))] }
	switch kind {
	case changeAddVoter, changeAddLearner:
		id, ok := s.newMember(d)
		if !ok {
			return raft.ConfChangeSingle{}, false
		}
		if kind == changeAddVoter {
			d.voters = append(d.voters, id)
			return raft.ConfChangeSingle{Type: raft.ConfChangeAddNode, NodeID: id}, true
		}
		d.learners = append(d.learners, id)
		return raft.ConfChangeSingle{Type: raft.ConfChangeAddLearnerNode, NodeID: id}, true
	case changeRemove:
		can := slices.Clone(d.learners)
		if len(d.voters) > 1 {
			can = append(can, d.voters...)
		}
		if len(can) == 0 {
			return raft.ConfChangeSingle{}, false
		}
		id := pickFrom(can)
		d.voters = remove(d.voters, id)
		d.learners = remove(d.learners, id)
		return raft.ConfChangeSingle{Type: raft.ConfChangeRemoveNode, NodeID: id}, true
	case changePromote:
		if len(d.learners) == 0 {
			return raft.ConfChangeSingle{}, false
		}
		id := pickFrom(d.learners)
		d.learners = remove(d.learners, id)
		d.voters = append(d.voters, id)
		return raft.ConfChangeSingle{Type: raft.ConfChangeAddNode, NodeID: id}, true
	case changeDemote:
		if len(d.voters) < 2 {
			return raft.ConfChangeSingle{}, false
		}
		id := pickFrom(d.voters)
		d.voters = remove(d.voters, id)
		d.learners = append(d.learners, id)
		return raft.ConfChangeSingle{Type: raft.ConfChangeAddLearnerNode, NodeID: id}, true
	}
	panic(fmt.Sprintf("sim: unknown change kind %d", kind))
}

// newMember returns a node to add to d: a running node that was never a
// member (one whose addition was lost), or else a new one, if fewer than
// maxNodes run.
func (s *Sim) newMember(d *draft) (uint64, bool) {
	for _, id := range s.ids {
		if !s.chk.everMember[id] && !slices.Contains(d.voters, id) && !slices.Contains(d.learners, id) {
			return id, true
		}
	}
	if len(s.ids)+len(d.spawn) >= maxNodes {
		return 0, false
	}
	id := s.nextID + uint64(len(d.spawn))
	d.spawn = append(d.spawn, id)
	return id, true
}

func remove(ids []uint64, id uint64) []uint64 {
	return slices.DeleteFunc(ids, func(x uint64) bool { return x == id })
}

// spawn starts new node id with empty storage and no bootstrap: it learns
// the log, and its configuration, from a leader.
func (s *Sim) spawn(id uint64) {
	if id != s.nextID {
		panic(fmt.Sprintf("sim: spawn n%d, but the next ID is %d", id, s.nextID))
	}
	s.nextID++
	disk := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(s.opts.config(id, disk, 0))
	if err != nil {
		s.fail(PropHost, "n%d cannot start with empty storage: %v", id, err)
		return
	}
	s.nodes[id] = &node{id: id, disk: disk, rn: rn, view: diskView(disk)}
	s.ids = append(s.ids, id)
	s.tracef("       n%d starts with empty storage", id)
}

// retireRemoved retires the removed nodes that no member can need any
// more: every member of the applied sequence's configuration applied it
// (or, if down, commits it on disk, and so applies it before it may
// campaign).
func (s *Sim) retireRemoved() {
	c := &s.chk
	var gone []*node
	for _, id := range s.ids {
		if c.everMember[id] && !isMember(c.conf, id) {
			gone = append(gone, s.nodes[id])
		}
	}
	if len(gone) == 0 {
		return
	}
	for _, id := range members(c.conf) {
		n := s.nodes[id]
		if n.up() && n.sm.index < c.confIndex {
			return
		}
		if !n.up() {
			hs, _, _ := n.disk.InitialState()
			if snap, _ := n.disk.Snapshot(); max(hs.Commit, snap.Metadata.Index) < c.confIndex {
				return
			}
		}
	}
	for _, n := range gone {
		s.tracef("       n%d retired: every member applied %s, without it", n.id, confText(c.conf))
		if n.up() {
			s.crash(n)
		}
		s.ids = remove(s.ids, n.id)
	}
}

// liveMembers returns the members of the applied sequence's configuration
// that are up, in ID order.
func (s *Sim) liveMembers() []*node {
	var out []*node
	for _, n := range s.upNodes() {
		if isMember(s.chk.conf, n.id) {
			out = append(out, n)
		}
	}
	return out
}

// members returns every node of cs, voter or learner, in ID order.
func members(cs raft.ConfState) []uint64 {
	var ids []uint64
	for _, set := range [][]uint64{cs.Voters, cs.VotersOutgoing, cs.Learners, cs.LearnersNext} {
		for _, id := range set {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func isMember(cs raft.ConfState, id uint64) bool { return slices.Contains(members(cs), id) }

// quorumOf reports whether the nodes for which in holds are a majority of
// the voters of cs, of both halves if it is joint.
func quorumOf(cs raft.ConfState, in func(uint64) bool) bool {
	majority := func(voters []uint64) bool {
		if len(voters) == 0 {
			return true
		}
		n := 0
		for _, id := range voters {
			if in(id) {
				n++
			}
		}
		return n > len(voters)/2
	}
	return majority(cs.Voters) && majority(cs.VotersOutgoing)
}

// sameConf reports whether two ConfStates describe one configuration.
func sameConf(a, b raft.ConfState) bool {
	eq := func(x, y []uint64) bool {
		return slices.Equal(slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y)))
	}
	return eq(a.Voters, b.Voters) && eq(a.VotersOutgoing, b.VotersOutgoing) && eq(a.Learners, b.Learners) &&
		eq(a.LearnersNext, b.LearnersNext) && a.AutoLeave == b.AutoLeave
}

// onConfApplied checks the configuration n got from ApplyConfChange for the
// entry at index: every node that applies a change gets the same
// configuration from it. It tracks the applied sequence's configuration.
//
// The bootstrap entries are left out (New sets the first configuration):
// Bootstrap applies them all at once, before the host applies them one by
// one, while a node that restarts without a snapshot, or one added later,
// applies them in turn from the empty configuration, and gets a partial
// configuration from each.
func (c *checker) onConfApplied(s *Sim, n *node, index uint64, cs raft.ConfState) {
	if index <= uint64(s.opts.Nodes) {
		return
	}
	g := &c.seq[index]
	if g.conf == nil {
		g.conf = &cs
		if index > c.confIndex {
			c.prevConf, c.conf, c.confIndex = c.conf, cs, index
			for _, id := range members(cs) {
				c.everMember[id] = true
			}
			s.tracef("       configuration %s from %d on", confText(cs), index)
		}
		return
	}
	if !sameConf(*g.conf, cs) {
		s.fail(PropStateMachine, "n%d applied the configuration change at %d and got %s, but %s was applied from it before",
			n.id, index, confText(cs), confText(*g.conf))
	}
}

// cert is a leader's commit certificate: the leader committed index with a
// quorum of conf (of each half, if joint).
type cert struct {
	index uint64
	conf  raft.ConfState
}

// certify records the commits that n, if it leads, made since it was last
// looked at, with the configuration it applied. It must be called before
// the node's configuration changes (the host applies a change), and after
// every event that may make the node leader or move its commit index, so
// that each commit is credited to the configuration that made it. The
// first time the node is seen leading a term, its commit index is the one
// it inherited: a new leader commits only entries of its own term (§5.4.2),
// and it has none persisted yet.
func (s *Sim) certify(n *node, st raft.BasicStatus) {
	if st.RaftState != raft.StateLeader {
		return
	}
	if n.certTerm != st.Term {
		n.certTerm, n.certBase = st.Term, st.Commit
		return
	}
	if st.Commit > n.certBase {
		s.chk.addCert(st.Commit, n.confState)
		n.certBase = st.Commit
	}
}

// addCert records a commit certificate; of two at one index, the first is
// kept (both hold).
func (c *checker) addCert(index uint64, conf raft.ConfState) {
	i := sort.Search(len(c.certs), func(i int) bool { return c.certs[i].index >= index })
	if i < len(c.certs) && c.certs[i].index == index {
		return
	}
	c.certs = slices.Insert(c.certs, i, cert{index: index, conf: conf})
}

// certFor returns the certificate with the least index at or past index.
func (c *checker) certFor(index uint64) (cert, bool) {
	i := sort.Search(len(c.certs), func(i int) bool { return c.certs[i].index >= index })
	if i == len(c.certs) {
		return cert{}, false
	}
	return c.certs[i], true
}

// confText renders a configuration for the trace.
func confText(cs raft.ConfState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", cs.Voters)
	if len(cs.VotersOutgoing) > 0 {
		fmt.Fprintf(&b, "&%v", cs.VotersOutgoing)
	}
	if len(cs.Learners) > 0 {
		fmt.Fprintf(&b, " learners %v", cs.Learners)
	}
	if len(cs.LearnersNext) > 0 {
		fmt.Fprintf(&b, " learners next %v", cs.LearnersNext)
	}
	if cs.AutoLeave {
		b.WriteString(" autoleave")
	}
	return b.String()
}

// ccText renders a configuration change for the trace.
func ccText(cc raft.ConfChange) string {
	if len(cc.Changes) == 0 {
		return "leave joint"
	}
	var parts []string
	for _, ch := range cc.Changes {
		op := map[raft.ConfChangeType]string{
			raft.ConfChangeAddNode: "add", raft.ConfChangeRemoveNode: "remove", raft.ConfChangeAddLearnerNode: "add learner",
		}[ch.Type]
		parts = append(parts, fmt.Sprintf("%s n%d", op, ch.NodeID))
	}
	s := strings.Join(parts, ", ")
	switch cc.Transition {
	case raft.ConfChangeTransitionJointImplicit:
		s += " (joint, auto leave)"
	case raft.ConfChangeTransitionJointExplicit:
		s += " (joint, explicit leave)"
	default:
		if len(cc.Changes) > 1 {
			s += " (joint, auto leave)"
		}
	}
	return s
}
