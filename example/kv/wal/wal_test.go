package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer collects the lines a Storage logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// open opens dir with segments of segSize bytes (0 for the default), logging
// into the returned buffer, and closes the storage at the end of the test.
func open(t *testing.T, dir string, segSize int64) (*Storage, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	s, err := Open(dir, Options{SegmentSize: segSize, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, logs
}

// openErr opens dir and returns the error, closing the storage if it opened.
func openErr(dir string) error {
	s, err := Open(dir, Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		s.Close()
	}
	return err
}

// entries returns entries lo..hi at term, each with size bytes of data.
func entries(lo, hi, term uint64, size int) []raft.Entry {
	var ents []raft.Entry
	for i := lo; i <= hi; i++ {
		data := bytes.Repeat([]byte{byte(i)}, size)
		ents = append(ents, raft.Entry{Index: i, Term: term, Data: data})
	}
	return ents
}

// pair is a Storage and the MemoryStorage that models it: every write goes
// to both, and they must always read alike.
type pair struct {
	t     *testing.T
	s     *Storage
	model *raft.MemoryStorage
	// noSync turns fsync off, for tests of logic rather than durability
	// that would otherwise spend their time waiting for the disk.
	noSync bool
}

func noSync(*os.File) error { return nil }

// withoutSyncs turns every sync of s off, those of the segments it prepares
// ahead included.
func withoutSyncs(s *Storage) { s.fsync, s.prep.sync = noSync, noSync }

func newPair(t *testing.T, s *Storage) *pair {
	return &pair{t: t, s: s, model: raft.NewMemoryStorage()}
}

// save writes a Ready's worth to both.
func (p *pair) save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot) {
	p.t.Helper()
	require.NoError(p.t, p.s.Save(hs, ents, snap, true))
	if !raft.IsEmptySnap(snap) {
		require.NoError(p.t, p.model.ApplySnapshot(snap))
	}
	require.NoError(p.t, p.model.Append(ents))
	if !raft.IsEmptyHardState(hs) {
		require.NoError(p.t, p.model.SetHardState(hs))
	}
}

// snapshot creates the same snapshot in both.
func (p *pair) snapshot(i uint64, cs *raft.ConfState, data []byte) {
	p.t.Helper()
	_, err := p.s.CreateSnapshot(i, cs, data)
	require.NoError(p.t, err)
	_, err = p.model.CreateSnapshot(i, cs, data)
	require.NoError(p.t, err)
	require.NoError(p.t, p.model.Compact(i))
}

// reopen closes the storage, unless the test did, and opens its directory
// again.
func (p *pair) reopen(segSize int64) *logBuffer {
	p.t.Helper()
	if err := p.s.Close(); !errors.Is(err, ErrClosed) {
		require.NoError(p.t, err)
	}
	s, logs := open(p.t, p.s.dir, segSize)
	p.s = s
	if p.noSync {
		withoutSyncs(s)
	}
	// Open raises a commit index behind the snapshot; the model follows.
	hs, _, err := p.model.InitialState()
	require.NoError(p.t, err)
	snap, err := p.model.Snapshot()
	require.NoError(p.t, err)
	if hs.Commit < snap.Metadata.Index {
		hs.Commit = snap.Metadata.Index
		require.NoError(p.t, p.model.SetHardState(hs))
	}
	return logs
}

// check asserts that the storage reads as the model does.
func (p *pair) check() {
	p.t.Helper()
	assert.Equal(p.t, dump(p.t, p.model), dump(p.t, p.s))
}

// state is everything a raft.Storage tells, normalized so that nil and
// empty slices, which the encoding does not tell apart, compare equal.
type state struct {
	HS          raft.HardState
	CS          raft.ConfState
	First, Last uint64
	PrevTerm    uint64 // the term at First-1
	Ents        []raft.Entry
	Snap        raft.Snapshot
}

func dump(t *testing.T, st raft.Storage) state {
	t.Helper()
	var d state
	var err error
	d.HS, d.CS, err = st.InitialState()
	require.NoError(t, err)
	d.First, err = st.FirstIndex()
	require.NoError(t, err)
	d.Last, err = st.LastIndex()
	require.NoError(t, err)
	d.PrevTerm, err = st.Term(d.First - 1)
	require.NoError(t, err)
	ents, err := st.Entries(d.First, d.Last+1, math.MaxUint64)
	require.NoError(t, err)
	for _, e := range ents {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		d.Ents = append(d.Ents, e)
	}
	d.Snap, err = st.Snapshot()
	require.NoError(t, err)
	if len(d.Snap.Data) == 0 {
		d.Snap.Data = nil
	}
	d.CS = normConf(d.CS)
	d.Snap.Metadata.ConfState = normConf(d.Snap.Metadata.ConfState)
	return d
}

func normConf(cs raft.ConfState) raft.ConfState {
	for _, s := range []*[]uint64{&cs.Voters, &cs.Learners, &cs.VotersOutgoing, &cs.LearnersNext} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	return cs
}

// files lists the names of dir's files with the extension ext.
func files(t *testing.T, dir, ext string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ext) {
			names = append(names, de.Name())
		}
	}
	return names
}

