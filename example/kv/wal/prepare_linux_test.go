package wal

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seekHole is SEEK_HOLE of lseek(2), which package syscall does not name.
const seekHole = 4

// firstHole returns the offset of the first hole in the file at path at or
// after off, or its size if it has none. ext4 and xfs report preallocated
// blocks that were never written as holes.
func firstHole(t *testing.T, path string, off int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	hole, err := f.Seek(off, seekHole)
	require.NoError(t, err)
	return hole
}

// The segments the log moves on to are written through, zeros after the
// records included: no block is left for the first write to convert, and
// to commit the journal for. A segment created at the roll, without the
// pipeline, is preallocated only, and its blocks after the records are
// unwritten: the test tells them apart where the file system does.
func TestRolledSegmentsAreZeroFilled(t *testing.T) {
	const segSize = 64 << 10
	rollOnce := func() (path string, size int64) {
		s, _ := open(t, t.TempDir(), segSize)
		p := newPair(t, s)
		fillUntilRoll(p)
		p.s.prep.wait()
		fillUntilRoll(p)
		return lastSegment(p.s), p.s.size
	}

	path, size := rollOnce()
	if firstHole(t, path, size) == segSize {
		t.Skip("the file system does not report unwritten blocks as holes")
	}
	withPrepare(t)
	path, size = rollOnce()
	assert.Equal(t, segSize, fileSize(t, path))
	assert.Equal(t, int64(segSize), firstHole(t, path, size), "unwritten blocks after the records")
}
