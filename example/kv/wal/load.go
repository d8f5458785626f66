package wal

import (
	"fmt"
	"io"
	"os"

	"github.com/keelraft/raft"
)

// load rebuilds the state from the files in s.dir, then readies the last
// segment for writing. Apart from removing temporary files, it changes no
// file until the files have been found to add up to a log.
func (s *Storage) load() error {
	segs, snaps, err := listDir(s.dir, s.log)
	if err != nil {
		return err
	}
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

	ops := make([][]op, len(run))
	sizes := make([]int, len(run)) // of the intact prefix of each segment
	torn := 0                      // bytes of torn write at the end of the last one
	for i, sg := range run {
		var size int
		ops[i], sizes[i], size, err = readSegment(s.path(sg.name()), i == len(run)-1)
		if err != nil {
			return err
		}
		torn = size - sizes[i]
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

	s.segs = run
	if len(run) == 0 {
		err = s.startSegment(1)
	} else {
		err = s.openLast(sizes, torn)
	}
	if err != nil {
		return err
	}
	s.removeCovered(base.Metadata.Index)
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

// openLast opens the last segment of s.segs for writing, after cutting off
// its torn write if it has one (torn bytes after its intact prefix of
// sizes[len-1] bytes). A segment left empty goes, and the one before it,
// whole and synced when the next began, is written to instead.
func (s *Storage) openLast(sizes []int, torn int) error {
	n := len(s.segs)
	path := s.path(s.segs[n-1].name())
	size := sizes[n-1]
	if torn > 0 {
		s.log.Warn("wal: cut off a torn write at the end of the log", "file", path, "offset", size, "bytes", torn)
	}
	if size == 0 && n > 1 {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
		s.dirDirty = true
		s.segs = s.segs[:n-1]
		n--
		path, size, torn = s.path(s.segs[n-1].name()), sizes[n-1], 0
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	s.f = f
	if torn > 0 {
		if err := f.Truncate(int64(size)); err != nil {
			return fmt.Errorf("wal: cut off torn write: %w", err)
		}
		s.dirty = true // synced at the end of load
	}
	if _, err := f.Seek(int64(size), io.SeekStart); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	s.size = int64(size)
	return nil
}
