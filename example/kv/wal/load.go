package wal

import (
	"fmt"
	"os"

	"github.com/keelraft/raft"
)

// load rebuilds the state from the files in s.dir, then readies the last
// segment for writing. Apart from removing temporary files, it changes no
// file until the files have been found to add up to a log.
func (s *Storage) load() error {
	df, err := listDir(s.dir)
	if err != nil {
		return err
	}
	if err := removeTemps(s.dir, df.temps, s.log); err != nil {
		return err
	}
	segs, snaps := df.segs, df.snaps
	// The log is the run of consecutively numbered segments that ends with
	// the newest. Segments before a gap in the numbering were left by a
	// deletion that a crash undid in part (deletions are not synced);
	// replay checks that the snapshot covers them.
	run, stale := segs, []segment(nil)
	for i := len(segs) - 1; i > 0; i-- {
		if segs[i-1].seq == segs[i].seq {
			return fmt.Errorf("%w: %s holds two segments numbered %d", ErrCorrupt, s.dir, segs[i].seq)
		}
		if segs[i-1].seq+1 != segs[i].seq {
			run, stale = segs[i:], segs[:i]
			break
		}
	}
	if len(run) == 0 && len(snaps) > 0 {
		return fmt.Errorf("%w: %s holds snapshot files but no log segment", ErrCorrupt, s.dir)
	}

	data := make([]segmentData, len(run))
	ops := make([][]op, len(run))
	for i, sg := range run {
		if data[i], err = readSegment(s.path(sg.name()), i == len(run)-1); err != nil {
			return err
		}
		ops[i] = data[i].ops
	}
	base, refs := s.chooseBase(ops, snaps)
	hs, ents, err := s.replay(run, ops, base.Metadata)
	if err != nil {
		return err
	}

	// The files add up to a log. Build the state, then tidy up.
	if !raft.IsEmptySnap(base) {
		if err := s.mem.ApplySnapshot(base); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
	}
	if err := s.mem.Append(ents); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if idx := base.Metadata.Index; hs.Commit < idx {
		// A snapshot holds only committed entries, but a host may write
		// the commit index lazily (a HardState whose only change is the
		// commit index need not be synced): the log's may lag its
		// snapshot's, and raft refuses a commit index outside the log.
		hs.Commit = idx
	}
	s.hs = hs
	_ = s.mem.SetHardState(hs)

	for _, sg := range stale {
		path := s.path(sg.name())
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		s.log.Info("wal: removed a segment that a snapshot covers", "file", path)
		s.dirDirty = true
	}
	maxRef := uint64(0)
	for sf := range refs {
		maxRef = max(maxRef, sf.index)
	}
	for _, sf := range snaps {
		if !refs[sf] && sf.index > maxRef {
			path := s.path(sf.name())
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("wal: %w", err)
			}
			s.log.Info("wal: removed a snapshot file that the log does not name (a crash came before it was recorded)", "file", path)
			s.dirDirty = true
		}
	}

	// Only the last segment should end in zeros: roll cuts a segment to
	// its records, durably, before the next one begins, and openLast
	// removes an empty last segment durably before it preallocates the one
	// before again. Zeros at the end of another mean that the disk did not
	// keep a synced cut. They are taken for the end of the segment all the
	// same: its records were synced before the next segment began, and
	// replay found the next one to begin where this one's entries end.
	for i := range max(len(data)-1, 0) {
		if d := &data[i]; d.valid < d.size {
			path := s.path(run[i].name())
			if err := os.Truncate(path, int64(d.valid)); err != nil {
				return fmt.Errorf("wal: cut the zeros off a segment: %w", err)
			}
			s.log.Warn("wal: cut the zeros off a segment that is not the last", "file", path, "offset", d.valid)
			d.size = d.valid
		}
	}

	s.segs = run
	if len(run) == 0 {
		err = s.startSegment(1)
	} else {
		err = s.openLast(data)
	}
	if err != nil {
		return err
	}
	s.removeCovered(base.Metadata.Index)
	s.removeSnapshotsBefore(base.Metadata.Index)
	return s.sync()
}