// onlySegment returns the path of dir's one segment.
func onlySegment(t *testing.T, dir string) string {
	t.Helper()
	segs := files(t, dir, segmentExt)
	require.Len(t, segs, 1)
	return filepath.Join(dir, segs[0])
}

// copyDir copies the files of src into a new directory, passing each
// through edit (which may return nil to leave a file out).
func copyDir(t *testing.T, src string, edit func(name string, b []byte) []byte) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		require.NoError(t, err)
		if edit != nil {
			b = edit(de.Name(), b)
		}
		if b != nil {
			require.NoError(t, os.WriteFile(filepath.Join(dst, de.Name()), b, 0o644))
		}
	}
	return dst
}

func fileSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return int(fi.Size())
}

func TestRoundTrip(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.check() // empty
	p.save(raft.HardState{Term: 1, Vote: 1}, entries(1, 3, 1, 10), raft.Snapshot{})
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, nil, raft.Snapshot{})
	p.save(raft.HardState{}, entries(4, 10, 1, 0), raft.Snapshot{})
	p.save(raft.HardState{Term: 2, Vote: 2, Commit: 8}, entries(11, 12, 2, 300), raft.Snapshot{})
	p.check()
	p.reopen(0)
	p.check()

	// And the reopened storage writes on.
	p.save(raft.HardState{Term: 2, Vote: 2, Commit: 12}, entries(13, 13, 2, 5), raft.Snapshot{})
	p.reopen(0)
	p.check()
}

func TestEmptyStorageReopens(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	require.NoError(t, s.Close())
	s, _ = open(t, dir, 0)
	assert.Equal(t, dump(t, raft.NewMemoryStorage()), dump(t, s))
	assert.Len(t, files(t, dir, segmentExt), 1)
}

func TestConflictTruncationSurvivesReopen(t *testing.T) {
	for _, segSize := range []int64{0, 200} { // one segment; the truncating batch in a later one
		t.Run(fmt.Sprint(segSize), func(t *testing.T) {
			s, _ := open(t, t.TempDir(), segSize)
			p := newPair(t, s)
			p.save(raft.HardState{Term: 1, Commit: 2}, entries(1, 10, 1, 20), raft.Snapshot{})
			// A new leader's entries replace 6..10.
			p.save(raft.HardState{Term: 2, Commit: 2}, entries(6, 7, 2, 20), raft.Snapshot{})
			p.save(raft.HardState{}, entries(8, 8, 2, 20), raft.Snapshot{})
			p.reopen(segSize)
			p.check()
			last, err := p.s.LastIndex()
			require.NoError(t, err)
			assert.Equal(t, uint64(8), last)
			term, err := p.s.Term(6)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), term)
		})
	}
}

// tornSegSize is the segment size of the tests that damage a segment in
// every way they can: small, so that its copies are cheap.
const tornSegSize = 4096

