package raft

import (
	"errors"
	"fmt"
)

// entryID names one log entry by its term and index. Two entries with the same
// entryID hold the same command, and so do all entries before them (the Log
// Matching property, §5.3).
type entryID struct {
	term  uint64
	index uint64
}

func (id entryID) String() string { return fmt.Sprintf("%d@%d", id.index, id.term) }

// raftLog is a node's log: the stable prefix the host has persisted (in
// Storage) followed by the unstable tail it has not yet written, and the
// commit and apply cursors over both.
//
//	 storage: snapshot | first ........ lastStable
//	unstable:                              (snapshot) | offset ...... last
//	                   applied <= applying <= committed <= last
type raftLog struct {
	storage  Storage
	unstable unstable

	// committed is the highest index known to be stored on a quorum (§5.3).
	committed uint64
	// applying is the highest index handed to the host to apply, in a Ready
	// not yet advanced; applied is the highest index the host has applied.
	applying uint64
	applied  uint64

	// maxApplyingSize bounds the bytes of committed entries per Ready.
	maxApplyingSize uint64

	logger Logger
}

// newLog builds the log over storage, resuming at applied.
func newLog(storage Storage, logger Logger, maxApplyingSize uint64) *raftLog {
	first, err := storage.FirstIndex()
	if err != nil {
		panic(brokenStorage("FirstIndex", err))
	}
	last, err := storage.LastIndex()
	if err != nil {
		panic(brokenStorage("LastIndex", err))
	}
	return &raftLog{
		storage:         storage,
		unstable:        unstable{offset: last + 1},
		committed:       first - 1,
		applying:        first - 1,
		applied:         first - 1,
		maxApplyingSize: maxApplyingSize,
		logger:          logger,
	}
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applying=%d applied=%d unstable.offset=%d len(unstable.entries)=%d",
		l.committed, l.applying, l.applied, l.unstable.offset, len(l.unstable.entries))
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(brokenStorage("FirstIndex", err))
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(brokenStorage("LastIndex", err))
	}
	return i
}

// lastStableIndex returns the last index the host has persisted and that
// still belongs to the log: entries the unstable tail will overwrite, and a
// snapshot still to be written, do not count.
func (l *raftLog) lastStableIndex() uint64 {
	if l.unstable.snapshot != nil {
		return 0
	}
	return min(l.unstable.offset-1, l.lastIndex())
}

func (l *raftLog) lastEntryID() entryID {
	last := l.lastIndex()
	t, err := l.term(last)
	if err != nil {
		panic(fmt.Sprintf("raft: term of the last entry %d: %v", last, err))
	}
	return entryID{term: t, index: last}
}

// term returns the term of entry i. It fails with ErrCompacted for an index
// before the snapshot and ErrUnavailable for one past the last entry. The
// entry just before firstIndex (the snapshot's) still has a known term.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(brokenStorage(fmt.Sprintf("Term(%d)", i), err))
}

// matchTerm reports whether the log holds entry id.
func (l *raftLog) matchTerm(id entryID) bool {
	t, err := l.term(id.index)
	return err == nil && t == id.term
}

// zeroTermOnOutOfBounds turns "no such entry" into term 0, which matches no
// real entry; any other error is a broken promise of the storage.
func zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	panic(fmt.Sprintf("raft: unexpected term look-up error: %v", err))
}

// isUpToDate reports whether a log ending at candidate is at least as
// up-to-date as ours: a later last term wins, and with equal last terms the
// longer log wins (§5.4.1).
func (l *raftLog) isUpToDate(candidate entryID) bool {
	last := l.lastEntryID()
	return candidate.term > last.term || (candidate.term == last.term && candidate.index >= last.index)
}

