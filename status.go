package raft

import "fmt"

// BasicStatus is a node's state without per-follower detail.
type BasicStatus struct {
	ID uint64
	HardState
	SoftState
	// Applied is the index the host last applied.
	Applied uint64
	// LeadTransferee is the node a leadership transfer hands over to, or
	// None.
	LeadTransferee uint64
}

// Status is a node's state, with the leader's view of each member.
type Status struct {
	BasicStatus
	// Config is the configuration in force.
	Config ConfState
	// Progress holds a copy of each member's progress; it is set only on
	// the leader.
	Progress map[uint64]Progress
}

func getBasicStatus(r *raft) BasicStatus {
	return BasicStatus{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LeadTransferee: r.leadTransferee,
	}
}

func getStatus(r *raft) Status {
	s := Status{BasicStatus: getBasicStatus(r), Config: r.trk.config.confState()}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]Progress, len(r.trk.progress))
		r.trk.visit(func(id uint64, pr *Progress) {
			s.Progress[id] = pr.clone()
		})
	}
	return s
}

func (s Status) String() string {
	return fmt.Sprintf("id=%x term=%d vote=%x commit=%d applied=%d lead=%x state=%s config=%+v",
		s.ID, s.Term, s.Vote, s.Commit, s.Applied, s.Lead, s.RaftState, s.Config)
}