// threeSaves writes three batches to a fresh storage in dir and returns the
// state after the second and after the third, and where each batch ends in
// the segment, so that the byte ranges of the second and third batch are
// [ends[0], ends[1]) and [ends[1], ends[2]). Zeros follow up to
// tornSegSize: the segment is preallocated.
func threeSaves(t *testing.T, dir string) (afterSecond, afterThird state, ends [3]int) {
	t.Helper()
	s, _ := open(t, dir, tornSegSize)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 4, 1, 8), raft.Snapshot{})
	ends[0] = int(s.size)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 4}, entries(5, 5, 1, 8), raft.Snapshot{})
	ends[1] = int(s.size)
	afterSecond = dump(t, p.model)
	p.save(raft.HardState{Term: 2, Vote: 1, Commit: 5}, entries(6, 7, 2, 40), raft.Snapshot{})
	ends[2] = int(s.size)
	afterThird = dump(t, p.model)
	require.NoError(t, s.Close())
	require.Equal(t, tornSegSize, fileSize(t, onlySegment(t, dir)))
	return afterSecond, afterThird, ends
}

// A crash in the middle of the last write leaves any prefix of it on disk,
// followed by the zeros of the preallocated segment, or by nothing if the
// file system did not preallocate. Open must cut it off, whatever its
// length, keep everything before, and leave zeros after.
func TestTornTailAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	afterSecond, afterThird, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))

	for n := ends[1]; n < ends[2]; n++ {
		for _, zeros := range []bool{false, true} {
			dir := copyDir(t, src, func(_ string, b []byte) []byte {
				if zeros {
					return append(b[:n:n], make([]byte, len(b)-n)...)
				}
				return b[:n]
			})
			s, logs := open(t, dir, tornSegSize)
			msg := fmt.Sprintf("cut at %d, zeros after: %v", n, zeros)
			assert.Equal(t, afterSecond, dump(t, s), msg)
			assert.Equal(t, int64(ends[1]), s.size, msg)
			requireZerosFrom(t, filepath.Join(dir, name), ends[1])
			if n > ends[1] {
				assert.Contains(t, logs.String(), "torn write", msg)
				assert.Contains(t, logs.String(), fmt.Sprintf("offset=%d", ends[1]), msg)
			} else {
				assert.Empty(t, logs.String(), msg)
			}
			require.NoError(t, s.Close())
		}
	}

	s, logs := open(t, src, tornSegSize)
	assert.Equal(t, afterThird, dump(t, s))
	assert.Empty(t, logs.String())
}

func TestWritesGoOnAfterTornTail(t *testing.T) {
	src := t.TempDir()
	_, _, ends := threeSaves(t, src)
	dir := copyDir(t, src, func(_ string, b []byte) []byte { return b[:ends[1]+5] })
	s, _ := open(t, dir, tornSegSize)
	p := newPair(t, s)
	p.model = raft.NewMemoryStorage()
	require.NoError(t, p.model.Append(entries(1, 4, 1, 8)))
	require.NoError(t, p.model.Append(entries(5, 5, 1, 8)))
	p.save(raft.HardState{Term: 3, Vote: 2, Commit: 5}, entries(6, 9, 3, 16), raft.Snapshot{})
	p.reopen(tornSegSize)
	p.check()
}

// flipBit returns a copy of b with bit i flipped.
func flipBit(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i/8] ^= 1 << (i % 8)
	return b
}

// Damage to a record that an intact record follows is no torn write: Open
// must refuse to start, naming the file and the record's offset.
func TestFlippedBitInMiddleRecord(t *testing.T) {
	src := t.TempDir()
	_, _, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))

	for bit := ends[0] * 8; bit < ends[1]*8; bit++ {
		dir := copyDir(t, src, func(_ string, b []byte) []byte { return flipBit(b, bit) })
		err := openErr(dir)
		require.ErrorIs(t, err, ErrCorrupt, "bit %d", bit)
		assert.Contains(t, err.Error(), filepath.Join(dir, name), "bit %d", bit)
		assert.Contains(t, err.Error(), fmt.Sprintf("offset %d", ends[0]), "bit %d", bit)
		// Open changed nothing.
		got, rerr := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, rerr)
		want, rerr := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, rerr)
		assert.Equal(t, flipBit(want, bit), got)
	}
}

// A damaged last record with nothing intact after it is what a torn write
// looks like: it is cut off. (One bit per byte, a different one in each:
// every open here cuts and syncs, which is slow on a real disk.)
func TestFlippedBitInLastRecord(t *testing.T) {
	src := t.TempDir()
	afterSecond, _, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))

	for i := ends[1]; i < ends[2]; i++ {
		bit := i*8 + i%8
		dir := copyDir(t, src, func(_ string, b []byte) []byte { return flipBit(b, bit) })
		s, logs := open(t, dir, tornSegSize)
		assert.Equal(t, afterSecond, dump(t, s), "bit %d", bit)
		assert.Contains(t, logs.String(), "torn write", "bit %d", bit)
		requireZerosFrom(t, filepath.Join(dir, name), ends[1])
		require.NoError(t, s.Close())
	}
}

