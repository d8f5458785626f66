package raft

import "fmt"

// unstable holds what the node has accepted but the host has not yet
// persisted: at most one incoming snapshot, and the entries that follow it (or
// follow the stable log). Entry i lives at entries[i-offset].
//
// Slices handed out (in a Ready, or in messages) are never written to again:
// a truncation copies before it appends, so a host that is still encoding or
// writing an old slice never sees it change.
//
// A host may take a Ready before it advanced the last one (see Ready), so
// the tail also records what it has handed out: the snapshot, and the first
// handedOut entries. Those are being persisted; the next Ready holds only
// what follows.
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	offset   uint64

	snapshotHandedOut bool
	handedOut         int
}

// hasNext reports whether the tail holds a snapshot or entries not yet
// handed out.
func (u *unstable) hasNext() bool {
	return (u.snapshot != nil && !u.snapshotHandedOut) || len(u.entries) > u.handedOut
}

// nextSnapshot returns the snapshot if it was not handed out yet, else nil.
func (u *unstable) nextSnapshot() *Snapshot {
	if u.snapshotHandedOut {
		return nil
	}
	return u.snapshot
}

// nextEntries returns the entries not handed out yet.
func (u *unstable) nextEntries() []Entry {
	if len(u.entries) == u.handedOut {
		return nil
	}
	n := len(u.entries)
	return u.entries[u.handedOut:n:n]
}

// acceptHandedOut records that the host was given everything the tail
// holds, to persist.
func (u *unstable) acceptHandedOut() {
	u.snapshotHandedOut = u.snapshot != nil
	u.handedOut = len(u.entries)
}

// maybeFirstIndex returns the first log index if the unstable part knows it,
// which it does only while it holds a snapshot.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last log index if the unstable part holds it.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if n := len(u.entries); n != 0 {
		return u.offset + uint64(n) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if the unstable part holds it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks the entries up to id as persisted. It does nothing if the
// entry at id.index has since been replaced by one of another term: the
// host persisted entries that a later append already overwrote, and the new
// ones are still to be written.
func (u *unstable) stableTo(id entryID) {
	t, ok := u.maybeTerm(id.index)
	if !ok || t != id.term || id.index < u.offset {
		return
	}
	n := id.index + 1 - u.offset
	u.entries = u.entries[n:]
	u.offset = id.index + 1
	// The entries persisted were handed out (log matching: an entry of
	// the same term at id.index means the same entries up to it).
	u.handedOut = max(u.handedOut-int(n), 0)
	u.shrink()
}

// shrink lets a mostly unused backing array go once the persisted prefix no
// longer needs it, so a long-lived leader does not hold every entry it ever
// appended. A small array is kept, empty or not: its spare capacity past the
// last entry takes the next appends without allocating, and those write only
// past every slice handed out.
func (u *unstable) shrink() {
	if c := cap(u.entries); c > minUnstableCap && len(u.entries) < c/4 {
		u.entries = append([]Entry(nil), u.entries...)
	}
}

// minUnstableCap is the smallest backing array the unstable tail allocates.
// A node that proposes one entry per Ready would otherwise allocate a
// one-entry array for every entry, since each Advance empties the tail.
const minUnstableCap = 64

// stableSnapTo forgets the unstable snapshot once the host persisted it.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
		u.snapshotHandedOut = false
	}
}

// restore replaces everything with the snapshot s.
func (u *unstable) restore(s Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.entries = nil
	u.snapshot = &s
	u.snapshotHandedOut, u.handedOut = false, 0
}

// truncateAndAppend appends ents, first dropping every entry at or after
// ents[0].Index.
func (u *unstable) truncateAndAppend(ents []Entry) {
	from := ents[0].Index
	switch {
	case from == u.offset+uint64(len(u.entries)):
		// The common case: ents directly follow what we hold.
		u.entries = appendDoubling(u.entries, ents, minUnstableCap)
	case from <= u.offset:
		// Everything we hold is replaced. The stable log below from is
		// truncated when these entries are persisted.
		u.offset = from
		u.entries = append([]Entry(nil), ents...)
		u.handedOut = 0
	case from > u.offset+uint64(len(u.entries)):
		panic(fmt.Sprintf("raft: append at %d leaves a gap after the last index %d", from, u.offset+uint64(len(u.entries))-1))
	default:
		// Keep entries[offset, from) and replace the rest. Copy, so that a
		// slice of the old entries still being persisted is not overwritten.
		kept := u.entries[:from-u.offset]
		u.entries = append(append(make([]Entry, 0, len(kept)+len(ents)), kept...), ents...)
		// The replaced entries may be on their way to disk in a Ready not
		// yet advanced; the new ones go in the next Ready, written after.
		u.handedOut = min(u.handedOut, len(kept))
	}
}

// slice returns entries [lo, hi), which must lie within the unstable part.
func (u *unstable) slice(lo, hi uint64) []Entry {
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}
