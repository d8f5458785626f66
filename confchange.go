package raft

import (
	"errors"
	"fmt"
	"maps"

	"github.com/keelraft/raft/internal/quorum"
)

// ErrInvalidConfChange is wrapped by every error that refuses a membership
// change: the error says which rule the change breaks.
var ErrInvalidConfChange = errors.New("raft: invalid configuration change")

// ErrConfChangePending is returned (wrapped in ErrProposalDropped) for a
// configuration change proposed while another is not yet applied: only one
// change may be in flight at a time.
var ErrConfChangePending = errors.New("raft: a configuration change is already pending")

// leavesJoint reports whether cc is the empty change that leaves a joint
// configuration.
func (cc ConfChange) leavesJoint() bool {
	return cc.Transition == ConfChangeTransitionAuto && len(cc.Changes) == 0
}

// entersJoint reports whether cc must go through a joint configuration
// (§6): it changes more than one node, or asks for joint consensus
// explicitly.
func (cc ConfChange) entersJoint() bool {
	return cc.Transition != ConfChangeTransitionAuto || len(cc.Changes) > 1
}

// changeConfig returns the configuration cfg becomes by cc. It does not
// change cfg. An invalid change returns an error wrapping
// ErrInvalidConfChange.
func changeConfig(cfg trackerConfig, cc ConfChange) (trackerConfig, error) {
	if cc.Transition > ConfChangeTransitionJointExplicit {
		return cfg, fmt.Errorf("%w: unknown transition %s", ErrInvalidConfChange, cc.Transition)
	}
	next := cfg.clone()
	switch {
	case cc.leavesJoint():
		if !cfg.joint() {
			return cfg, fmt.Errorf("%w: cannot leave a joint configuration: %s is not joint", ErrInvalidConfChange, cfg)
		}
		next.Voters[1] = nil
		for id := range next.LearnersNext {
			next.Learners[id] = struct{}{}
		}
		next.LearnersNext = nil
		next.AutoLeave = false
	case cc.entersJoint():
		if cfg.joint() {
			return cfg, fmt.Errorf("%w: cannot enter a joint configuration: %s is already joint", ErrInvalidConfChange, cfg)
		}
		next.Voters[1] = maps.Clone(next.Voters[0])
		if err := next.apply(cc.Changes); err != nil {
			return cfg, err
		}
		next.AutoLeave = cc.Transition != ConfChangeTransitionJointExplicit
	default:
		if cfg.joint() {
			return cfg, fmt.Errorf("%w: cannot apply a simple change while %s is joint", ErrInvalidConfChange, cfg)
		}
		if err := next.apply(cc.Changes); err != nil {
			return cfg, err
		}
		if n := symmetricDifference(cfg.Voters[0], next.Voters[0]); n > 1 {
			return cfg, fmt.Errorf("%w: a simple change may change one voter, this one changes %d", ErrInvalidConfChange, n)
		}
	}
	if len(next.Voters[0]) == 0 {
		return cfg, fmt.Errorf("%w: the change removes the last voter", ErrInvalidConfChange)
	}
	if err := next.validate(); err != nil {
		return cfg, err
	}
	return next, nil
}

// apply makes each change to the incoming configuration.
func (c *trackerConfig) apply(changes []ConfChangeSingle) error {
	for _, ch := range changes {
		if ch.NodeID == None {
			return fmt.Errorf("%w: node ID 0 in %s", ErrInvalidConfChange, ch.Type)
		}
		id := ch.NodeID
		switch ch.Type {
		case ConfChangeAddNode:
			c.Voters[0][id] = struct{}{}
			delete(c.Learners, id)
			delete(c.LearnersNext, id)
		case ConfChangeAddLearnerNode:
			delete(c.Voters[0], id)
			if _, outgoing := c.Voters[1][id]; outgoing {
				// Still a voter of the outgoing half: it becomes a
				// learner when the joint configuration is left.
				c.LearnersNext[id] = struct{}{}
			} else {
				c.Learners[id] = struct{}{}
			}
		case ConfChangeRemoveNode:
			delete(c.Voters[0], id)
			delete(c.Learners, id)
			delete(c.LearnersNext, id)
		default:
			return fmt.Errorf("%w: unknown change type %s", ErrInvalidConfChange, ch.Type)
		}
	}
	return nil
}

// validate checks the rules every configuration keeps.
func (c trackerConfig) validate() error {
	if len(c.Voters[0]) == 0 {
		if len(c.Voters[1]) > 0 || len(c.Learners) > 0 || len(c.LearnersNext) > 0 {
			return fmt.Errorf("%w: the change removes the last voter", ErrInvalidConfChange)
		}
	}
	for id := range c.Learners {
		if _, ok := c.Voters[0][id]; ok {
			return fmt.Errorf("%w: %x is both a voter and a learner", ErrInvalidConfChange, id)
		}
		if _, ok := c.Voters[1][id]; ok {
			return fmt.Errorf("%w: %x is both an outgoing voter and a learner", ErrInvalidConfChange, id)
		}
	}
	for id := range c.LearnersNext {
		if _, ok := c.Voters[1][id]; !ok {
			return fmt.Errorf("%w: %x is in LearnersNext but not an outgoing voter", ErrInvalidConfChange, id)
		}
		if _, ok := c.Voters[0][id]; ok {
			return fmt.Errorf("%w: %x is in LearnersNext and an incoming voter", ErrInvalidConfChange, id)
		}
	}
	if !c.joint() && (c.AutoLeave || len(c.LearnersNext) > 0) {
		return fmt.Errorf("%w: AutoLeave or LearnersNext set outside a joint configuration", ErrInvalidConfChange)
	}
	return nil
}

// clone returns a deep copy of c with every set allocated.
func (c trackerConfig) clone() trackerConfig {
	cloneSet := func(s map[uint64]struct{}) map[uint64]struct{} {
		if s == nil {
			return map[uint64]struct{}{}
		}
		return maps.Clone(s)
	}
	return trackerConfig{
		Voters:       quorum.JointConfig{cloneSet(c.Voters[0]), maps.Clone(c.Voters[1])},
		AutoLeave:    c.AutoLeave,
		Learners:     cloneSet(c.Learners),
		LearnersNext: cloneSet(c.LearnersNext),
	}
}

// has reports whether id is a member, voter or learner.
func (c trackerConfig) has(id uint64) bool {
	_, in := c.Voters[0][id]
	_, out := c.Voters[1][id]
	_, l := c.Learners[id]
	_, ln := c.LearnersNext[id]
	return in || out || l || ln
}

func symmetricDifference(a, b map[uint64]struct{}) int {
	n := 0
	for id := range a {
		if _, ok := b[id]; !ok {
			n++
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			n++
		}
	}
	return n
}

// configFromConfState rebuilds a configuration from a ConfState, joint state
// included, and checks it.
func configFromConfState(cs ConfState) (trackerConfig, error) {
	set := func(ids []uint64) map[uint64]struct{} {
		s := make(map[uint64]struct{}, len(ids))
		for _, id := range ids {
			s[id] = struct{}{}
		}
		return s
	}
	c := trackerConfig{
		Voters:       quorum.JointConfig{set(cs.Voters), nil},
		AutoLeave:    cs.AutoLeave,
		Learners:     set(cs.Learners),
		LearnersNext: set(cs.LearnersNext),
	}
	if len(cs.VotersOutgoing) > 0 {
		c.Voters[1] = set(cs.VotersOutgoing)
	}
	for _, id := range append(append(cs.Voters, cs.VotersOutgoing...), append(cs.Learners, cs.LearnersNext...)...) {
		if id == None {
			return trackerConfig{}, fmt.Errorf("%w: node ID 0 in %+v", ErrInvalidConfChange, cs)
		}
	}
	if err := c.validate(); err != nil {
		return trackerConfig{}, err
	}
	return c, nil
}

// checkConfChangeProposal refuses a configuration change the leader must not
// append: one while another is unapplied, or one that is invalid against
// the current configuration.
func (r *raft) checkConfChangeProposal(data []byte) error {
	if r.pendingConfIndex > r.raftLog.applied {
		return fmt.Errorf("%w: %w (index %d, applied %d)", ErrProposalDropped, ErrConfChangePending, r.pendingConfIndex, r.raftLog.applied)
	}
	var cc ConfChange
	if err := cc.Unmarshal(data); err != nil {
		return fmt.Errorf("%w: %w: %w", ErrProposalDropped, ErrInvalidConfChange, err)
	}
	if _, err := changeConfig(r.trk.config, cc); err != nil {
		return fmt.Errorf("%w: %w", ErrProposalDropped, err)
	}
	return nil
}

// applyConfChange applies a committed configuration change. An invalid one
// (every node refuses it alike) leaves the configuration as it was.
func (r *raft) applyConfChange(cc ConfChange) (ConfState, error) {
	cfg, err := changeConfig(r.trk.config, cc)
	if err != nil {
		r.logger.Warningf("%x ignored configuration change %+v: %v", r.id, cc, err)
		return r.trk.config.confState(), err
	}
	r.logger.Infof("%x switched to configuration %s", r.id, cfg)
	return r.switchToConfig(cfg), nil
}

// switchToConfig installs cfg and acts on what changed for this node.
func (r *raft) switchToConfig(cfg trackerConfig) ConfState {
	r.trk.setConfig(cfg, r.raftLog.lastIndex())
	cs := cfg.confState()
	pr, member := r.trk.progress[r.id]
	r.isLearner = member && pr.IsLearner

	if r.state != StateLeader {
		return cs
	}
	if !r.trk.isVoter(r.id) {
		// A leader that votes in neither half no longer leads. While joint,
		// an outgoing voter keeps leading until the joint configuration is
		// left, so removing or demoting the leader through joint consensus
		// works.
		r.logger.Infof("%x is no longer a voter in %s; stepping down", r.id, cfg)
		r.becomeFollower(r.Term, None)
		return cs
	}
	// The quorum changed: the commit index may move, and new members need
	// probing.
	if r.maybeCommit() {
		r.bcastAppend()
	} else {
		r.trk.visit(func(id uint64, _ *Progress) {
			if id != r.id {
				r.maybeSendAppend(id, false)
			}
		})
	}
	if r.leadTransferee != None && !r.trk.isVoter(r.leadTransferee) {
		r.logger.Infof("%x aborts leadership transfer: %x is no longer a voter", r.id, r.leadTransferee)
		r.abortLeaderTransfer()
	}
	return cs
}
