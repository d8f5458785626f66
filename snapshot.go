package raft

import "errors"

// SnapshotStatus is how sending a snapshot ended, as the host reports it
// through ReportSnapshot.
type SnapshotStatus uint8

const (
	// SnapshotFinish: the follower received the whole snapshot.
	SnapshotFinish SnapshotStatus = iota
	// SnapshotFailure: sending failed; the leader probes the follower again
	// and sends a new snapshot if it still needs one.
	SnapshotFailure
)

var snapshotStatusNames = [...]string{"SnapshotFinish", "SnapshotFailure"}

func (s SnapshotStatus) String() string {
	return enumName(snapshotStatusNames[:], uint8(s), "SnapshotStatus")
}

// maybeSendSnapshot sends the follower the newest snapshot, because it needs
// entries the leader has compacted (§7). Only a recently active follower gets
// one: a snapshot is large, and a dead follower would waste it.
func (r *raft) maybeSendSnapshot(to uint64, pr *Progress) bool {
	if !pr.RecentActive {
		r.logger.Debugf("ignore sending snapshot to %x since it is not recently active", to)
		return false
	}
	snap, err := r.raftLog.snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			r.logger.Debugf("%x failed to send snapshot to %x because snapshot is temporarily unavailable", r.id, to)
			return false
		}
		panic(brokenStorage("Snapshot", err))
	}
	if IsEmptySnap(snap) {
		// Storage compacted entries without a snapshot that covers them: a
		// host error, but not one to crash on. The follower waits.
		r.logger.Errorf("%x cannot send a snapshot to %x: storage compacted its log but holds no snapshot", r.id, to)
		return false
	}
	r.logger.Infof("%x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%s]",
		r.id, r.raftLog.firstIndex(), r.raftLog.committed, snap.Metadata.Index, snap.Metadata.Term, to, pr)
	pr.becomeSnapshot(snap.Metadata.Index)
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	return true
}

// handleSnapshot is the follower's side of InstallSnapshot (§7).
func (r *raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		r.logger.Warningf("%x ignored a MsgSnap from %x without a snapshot", r.id, m.From)
		return
	}
	s := *m.Snapshot
	if s.Metadata.Term > m.Term {
		r.logger.Warningf("%x ignored a snapshot of term %d from %x in term %d", r.id, s.Metadata.Term, m.From, m.Term)
		return
	}
	if r.restore(s) {
		r.logger.Infof("%x [commit: %d] restored snapshot [index: %d, term: %d]",
			r.id, r.raftLog.committed, s.Metadata.Index, s.Metadata.Term)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.lastIndex()})
		return
	}
	r.logger.Infof("%x [commit: %d] ignored snapshot [index: %d, term: %d]",
		r.id, r.raftLog.committed, s.Metadata.Index, s.Metadata.Term)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
}

// restore installs the snapshot s if it brings news, and reports whether it
// replaced the log. A snapshot at or below our commit index is old; one
// whose last entry we hold only moves the commit index.
func (r *raft) restore(s Snapshot) bool {
	if s.Metadata.Index <= r.raftLog.committed {
		return false
	}
	if r.state != StateFollower {
		// Only a leader of our term sends snapshots, and Step made us its
		// follower; anything else is a malformed message.
		r.logger.Warningf("%x attempted to restore snapshot as %s; ignoring", r.id, r.state)
		return false
	}
	cfg, err := configFromConfState(s.Metadata.ConfState)
	if err != nil {
		r.logger.Warningf("%x ignored a snapshot with an invalid configuration: %v", r.id, err)
		return false
	}
	if !cfg.has(r.id) && r.trk.config.has(r.id) {
		// A member is never sent a snapshot of a configuration without it
		// by a leader it should follow. A node that is no member yet (one
		// just added, started empty) takes it: the leader's latest
		// snapshot may predate the change that added it, which then
		// follows in the log.
		r.logger.Warningf("%x attempted to restore snapshot but it is not in the ConfState %v; ignoring", r.id, s.Metadata.ConfState)
		return false
	}
	if r.raftLog.matchTerm(entryID{term: s.Metadata.Term, index: s.Metadata.Index}) {
		// We hold the snapshot's last entry, so the log before it matches
		// (§5.3): fast-forward the commit index and keep our entries.
		r.logger.Infof("%x [commit: %d, lastindex: %d] fast-forwarded commit to snapshot [index: %d, term: %d]",
			r.id, r.raftLog.committed, r.raftLog.lastIndex(), s.Metadata.Index, s.Metadata.Term)
		r.raftLog.commitTo(s.Metadata.Index)
		return false
	}
	r.raftLog.restore(s)
	// Entries we held are gone before being persisted, perhaps: none of
	// them may be acknowledged now.
	r.dropAppendAcks(0)
	r.trk = newTracker(r.trk.maxInflight, r.trk.maxInflightBytes)
	r.switchToConfig(cfg)
	return true
}

// handleSnapStatus moves a follower out of StateSnapshot once the host
// reports how sending ended. Either way the leader probes next; after a
// failure it waits for a heartbeat answer first, as the follower is likely
// unreachable.
func (r *raft) handleSnapStatus(m Message, pr *Progress) {
	if pr.State != StateSnapshot {
		return
	}
	if m.Reject {
		pr.PendingSnapshot = 0
		pr.becomeProbe()
		r.logger.Debugf("%x snapshot failed, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
	} else {
		pr.becomeProbe()
		r.logger.Debugf("%x snapshot succeeded, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
	}
	pr.MsgAppFlowPaused = true
}