// multiSegment fills a storage with small segments and returns it, its
// model and its directory.
func multiSegment(t *testing.T, segSize int64) *pair {
	t.Helper()
	s, _ := open(t, t.TempDir(), segSize)
	p := newPair(t, s)
	// The hard state is saved once, at the start: later segments must keep
	// it once the first is deleted.
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 1, 1, 100), raft.Snapshot{})
	for i := uint64(2); i <= 200; i += 10 {
		p.save(raft.HardState{}, entries(i, i+9, 1, 100), raft.Snapshot{})
	}
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 150}, nil, raft.Snapshot{})
	return p
}

func TestDamageInEarlierSegment(t *testing.T) {
	p := multiSegment(t, 1024)
	require.NoError(t, p.s.Close())
	segs := files(t, p.s.dir, segmentExt)
	require.Greater(t, len(segs), 3)
	first := filepath.Join(p.s.dir, segs[0])
	size := fileSize(t, first)

	// A flipped bit in the last record of a segment that is not the last.
	dir := copyDir(t, p.s.dir, func(name string, b []byte) []byte {
		if name == segs[0] {
			return flipBit(b, (size-1)*8)
		}
		return b
	})
	err := openErr(dir)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), filepath.Join(dir, segs[0]))

	// A segment that is not the last cut short: segments are synced whole
	// before the next begins, so this is damage, not a torn write.
	dir = copyDir(t, p.s.dir, func(name string, b []byte) []byte {
		if name == segs[0] {
			return b[:size-1]
		}
		return b
	})
	err = openErr(dir)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), filepath.Join(dir, segs[0]))

	// A segment missing from the middle.
	dir = copyDir(t, p.s.dir, func(name string, b []byte) []byte {
		if name == segs[2] {
			return nil
		}
		return b
	})
	require.ErrorIs(t, openErr(dir), ErrCorrupt)
}

func TestSegmentRolloverAndDeletion(t *testing.T) {
	p := multiSegment(t, 1024)
	dir := p.s.dir
	before := files(t, dir, segmentExt)
	require.Greater(t, len(before), 10)
	p.reopen(1024)
	p.check()

	cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
	p.snapshot(150, &cs, []byte("state at 150"))
	p.check()
	after := files(t, dir, segmentExt)
	assert.Less(t, len(after), len(before))
	// What is left starts with the segment that holds entry 151: each
	// segment after the first began past entry 150.
	var segs []segment
	for _, name := range after {
		seq, first, ok := parseHexPair(name, segmentExt)
		require.True(t, ok)
		segs = append(segs, segment{seq: seq, first: first})
	}
	assert.LessOrEqual(t, segs[0].first, uint64(151))
	assert.Greater(t, segs[1].first, uint64(151))
	assert.Equal(t, []string{snapFile{index: 150, term: 1}.name()}, files(t, dir, snapshotExt))

	p.reopen(1024)
	p.check()
	hs, gotCS, err := p.s.InitialState()
	require.NoError(t, err)
	assert.Equal(t, raft.HardState{Term: 1, Vote: 1, Commit: 150}, hs)
	assert.Equal(t, cs, gotCS)
	_, err = p.s.Term(149)
	require.ErrorIs(t, err, raft.ErrCompacted)

	// A second snapshot, past everything: only the last segment stays.
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 200}, nil, raft.Snapshot{})
	p.snapshot(200, nil, []byte("state at 200"))
	p.save(raft.HardState{}, entries(201, 230, 1, 100), raft.Snapshot{}) // rolls
	p.snapshot(201, nil, []byte("state at 201"))
	assert.Len(t, files(t, dir, segmentExt), 2)
	assert.Equal(t, []string{snapFile{index: 201, term: 1}.name()}, files(t, dir, snapshotExt))
	p.reopen(1024)
	p.check()
}

