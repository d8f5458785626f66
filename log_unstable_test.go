package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unstableTestSnap returns a snapshot at index, term.
func unstableTestSnap(index, term uint64) *Snapshot {
	return &Snapshot{Metadata: SnapshotMetadata{Index: index, Term: term}}
}

func TestUnstableMaybeFirstIndex(t *testing.T) {
	tests := []struct {
		u      unstable
		wantOK bool
		want   uint64
	}{
		{unstable{offset: 5, entries: logTestEntries(5, 1)}, false, 0},
		{unstable{}, false, 0},
		{unstable{offset: 5, entries: logTestEntries(5, 1), snapshot: unstableTestSnap(4, 1)}, true, 5},
		{unstable{offset: 5, snapshot: unstableTestSnap(4, 1)}, true, 5},
	}
	for i, tt := range tests {
		got, ok := tt.u.maybeFirstIndex()
		assert.Equal(t, tt.wantOK, ok, "#%d", i)
		assert.Equal(t, tt.want, got, "#%d", i)
	}
}

func TestUnstableMaybeLastIndex(t *testing.T) {
	tests := []struct {
		u      unstable
		wantOK bool
		want   uint64
	}{
		{unstable{offset: 5, entries: logTestEntries(5, 1)}, true, 5},
		{unstable{offset: 5, entries: logTestEntries(5, 1, 1, 2)}, true, 7},
		{unstable{offset: 5, entries: logTestEntries(5, 1), snapshot: unstableTestSnap(4, 1)}, true, 5},
		{unstable{offset: 5, snapshot: unstableTestSnap(4, 1)}, true, 4},
		{unstable{offset: 5}, false, 0},
		{unstable{}, false, 0},
	}
	for i, tt := range tests {
		got, ok := tt.u.maybeLastIndex()
		assert.Equal(t, tt.wantOK, ok, "#%d", i)
		assert.Equal(t, tt.want, got, "#%d", i)
	}
}

func TestUnstableMaybeTerm(t *testing.T) {
	tests := []struct {
		u      unstable
		i      uint64
		wantOK bool
		want   uint64
	}{
		// Entries only.
		{unstable{offset: 5, entries: logTestEntries(5, 1)}, 5, true, 1},
		{unstable{offset: 5, entries: logTestEntries(5, 1)}, 6, false, 0},
		{unstable{offset: 5, entries: logTestEntries(5, 1)}, 4, false, 0},
		{unstable{offset: 5, entries: logTestEntries(5, 1, 2, 3)}, 7, true, 3},
		// Snapshot and entries.
		{unstable{offset: 5, entries: logTestEntries(5, 2), snapshot: unstableTestSnap(4, 1)}, 5, true, 2},
		{unstable{offset: 5, entries: logTestEntries(5, 2), snapshot: unstableTestSnap(4, 1)}, 6, false, 0},
		{unstable{offset: 5, entries: logTestEntries(5, 2), snapshot: unstableTestSnap(4, 1)}, 4, true, 1},
		{unstable{offset: 5, entries: logTestEntries(5, 2), snapshot: unstableTestSnap(4, 1)}, 3, false, 0},
		// Snapshot only.
		{unstable{offset: 5, snapshot: unstableTestSnap(4, 1)}, 5, false, 0},
		{unstable{offset: 5, snapshot: unstableTestSnap(4, 1)}, 4, true, 1},
		{unstable{offset: 5, snapshot: unstableTestSnap(4, 1)}, 3, false, 0},
		// Nothing.
		{unstable{offset: 5}, 5, false, 0},
		{unstable{offset: 5}, 4, false, 0},
		{unstable{}, 0, false, 0},
	}
	for i, tt := range tests {
		got, ok := tt.u.maybeTerm(tt.i)
		assert.Equal(t, tt.wantOK, ok, "#%d term(%d)", i, tt.i)
		assert.Equal(t, tt.want, got, "#%d term(%d)", i, tt.i)
	}
}

func TestUnstableRestore(t *testing.T) {
	u := unstable{offset: 5, entries: logTestEntries(5, 1, 1), snapshot: unstableTestSnap(4, 1)}
	s := Snapshot{Metadata: SnapshotMetadata{Index: 6, Term: 2}, Data: []byte("x")}
	u.restore(s)
	assert.Equal(t, uint64(7), u.offset)
	assert.Empty(t, u.entries)
	require.NotNil(t, u.snapshot)
	assert.Equal(t, s, *u.snapshot)
	// The unstable part keeps its own copy.
	s.Metadata.Index = 100
	assert.Equal(t, uint64(6), u.snapshot.Metadata.Index)
}

