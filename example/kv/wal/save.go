package wal

import (
	"errors"
	"fmt"
	"os"

	"github.com/keelraft/raft"
)

// maxKeptBuffer is the largest record buffer kept between Saves, so that
// one big batch does not pin its memory.
const maxKeptBuffer = 1 << 20

// Save persists one Ready: its snapshot if not empty, its entries, and its
// HardState if not empty, as one atomic batch. With sync set (pass
// Ready.MustSync) it returns only once the batch is on disk, after one
// fsync; more only when the Save starts a new segment or installs a
// snapshot. A Save that installs a snapshot syncs whatever sync says: it
// deletes the segments the snapshot covers, which only a durable install
// may replace. Then it makes the writes visible to the raft.Storage
// methods.
//
// The entries replace any stored from the first one's index on. Entries up
// to the snapshot's index are skipped: the snapshot holds them. Errors:
// ErrSnapOutOfDate (wrapped) for a snapshot not newer than the stored one,
// ErrUnavailable (wrapped) for entries that leave a gap after the log; in
// both cases nothing is written. After a failed write or fsync of the log
// the storage is unusable (see the package documentation).
func (s *Storage) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	install := !raft.IsEmptySnap(snap)
	ents, err := s.checkSave(ents, snap)
	if err != nil {
		return err
	}
	if !install && len(ents) == 0 && raft.IsEmptyHardState(hs) {
		if sync {
			return s.sync()
		}
		return nil
	}

	if install {
		// The file first: the install item that names it must never be on
		// disk without it.
		if err := s.writeSnapshotFile(snap); err != nil {
			return err // the log is unchanged: a stray file does not count
		}
	}
	buf := beginRecord(s.buf[:0], typeBatch)
	if install {
		buf, err = appendSnapshot(buf, itemInstall, snap.Metadata)
	}
	if err == nil {
		buf, err = appendEntries(buf, ents)
	}
	if err == nil && !raft.IsEmptyHardState(hs) {
		buf, err = appendHardState(buf, hs)
	}
	if err == nil {
		err = endRecord(buf, 0)
	}
	if err != nil {
		return fmt.Errorf("wal: encode batch: %w", err)
	}
	s.keepBuffer(buf)
	if err := s.write(buf, sync || install); err != nil {
		return err
	}

	// The log holds the batch (synced if asked): now the core may see it.
	if install {
		err = s.mem.ApplySnapshot(snap)
	}
	if err == nil {
		err = s.mem.Append(ents)
	}
	if err != nil {
		// checkSave let through what the memory refuses: disk and memory
		// now disagree.
		return s.fail(fmt.Errorf("wal: saved batch not applied in memory: %w", err))
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = hs
		_ = s.mem.SetHardState(hs)
	}
	if install {
		s.removeCovered(snap.Metadata.Index)
		s.removeSnapshotsBefore(snap.Metadata.Index)
	}
	return nil
}

// checkSave checks that ents and snap can be appended to the log, and
// returns the entries to write: those after the snapshot's index.
func (s *Storage) checkSave(ents []raft.Entry, snap raft.Snapshot) ([]raft.Entry, error) {
	cur, _ := s.mem.Snapshot()
	snapIndex := cur.Metadata.Index
	last, _ := s.mem.LastIndex()
	if !raft.IsEmptySnap(snap) {
		if snap.Metadata.Index <= snapIndex {
			return nil, fmt.Errorf("wal: save snapshot at index %d, storage holds one at %d: %w",
				snap.Metadata.Index, snapIndex, raft.ErrSnapOutOfDate)
		}
		snapIndex, last = snap.Metadata.Index, snap.Metadata.Index
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return nil, fmt.Errorf("wal: save non-contiguous entries: index %d follows %d",
				ents[i].Index, ents[i-1].Index)
		}
	}
	// Entries up to the snapshot's index are committed and in it.
	if n := len(ents); n > 0 && ents[n-1].Index <= snapIndex {
		ents = nil
	} else if n > 0 && ents[0].Index <= snapIndex {
		ents = ents[snapIndex+1-ents[0].Index:]
	}
	if len(ents) > 0 && ents[0].Index > last+1 {
		return nil, fmt.Errorf("wal: save entries from index %d, after last index %d: %w",
			ents[0].Index, last, raft.ErrUnavailable)
	}
	return ents, nil
}

// SaveSnapshot installs snap as the newest snapshot and drops the whole
// log, as a follower does with a snapshot from its leader. It is Save with
// only a snapshot, synced.
func (s *Storage) SaveSnapshot(snap raft.Snapshot) error {
	if raft.IsEmptySnap(snap) {
		return errors.New("wal: save an empty snapshot")
	}
	return s.Save(raft.HardState{}, nil, snap, true)
}

// CreateSnapshot records data as the state machine's state as of index i,
// which the host has applied, with cs as the membership at i (nil keeps
// the previous snapshot's). It writes the snapshot file, records it in the
// log and syncs; then it drops the entries up to i from memory, but for
// the last Options.CatchUpEntries of them, deletes the segments that hold
// only dropped entries, and older snapshot files. Errors
// (wrapped): ErrSnapOutOfDate if i is not past the stored snapshot's index,
// ErrUnavailable if it is past the last index; nothing is written then.
//
// The storage keeps data, as Snapshot returns it; the caller must not
// modify it afterwards. The same holds for the Data of saved entries.
func (s *Storage) CreateSnapshot(i uint64, cs *raft.ConfState, data []byte) (raft.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return raft.Snapshot{}, err
	}
	cur, _ := s.mem.Snapshot()
	if i <= cur.Metadata.Index {
		return raft.Snapshot{}, fmt.Errorf("wal: create snapshot at index %d, storage holds one at %d: %w",
			i, cur.Metadata.Index, raft.ErrSnapOutOfDate)
	}
	if last, _ := s.mem.LastIndex(); i > last {
		return raft.Snapshot{}, fmt.Errorf("wal: create snapshot at index %d past last index %d: %w",
			i, last, raft.ErrUnavailable)
	}
	term, err := s.mem.Term(i)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("wal: create snapshot at index %d: %w", i, err)
	}
	sn := raft.Snapshot{Metadata: raft.SnapshotMetadata{ConfState: cur.Metadata.ConfState, Index: i, Term: term}, Data: data}
	if cs != nil {
		sn.Metadata.ConfState = *cs
	}

	if err := s.writeSnapshotFile(sn); err != nil {
		return raft.Snapshot{}, err // the log is unchanged: a stray file does not count
	}
	buf, err := appendSnapshot(beginRecord(s.buf[:0], typeBatch), itemSnapshot, sn.Metadata)
	if err == nil {
		err = endRecord(buf, 0)
	}
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("wal: encode batch: %w", err)
	}
	s.keepBuffer(buf)
	if err := s.write(buf, true); err != nil {
		return raft.Snapshot{}, err
	}

	if _, err := s.mem.CreateSnapshot(i, cs, data); err != nil {
		return raft.Snapshot{}, s.fail(fmt.Errorf("wal: saved snapshot not applied in memory: %w", err))
	}
	// Entries up to compact go; after an Open, the log may begin past it.
	compact := i - min(i, s.opts.CatchUpEntries)
	if first, _ := s.mem.FirstIndex(); compact >= first {
		if err := s.mem.Compact(compact); err != nil {
			return raft.Snapshot{}, s.fail(fmt.Errorf("wal: saved snapshot not applied in memory: %w", err))
		}
	}
	s.removeCovered(compact)
	s.removeSnapshotsBefore(i)
	return sn, nil
}

// keepBuffer keeps buf for the next record unless it grew too big.
func (s *Storage) keepBuffer(buf []byte) {
	if cap(buf) <= maxKeptBuffer {
		s.buf = buf
	} else {
		s.buf = nil
	}
}

// write appends rec to the log, and syncs if asked. It rolls to a new
// segment first if the current one is full, or was not prepared while a
// prepared file is ready: the segment a new log starts with, one created
// when the preparation was late, and the last segment at Open would
// otherwise cost a journal commit per sync until they fill (see preparer).
// A failure makes the storage unusable.
func (s *Storage) write(rec []byte, sync bool) error {
	if s.size >= s.opts.SegmentSize || (s.unprepared && s.prep.ready()) {
		if err := s.roll(); err != nil {
			return s.fail(err)
		}
	}
	if err := s.append(rec); err != nil {
		return s.fail(err)
	}
	if sync {
		if err := s.sync(); err != nil {
			return err
		}
	}
	// The next segment's zeros are written while this one fills. Not
	// before the sync above: after a roll, they would delay it.
	s.prep.maybeStart()
	return nil
}

// append writes rec after the records of the current segment. That is at
// s.size, not at the end of the file, which preallocation put further.
func (s *Storage) append(rec []byte) error {
	n, err := s.f.WriteAt(rec, s.size)
	s.size += int64(n)
	s.dirty = true
	if s.size > s.fileSize { // past the preallocated space, or there is none
		s.fileSize, s.metaDirty = s.size, true
	}
	if err != nil {
		return fmt.Errorf("wal: write %s: %w", s.f.Name(), err)
	}
	return nil
}

// sync makes everything written so far durable. A failure makes the
// storage unusable: after a failed fsync, what reached the disk is unknown.
//
// The segment is synced with fdatasync when its size and allocation have
// not changed since its last sync, which is the common case: it was
// preallocated, and that was synced with a full fsync. fdatasync then
// leaves out the file's times. It still commits what is needed to read the
// data back: on ext4, the marking of preallocated blocks as written, a
// journal commit. In a segment prepared ahead (see preparer) every block
// was written already, and fdatasync writes the data and flushes the
// disk's cache, no more.
func (s *Storage) sync() error {
	if s.dirty {
		if err := s.syncFile(s.f, !s.metaDirty); err != nil {
			return s.fail(fmt.Errorf("wal: sync %s: %w", s.f.Name(), err))
		}
		s.dirty, s.metaDirty = false, false
	}
	if s.dirDirty {
		if err := s.syncDir(); err != nil {
			return s.fail(err)
		}
		s.dirDirty = false
	}
	return nil
}