// chooseBase returns the newest snapshot that the log names and whose file
// is intact, or an empty one, and the set of snapshots the log names.
func (s *Storage) chooseBase(ops [][]op, snaps []snapFile) (raft.Snapshot, map[snapFile]bool) {
	refs := map[snapFile]bool{}
	for _, seg := range ops {
		for _, o := range seg {
			if o.kind == itemSnapshot || o.kind == itemInstall {
				refs[snapFile{index: o.snap.Index, term: o.snap.Term}] = true
			}
		}
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if !refs[snaps[i]] {
			continue
		}
		sn, err := readSnapshotFile(s.dir, snaps[i])
		if err == nil {
			return sn, refs
		}
		// An older snapshot may still do, if the log goes back far enough;
		// replay checks that it does.
		s.log.Warn("wal: skipping a damaged snapshot file", "err", err)
	}
	return raft.Snapshot{}, refs
}

// replay applies the items of the segments in run, in order, to the
// snapshot base and returns the last hard state and the entries after base.
//
// It follows the log's length, last, over the whole index space, as if
// nothing were ever compacted: an entry at index i replaces everything from
// i on, so last becomes i; an install sets last to its index. Only entries
// after base are kept. An entry at or before base's index still cuts off
// every entry after base, since it replaced all that followed it.
func (s *Storage) replay(run []segment, ops [][]op, base raft.SnapshotMetadata) (raft.HardState, []raft.Entry, error) {
	var (
		hs   raft.HardState
		ents []raft.Entry // entries base.Index+1 .. last, when last > base.Index
	)
	if len(run) == 0 {
		return hs, nil, nil
	}
	last := run[0].first - 1
	if last > base.Index {
		return hs, nil, fmt.Errorf("%w: %s follows entries up to index %d that are gone, and the newest usable snapshot is at index %d",
			ErrCorrupt, s.path(run[0].name()), last, base.Index)
	}
	for i, sg := range run {
		path := s.path(sg.name())
		if i > 0 && sg.first-1 != last {
			return hs, nil, corruptAt(path, 0, fmt.Sprintf("segment begins after index %d, but the log before it ends at %d", sg.first-1, last))
		}
		for _, o := range ops[i] {
			switch o.kind {
			case itemEntry:
				e := o.ent
				if e.Index == 0 || e.Index > last+1 {
					return hs, nil, corruptAt(path, o.off, fmt.Sprintf("entry at index %d after a log that ends at %d", e.Index, last))
				}
				if e.Index <= base.Index {
					ents = ents[:0]
				} else {
					ents = append(ents[:e.Index-base.Index-1], e)
				}
				last = e.Index
			case itemHardState:
				hs = o.hs
			case itemSnapshot:
				if o.snap.Index > last {
					return hs, nil, corruptAt(path, o.off, fmt.Sprintf("snapshot at index %d past the log's end at %d", o.snap.Index, last))
				}
			case itemInstall:
				if o.snap.Index > base.Index {
					return hs, nil, corruptAt(path, o.off, fmt.Sprintf("installs the snapshot at index %d, term %d, whose file is missing or damaged",
						o.snap.Index, o.snap.Term))
				}
				ents = ents[:0]
				last = o.snap.Index
			}
		}
	}
	return hs, ents, nil
}

// openLast opens the last segment of s.segs for writing, as read into
// data[len-1], after cutting off its torn write if it has one. A segment
// left empty goes, and the one before it, whole and synced when the next
// began, is written to instead. The segment is then preallocated, unless it
// is already.
func (s *Storage) openLast(data []segmentData) error {
	n := len(s.segs)
	path, d := s.path(s.segs[n-1].name()), data[n-1]
	if d.torn > 0 {
		s.log.Warn("wal: cut off a torn write at the end of the log", "file", path, "offset", d.valid, "bytes", d.torn)
	}
	if d.valid == 0 && n > 1 {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		// Durably, before the segment before it may be preallocated
		// again: else a crash could leave it with zeros and not last.
		if err := s.syncDir(); err != nil {
			return err
		}
		s.segs = s.segs[:n-1]
		n--
		path, d = s.path(s.segs[n-1].name()), data[n-1]
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	// Whether its space was prepared is not known: it counts as not.
	s.f, s.size, s.fileSize, s.unprepared = f, int64(d.valid), int64(d.size), true
	if d.torn > 0 {
		// Not only the torn bytes go, but the whole file after them, to be
		// preallocated again below: the bytes past s.size must be zeros.
		// Else a write shorter than the torn one would leave the rest of
		// it after the new end of the log, and a crash that lost a page of
		// later writes could bring that back; zeros are the end.
		if err := f.Truncate(s.size); err != nil {
			return fmt.Errorf("wal: cut off torn write: %w", err)
		}
		s.fileSize, s.dirty, s.metaDirty = s.size, true, true // synced at the end of load
	}
	return s.preallocate()
}