// Deletions are not synced: a crash may bring a deleted segment back. Open
// recognizes it as covered by the snapshot and removes it again.
func TestDeletedSegmentComesBack(t *testing.T) {
	p := multiSegment(t, 1024)
	dir := p.s.dir
	before := files(t, dir, segmentExt)
	old, err := os.ReadFile(filepath.Join(dir, before[0]))
	require.NoError(t, err)
	p.snapshot(150, nil, []byte("x"))
	require.NotContains(t, files(t, dir, segmentExt), before[0])
	require.NoError(t, p.s.Close())

	require.NoError(t, os.WriteFile(filepath.Join(dir, before[0]), old, 0o644))
	logs := p.reopen(1024)
	p.check()
	assert.NotContains(t, files(t, dir, segmentExt), before[0])
	assert.Contains(t, logs.String(), "removed a segment")
}

// A crash right after a new segment was created leaves it empty; Open
// removes it and writes on in the segment before.
func TestEmptyLastSegment(t *testing.T) {
	p := multiSegment(t, 1024)
	require.NoError(t, p.s.Close())
	last := p.s.segs[len(p.s.segs)-1]
	lastIndex, err := p.s.LastIndex()
	require.NoError(t, err)
	empty := segment{seq: last.seq + 1, first: lastIndex + 1}
	require.NoError(t, os.WriteFile(filepath.Join(p.s.dir, empty.name()), nil, 0o644))

	p.reopen(1024)
	p.check()
	assert.NotContains(t, files(t, p.s.dir, segmentExt), empty.name())
	p.save(raft.HardState{Term: 2, Vote: 2, Commit: 200}, entries(201, 210, 2, 100), raft.Snapshot{})
	p.reopen(1024)
	p.check()
}

// A follower installs its leader's snapshot through Save: the log is
// replaced, stale entries past the snapshot included.
func TestInstallSnapshotThroughSave(t *testing.T) {
	s, _ := open(t, t.TempDir(), 1024)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 20}, entries(1, 120, 1, 20), raft.Snapshot{})
	snap := raft.Snapshot{
		Metadata: raft.SnapshotMetadata{ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}, Index: 100, Term: 3},
		Data:     []byte("the leader's state at 100"),
	}
	p.save(raft.HardState{Term: 3, Commit: 100}, nil, snap)
	p.check()
	p.reopen(1024)
	p.check()
	last, err := p.s.LastIndex()
	require.NoError(t, err)
	assert.Equal(t, uint64(100), last, "entries 101..120 of the old log must stay gone")

	// Entries after the snapshot, in the same Save as a newer one.
	snap2 := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 300, Term: 4}, Data: []byte("at 300")}
	p.save(raft.HardState{Term: 4, Commit: 300}, entries(301, 302, 4, 10), snap2)
	p.reopen(1024)
	p.check()
	_, cs, err := p.s.InitialState()
	require.NoError(t, err)
	assert.Empty(t, cs.Voters)
	assert.Equal(t, []string{snapFile{index: 300, term: 4}.name()}, files(t, p.s.dir, snapshotExt))

	// SaveSnapshot is the same, alone.
	snap3 := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 400, Term: 5}, Data: []byte("at 400")}
	require.NoError(t, p.s.SaveSnapshot(snap3))
	require.NoError(t, p.model.ApplySnapshot(snap3))
	p.reopen(1024)
	p.check()
	require.Error(t, p.s.SaveSnapshot(raft.Snapshot{}))
}

// An install deletes the segments its snapshot covers, so it is synced
// even when the caller does not ask: else a crash could keep the deletions
// and lose the install that replaced what they held.
func TestInstallIsSyncedWithoutSyncAsked(t *testing.T) {
	s, _ := open(t, t.TempDir(), 1024)
	p := newPair(t, s)
	for i := uint64(1); i <= 120; i += 20 {
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: i}, entries(i, i+19, 1, 20), raft.Snapshot{})
	}
	require.Greater(t, len(p.s.segs), 1)
	var synced []string
	p.s.fsync = func(f *os.File) error {
		synced = append(synced, filepath.Base(f.Name()))
		return p.s.osSync(f)
	}
	segments := len(p.s.segs)
	snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 100, Term: 3}, Data: []byte("at 100")}
	require.NoError(t, p.s.Save(raft.HardState{Term: 3, Commit: 100}, nil, snap, false))
	require.NoError(t, p.model.ApplySnapshot(snap))
	require.NoError(t, p.model.SetHardState(raft.HardState{Term: 3, Commit: 100}))
	require.Less(t, len(p.s.segs), segments, "the covered segments are gone")
	assert.Contains(t, synced, filepath.Base(lastSegment(p.s)), "the segment holding the install record")
	p.reopen(1024)
	p.check()
}