// roll closes the current segment, synced, and starts the next one. Only
// the last segment may then end in a torn write.
//
// The segment is first cut to its records: the space preallocated past them
// goes, in the same fsync as the last records, before the next segment
// exists. So no segment but the last ever ends in zeros.
func (s *Storage) roll() error {
	if s.fileSize > s.size {
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("wal: cut %s to its records: %w", s.f.Name(), err)
		}
		s.fileSize, s.dirty, s.metaDirty = s.size, true, true
	}
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", s.f.Name(), err)
	}
	return s.startSegment(s.segs[len(s.segs)-1].seq + 1)
}

// startSegment begins segment seq and makes it the one written to. Its
// first batch restates the snapshot and hard state in force, so that the
// segments before it can go once a snapshot covers their entries. The
// segment's name in the directory is synced with the next sync.
func (s *Storage) startSegment(seq uint64) error {
	last, _ := s.mem.LastIndex()
	sg := segment{seq: seq, first: last + 1}
	if err := s.createSegment(s.path(sg.name())); err != nil {
		return err
	}
	s.segs = append(s.segs, sg)

	snap, _ := s.mem.Snapshot()
	if raft.IsEmptySnap(snap) && raft.IsEmptyHardState(s.hs) {
		return nil
	}
	// Not s.buf: that may hold the batch this segment is started for.
	var err error
	buf := beginRecord(nil, typeBatch)
	if !raft.IsEmptySnap(snap) {
		buf, err = appendSnapshot(buf, itemSnapshot, snap.Metadata)
	}
	if err == nil && !raft.IsEmptyHardState(s.hs) {
		buf, err = appendHardState(buf, s.hs)
	}
	if err == nil {
		err = endRecord(buf, 0)
	}
	if err != nil {
		return fmt.Errorf("wal: encode segment start: %w", err)
	}
	return s.append(buf)
}

// createSegment makes the file at path the current segment: the prepared
// file if it is ready, else a new file, preallocated. A preparation that
// failed is logged, and the log goes on without it.
//
// The roll does not wait for a preparation under way: that only happens
// when the log fills segments faster than the disk writes zeros, and the
// log then goes on as it did before the pipeline, which costs less than a
// stall would (measured in BenchmarkSaveConcurrent). The preparation goes
// on for the next roll.
func (s *Storage) createSegment(path string) error {
	ready, err := s.prep.take()
	if err != nil {
		s.log.Warn("wal: could not prepare the next segment file ahead; creating it now", "file", path, "err", err)
	}
	if ready {
		err := os.Rename(s.prep.path, path)
		if err == nil {
			return s.usePrepared(path)
		}
		s.log.Warn("wal: could not rename the prepared segment file; creating it now", "file", path, "err", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	s.f, s.size, s.fileSize, s.dirty, s.metaDirty, s.dirDirty = f, 0, 0, false, false, true
	s.unprepared = true
	s.created++
	return s.preallocate()
}

// usePrepared makes the prepared file, renamed to path, the current
// segment. It is SegmentSize bytes of zeros, and its size and allocation
// are synced: the syncs of its records are fdatasyncs from the first.
// Its new name is synced with the next sync, as a new file's would be.
func (s *Storage) usePrepared(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	s.f, s.size, s.fileSize, s.dirty, s.metaDirty, s.dirDirty = f, 0, s.opts.SegmentSize, false, false, true
	s.unprepared = false
	s.fromPrepared++
	return nil
}

// preallocateFile is fallocate, a variable so that tests can take
// preallocation away, as a file system without it does.
var preallocateFile = fallocate

// preallocate extends the current segment to SegmentSize, unless it is that
// long already, so that appends up to there change neither its size nor
// its allocation, and sync can use fdatasync. Where the file system cannot
// preallocate, the log does without.
func (s *Storage) preallocate() error {
	if s.fileSize >= s.opts.SegmentSize {
		return nil
	}
	ok, err := s.allocate(s.f, s.opts.SegmentSize)
	if err != nil {
		return fmt.Errorf("wal: preallocate %s: %w", s.f.Name(), err)
	}
	if ok {
		s.fileSize, s.dirty, s.metaDirty = s.opts.SegmentSize, true, true
	}
	return nil
}

// removeCovered deletes the oldest segments once a snapshot at index or
// later covers them: segments 0..k can go when segment k+1 began at
// index+1 or before, because everything the log held then is in the
// snapshot, and segment k+1 restates the snapshot and hard state.
// Deletions are not synced: should a crash undo some, Open finds them
// covered again. Failures are logged, not returned, for the same reason.
func (s *Storage) removeCovered(index uint64) {
	k := -1
	for i := 0; i+1 < len(s.segs); i++ {
		if s.segs[i+1].first-1 <= index {
			k = i
		}
	}
	var err error
	for _, sg := range s.segs[:k+1] {
		err = errors.Join(err, os.Remove(s.path(sg.name())))
	}
	if err != nil {
		s.log.Warn("wal: could not remove old segments", "dir", s.dir, "err", err)
	}
	s.segs = append([]segment(nil), s.segs[k+1:]...)
}
