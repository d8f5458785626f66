package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelraft/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lastSegment returns the path of the segment being written.
func lastSegment(s *Storage) string { return s.path(s.segs[len(s.segs)-1].name()) }

// fillUntilRoll saves entries of 100 bytes, from the one after the last,
// until the log begins a new segment.
func fillUntilRoll(p *pair) {
	p.t.Helper()
	n := len(p.s.segs)
	for len(p.s.segs) == n {
		last, _ := p.s.LastIndex()
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: last}, entries(last+1, last+5, 1, 100), raft.Snapshot{})
	}
}

// holdPreparation makes the preparations of s wait, before they write
// anything, until release is called (at the latest when the test ends) or
// s is closed.
func holdPreparation(t *testing.T, s *Storage) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	fill := s.prep.zeroFiller()
	s.prep.fill = func(path string, stop <-chan struct{}) (bool, error) {
		select {
		case <-gate:
		case <-stop:
			return false, errStopped
		}
		return fill(path, stop)
	}
	return release
}

// While a segment fills, the next one is prepared as a temporary file, full
// of zeros; the roll renames that very file into place, and the log writes
// over its zeros. Snapshots in between (which list the directory) leave the
// file alone. After a restart, the log reads back whole.
func TestRollUsesPreparedSegment(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	const segSize = 8192
	s, _ := open(t, t.TempDir(), segSize)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 5, 1, 100), raft.Snapshot{})
	p.s.prep.wait()
	fillUntilRoll(p) // Open's segment gives way to the first prepared file
	for round := range 3 {
		p.s.prep.wait()
		prepared, err := os.Stat(p.s.prep.path)
		require.NoError(t, err, "round %d: the next segment is prepared once the current one is written to", round)
		b, err := os.ReadFile(p.s.prep.path)
		require.NoError(t, err)
		require.Len(t, b, segSize)
		require.True(t, allZero(b))
		last, _ := p.s.LastIndex()
		p.snapshot(last, nil, []byte("state"))

		fillUntilRoll(p)
		seg, err := os.Stat(lastSegment(p.s))
		require.NoError(t, err)
		assert.True(t, os.SameFile(prepared, seg), "round %d: the new segment is the prepared file", round)
		assert.Equal(t, int64(segSize), seg.Size())
		assert.Equal(t, round+2, p.s.fromPrepared)
		assert.Equal(t, 1, p.s.created, "only Open's first segment is created at once")
	}
	p.reopen(segSize)
	p.check()
	assert.Empty(t, files(t, p.s.dir, tempExt))
}

// A segment whose space was not prepared, as Open's first one, one the
// roll created while the preparation was late, or the last one at Open,
// gives way to the prepared file as soon as that is ready, rather than
// costing a journal commit per sync until it fills: the next write rolls,
// cutting it to its records. The log reads back whole.
func TestUnpreparedSegmentGivesWayToPrepared(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	const segSize = 1 << 20
	s, _ := open(t, t.TempDir(), segSize)
	p := newPair(t, s)
	save := func(n uint64) {
		last, _ := p.s.LastIndex()
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: last}, entries(last+1, last+n, 1, 100), raft.Snapshot{})
	}
	for round := range 2 {
		save(5) // starts the preparation
		p.s.prep.wait()
		first := lastSegment(p.s)
		require.True(t, p.s.unprepared, "round %d", round)
		prepared, err := os.Stat(p.s.prep.path)
		require.NoError(t, err)
		segments := len(p.s.segs)

		save(1)
		require.Len(t, p.s.segs, segments+1, "round %d: the next write rolled", round)
		seg, err := os.Stat(lastSegment(p.s))
		require.NoError(t, err)
		assert.True(t, os.SameFile(prepared, seg), "round %d: onto the prepared file", round)
		assert.Equal(t, int64(segSize), seg.Size())
		assert.False(t, p.s.unprepared)
		assert.Less(t, fileSize(t, first), segSize, "round %d: the segment left was cut to its records", round)
		assert.Equal(t, 1, p.s.fromPrepared, "round %d: since Open", round)

		save(1) // a prepared segment stays until it is full
		assert.Len(t, p.s.segs, segments+1)
		p.reopen(segSize) // the last segment at Open is the next round's
		p.check()
	}
}

// Where the preparation fails, the unprepared segment stays, and the log
// goes on in it.
func TestUnpreparedSegmentStaysWithoutPreparedFile(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	s, _ := open(t, t.TempDir(), 1<<20)
	s.prep.fill = func(string, <-chan struct{}) (bool, error) { return false, errors.New("boom") }
	p := newPair(t, s)
	for i := uint64(1); i <= 20; i += 5 {
		p.save(raft.HardState{Term: 1, Vote: 1, Commit: i}, entries(i, i+4, 1, 100), raft.Snapshot{})
		p.s.prep.wait()
	}
	assert.Len(t, p.s.segs, 1)
	assert.Zero(t, p.s.fromPrepared)
	p.reopen(1 << 20)
	p.check()
}

// A temporary file in the directory at Open is the prepared next segment of
// a log that crashed, or a snapshot file cut short: Open removes it, and
// never reads it, whatever it holds, even records of this log.
func TestOpenRemovesLeftoverPreparedFile(t *testing.T) {
	s, _ := open(t, t.TempDir(), 4096)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, entries(1, 5, 1, 100), raft.Snapshot{})
	require.NoError(t, p.s.Close())
	// Segments of another log, with entries this one never acknowledged,
	// as if the pipeline had prepared them, and garbage.
	other, _ := open(t, t.TempDir(), 4096)
	require.NoError(t, other.Save(raft.HardState{Term: 2, Vote: 2, Commit: 9}, entries(1, 9, 2, 100), raft.Snapshot{}, true))
	otherSeg, err := os.ReadFile(onlySegment(t, other.dir))
	require.NoError(t, err)
	leftovers := map[string][]byte{
		preparedName: otherSeg,
		segment{seq: 2, first: 6}.name() + tempExt: otherSeg,
		"junk" + segmentExt + tempExt:              []byte("not a record"),
	}
	for name, b := range leftovers {
		require.NoError(t, os.WriteFile(filepath.Join(p.s.dir, name), b, 0o644))
	}

	logs := p.reopen(4096)
	p.check()
	assert.Empty(t, files(t, p.s.dir, tempExt))
	assert.Equal(t, len(leftovers), strings.Count(logs.String(), "removed an unfinished segment file"))
}

// A preparation that fails is reported at the next roll, with one line
// logged; that roll creates its segment as if there were no pipeline, the
// log goes on, and the next preparation is tried again.
func TestFailedPreparationFallsBack(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	s, logs := open(t, t.TempDir(), 4096)
	boom := errors.New("boom")
	var calls atomic.Int32
	fill := s.prep.zeroFiller()
	s.prep.fill = func(path string, stop <-chan struct{}) (bool, error) {
		if calls.Add(1) == 1 {
			return false, boom
		}
		return fill(path, stop)
	}
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 5, 1, 100), raft.Snapshot{})
	p.s.prep.wait()
	fillUntilRoll(p)
	assert.Equal(t, 1, strings.Count(logs.String(), "could not prepare the next segment file"))
	assert.Contains(t, logs.String(), "boom")
	assert.Equal(t, 2, p.s.created, "Open's segment and this one")

	p.s.prep.wait() // the failure was taken: this is the next preparation
	fillUntilRoll(p)
	assert.Equal(t, 1, strings.Count(logs.String(), "could not prepare the next segment file"))
	assert.Equal(t, 1, p.s.fromPrepared)
	p.reopen(4096)
	p.check()
}