func TestUnstableStableTo(t *testing.T) {
	tests := []struct {
		name       string
		u          unstable
		id         entryID
		wantOffset uint64
		wantLen    int
	}{
		{"empty", unstable{}, entryID{index: 5, term: 1}, 0, 0},
		{"all", unstable{offset: 5, entries: logTestEntries(5, 1)}, entryID{index: 5, term: 1}, 6, 0},
		{"a prefix", unstable{offset: 5, entries: logTestEntries(5, 1, 1)}, entryID{index: 5, term: 1}, 6, 1},
		{"up to the last", unstable{offset: 5, entries: logTestEntries(5, 1, 1)}, entryID{index: 6, term: 1}, 7, 0},
		{"term mismatch", unstable{offset: 6, entries: logTestEntries(6, 2)}, entryID{index: 6, term: 1}, 6, 1},
		{"before the offset", unstable{offset: 5, entries: logTestEntries(5, 1)}, entryID{index: 4, term: 1}, 5, 1},
		{"past the end", unstable{offset: 5, entries: logTestEntries(5, 1)}, entryID{index: 6, term: 1}, 5, 1},
		{
			"with a snapshot, entries", unstable{offset: 5, entries: logTestEntries(5, 1), snapshot: unstableTestSnap(4, 1)},
			entryID{index: 5, term: 1}, 6, 0,
		},
		{
			"with a snapshot, several entries", unstable{offset: 5, entries: logTestEntries(5, 1, 1), snapshot: unstableTestSnap(4, 1)},
			entryID{index: 5, term: 1}, 6, 1,
		},
		{
			"with a snapshot, term mismatch", unstable{offset: 6, entries: logTestEntries(6, 2), snapshot: unstableTestSnap(5, 1)},
			entryID{index: 6, term: 1}, 6, 1,
		},
		{
			// The snapshot's own index is not an entry: stableSnapTo
			// handles it.
			"the snapshot's index", unstable{offset: 5, entries: logTestEntries(5, 1), snapshot: unstableTestSnap(4, 1)},
			entryID{index: 4, term: 1}, 5, 1,
		},
		{
			"before the snapshot", unstable{offset: 5, entries: logTestEntries(5, 2), snapshot: unstableTestSnap(4, 2)},
			entryID{index: 4, term: 1}, 5, 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			snap := u.snapshot
			u.stableTo(tt.id)
			assert.Equal(t, tt.wantOffset, u.offset)
			assert.Len(t, u.entries, tt.wantLen)
			assert.Equal(t, snap, u.snapshot, "stableTo must not touch the snapshot")
		})
	}
}

func TestUnstableStableSnapTo(t *testing.T) {
	u := unstable{offset: 5, entries: logTestEntries(5, 1), snapshot: unstableTestSnap(4, 1)}
	u.stableSnapTo(3)
	assert.NotNil(t, u.snapshot)
	u.stableSnapTo(5)
	assert.NotNil(t, u.snapshot)
	u.stableSnapTo(4)
	assert.Nil(t, u.snapshot)
	assert.Equal(t, uint64(5), u.offset)
	assert.Len(t, u.entries, 1)
	u.stableSnapTo(4)
	assert.Nil(t, u.snapshot)
}