// maybeAppend runs the follower's side of AppendEntries (§5.3): if the log
// holds prev, it appends ents after it, truncating any conflicting suffix, and
// raises the commit index to min(committed, index of the last new entry). It
// returns the index of the last new entry and whether prev matched.
func (l *raftLog) maybeAppend(prev entryID, committed uint64, ents []Entry) (lastNew uint64, ok bool) {
	if !l.matchTerm(prev) {
		return 0, false
	}
	lastNew = prev.index + uint64(len(ents))
	if i := l.findConflict(ents); i != 0 {
		if i <= l.committed {
			panic(fmt.Sprintf("raft: entry %d conflicts with the committed log (committed %d): "+
				"a leader sent a different committed entry, or storage lost entries", i, l.committed))
		}
		l.append(ents[i-ents[0].Index:]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

// append adds ents to the unstable tail, truncating what follows ents[0]. It
// returns the new last index.
func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d would overwrite committed entries (committed %d)", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that is missing
// from the log or holds another term, or 0 if the log already holds them all.
// The entries of ents must be contiguous.
//
// For example, with a log of terms [1 1 2 2] at indexes 1..4:
//
//	ents 3@2 4@2        → 0 (already held)
//	ents 3@2 4@2 5@3    → 5 (new entry)
//	ents 3@3 4@3        → 3 (conflict: same index, other term)
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(entryID{term: e.Term, index: e.Index}) {
			if e.Index <= l.lastIndex() {
				l.logger.Infof("found conflict at index %d [existing term: %d, conflicting term: %d]",
					e.Index, zeroTermOnOutOfBounds(l.term(e.Index)), e.Term)
			}
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index i <= index whose term is at
// most term, with that term. A leader rejected at (index, term) uses it to skip
// over a whole term of entries the follower cannot hold; a follower uses it to
// give that hint. If the look-up runs into the compacted prefix, it returns the
// index where it stopped, with term 0.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// unstableEntries returns the entries not yet persisted.
func (l *raftLog) unstableEntries() []Entry {
	if len(l.unstable.entries) == 0 {
		return nil
	}
	n := len(l.unstable.entries)
	return l.unstable.entries[:n:n]
}

// hasNextCommittedEnts reports whether committed entries wait to be applied.
// None are handed out while a snapshot waits to be persisted: the host must
// apply the snapshot first.
func (l *raftLog) hasNextCommittedEnts() bool {
	return l.unstable.snapshot == nil && l.applying < l.committed
}

// nextCommittedEnts returns the committed entries the host has not been given
// yet, at most maxApplyingSize bytes of them (but at least one).
func (l *raftLog) nextCommittedEnts() []Entry {
	if !l.hasNextCommittedEnts() {
		return nil
	}
	ents, err := l.slice(l.applying+1, l.committed+1, l.maxApplyingSize)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries (%d, %d] are unavailable: %v", l.applying, l.committed, err))
	}
	return ents
}

// snapshot returns the newest snapshot: the unstable one if any, else the
// storage's.
func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

// commitTo raises the commit index. It never lowers it: a leader's commit
// index in a delayed message may be older than what we already know.
func (l *raftLog) commitTo(tocommit uint64) {
	if tocommit <= l.committed {
		return
	}
	if last := l.lastIndex(); tocommit > last {
		panic(fmt.Sprintf("raft: commit index %d is past the last index %d", tocommit, last))
	}
	l.committed = tocommit
}

// maybeCommit commits up to id if id is in the log. The leader passes an
// entry of its current term: entries of earlier terms are committed only
// indirectly, by committing a later entry of the current term (§5.4.2).
func (l *raftLog) maybeCommit(id entryID) bool {
	if id.index > l.committed && l.matchTerm(id) {
		l.commitTo(id.index)
		return true
	}
	return false
}

// acceptApplying records that the host was given entries up to i to apply.
func (l *raftLog) acceptApplying(i uint64) {
	l.applying = max(l.applying, i)
}

// appliedTo records that the host applied entries up to i.
func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if i > l.committed || i < l.applied {
		panic(fmt.Sprintf("raft: applied index %d is outside [applied %d, committed %d]", i, l.applied, l.committed))
	}
	l.applied = i
	l.applying = max(l.applying, i)
}

func (l *raftLog) stableTo(id entryID) { l.unstable.stableTo(id) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

// restore replaces the log with the snapshot s; everything up to its index is
// committed and, once the host persists and applies s, applied.
func (l *raftLog) restore(s Snapshot) {
	l.logger.Infof("log [%s] starts to restore snapshot [index: %d, term: %d]", l, s.Metadata.Index, s.Metadata.Term)
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// entries returns the entries from i to the end, within maxSize bytes.
func (l *raftLog) entries(i, maxSize uint64) ([]Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// slice returns entries [lo, hi), at most maxSize bytes of them but at least
// one. It fails with ErrCompacted if lo is before the first index.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid slice %d > %d", lo, hi))
	}
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if last := l.lastIndex(); hi > last+1 {
		panic(fmt.Sprintf("raft: slice [%d, %d) out of bound [%d, %d]", lo, hi, l.firstIndex(), last))
	}
	if lo == hi {
		return nil, nil
	}

	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		switch {
		case errors.Is(err, ErrCompacted):
			return nil, err
		case errors.Is(err, ErrUnavailable):
			panic(brokenStorage(fmt.Sprintf("Entries(%d, %d)", lo, min(hi, l.unstable.offset)), err))
		case err != nil:
			panic(brokenStorage("Entries", err))
		}
		if len(stored) == 0 {
			panic(brokenStorage(fmt.Sprintf("Entries(%d, %d)", lo, min(hi, l.unstable.offset)),
				errors.New("returned no entries for a non-empty range")))
		}
		// Storage stopped early because of maxSize: that is all we return.
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		tail := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) == 0 {
			ents = tail
		} else {
			// Copy so that appending never writes into storage's array.
			ents = append(append(make([]Entry, 0, len(ents)+len(tail)), ents...), tail...)
		}
	}
	return limitSize(ents, maxSize), nil
}

// brokenStorage names the storage promise a host broke.
func brokenStorage(call string, err error) string {
	return fmt.Sprintf("raft: Storage.%s failed: %v (the host's storage must not fail or lose entries it acknowledged)", call, err)
}