// A crash between writing a snapshot file and recording it in the log: the
// node acknowledged nothing about it, so it must come back as it was.
func TestSnapshotFileNotInLogIsIgnored(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 5}, entries(1, 10, 1, 10), raft.Snapshot{})
	p.s.mu.Lock()
	err := p.s.writeSnapshotFile(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 50, Term: 2}, Data: []byte("x")})
	p.s.mu.Unlock()
	require.NoError(t, err)
	// A temporary file of an interrupted write, too.
	tmp := filepath.Join(p.s.dir, snapFile{index: 60, term: 2}.name()+tempExt)
	require.NoError(t, os.WriteFile(tmp, []byte("half a snapsh"), 0o644))

	logs := p.reopen(0)
	p.check()
	assert.Empty(t, files(t, p.s.dir, snapshotExt))
	assert.Empty(t, files(t, p.s.dir, tempExt))
	assert.Contains(t, logs.String(), "does not name")
	assert.Contains(t, logs.String(), "unfinished snapshot")
}

func TestDamagedSnapshotFile(t *testing.T) {
	damage := func(name string, b []byte) []byte {
		if strings.HasSuffix(name, snapshotExt) {
			return flipBit(b, len(b)*8-1)
		}
		return b
	}

	// The log was compacted: without the snapshot the state is lost.
	p := multiSegment(t, 1024)
	p.snapshot(150, nil, []byte("state"))
	require.NoError(t, p.s.Close())
	err := openErr(copyDir(t, p.s.dir, damage))
	require.ErrorIs(t, err, ErrCorrupt)

	// The log still holds every entry: Open falls back on it.
	s, _ := open(t, t.TempDir(), 0)
	q := newPair(t, s)
	q.save(raft.HardState{Term: 1, Vote: 1, Commit: 10}, entries(1, 10, 1, 10), raft.Snapshot{})
	full := dump(t, q.model)
	q.snapshot(5, nil, []byte("state"))
	require.NoError(t, q.s.Close())
	s, logs := open(t, copyDir(t, q.s.dir, damage), 0)
	assert.Equal(t, full, dump(t, s))
	assert.Contains(t, logs.String(), "damaged snapshot")
}

func TestEntriesMaxSize(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1}, entries(1, 10, 1, 100), raft.Snapshot{})
	p.reopen(0)
	// An entry counts as 24 bytes plus its data (raft's estimate).
	for _, tt := range []struct {
		maxSize uint64
		want    int
	}{{0, 1}, {123, 1}, {124, 1}, {248, 2}, {249, 2}, {1240, 10}, {math.MaxUint64, 10}} {
		ents, err := p.s.Entries(1, 11, tt.maxSize)
		require.NoError(t, err)
		assert.Len(t, ents, tt.want, "maxSize %d", tt.maxSize)
		want, err := p.model.Entries(1, 11, tt.maxSize)
		require.NoError(t, err)
		assert.Equal(t, want, ents)
	}
	_, err := p.s.Entries(1, 12, math.MaxUint64)
	require.ErrorIs(t, err, raft.ErrUnavailable)
}

// Group commit: however many entries a Ready holds, saving it costs one
// fsync, and none without MustSync.
func TestOneFsyncPerSave(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	before := s.syncs.Load()
	require.NoError(t, s.Save(raft.HardState{Term: 1, Vote: 1}, entries(1, 500, 1, 128), raft.Snapshot{}, true))
	assert.Equal(t, before+1, s.syncs.Load())
	require.NoError(t, s.Save(raft.HardState{Term: 1, Vote: 1, Commit: 400}, nil, raft.Snapshot{}, false))
	assert.Equal(t, before+1, s.syncs.Load())
	require.NoError(t, s.Save(raft.HardState{}, entries(501, 501, 1, 128), raft.Snapshot{}, true))
	assert.Equal(t, before+2, s.syncs.Load())
	require.NoError(t, s.Save(raft.HardState{}, nil, raft.Snapshot{}, true)) // nothing to do
	assert.Equal(t, before+2, s.syncs.Load())
}