func TestUnstableTruncateAndAppend(t *testing.T) {
	tests := []struct {
		name       string
		u          unstable
		ents       []Entry
		wantOffset uint64
		want       []Entry
	}{
		// Case 1: ents directly follow what is held.
		{"append to empty", unstable{offset: 5}, logTestEntries(5, 1, 1), 5, logTestEntries(5, 1, 1)},
		{"append", unstable{offset: 5, entries: logTestEntries(5, 1)}, logTestEntries(6, 1, 1), 5, logTestEntries(5, 1, 1, 1)},
		{
			"append after a snapshot", unstable{offset: 5, snapshot: unstableTestSnap(4, 1)},
			logTestEntries(5, 2), 5, logTestEntries(5, 2),
		},
		// Case 2: everything held is replaced.
		{"replace from the offset", unstable{offset: 5, entries: logTestEntries(5, 1)}, logTestEntries(5, 2, 2), 5, logTestEntries(5, 2, 2)},
		{"replace from before the offset", unstable{offset: 5, entries: logTestEntries(5, 1)}, logTestEntries(4, 2, 2, 2), 4, logTestEntries(4, 2, 2, 2)},
		{"replace below an empty tail", unstable{offset: 5}, logTestEntries(3, 2), 3, logTestEntries(3, 2)},
		// Case 3: a prefix is kept, the rest replaced.
		{"truncate the last", unstable{offset: 5, entries: logTestEntries(5, 1, 1, 1)}, logTestEntries(7, 2), 5, logTestEntries(5, 1, 1, 2)},
		{"truncate in the middle", unstable{offset: 5, entries: logTestEntries(5, 1, 1, 1)}, logTestEntries(6, 2, 2, 2, 2), 5, logTestEntries(5, 1, 2, 2, 2, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			snap := u.snapshot
			u.truncateAndAppend(tt.ents)
			assert.Equal(t, tt.wantOffset, u.offset)
			assert.Equal(t, tt.want, u.entries)
			assert.Equal(t, snap, u.snapshot)
		})
	}
}

// TestUnstableTruncateAndAppendCopiesInput checks that the unstable part
// never shares the caller's array: the caller (a message being stepped) may
// be reused.
func TestUnstableTruncateAndAppendCopiesInput(t *testing.T) {
	for _, u := range []unstable{
		{offset: 5}, // case 1, empty
		{offset: 4, entries: logTestEntries(4, 1)},    // case 1
		{offset: 5, entries: logTestEntries(5, 1, 1)}, // case 2
		{offset: 4, entries: logTestEntries(4, 1, 1)}, // case 3
	} {
		ents := logTestEntries(5, 3, 3)
		u.truncateAndAppend(ents)
		ents[0].Term, ents[1].Term = 9, 9
		term, ok := u.maybeTerm(5)
		require.True(t, ok)
		assert.Equal(t, uint64(3), term)
	}
}

// TestUnstableHandedOutSlicesNeverChange is the aliasing guarantee: a slice
// handed out by unstableEntries (the Entries of a Ready) or by slice (the
// entries of a MsgApp) is never written again, whatever the node does next.
// This lets a host encode and persist a Ready's entries while the node keeps
// stepping messages.
func TestUnstableHandedOutSlicesNeverChange(t *testing.T) {
	// Spare capacity, so that an in-place write would be possible.
	ents := make([]Entry, 0, 64)
	ents = append(ents, logTestEntries(1, 1, 1, 1, 1, 1, 1)...)
	l := logTestNew(t, entryID{}, nil, nil)
	l.unstable = unstable{offset: 1, entries: ents}

	type held struct{ got, want []Entry }
	var out []held
	hold := func(ents []Entry) {
		out = append(out, held{got: ents, want: slices.Clone(ents)})
	}
	holdSlice := func(lo, hi uint64) {
		ents, err := l.slice(lo, hi, noLimit)
		require.NoError(t, err)
		hold(ents)
	}

	hold(l.unstableEntries())
	holdSlice(2, 4)
	holdSlice(3, 7)

	l.append(logTestEntries(7, 1)...)    // case 1: plain append into spare capacity
	hold(l.unstableEntries())            //
	l.append(logTestEntries(4, 2, 2)...) // case 3: keep 1..3, replace from 4
	hold(l.unstableEntries())
	holdSlice(1, 6)
	l.append(logTestEntries(6, 2, 2, 2)...) // case 3: keep 1..5
	l.append(logTestEntries(1, 3)...)       // case 2: replace everything
	l.append(logTestEntries(2, 3, 3, 3)...) // case 1
	hold(l.unstableEntries())
	l.append(logTestEntries(3, 4)...) // case 3

	for i, h := range out {
		assert.Equal(t, h.want, h.got, "slice %d was changed", i)
	}

	// After persisting a prefix, the remaining tail shares the old array; a
	// later truncation must not write into it either.
	ms := l.storage.(*MemoryStorage)
	require.NoError(t, ms.Append(l.unstableEntries()))
	l.stableTo(entryID{index: 1, term: 3})
	tail := l.unstableEntries()
	want := slices.Clone(tail)
	l.append(logTestEntries(3, 5, 5)...)
	l.append(logTestEntries(2, 6)...)
	assert.Equal(t, want, tail)
}

