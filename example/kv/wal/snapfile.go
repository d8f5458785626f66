package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/keelraft/raft"
)

// writeSnapshotFile writes sn to its snapshot file atomically: to a
// temporary file first, which is synced, then renamed into place, and the
// directory synced. Once it returns, the file is whole on disk; before that,
// a crash leaves at most a temporary file, which Open removes.
func (s *Storage) writeSnapshotFile(sn raft.Snapshot) (err error) {
	body, err := sn.Marshal()
	if err != nil {
		return fmt.Errorf("wal: encode snapshot: %w", err)
	}
	if uint64(len(body)) > maxPayload {
		return fmt.Errorf("wal: snapshot at index %d: %w", sn.Metadata.Index, errTooLarge)
	}
	// The header is written on its own, so that the (possibly large) body
	// is not copied into a record buffer.
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(body)))
	hdr[8] = typeSnapshot
	crc := crc32.Update(crc32.Checksum(hdr[8:], castagnoli), castagnoli, body)
	binary.LittleEndian.PutUint32(hdr[4:], crc)

	path := s.path(snapFile{index: sn.Metadata.Index, term: sn.Metadata.Term}.name())
	tmp := path + tempExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: write snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("wal: write snapshot %s: %w", path, err)
		}
	}()
	if _, err = f.Write(hdr[:]); err != nil {
		return err
	}
	if _, err = f.Write(body); err != nil {
		return err
	}
	if err = s.syncFile(f, false); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return s.syncDir()
}

// readSnapshotFile reads the snapshot file sf of dir and checks that it is
// whole and holds the snapshot its name says.
func readSnapshotFile(dir string, sf snapFile) (raft.Snapshot, error) {
	path := filepath.Join(dir, sf.name())
	b, err := os.ReadFile(path)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("wal: %w", err)
	}
	typ, payload, next, err := readRecord(b, 0)
	switch {
	case err != nil:
	case typ != typeSnapshot:
		err = fmt.Errorf("record of type %d in a snapshot file", typ)
	case next != len(b):
		err = fmt.Errorf("%d bytes after the snapshot", len(b)-next)
	}
	if err != nil {
		return raft.Snapshot{}, corruptAt(path, 0, err)
	}
	var sn raft.Snapshot
	if err := sn.Unmarshal(payload); err != nil {
		return raft.Snapshot{}, corruptAt(path, headerSize, err)
	}
	if sn.Metadata.Index != sf.index || sn.Metadata.Term != sf.term {
		return raft.Snapshot{}, corruptAt(path, headerSize, fmt.Errorf("holds the snapshot at index %d, term %d",
			sn.Metadata.Index, sn.Metadata.Term))
	}
	return sn, nil
}

// removeSnapshotsBefore removes the snapshot files older than index, which
// a newer snapshot has replaced. A failure is logged, not returned: the next
// Open removes what is left.
func (s *Storage) removeSnapshotsBefore(index uint64) {
	df, err := listDir(s.dir)
	if err == nil {
		for _, sf := range df.snaps {
			if sf.index < index {
				err = errors.Join(err, os.Remove(s.path(sf.name())))
			}
		}
	}
	if err != nil {
		s.log.Warn("wal: could not remove old snapshot files", "dir", s.dir, "err", err)
	}
}