func TestSaveRefusesBadInput(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 2}, entries(1, 5, 2, 10), raft.Snapshot{})
	p.snapshot(3, nil, []byte("x"))
	size := s.size

	err := s.Save(raft.HardState{}, entries(7, 8, 2, 1), raft.Snapshot{}, true)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	err = s.Save(raft.HardState{}, []raft.Entry{{Index: 6, Term: 2}, {Index: 8, Term: 2}}, raft.Snapshot{}, true)
	require.Error(t, err)
	err = s.Save(raft.HardState{}, nil, raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 3, Term: 2}}, true)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
	_, err = s.CreateSnapshot(2, nil, nil)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
	_, err = s.CreateSnapshot(6, nil, nil)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	assert.Equal(t, size, s.size, "nothing written")

	// Entries the snapshot covers are skipped; the rest go on.
	p.save(raft.HardState{}, entries(2, 6, 2, 10), raft.Snapshot{})
	p.reopen(0)
	p.check()
}

// After a failed fsync, what reached the disk is unknown: the storage takes
// no more writes.
func TestFailedSyncMakesStorageUnusable(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	require.NoError(t, s.Save(raft.HardState{Term: 1}, entries(1, 1, 1, 1), raft.Snapshot{}, true))
	boom := errors.New("boom")
	s.fsync = func(*os.File) error { return boom }
	err := s.Save(raft.HardState{}, entries(2, 2, 1, 1), raft.Snapshot{}, true)
	require.ErrorIs(t, err, boom)
	last, err := s.LastIndex()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), last, "an unsynced entry must not be visible")

	s.fsync = (*os.File).Sync
	err = s.Save(raft.HardState{}, entries(2, 2, 1, 1), raft.Snapshot{}, true)
	require.ErrorIs(t, err, boom)
	_, err = s.CreateSnapshot(1, nil, nil)
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), ErrClosed)
	require.ErrorIs(t, s.Save(raft.HardState{Term: 5}, nil, raft.Snapshot{}, true), ErrClosed)
}

func TestOpenRejectsBadOptions(t *testing.T) {
	_, err := Open(t.TempDir(), Options{SegmentSize: -1})
	require.Error(t, err)
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, _ := open(t, dir, 0)
	require.NoError(t, s.Save(raft.HardState{Term: 1}, nil, raft.Snapshot{}, true))
	assert.DirExists(t, dir)
}

func TestParseNames(t *testing.T) {
	sg := segment{seq: 3, first: 0x3e9}
	seq, first, ok := parseHexPair(sg.name(), segmentExt)
	require.True(t, ok)
	assert.Equal(t, sg, segment{seq: seq, first: first})
	for _, bad := range []string{
		"0000000000000003-00000000000003e9.snap",
		"0000000000000003-00000000000003E9.wal",
		"000000000000003-000000000000003e9.wal",
		"000000000000000x-00000000000003e9.wal",
		"0000000000000003_00000000000003e9.wal",
		"+000000000000003-00000000000003e9.wal",
	} {
		_, _, ok := parseHexPair(bad, segmentExt)
		assert.False(t, ok, bad)
	}
}

// The node reads while the host writes.
func TestConcurrentReadsAndWrites(t *testing.T) {
	s, _ := open(t, t.TempDir(), 4096)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if ents, err := s.Entries(first, last+1, 1000); err == nil && len(ents) > 0 {
				assert.Equal(t, first, ents[0].Index)
			}
			_, _ = s.Term(last)
			_, _, _ = s.InitialState()
			_, _ = s.Snapshot()
		}
	}()
	for i := uint64(1); i <= 200; i += 5 {
		require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: i + 4}, entries(i, i+4, 1, 50), raft.Snapshot{}, i%2 == 0))
		if i%50 == 1 && i > 1 {
			_, err := s.CreateSnapshot(i, nil, []byte("x"))
			require.NoError(t, err)
		}
	}
	close(done)
	wg.Wait()
}