// TestUnstableTruncateAndAppendRejectsGap checks that entries that do not
// connect to the log (a gap after the last index) are refused with a panic,
// not stored with the gap filled by whatever the backing array held.
func TestUnstableTruncateAndAppendRejectsGap(t *testing.T) {
	ents := make([]Entry, 0, 8)
	ents = append(ents, logTestEntries(5, 1, 1)...)
	u := unstable{offset: 5, entries: ents}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		u.truncateAndAppend(logTestEntries(8, 2))
		return false
	}()
	require.True(t, panicked, "entries after a gap at index 7 were accepted; the unstable entries are now %s",
		fmt.Sprint(logTestIDs(u.entries)))
}

func TestUnstableSlice(t *testing.T) {
	u := unstable{offset: 5, entries: logTestEntries(5, 1, 2, 3, 4)}
	assert.Equal(t, logTestEntries(5, 1, 2, 3, 4), u.slice(5, 9))
	assert.Equal(t, logTestEntries(6, 2, 3), u.slice(6, 8))
	assert.Empty(t, u.slice(7, 7))
	s := u.slice(6, 8)
	assert.Equal(t, len(s), cap(s), "capacity must be cut so appends reallocate")
	require.Panics(t, func() { u.slice(8, 10) })
}

func TestUnstableShrink(t *testing.T) {
	// unstableTestWithCap returns an unstable part holding entries 1..n at
	// term 1 in an array of capacity c, and that array.
	withCap := func(n, c int) (unstable, []Entry) {
		arr := make([]Entry, n, c)
		copy(arr, logTestEntries(1, slices.Repeat([]uint64{1}, n)...))
		return unstable{offset: 1, entries: arr}, arr
	}
	t.Run("a mostly unused array is let go", func(t *testing.T) {
		u, arr := withCap(100, 180)
		u.stableTo(entryID{index: 80, term: 1})
		// 20 entries left in an array with room for 100 from there: less
		// than a quarter used.
		assert.Equal(t, uint64(81), u.offset)
		assert.Equal(t, arr[80:100], u.entries)
		assert.NotSame(t, &arr[80], &u.entries[0], "still in the old array")
		assert.Less(t, cap(u.entries), 100/4)
	})
	t.Run("a well used array is kept", func(t *testing.T) {
		u, arr := withCap(100, 180)
		u.stableTo(entryID{index: 73, term: 1})
		// 27 of 107: a quarter used.
		assert.Equal(t, uint64(74), u.offset)
		assert.Len(t, u.entries, 27)
		assert.Same(t, &arr[73], &u.entries[0])
	})
	t.Run("a small array is kept", func(t *testing.T) {
		u, arr := withCap(10, 64)
		u.stableTo(entryID{index: 9, term: 1})
		assert.Len(t, u.entries, 1)
		assert.Same(t, &arr[9], &u.entries[0])
	})
	t.Run("empty lets go of the array", func(t *testing.T) {
		u, _ := withCap(3, 100)
		u.stableTo(entryID{index: 3, term: 1})
		assert.Nil(t, u.entries)
		assert.Equal(t, uint64(4), u.offset)
	})
}

// A node that proposes one entry per Ready empties its unstable tail at every
// Advance. The tail keeps its spare capacity, so the next entries are
// appended without allocating, and the entries handed out before stay as
// they were.
func TestUnstableAppendAfterPersistReusesSpareCapacity(t *testing.T) {
	u := unstable{offset: 1}
	u.truncateAndAppend(logTestEntries(1, 1, 1, 1))
	handed := u.slice(1, 4)
	u.stableTo(entryID{index: 3, term: 1})
	require.Empty(t, u.entries)

	next := uint64(4)
	allocs := testing.AllocsPerRun(100, func() {
		u.truncateAndAppend([]Entry{{Index: next, Term: 2}})
		u.stableTo(entryID{index: next, term: 2})
		next++
	})
	assert.Zero(t, allocs, "appending after the tail was persisted allocates")
	assert.Equal(t, logTestEntries(1, 1, 1, 1), handed, "a slice handed out was overwritten")
}