// A roll does not wait for a preparation under way: it creates its segment
// itself, and the prepared file serves the roll after.
func TestRollDoesNotWaitForPreparation(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	s, _ := open(t, t.TempDir(), 4096)
	release := holdPreparation(t, s)
	p := newPair(t, s)
	p.save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 5, 1, 100), raft.Snapshot{})
	rolled := make(chan struct{})
	go func() {
		defer close(rolled)
		fillUntilRoll(p)
	}()
	select {
	case <-rolled:
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("the roll waited for the preparation")
	}
	assert.Equal(t, 2, p.s.created, "Open's segment and this one")
	assert.Equal(t, 0, p.s.fromPrepared)
	release()
	p.s.prep.wait()
	fillUntilRoll(p)
	assert.Equal(t, 1, p.s.fromPrepared)
	p.reopen(4096)
	p.check()
}

// Close interrupts a preparation under way, waits for it, and leaves no
// temporary file behind.
func TestCloseStopsPreparation(t *testing.T) {
	withPrepare(t)
	requirePreallocation(t)
	dir := t.TempDir()
	s, _ := open(t, dir, 64<<20)
	started := make(chan struct{})
	var result atomic.Pointer[error]
	fill := s.prep.zeroFiller()
	s.prep.fill = func(path string, stop <-chan struct{}) (bool, error) {
		// The file exists, and Close comes while it is being filled.
		f, err := os.Create(path)
		if err == nil {
			err = f.Close()
		}
		close(started)
		<-stop
		ok := false
		if err == nil {
			ok, err = fill(path, stop)
		}
		result.Store(&err)
		return ok, err
	}
	require.NoError(t, s.Save(raft.HardState{Term: 1}, entries(1, 1, 1, 10), raft.Snapshot{}, true))
	<-started
	require.NoError(t, s.Close())
	require.NotNil(t, result.Load(), "Close returned before the preparation ended")
	assert.ErrorIs(t, *result.Load(), errStopped)
	assert.Empty(t, files(t, dir, tempExt))
	assert.Len(t, files(t, dir, segmentExt), 1)
}

// Close removes a prepared file that no roll took.
func TestCloseRemovesPreparedFile(t *testing.T) {
	withPrepare(t)
	dir := t.TempDir()
	s, _ := open(t, dir, 4096)
	require.NoError(t, s.Save(raft.HardState{Term: 1}, entries(1, 1, 1, 10), raft.Snapshot{}, true))
	s.prep.wait()
	require.NoError(t, s.Close())
	assert.Empty(t, files(t, dir, tempExt))
}

// Where segments cannot be preallocated, nothing is prepared: the log
// grows its segments as it writes, as before the pipeline.
func TestNoPreparationWithoutPreallocation(t *testing.T) {
	withPrepare(t)
	withoutPreallocation(t)
	s, _ := open(t, t.TempDir(), 1024)
	p := newPair(t, s)
	for range 3 {
		fillUntilRoll(p)
		p.s.prep.wait()
	}
	assert.Zero(t, p.s.fromPrepared)
	assert.True(t, p.s.prep.off)
	assert.Empty(t, files(t, p.s.dir, tempExt))
}

// zeroFill stops, and removes its file, once stop is closed.
func TestZeroFillStops(t *testing.T) {
	requirePreallocation(t)
	path := filepath.Join(t.TempDir(), preparedName)
	stop := make(chan struct{})
	close(stop)
	ok, err := zeroFill(path, 4<<20, fallocate, (*os.File).Sync, stop)
	assert.False(t, ok)
	require.ErrorIs(t, err, errStopped)
	assert.NoFileExists(t, path)
}

// zeroFill syncs every zeroSyncEvery bytes, not only at the end, so that
// no journal commit carries the extents of a whole segment.
func TestZeroFillSyncsAsItGoes(t *testing.T) {
	requirePreallocation(t)
	path := filepath.Join(t.TempDir(), preparedName)
	syncs := 0
	sync := func(f *os.File) error {
		syncs++
		return f.Sync()
	}
	const size = 4*zeroSyncEvery + zeroChunk
	ok, err := zeroFill(path, size, fallocate, sync, make(chan struct{}))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 5, syncs, "every %d bytes, then at the end", zeroSyncEvery)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, b, size)
	assert.True(t, allZero(b))
}