// An entry at or before the snapshot's index, saved before the snapshot was
// taken, still cut off the entries after it: replay must not bring them
// back although it skips the entry itself.
func TestTruncationBeforeSnapshotSurvives(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 2}, entries(1, 100, 2, 4), raft.Snapshot{})
	p.save(raft.HardState{Term: 3, Commit: 85}, entries(81, 85, 3, 4), raft.Snapshot{}) // drops 86..100
	p.snapshot(85, nil, []byte("at 85"))
	p.reopen(0)
	p.check()
	last, err := p.s.LastIndex()
	require.NoError(t, err)
	assert.Equal(t, uint64(85), last)
}

// A torn install batch loses the install entirely: the snapshot file it
// named goes, and the node is back where it was before the Ready.
func TestTornInstall(t *testing.T) {
	s, _ := open(t, t.TempDir(), 0)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 5}, entries(1, 10, 1, 10), raft.Snapshot{})
	before := dump(t, p.model)
	snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 50, Term: 2}, Data: []byte("at 50")}
	require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: 50}, entries(51, 52, 2, 10), snap, true))
	require.NoError(t, s.Close())

	require.NoError(t, os.Truncate(onlySegment(t, s.dir), s.size-1))
	s, logs := open(t, s.dir, 0)
	assert.Equal(t, before, dump(t, s))
	assert.Empty(t, files(t, s.dir, snapshotExt))
	assert.Contains(t, logs.String(), "torn write")
}

// A host may write its commit index lazily, so the log's may lag its own
// snapshot. Open reports a commit index at least the snapshot's: raft
// refuses one below it, and a snapshot holds only committed entries.
func TestOpenRaisesCommitIndexToTheSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 0)
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 1}, entries(1, 5, 1, 8), raft.Snapshot{}, true))
	_, err := s.CreateSnapshot(4, &raft.ConfState{Voters: []uint64{1}}, []byte("state"))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, _ = open(t, dir, 0)
	hs, _, err := s.InitialState()
	require.NoError(t, err)
	require.Equal(t, raft.HardState{Term: 1, Commit: 4}, hs)
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Applied: 4, MaxInflightMsgs: 1, Logger: raft.DiscardLogger})
	require.NoError(t, err, "raft takes the log")
	require.Equal(t, uint64(4), rn.BasicStatus().Commit)
}

// CreateSnapshot keeps the last CatchUpEntries entries before the
// snapshot's index, and the segments that hold them, so that a follower a
// little behind gets entries rather than the snapshot. Open keeps only
// the entries after the snapshot; a later CreateSnapshot whose margin
// reaches before the log's first index drops nothing.
func TestCreateSnapshotKeepsCatchUpEntries(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 512, CatchUpEntries: 30, Logger: slog.New(slog.DiscardHandler)}
	s, err := Open(dir, opts)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	want := entries(1, 100, 1, 20)
	for i := 0; i < len(want); i += 10 {
		require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: uint64(i + 10)}, want[i:i+10], raft.Snapshot{}, true))
	}
	require.Greater(t, len(s.segs), 3)
	firstOf := func() uint64 {
		first, err := s.FirstIndex()
		require.NoError(t, err)
		return first
	}

	_, err = s.CreateSnapshot(40, nil, []byte("at 40"))
	require.NoError(t, err)
	_, err = s.CreateSnapshot(80, nil, []byte("at 80"))
	require.NoError(t, err)
	assert.Equal(t, uint64(51), firstOf())
	got, err := s.Entries(51, 101, math.MaxUint64)
	require.NoError(t, err)
	assert.Equal(t, want[50:], got)
	assert.LessOrEqual(t, s.segs[0].first, uint64(51), "the segment holding entry 51 stays")
	assert.Greater(t, s.segs[1].first, uint64(51), "the segments before it go")
	assert.Equal(t, []string{snapFile{index: 80, term: 1}.name()}, files(t, dir, snapshotExt))

	require.NoError(t, s.Close())
	s, err = Open(dir, opts)
	require.NoError(t, err)
	assert.Equal(t, uint64(81), firstOf(), "Open keeps the entries after the snapshot")
	snap, err := s.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, uint64(80), snap.Metadata.Index)
	_, err = s.CreateSnapshot(95, nil, []byte("at 95"))
	require.NoError(t, err)
	assert.Equal(t, uint64(81), firstOf(), "a margin before the first index drops nothing")
	got, err = s.Entries(81, 101, math.MaxUint64)
	require.NoError(t, err)
	assert.Equal(t, want[80:], got)
}
