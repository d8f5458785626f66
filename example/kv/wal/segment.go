package wal

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segment is one segment file: its sequence number, and first, the index
// after the last one the log held when the segment began. Entries before
// first are in earlier segments or in the snapshot; the segment's own
// entries start at first or, if it replaced a suffix, before.
type segment struct {
	seq   uint64
	first uint64
}

const (
	segmentExt  = ".wal"
	snapshotExt = ".snap"
	tempExt     = ".tmp"
)

func (sg segment) name() string { return fmt.Sprintf("%016x-%016x%s", sg.seq, sg.first, segmentExt) }

// parseHexPair parses the "%016x-%016x<ext>" names of segments and snapshot
// files. Only the exact form is accepted, so that every file has one name.
func parseHexPair(name, ext string) (a, b uint64, ok bool) {
	rest, found := strings.CutSuffix(name, ext)
	if !found || len(rest) != 33 || rest[16] != '-' {
		return 0, 0, false
	}
	a, errA := strconv.ParseUint(rest[:16], 16, 64)
	b, errB := strconv.ParseUint(rest[17:], 16, 64)
	if errA != nil || errB != nil || fmt.Sprintf("%016x-%016x", a, b) != rest {
		return 0, 0, false
	}
	return a, b, true
}

// snapFile names a snapshot file.
type snapFile struct {
	index, term uint64
}

func (sf snapFile) name() string { return fmt.Sprintf("%016x-%016x%s", sf.index, sf.term, snapshotExt) }

// dirFiles is what listDir found in the log's directory.
type dirFiles struct {
	segs  []segment  // in sequence order
	snaps []snapFile // in index order
	// temps are the names of temporary files: a snapshot file being
	// written, or the next segment being prepared (see preparer).
	temps []string
}

// listDir lists the segments, snapshot files and temporary files of dir.
// It changes nothing: while the log is open, a temporary file may be one
// that it is writing.
func listDir(dir string) (dirFiles, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return dirFiles{}, fmt.Errorf("wal: %w", err)
	}
	var df dirFiles
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		if seq, first, ok := parseHexPair(name, segmentExt); ok {
			df.segs = append(df.segs, segment{seq: seq, first: first})
		} else if index, term, ok := parseHexPair(name, snapshotExt); ok {
			df.snaps = append(df.snaps, snapFile{index: index, term: term})
		} else if strings.HasSuffix(name, snapshotExt+tempExt) || strings.HasSuffix(name, segmentExt+tempExt) {
			df.temps = append(df.temps, name)
		}
	}
	slices.SortFunc(df.segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	slices.SortFunc(df.snaps, func(a, b snapFile) int { return cmp.Compare(a.index, b.index) })
	return df, nil
}

// removeTemps removes the temporary files that listDir found when the log
// was opened: a crash interrupted the writing of a snapshot, which
// therefore never counted, or the preparation of a segment, which was
// never a segment. Their names are no segment's or snapshot's, so nothing
// ever reads them.
func removeTemps(dir string, temps []string, log *slog.Logger) error {
	for _, name := range temps {
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: remove unfinished file: %w", err)
		}
		if strings.HasSuffix(name, snapshotExt+tempExt) {
			log.Info("wal: removed an unfinished snapshot file", "file", path)
		} else {
			log.Info("wal: removed an unfinished segment file, prepared ahead", "file", path)
		}
	}
	return nil
}

// op is an item with the place of the record it came from.
type op struct {
	item
	off int
}

// corruptAt returns an ErrCorrupt error for the record at off in path.
func corruptAt(path string, off int, why any) error {
	return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, why)
}

// segmentData is what readSegment found in a segment file.
type segmentData struct {
	ops   []op
	valid int // the length of its intact prefix: where the next record goes
	torn  int // bytes of a torn write after valid, up to the last byte not zero
	size  int // of the file; zeros follow valid+torn up to it
}

// readSegment reads the items of the segment file at path.
//
// Zeros after the last record are no damage: segments are preallocated, so
// the last one ends in zeros until it is full, and one that is not the last
// could too if the disk lost its cut (see load). But zeros are the end only
// if nothing else follows them: the lost first page of an unsynced write
// reads as zeros too, and what comes after it is judged as below.
//
// If last is set, a torn write at the end is allowed: torn is then more
// than zero, and the bytes from valid on are to be cut off. Any other bad
// record is an ErrCorrupt error.
func readSegment(path string, last bool) (segmentData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return segmentData{}, fmt.Errorf("wal: %w", err)
	}
	d := segmentData{size: len(b)}
	var items []item
	off := 0
	for off < len(b) {
		typ, payload, next, err := readRecord(b, off)
		if err != nil {
			d.valid = off
			switch {
			case allZero(b[off:]):
				return d, nil
			case last && !intactRecordAfter(b, off, typeBatch):
				d.torn = len(bytes.TrimRight(b[off:], "\x00"))
				return d, nil
			}
			return segmentData{}, corruptAt(path, off, err)
		}
		if typ != typeBatch {
			return segmentData{}, corruptAt(path, off, fmt.Sprintf("record of type %d in a segment", typ))
		}
		if items, err = decodeBatch(items[:0], payload); err != nil {
			return segmentData{}, corruptAt(path, off, err)
		}
		for _, it := range items {
			d.ops = append(d.ops, op{item: it, off: off})
		}
		off = next
	}
	d.valid = len(b)
	return d, nil
}

// allZero reports whether every byte of b is zero. (bytes.Count is
// vectorized: the preallocated tail of a segment is megabytes long.)
func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }
