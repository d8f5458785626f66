package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordSyncs makes s record each sync from now on, as "fsync" or
// "fdatasync", with "dir " before it for the directory, and still sync.
func recordSyncs(s *Storage) *[]string {
	var kinds []string
	s.fsync = func(f *os.File) error {
		kind := "fsync"
		if s.dataOnly {
			kind = "fdatasync"
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			kind = "dir " + kind
		}
		kinds = append(kinds, kind)
		return s.osSync(f)
	}
	return &kinds
}

// withoutPreallocation makes the storages opened in the rest of the test do
// without preallocation, as on a file system that cannot.
func withoutPreallocation(t *testing.T) {
	preallocateFile = func(*os.File, int64) (bool, error) { return false, nil }
	t.Cleanup(func() { preallocateFile = fallocate })
}

// TestMain runs the tests without the segment pipeline: most of them
// read the layout of the segments, which the pipeline makes depend on
// timing (an unprepared segment gives way as soon as the prepared file is
// ready). The tests of the pipeline, and the random histories, turn it on
// with withPrepare.
func TestMain(m *testing.M) {
	prepareAhead = false
	os.Exit(m.Run())
}

// withPrepare turns the segment pipeline on in the storages opened in the
// rest of the test.
func withPrepare(t *testing.T) {
	prepareAhead = true
	t.Cleanup(func() { prepareAhead = false })
}

func requirePreallocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("segments are preallocated on Linux only")
	}
}

// requireZerosFrom asserts that the file at path holds only zeros from off
// on, up to tornSegSize: Open left nothing of a torn write behind the end
// of the log, where a later write could expose it.
func requireZerosFrom(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, tornSegSize)
	require.True(t, allZero(b[off:]), "bytes after offset %d: %x", off, bytes.TrimRight(b[off:], "\x00"))
}

// Zeros after the last record are the unused part of a preallocated
// segment, or a file that grew but whose data never made it: either way,
// the end of the log, and nothing to warn about.
func TestZerosAfterLastRecordAreTheEnd(t *testing.T) {
	src := t.TempDir()
	_, afterThird, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))
	for _, tail := range []int{1, headerSize - 1, headerSize, 100, tornSegSize} {
		dir := copyDir(t, src, func(_ string, b []byte) []byte { return append(b[:ends[2]:ends[2]], make([]byte, tail)...) })
		s, logs := open(t, dir, tornSegSize)
		assert.Equal(t, afterThird, dump(t, s), "%d zeros", tail)
		assert.Empty(t, logs.String(), "%d zeros", tail)
		assert.Equal(t, int64(ends[2]), s.size, "%d zeros", tail)
		assert.Equal(t, max(ends[2]+tail, tornSegSize), fileSize(t, filepath.Join(dir, name)), "%d zeros", tail)
		require.NoError(t, s.Close())
	}
}

// Zeros where a record should begin are the end of the log only if nothing
// but zeros follows. A write that lost its first page, which reads as
// zeros, but kept a later one is damage like any other: taking the zeros
// for the end would leave an intact record past it, which a later write
// ending just before it would bring back into the log.
func TestZerosThenRecordIsNoEnd(t *testing.T) {
	src := t.TempDir()
	_, _, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))
	for _, zeroed := range [][2]int{
		{ends[0], ends[0] + headerSize}, // the second batch's header
		{ends[0], ends[1]},              // all of it
	} {
		dir := copyDir(t, src, func(_ string, b []byte) []byte {
			b = slices.Clone(b)
			clear(b[zeroed[0]:zeroed[1]])
			return b
		})
		err := openErr(dir)
		require.ErrorIs(t, err, ErrCorrupt, "zeros in %v", zeroed)
		assert.Contains(t, err.Error(), fmt.Sprintf("%s at offset %d", filepath.Join(dir, name), ends[0]))
	}
}

// Appends within a segment's preallocated space change only its data, and
// are synced with fdatasync. What changes its size or allocation needs
// fsync: the preallocation of a new segment, a write past it. A segment
// prepared ahead had its size and allocation synced before it became one:
// only its new name needs a sync, the directory's.
func TestFdatasyncWithinPreallocatedSpace(t *testing.T) {
	requirePreallocation(t)
	for _, tt := range []struct {
		name     string
		prepared bool
		newSeg   []string // the syncs of the Save that begins a segment
	}{
		{"created at the roll", false, []string{"fsync", "dir fsync"}},
		{"prepared ahead", true, []string{"fdatasync", "dir fsync"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepared {
				withPrepare(t)
			}
			s, _ := open(t, t.TempDir(), 4096)
			// The prepared file is held back until the segment is full:
			// else the first segment would give way to it earlier.
			release := holdPreparation(t, s)
			kinds := recordSyncs(s)
			save := func(lo, hi uint64) {
				t.Helper()
				require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: lo}, entries(lo, hi, 1, 100), raft.Snapshot{}, true))
			}
			save(1, 1)
			save(2, 2)
			assert.Equal(t, []string{"fdatasync", "fdatasync"}, *kinds, "Open synced the preallocation")
			*kinds = nil
			save(3, 50) // past 4096 bytes: the file grows
			assert.Equal(t, []string{"fsync"}, *kinds)
			*kinds = nil
			release()
			s.prep.wait()
			save(51, 51) // a new segment
			assert.Equal(t, tt.newSeg, *kinds)
			assert.Equal(t, tt.prepared, s.fromPrepared == 1)
			*kinds = nil
			save(52, 52)
			assert.Equal(t, []string{"fdatasync"}, *kinds)
		})
	}
}

// A closed log's last segment keeps its preallocated zeros. Open finds the
// end of the records in it, with nothing to warn about, and the writes go
// on from there, not from the end of the file.
func TestReopenInPreallocatedSegment(t *testing.T) {
	requirePreallocation(t)
	const segSize = 1 << 16
	s, _ := open(t, t.TempDir(), segSize)
	p := newPair(t, s)
	for i := uint64(1); i <= 20; i += 5 {
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: i}, entries(i, i+4, 1, 50), raft.Snapshot{})
	}
	size := p.s.size
	path := onlySegment(t, p.s.dir)
	for range 2 {
		logs := p.reopen(segSize)
		p.check()
		assert.Empty(t, logs.String())
		assert.Equal(t, size, p.s.size)
		assert.Equal(t, segSize, fileSize(t, path))
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: 25}, entries(21, 22, 1, 50), raft.Snapshot{})
		assert.Greater(t, p.s.size, size)
		size = p.s.size
	}
	logs := p.reopen(segSize)
	p.check()
	assert.Empty(t, logs.String())
	assert.Len(t, files(t, p.s.dir, segmentExt), 1)
}

// The space preallocated after a segment's records goes when the log moves
// on to the next segment, so that only the last one ends in zeros. (A
// segment fills its preallocation before it rolls, unless SegmentSize
// shrank since it was preallocated.)
func TestRollCutsSegmentToItsRecords(t *testing.T) {
	requirePreallocation(t)
	s, _ := open(t, t.TempDir(), 1<<16)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 30, 1, 100), raft.Snapshot{})
	first := onlySegment(t, p.s.dir)
	size := int(p.s.size)
	require.Equal(t, 1<<16, fileSize(t, first))

	p.reopen(1024)
	p.save(raft.HardState{}, entries(31, 31, 1, 100), raft.Snapshot{}) // rolls
	assert.Len(t, files(t, p.s.dir, segmentExt), 2)
	assert.Equal(t, size, fileSize(t, first))
	for range 5 { // and more rolls, at SegmentSize
		last, _ := p.s.LastIndex()
		p.save(raft.HardState{}, entries(last+1, last+10, 1, 100), raft.Snapshot{})
	}
	segs := files(t, p.s.dir, segmentExt)
	require.Greater(t, len(segs), 4)
	for _, name := range segs[:len(segs)-1] {
		d, err := readSegment(filepath.Join(p.s.dir, name), false)
		require.NoError(t, err)
		assert.Equal(t, d.valid, d.size, name)
	}
	p.reopen(1024)
	p.check()
}

// Should a segment that is not the last end in zeros all the same (its
// synced cut lost by the disk), Open takes them for its end, as they hide
// nothing that was acknowledged, and cuts them off.
func TestZerosAfterEarlierSegment(t *testing.T) {
	p := multiSegment(t, 1024)
	require.NoError(t, p.s.Close())
	segs := files(t, p.s.dir, segmentExt)
	path := filepath.Join(p.s.dir, segs[1])
	size := fileSize(t, path)
	require.NoError(t, os.Truncate(path, int64(size+1000)))

	logs := p.reopen(1024)
	p.check()
	assert.Contains(t, logs.String(), "cut the zeros off a segment that is not the last")
	assert.Equal(t, size, fileSize(t, path))
}

// A crash after a new segment was created and preallocated, before any
// record reached it, leaves a segment of zeros: Open removes it, as it does
// an empty one, and writes on in the segment before.
func TestLastSegmentOfZeros(t *testing.T) {
	p := multiSegment(t, 1024)
	require.NoError(t, p.s.Close())
	last := p.s.segs[len(p.s.segs)-1]
	require.NoError(t, os.Truncate(p.s.path(last.name()), p.s.size)) // as roll does
	lastIndex, err := p.s.LastIndex()
	require.NoError(t, err)
	zeros := segment{seq: last.seq + 1, first: lastIndex + 1}
	require.NoError(t, os.WriteFile(filepath.Join(p.s.dir, zeros.name()), make([]byte, 1024), 0o644))

	logs := p.reopen(1024)
	p.check()
	assert.Empty(t, logs.String())
	assert.NotContains(t, files(t, p.s.dir, segmentExt), zeros.name())
	p.save(raft.HardState{Term: 2, Vote: 2, Commit: 200}, entries(201, 210, 2, 100), raft.Snapshot{})
	p.reopen(1024)
	p.check()
}

// A torn write in a preallocated segment is a prefix of a record followed
// by zeros. Open cuts it off and leaves only zeros after the records, so
// that what is left of the torn record cannot come back: a shorter record
// written in its place would otherwise have the rest of it after it, which
// the next Open would read as another torn write, and a power cut that lost
// a later write's page would show the stale bytes again instead of zeros.
func TestTornWriteBeforeZerosIsCutAndLogGoesOn(t *testing.T) {
	src := t.TempDir()
	afterSecond, _, ends := threeSaves(t, src)
	name := filepath.Base(onlySegment(t, src))
	// All of the third batch but its last byte reached the disk.
	dir := copyDir(t, src, func(_ string, b []byte) []byte {
		clear(b[ends[2]-1:])
		return b
	})
	s, logs := open(t, dir, tornSegSize)
	assert.Contains(t, logs.String(), "torn write")
	assert.Equal(t, afterSecond, dump(t, s))
	requireZerosFrom(t, filepath.Join(dir, name), ends[1])

	p := newPair(t, s)
	require.NoError(t, p.model.Append(entries(1, 5, 1, 8)))
	p.save(raft.HardState{Term: 3, Vote: 2, Commit: 5}, entries(6, 6, 3, 1), raft.Snapshot{})
	require.Less(t, p.s.size, int64(ends[2]), "the new batch is shorter than the torn one")
	logs = p.reopen(tornSegSize)
	p.check()
	assert.Empty(t, logs.String())

	p.save(raft.HardState{Term: 3, Vote: 2, Commit: 6}, entries(7, 20, 3, 30), raft.Snapshot{})
	logs = p.reopen(tornSegSize)
	p.check()
	assert.Empty(t, logs.String())
}

// Where the file system cannot preallocate, every append grows the file,
// and every sync is an fsync.
func TestWithoutPreallocation(t *testing.T) {
	withoutPreallocation(t)
	s, _ := open(t, t.TempDir(), 1024)
	kinds := recordSyncs(s)
	p := newPair(t, s)
	for i := uint64(1); i <= 100; i += 10 {
		p.save(raft.HardState{Term: 1, Commit: i}, entries(i, i+9, 1, 30), raft.Snapshot{})
	}
	assert.NotContains(t, *kinds, "fdatasync")
	assert.Contains(t, *kinds, "fsync")
	assert.Equal(t, int(p.s.size), fileSize(t, p.s.path(p.s.segs[len(p.s.segs)-1].name())))
	p.reopen(1024)
	p.check()
}

// A preallocation that fails for another reason than a file system without
// it is an error: the disk may be full.
func TestFailedPreallocation(t *testing.T) {
	boom := errors.New("boom")
	preallocateFile = func(*os.File, int64) (bool, error) { return false, boom }
	t.Cleanup(func() { preallocateFile = fallocate })
	_, err := Open(t.TempDir(), Options{})
	require.ErrorIs(t, err, boom)
}

// SyncStats counts every sync, and may be read while the host writes.
func TestSyncStats(t *testing.T) {
	s, _ := open(t, t.TempDir(), 2048)
	n0, d0 := s.SyncStats()
	assert.Positive(t, n0, "Open syncs the new segment and the directory")
	kinds := recordSyncs(s)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var lastN int64
		var lastD time.Duration
		for {
			select {
			case <-done:
				return
			default:
			}
			n, d := s.SyncStats()
			assert.GreaterOrEqual(t, n, lastN)
			assert.GreaterOrEqual(t, d, lastD)
			lastN, lastD = n, d
		}
	})
	for i := uint64(1); i <= 50; i++ {
		require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: i}, entries(i, i, 1, 100), raft.Snapshot{}, i%3 != 0))
		if i%20 == 0 {
			_, err := s.CreateSnapshot(i, nil, []byte("x"))
			require.NoError(t, err)
		}
	}
	close(done)
	wg.Wait()

	n, d := s.SyncStats()
	assert.Equal(t, int64(len(*kinds)), n-n0)
	assert.Greater(t, d, d0)
}
