package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// logTestEntries returns entries at consecutive indexes from first, with the
// given terms.
func logTestEntries(first uint64, terms ...uint64) []Entry {
	ents := make([]Entry, len(terms))
	for i, term := range terms {
		ents[i] = Entry{Index: first + uint64(i), Term: term}
	}
	return ents
}

// logTestSized returns entries at consecutive indexes from first, at term 1,
// each of exactly size bytes (as Entry.size counts them).
func logTestSized(first uint64, n int, size uint64) []Entry {
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Index: first + uint64(i), Term: 1, Data: make([]byte, size-entryOverhead)}
	}
	return ents
}

// logTestStorage returns a MemoryStorage compacted up to snap (if its index
// is not 0) and holding stored after it.
func logTestStorage(t testing.TB, snap entryID, stored []Entry) *MemoryStorage {
	t.Helper()
	ms := NewMemoryStorage()
	if snap.index > 0 {
		require.NoError(t, ms.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: snap.index, Term: snap.term}}))
	}
	require.NoError(t, ms.Append(stored))
	return ms
}

// logTestNew returns a log whose storage is compacted up to snap and holds
// stored, and whose unstable tail holds unstable.
func logTestNew(t testing.TB, snap entryID, stored, unstable []Entry) *raftLog {
	t.Helper()
	l := newLog(logTestStorage(t, snap, stored), DiscardLogger, noLimit)
	l.append(unstable...)
	return l
}

// logTestTerms returns the terms of entries first..last of l.
func logTestTerms(t testing.TB, l *raftLog) []uint64 {
	t.Helper()
	var terms []uint64
	for i := l.firstIndex(); i <= l.lastIndex(); i++ {
		term, err := l.term(i)
		require.NoError(t, err, "term(%d)", i)
		terms = append(terms, term)
	}
	return terms
}

// logTestIDs returns the (index, term) of each entry, which is what most
// tests compare.
func logTestIDs(ents []Entry) []entryID {
	ids := make([]entryID, len(ents))
	for i, e := range ents {
		ids[i] = entryID{term: e.Term, index: e.Index}
	}
	return ids
}

func TestLogFindConflict(t *testing.T) {
	// Terms [1 1 2 2 3] at 1..5: 1..3 persisted, 4..5 in the unstable tail,
	// so that the look-ups cross both.
	newLogUnderTest := func() *raftLog {
		return logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 2), logTestEntries(4, 2, 3))
	}
	tests := []struct {
		name string
		ents []Entry
		want uint64
	}{
		{"no entries", nil, 0},
		{"all held, from the start", logTestEntries(1, 1, 1, 2, 2, 3), 0},
		{"all held, stable part", logTestEntries(2, 1, 2), 0},
		{"all held, unstable part", logTestEntries(4, 2, 3), 0},
		{"new entries after the last", logTestEntries(6, 3, 4), 6},
		{"held, then new", logTestEntries(4, 2, 3, 4, 4), 6},
		{"conflict at the first entry", logTestEntries(1, 4), 1},
		{"conflict in the stable part", logTestEntries(2, 1, 4, 4), 3},
		{"conflict in the unstable part", logTestEntries(4, 2, 4, 4), 5},
		{"conflict at the last entry", logTestEntries(5, 4), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogUnderTest()
			assert.Equal(t, tt.want, l.findConflict(tt.ents))
			// A pure look-up.
			assert.Equal(t, []uint64{1, 1, 2, 2, 3}, logTestTerms(t, l))
		})
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	// Compacted up to index 3 (term 2); then terms [2 2 3 3 5 5 5] at 4..10,
	// 4..7 persisted and 8..10 unstable.
	l := logTestNew(t, entryID{index: 3, term: 2}, logTestEntries(4, 2, 2, 3, 3), logTestEntries(8, 5, 5, 5))
	tests := []struct {
		index, term         uint64
		wantIndex, wantTerm uint64
	}{
		{10, 5, 10, 5},
		{10, 6, 10, 5},
		{10, 4, 7, 3}, // skips the whole of term 5
		{10, 3, 7, 3},
		{8, 3, 7, 3},
		{7, 3, 7, 3},
		{10, 2, 5, 2},
		{6, 2, 5, 2},
		{5, 2, 5, 2},
		// The snapshot's entry has a known term.
		{3, 2, 3, 2},
		{4, 2, 4, 2},
		// Running into the compacted prefix: the index where the look-up
		// stopped, with the unknown term 0.
		{10, 1, 2, 0},
		{3, 1, 2, 0},
		{2, 1, 2, 0},
		{0, 5, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d@%d", tt.index, tt.term), func(t *testing.T) {
			index, term := l.findConflictByTerm(tt.index, tt.term)
			assert.Equal(t, tt.wantIndex, index, "index")
			assert.Equal(t, tt.wantTerm, term, "term")
		})
	}

	t.Run("empty log", func(t *testing.T) {
		l := logTestNew(t, entryID{}, nil, nil)
		index, term := l.findConflictByTerm(0, 3)
		assert.Equal(t, uint64(0), index)
		assert.Equal(t, uint64(0), term)
	})

	t.Run("log restored from a snapshot", func(t *testing.T) {
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1), nil)
		l.restore(Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 4}})
		l.append(logTestEntries(11, 6)...)
		index, term := l.findConflictByTerm(11, 5)
		assert.Equal(t, []uint64{10, 4}, []uint64{index, term})
		index, term = l.findConflictByTerm(11, 3)
		assert.Equal(t, []uint64{9, 0}, []uint64{index, term})
	})
}

func TestLogIsUpToDate(t *testing.T) {
	// Last entry 5@3.
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 2), logTestEntries(4, 3, 3))
	tests := []struct {
		candidate entryID
		want      bool
	}{
		{entryID{term: 4, index: 1}, true}, // a later last term wins, even if shorter
		{entryID{term: 4, index: 5}, true},
		{entryID{term: 4, index: 9}, true},
		{entryID{term: 3, index: 6}, true}, // same term: the longer log wins
		{entryID{term: 3, index: 5}, true}, // same term, same length
		{entryID{term: 3, index: 4}, false},
		{entryID{term: 2, index: 9}, false}, // an earlier last term loses, even if longer
		{entryID{term: 0, index: 0}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, l.isUpToDate(tt.candidate), "candidate %s", tt.candidate)
	}

	// An empty log: anyone is up to date.
	empty := logTestNew(t, entryID{}, nil, nil)
	assert.True(t, empty.isUpToDate(entryID{}))
	assert.True(t, empty.isUpToDate(entryID{term: 1, index: 1}))
}

func TestLogMaybeAppend(t *testing.T) {
	// Terms [1 2 3] at 1..3, 1..2 persisted; committed 1.
	newLogUnderTest := func() *raftLog {
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 3))
		l.commitTo(1)
		return l
	}
	tests := []struct {
		name       string
		prev       entryID
		committed  uint64
		ents       []Entry
		wantOK     bool
		wantLast   uint64
		wantCommit uint64
		wantTerms  []uint64
	}{
		{
			name: "prev has another term", prev: entryID{index: 3, term: 2}, committed: 3,
			ents: logTestEntries(4, 4), wantCommit: 1, wantTerms: []uint64{1, 2, 3},
		},
		{
			name: "prev is past the last entry", prev: entryID{index: 4, term: 3}, committed: 3,
			ents: logTestEntries(5, 4), wantCommit: 1, wantTerms: []uint64{1, 2, 3},
		},
		{
			name: "heartbeat-like, nothing to append", prev: entryID{index: 3, term: 3}, committed: 3,
			wantOK: true, wantLast: 3, wantCommit: 3, wantTerms: []uint64{1, 2, 3},
		},
		{
			// The commit index never passes the last entry the leader
			// vouched for: entries after prev may still be wrong.
			name: "commit is capped at the last new entry", prev: entryID{index: 2, term: 2}, committed: 3,
			wantOK: true, wantLast: 2, wantCommit: 2, wantTerms: []uint64{1, 2, 3},
		},
		{
			name: "commit is capped by the leader", prev: entryID{index: 3, term: 3}, committed: 2,
			ents: logTestEntries(4, 4), wantOK: true, wantLast: 4, wantCommit: 2, wantTerms: []uint64{1, 2, 3, 4},
		},
		{
			name: "commit never goes back", prev: entryID{index: 3, term: 3}, committed: 0,
			ents: logTestEntries(4, 4), wantOK: true, wantLast: 4, wantCommit: 1, wantTerms: []uint64{1, 2, 3, 4},
		},
		{
			name: "new entries", prev: entryID{index: 3, term: 3}, committed: 5,
			ents: logTestEntries(4, 4, 4), wantOK: true, wantLast: 5, wantCommit: 5, wantTerms: []uint64{1, 2, 3, 4, 4},
		},
		{
			// A duplicated or reordered message: nothing is truncated.
			name: "entries already held", prev: entryID{index: 1, term: 1}, committed: 2,
			ents: logTestEntries(2, 2), wantOK: true, wantLast: 2, wantCommit: 2, wantTerms: []uint64{1, 2, 3},
		},
		{
			name: "held, then new", prev: entryID{index: 1, term: 1}, committed: 4,
			ents: logTestEntries(2, 2, 3, 4), wantOK: true, wantLast: 4, wantCommit: 4, wantTerms: []uint64{1, 2, 3, 4},
		},
		{
			name: "conflict truncates the suffix", prev: entryID{index: 1, term: 1}, committed: 1,
			ents: logTestEntries(2, 4), wantOK: true, wantLast: 2, wantCommit: 1, wantTerms: []uint64{1, 4},
		},
		{
			name: "conflict after a held entry", prev: entryID{index: 1, term: 1}, committed: 3,
			ents: logTestEntries(2, 2, 4, 4), wantOK: true, wantLast: 4, wantCommit: 3, wantTerms: []uint64{1, 2, 4, 4},
		},
		{
			name: "conflict in the unstable tail", prev: entryID{index: 2, term: 2}, committed: 2,
			ents: logTestEntries(3, 4), wantOK: true, wantLast: 3, wantCommit: 2, wantTerms: []uint64{1, 2, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogUnderTest()
			last, ok := l.maybeAppend(tt.prev, tt.committed, tt.ents)
			require.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantLast, last, "lastNew")
			assert.Equal(t, tt.wantCommit, l.committed, "committed")
			assert.Equal(t, tt.wantTerms, logTestTerms(t, l))
		})
	}
}

func TestLogMaybeAppendConflictWithCommittedPanics(t *testing.T) {
	// A leader sending a different entry at a committed index broke Raft's
	// promise (or our storage lost entries): the node must stop, not
	// silently rewrite history.
	for _, committed := range []uint64{2, 3} {
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 3))
		l.commitTo(committed)
		require.PanicsWithValue(t, fmt.Sprintf("raft: entry %d conflicts with the committed log (committed %d): "+
			"a leader sent a different committed entry, or storage lost entries", 2, committed), func() {
			l.maybeAppend(entryID{index: 1, term: 1}, 3, logTestEntries(2, 4, 4))
		})
	}
	// Entries that match the committed prefix are fine.
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 3))
	l.commitTo(3)
	last, ok := l.maybeAppend(entryID{index: 1, term: 1}, 3, logTestEntries(2, 2, 3, 4))
	require.True(t, ok)
	assert.Equal(t, uint64(4), last)
}

func TestLogAppend(t *testing.T) {
	// Terms [1 2] persisted at 1..2, [2 3] unstable at 3..4.
	tests := []struct {
		name       string
		ents       []Entry
		wantLast   uint64
		wantOffset uint64
		wantTerms  []uint64
		wantUnst   []entryID
	}{
		{
			name: "nothing", wantLast: 4, wantOffset: 3, wantTerms: []uint64{1, 2, 2, 3},
			wantUnst: []entryID{{term: 2, index: 3}, {term: 3, index: 4}},
		},
		{
			name: "after the last", ents: logTestEntries(5, 3, 3), wantLast: 6, wantOffset: 3,
			wantTerms: []uint64{1, 2, 2, 3, 3, 3},
			wantUnst:  []entryID{{term: 2, index: 3}, {term: 3, index: 4}, {term: 3, index: 5}, {term: 3, index: 6}},
		},
		{
			name: "truncating the unstable tail", ents: logTestEntries(4, 4), wantLast: 4, wantOffset: 3,
			wantTerms: []uint64{1, 2, 2, 4},
			wantUnst:  []entryID{{term: 2, index: 3}, {term: 4, index: 4}},
		},
		{
			name: "replacing the whole unstable tail", ents: logTestEntries(3, 4), wantLast: 3, wantOffset: 3,
			wantTerms: []uint64{1, 2, 4},
			wantUnst:  []entryID{{term: 4, index: 3}},
		},
		{
			// The persisted entry 2 is overwritten once the host writes
			// the new one; until then the unstable tail hides it.
			name: "truncating into the persisted part", ents: logTestEntries(2, 4, 4, 4, 4), wantLast: 5, wantOffset: 2,
			wantTerms: []uint64{1, 4, 4, 4, 4},
			wantUnst:  []entryID{{term: 4, index: 2}, {term: 4, index: 3}, {term: 4, index: 4}, {term: 4, index: 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 2, 3))
			assert.Equal(t, tt.wantLast, l.append(tt.ents...))
			assert.Equal(t, tt.wantLast, l.lastIndex())
			assert.Equal(t, tt.wantOffset, l.unstable.offset)
			assert.Equal(t, tt.wantTerms, logTestTerms(t, l))
			assert.Equal(t, tt.wantUnst, logTestIDs(l.unstableEntries()))
		})
	}

	t.Run("below the commit index panics", func(t *testing.T) {
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 2, 3))
		l.commitTo(3)
		require.Panics(t, func() { l.append(logTestEntries(3, 4)...) })
		require.Panics(t, func() { l.append(logTestEntries(1, 4)...) })
		// Right after the commit index is fine.
		assert.Equal(t, uint64(4), l.append(logTestEntries(4, 4)...))
	})
}

func TestLogTerm(t *testing.T) {
	// Compacted up to 3 (term 2); 4..5 persisted; 6..7 unstable.
	l := logTestNew(t, entryID{index: 3, term: 2}, logTestEntries(4, 2, 3), logTestEntries(6, 3, 4))
	tests := []struct {
		i       uint64
		want    uint64
		wantErr error
	}{
		{0, 0, ErrCompacted},
		{1, 0, ErrCompacted},
		{2, 0, ErrCompacted},
		{3, 2, nil}, // the snapshot's entry: its term is kept for the §5.3 check
		{4, 2, nil},
		{5, 3, nil},
		{6, 3, nil},
		{7, 4, nil},
		{8, 0, ErrUnavailable},
		{100, 0, ErrUnavailable},
	}
	for _, tt := range tests {
		term, err := l.term(tt.i)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr, "term(%d)", tt.i)
			continue
		}
		require.NoError(t, err, "term(%d)", tt.i)
		assert.Equal(t, tt.want, term, "term(%d)", tt.i)
	}

	t.Run("empty log", func(t *testing.T) {
		l := logTestNew(t, entryID{}, nil, nil)
		term, err := l.term(0)
		require.NoError(t, err)
		assert.Zero(t, term)
		_, err = l.term(1)
		require.ErrorIs(t, err, ErrUnavailable)
	})

	t.Run("unstable tail below the persisted last index", func(t *testing.T) {
		// Persisted 1..5; the unstable tail replaced 4.. with one entry.
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 1, 1, 1), nil)
		l.append(logTestEntries(4, 2)...)
		assert.Equal(t, uint64(4), l.lastIndex())
		assert.Equal(t, []uint64{1, 1, 1, 2}, logTestTerms(t, l))
		// Entry 5 is still in storage but no longer in the log.
		_, err := l.term(5)
		require.ErrorIs(t, err, ErrUnavailable)
	})

	t.Run("unstable snapshot", func(t *testing.T) {
		l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 1), nil)
		l.restore(Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 5}})
		_, err := l.term(9)
		require.ErrorIs(t, err, ErrCompacted)
		_, err = l.term(2) // still in storage, but before the snapshot
		require.ErrorIs(t, err, ErrCompacted)
		term, err := l.term(10)
		require.NoError(t, err)
		assert.Equal(t, uint64(5), term)
		_, err = l.term(11)
		require.ErrorIs(t, err, ErrUnavailable)

		l.append(logTestEntries(11, 6)...)
		term, err = l.term(11)
		require.NoError(t, err)
		assert.Equal(t, uint64(6), term)
		_, err = l.term(12)
		require.ErrorIs(t, err, ErrUnavailable)
	})
}

func TestLogMatchTermAndLastEntryID(t *testing.T) {
	l := logTestNew(t, entryID{index: 3, term: 2}, logTestEntries(4, 2, 3), logTestEntries(6, 4))
	assert.True(t, l.matchTerm(entryID{index: 3, term: 2}))
	assert.True(t, l.matchTerm(entryID{index: 6, term: 4}))
	assert.False(t, l.matchTerm(entryID{index: 6, term: 3}))
	assert.False(t, l.matchTerm(entryID{index: 2, term: 0})) // compacted: unknown, so no match
	assert.False(t, l.matchTerm(entryID{index: 7, term: 0})) // past the end
	assert.Equal(t, entryID{index: 6, term: 4}, l.lastEntryID())
	assert.Equal(t, "6@4", l.lastEntryID().String())
}

func TestLogZeroTermOnOutOfBounds(t *testing.T) {
	assert.Equal(t, uint64(3), zeroTermOnOutOfBounds(3, nil))
	assert.Equal(t, uint64(0), zeroTermOnOutOfBounds(0, ErrCompacted))
	assert.Equal(t, uint64(0), zeroTermOnOutOfBounds(0, fmt.Errorf("wrapped: %w", ErrUnavailable)))
	require.Panics(t, func() { zeroTermOnOutOfBounds(0, errors.New("disk on fire")) })
}

func TestLogSlice(t *testing.T) {
	// Compacted up to 3; 4..6 persisted, 7..9 unstable; every entry is 100
	// bytes.
	newLogUnderTest := func() *raftLog {
		return logTestNew(t, entryID{index: 3, term: 1}, logTestSized(4, 3, 100), logTestSized(7, 3, 100))
	}
	tests := []struct {
		lo, hi, maxSize uint64
		want            []uint64 // indexes
	}{
		{4, 4, noLimit, nil},
		{9, 9, noLimit, nil},
		{10, 10, noLimit, nil},
		{4, 7, noLimit, []uint64{4, 5, 6}},    // persisted only
		{7, 10, noLimit, []uint64{7, 8, 9}},   // unstable only
		{5, 9, noLimit, []uint64{5, 6, 7, 8}}, // across both
		{4, 10, noLimit, []uint64{4, 5, 6, 7, 8, 9}},
		// At least one entry, whatever the limit.
		{4, 10, 0, []uint64{4}},
		{4, 10, 99, []uint64{4}},
		{7, 10, 0, []uint64{7}},
		{4, 10, 100, []uint64{4}},
		{4, 10, 199, []uint64{4}},
		// Storage stops early because of the limit: that is all.
		{4, 10, 200, []uint64{4, 5}},
		{4, 10, 299, []uint64{4, 5}},
		// Storage returns all it was asked for; the limit then cuts the
		// combined result.
		{5, 10, 200, []uint64{5, 6}},
		{5, 10, 300, []uint64{5, 6, 7}},
		{5, 10, 450, []uint64{5, 6, 7, 8}},
		{6, 10, 100, []uint64{6}},
		{6, 10, 250, []uint64{6, 7}},
		{8, 10, 150, []uint64{8}},
		{8, 10, 200, []uint64{8, 9}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("[%d,%d) max %d", tt.lo, tt.hi, tt.maxSize), func(t *testing.T) {
			l := newLogUnderTest()
			ents, err := l.slice(tt.lo, tt.hi, tt.maxSize)
			require.NoError(t, err)
			var got []uint64
			for _, e := range ents {
				got = append(got, e.Index)
			}
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("compacted", func(t *testing.T) {
		l := newLogUnderTest()
		for _, lo := range []uint64{0, 1, 3} {
			_, err := l.slice(lo, 6, noLimit)
			require.ErrorIs(t, err, ErrCompacted, "lo %d", lo)
		}
	})
	t.Run("out of bounds panics", func(t *testing.T) {
		l := newLogUnderTest()
		require.Panics(t, func() { _, _ = l.slice(4, 11, noLimit) })
		require.Panics(t, func() { _, _ = l.slice(6, 5, noLimit) })
	})
	t.Run("entries", func(t *testing.T) {
		l := newLogUnderTest()
		ents, err := l.entries(5, noLimit)
		require.NoError(t, err)
		assert.Len(t, ents, 5)
		ents, err = l.entries(5, 250)
		require.NoError(t, err)
		assert.Len(t, ents, 2)
		ents, err = l.entries(10, noLimit)
		require.NoError(t, err)
		assert.Empty(t, ents)
		_, err = l.entries(3, noLimit)
		require.ErrorIs(t, err, ErrCompacted)
	})
	t.Run("result does not share storage's array", func(t *testing.T) {
		l := newLogUnderTest()
		ents, err := l.slice(5, 9, noLimit)
		require.NoError(t, err)
		ents[0].Term = 99
		term, err := l.term(5)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), term)
	})
}

func TestLogUnstableEntries(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1), nil)
	assert.Nil(t, l.unstableEntries())
	// One at a time, so that the array grows with spare capacity.
	l.append(logTestEntries(2, 1)...)
	l.append(logTestEntries(3, 2)...)
	l.append(logTestEntries(4, 2)...)
	ents := l.unstableEntries()
	assert.Equal(t, []entryID{{term: 1, index: 2}, {term: 2, index: 3}, {term: 2, index: 4}}, logTestIDs(ents))
	// The capacity is cut to the length, so that a host appending to the
	// slice never writes into the log's array.
	assert.Equal(t, len(ents), cap(ents))
	require.NoError(t, l.storage.(*MemoryStorage).Append(ents))
	l.stableTo(entryID{term: 2, index: 4})
	assert.Nil(t, l.unstableEntries())
}

func TestLogNextCommittedEntsPaging(t *testing.T) {
	// Ten entries of 100 bytes, 1..6 persisted and 7..10 unstable, all
	// committed; at most 250 bytes per Ready.
	l := newLog(logTestStorage(t, entryID{}, logTestSized(1, 6, 100)), DiscardLogger, 250)
	l.append(logTestSized(7, 4, 100)...)
	l.commitTo(10)

	var pages [][]uint64
	for l.hasNextCommittedEnts() {
		ents := l.nextCommittedEnts()
		require.NotEmpty(t, ents)
		var page []uint64
		for _, e := range ents {
			page = append(page, e.Index)
		}
		pages = append(pages, page)
		// The host was handed the page: the next Ready starts after it,
		// whether or not this one was applied yet.
		l.acceptApplying(page[len(page)-1])
		if len(pages) == 2 {
			l.appliedTo(2)
		}
		require.Less(t, len(pages), 10, "paging does not progress")
	}
	assert.Equal(t, [][]uint64{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}}, pages)
	assert.Nil(t, l.nextCommittedEnts())
	assert.Equal(t, uint64(10), l.applying)
	assert.Equal(t, uint64(2), l.applied)

	// New commits are handed out after what was accepted.
	l.append(logTestSized(11, 1, 100)...)
	l.commitTo(11)
	assert.Equal(t, []entryID{{term: 1, index: 11}}, logTestIDs(l.nextCommittedEnts()))

	t.Run("limit 0 hands out one entry at a time", func(t *testing.T) {
		l := newLog(logTestStorage(t, entryID{}, logTestSized(1, 3, 100)), DiscardLogger, 0)
		l.commitTo(3)
		for i := uint64(1); i <= 3; i++ {
			ents := l.nextCommittedEnts()
			require.Len(t, ents, 1)
			assert.Equal(t, i, ents[0].Index)
			l.acceptApplying(i)
		}
		assert.False(t, l.hasNextCommittedEnts())
	})
	t.Run("an entry larger than the limit", func(t *testing.T) {
		l := newLog(logTestStorage(t, entryID{}, logTestSized(1, 2, 1000)), DiscardLogger, 250)
		l.commitTo(2)
		assert.Len(t, l.nextCommittedEnts(), 1)
	})
}

// TestLogCommittedEntriesPagedAcrossReadys checks MaxCommittedSizePerReady
// end to end: a node hands out its committed entries over several Readys,
// each within the limit (or a single entry), in order, none twice.
func TestLogCommittedEntriesPagedAcrossReadys(t *testing.T) {
	const limit = 300
	s := NewMemoryStorage()
	rn, err := NewRawNode(&Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s, MaxInflightMsgs: 256,
		MaxCommittedSizePerReady: limit, Logger: DiscardLogger,
	})
	require.NoError(t, err)
	require.NoError(t, rn.Bootstrap([]Peer{{ID: 1}}))

	var applied []Entry
	var sizes []uint64
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			require.NoError(t, s.Append(rd.Entries))
			if !IsEmptyHardState(rd.HardState) {
				require.NoError(t, s.SetHardState(rd.HardState))
			}
			for _, e := range rd.CommittedEntries {
				if e.Type == EntryConfChange {
					var cc ConfChange
					require.NoError(t, cc.Unmarshal(e.Data))
					rn.ApplyConfChange(cc)
				}
			}
			if len(rd.CommittedEntries) > 1 {
				sizes = append(sizes, entsSize(rd.CommittedEntries))
			}
			applied = append(applied, rd.CommittedEntries...)
			rn.Advance(rd)
		}
	}
	handle()
	require.NoError(t, rn.Campaign())
	handle()
	require.Equal(t, StateLeader, rn.Status().RaftState)

	sizes = nil
	before := len(applied)
	for i := range 10 {
		require.NoError(t, rn.Propose(make([]byte, 100+i)))
	}
	handle()
	for _, s := range sizes {
		assert.LessOrEqual(t, s, uint64(limit))
	}
	require.Len(t, applied[before:], 10)
	for i, e := range applied {
		require.Equal(t, uint64(i+1), e.Index, "applied out of order or twice")
	}
	assert.NotEmpty(t, sizes, "no Ready held more than one entry")
}

func TestLogHasNextCommittedEntsWithPendingSnapshot(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 1), nil)
	l.commitTo(2)
	require.True(t, l.hasNextCommittedEnts())

	// A snapshot arrives: the host must persist and apply it before any
	// entry after it.
	l.restore(Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 2}})
	l.append(logTestEntries(6, 2, 2)...)
	l.commitTo(7)
	assert.False(t, l.hasNextCommittedEnts())
	assert.Nil(t, l.nextCommittedEnts())

	// The host persisted and applied the snapshot.
	require.NoError(t, l.storage.(*MemoryStorage).ApplySnapshot(*l.unstable.snapshot))
	l.stableSnapTo(5)
	l.appliedTo(5)
	assert.True(t, l.hasNextCommittedEnts())
	assert.Equal(t, []entryID{{term: 2, index: 6}, {term: 2, index: 7}}, logTestIDs(l.nextCommittedEnts()))
}

func TestLogAcceptApplyingAndAppliedTo(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1, 1, 1, 1), nil)
	l.commitTo(4)

	l.acceptApplying(3)
	assert.Equal(t, uint64(3), l.applying)
	l.acceptApplying(2) // never goes back
	assert.Equal(t, uint64(3), l.applying)

	l.appliedTo(0) // nothing applied: no-op
	assert.Equal(t, uint64(0), l.applied)
	l.appliedTo(2)
	assert.Equal(t, uint64(2), l.applied)
	assert.Equal(t, uint64(3), l.applying) // still handing out 3
	l.appliedTo(4)
	assert.Equal(t, uint64(4), l.applied)
	assert.Equal(t, uint64(4), l.applying) // applied implies handed out

	require.Panics(t, func() { l.appliedTo(5) }, "past the commit index")
	require.Panics(t, func() { l.appliedTo(3) }, "going back")
	assert.Equal(t, uint64(4), l.applied)
}

func TestLogCommitTo(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 3))
	l.commitTo(2)
	assert.Equal(t, uint64(2), l.committed)
	l.commitTo(1) // a stale commit index never lowers ours
	assert.Equal(t, uint64(2), l.committed)
	l.commitTo(3) // the unstable tail can be committed
	assert.Equal(t, uint64(3), l.committed)
	require.Panics(t, func() { l.commitTo(4) })
	assert.Equal(t, uint64(3), l.committed)
}

func TestLogMaybeCommit(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1, 2), logTestEntries(3, 3, 3))
	assert.False(t, l.maybeCommit(entryID{index: 2, term: 3}), "term mismatch")
	assert.Equal(t, uint64(0), l.committed)
	assert.True(t, l.maybeCommit(entryID{index: 3, term: 3}))
	assert.Equal(t, uint64(3), l.committed)
	assert.False(t, l.maybeCommit(entryID{index: 3, term: 3}), "no news")
	assert.False(t, l.maybeCommit(entryID{index: 2, term: 2}), "behind")
	assert.False(t, l.maybeCommit(entryID{index: 5, term: 3}), "past the end")
	assert.Equal(t, uint64(3), l.committed)
}

func TestLogStableTo(t *testing.T) {
	// Persisted 1..2; unstable [1 2 2] at 3..5.
	tests := []struct {
		name       string
		id         entryID
		wantOffset uint64
		wantUnst   int
	}{
		{"a prefix", entryID{index: 3, term: 1}, 4, 2},
		{"all", entryID{index: 5, term: 2}, 6, 0},
		{"term mismatch", entryID{index: 4, term: 1}, 3, 3},
		{"already stable", entryID{index: 2, term: 1}, 3, 3},
		{"past the end", entryID{index: 6, term: 2}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := logTestNew(t, entryID{}, logTestEntries(1, 1, 1), logTestEntries(3, 1, 2, 2))
			// The host wrote the Ready's entries.
			require.NoError(t, l.storage.(*MemoryStorage).Append(l.unstableEntries()))
			l.stableTo(tt.id)
			assert.Equal(t, tt.wantOffset, l.unstable.offset)
			assert.Len(t, l.unstableEntries(), tt.wantUnst)
			assert.Equal(t, uint64(5), l.lastIndex())
		})
	}
}

// TestLogStableToAfterOverwrite is the ABA case of asynchronous writes: the
// host persists a Ready's entries while the node keeps working, and a new
// leader overwrites some of them. The write, when it completes, must not mark
// the new entries stable: they were not written.
//
//	index:         3  4  5
//	Ready:         2  2  2   (handed to the host)
//	overwritten:   2  3  3   (a new leader's entries, before Advance)
//	stableTo(5@2): no-op     (entry 5 is now 5@3, still unwritten)
func TestLogStableToAfterOverwrite(t *testing.T) {
	ms := logTestStorage(t, entryID{}, logTestEntries(1, 1, 1))
	l := newLog(ms, DiscardLogger, noLimit)
	l.append(logTestEntries(3, 2, 2, 2)...)

	ready := l.unstableEntries()
	last, ok := l.maybeAppend(entryID{index: 3, term: 2}, 0, logTestEntries(4, 3, 3))
	require.True(t, ok)
	require.Equal(t, uint64(5), last)

	// The host's write of the old Ready completes.
	require.NoError(t, ms.Append(ready))
	l.stableTo(entryID{index: 5, term: 2})
	assert.Equal(t, uint64(3), l.unstable.offset, "overwritten entries were marked stable")
	assert.Equal(t, []entryID{{term: 2, index: 3}, {term: 3, index: 4}, {term: 3, index: 5}}, logTestIDs(l.unstableEntries()))
	assert.Equal(t, []uint64{1, 1, 2, 3, 3}, logTestTerms(t, l))

	// The next Ready writes the new entries.
	require.NoError(t, ms.Append(l.unstableEntries()))
	l.stableTo(entryID{index: 5, term: 3})
	assert.Nil(t, l.unstableEntries())
	assert.Equal(t, []uint64{1, 1, 2, 3, 3}, logTestTerms(t, l))

	// An overwrite that shortened the log: the old last entry is gone.
	l.append(logTestEntries(6, 3, 3)...)
	ready = l.unstableEntries()
	l.append(logTestEntries(6, 4)...)
	require.NoError(t, ms.Append(ready))
	l.stableTo(entryID{index: 7, term: 3})
	assert.Equal(t, []entryID{{term: 4, index: 6}}, logTestIDs(l.unstableEntries()))
	assert.Equal(t, uint64(6), l.lastIndex())
}

func TestLogStableSnapTo(t *testing.T) {
	l := logTestNew(t, entryID{}, logTestEntries(1, 1), nil)
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 5, Term: 2}}
	l.restore(snap)
	l.stableSnapTo(4)
	require.NotNil(t, l.unstable.snapshot, "another index")
	l.stableSnapTo(6)
	require.NotNil(t, l.unstable.snapshot, "another index")
	l.stableSnapTo(5)
	assert.Nil(t, l.unstable.snapshot)
	l.stableSnapTo(5) // nothing pending: no-op
	assert.Nil(t, l.unstable.snapshot)
}

func TestLogRestore(t *testing.T) {
	ms := logTestStorage(t, entryID{}, logTestEntries(1, 1, 1, 1))
	l := newLog(ms, DiscardLogger, noLimit)
	l.append(logTestEntries(4, 2)...)
	l.commitTo(2)
	l.appliedTo(1)

	snap := Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 3}, Data: []byte("state")}
	l.restore(snap)
	assert.Equal(t, uint64(11), l.firstIndex())
	assert.Equal(t, uint64(10), l.lastIndex())
	assert.Equal(t, uint64(10), l.committed)
	assert.Equal(t, uint64(11), l.unstable.offset)
	assert.Nil(t, l.unstableEntries())
	assert.Equal(t, entryID{index: 10, term: 3}, l.lastEntryID())
	assert.Equal(t, uint64(0), l.lastStableIndex(), "the snapshot is not persisted yet")
	got, err := l.snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap, got)
	_, err = l.slice(5, 11, noLimit)
	require.ErrorIs(t, err, ErrCompacted)

	// The host persists it: storage is the source from now on.
	require.NoError(t, ms.ApplySnapshot(snap))
	l.stableSnapTo(10)
	l.appliedTo(10)
	assert.Equal(t, uint64(11), l.firstIndex())
	assert.Equal(t, uint64(10), l.lastIndex())
	assert.Equal(t, uint64(10), l.lastStableIndex())
	got, err = l.snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap, got)
	assert.Equal(t, entryID{index: 10, term: 3}, l.lastEntryID())
}

func TestLogLastStableIndex(t *testing.T) {
	l := logTestNew(t, entryID{}, nil, nil)
	assert.Equal(t, uint64(0), l.lastStableIndex(), "empty")

	ms := logTestStorage(t, entryID{}, logTestEntries(1, 1, 1, 1))
	l = newLog(ms, DiscardLogger, noLimit)
	assert.Equal(t, uint64(3), l.lastStableIndex(), "all persisted")
	l.append(logTestEntries(4, 1, 1)...)
	assert.Equal(t, uint64(3), l.lastStableIndex(), "unstable tail")
	l.append(logTestEntries(2, 2)...)
	assert.Equal(t, uint64(1), l.lastStableIndex(), "persisted entries 2..3 are being replaced")
	require.NoError(t, ms.Append(l.unstableEntries()))
	l.stableTo(entryID{index: 2, term: 2})
	assert.Equal(t, uint64(2), l.lastStableIndex())

	// Compacted: the snapshot's index counts as stable.
	l = logTestNew(t, entryID{index: 5, term: 1}, nil, nil)
	assert.Equal(t, uint64(5), l.lastStableIndex())
}

func TestLogNewFromStorage(t *testing.T) {
	ms := logTestStorage(t, entryID{index: 5, term: 2}, logTestEntries(6, 2, 3))
	l := newLog(ms, DiscardLogger, 123)
	assert.Equal(t, uint64(6), l.firstIndex())
	assert.Equal(t, uint64(7), l.lastIndex())
	assert.Equal(t, uint64(8), l.unstable.offset)
	// Everything up to the snapshot is committed and applied.
	assert.Equal(t, uint64(5), l.committed)
	assert.Equal(t, uint64(5), l.applying)
	assert.Equal(t, uint64(5), l.applied)
	assert.Equal(t, uint64(123), l.maxApplyingSize)
	assert.Equal(t, "committed=5 applying=5 applied=5 unstable.offset=8 len(unstable.entries)=0", l.String())
}

// logTestFaultyStorage is a Storage that breaks its promises on demand.
type logTestFaultyStorage struct {
	*MemoryStorage
	firstErr, lastErr, termErr, entriesErr, snapErr error
	// noEntries makes Entries return nothing for a non-empty range.
	noEntries bool
}

func (s *logTestFaultyStorage) FirstIndex() (uint64, error) {
	if s.firstErr != nil {
		return 0, s.firstErr
	}
	return s.MemoryStorage.FirstIndex()
}

func (s *logTestFaultyStorage) LastIndex() (uint64, error) {
	if s.lastErr != nil {
		return 0, s.lastErr
	}
	return s.MemoryStorage.LastIndex()
}

func (s *logTestFaultyStorage) Term(i uint64) (uint64, error) {
	if s.termErr != nil {
		return 0, s.termErr
	}
	return s.MemoryStorage.Term(i)
}

func (s *logTestFaultyStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	if s.entriesErr != nil {
		return nil, s.entriesErr
	}
	if s.noEntries {
		return nil, nil
	}
	return s.MemoryStorage.Entries(lo, hi, maxSize)
}

func (s *logTestFaultyStorage) Snapshot() (Snapshot, error) {
	if s.snapErr != nil {
		return Snapshot{}, s.snapErr
	}
	return s.MemoryStorage.Snapshot()
}

// TestLogBrokenStoragePanics checks that a storage error the core cannot
// act on stops the node with a message naming the broken promise, while the
// errors Storage may return (compacted, unavailable) are handled.
func TestLogBrokenStoragePanics(t *testing.T) {
	boom := errors.New("disk on fire")
	newFaulty := func() (*logTestFaultyStorage, *raftLog) {
		s := &logTestFaultyStorage{MemoryStorage: logTestStorage(t, entryID{index: 2, term: 1}, logTestEntries(3, 1, 1, 1))}
		return s, newLog(s, DiscardLogger, noLimit)
	}
	requirePanicsNaming := func(t *testing.T, call string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			require.NotNil(t, r, "no panic")
			msg := fmt.Sprint(r)
			assert.Contains(t, msg, "Storage."+call)
			assert.Contains(t, msg, "disk on fire")
		}()
		f()
	}

	t.Run("newLog", func(t *testing.T) {
		s, _ := newFaulty()
		s.firstErr = boom
		requirePanicsNaming(t, "FirstIndex", func() { newLog(s, DiscardLogger, noLimit) })
		s.firstErr, s.lastErr = nil, boom
		requirePanicsNaming(t, "LastIndex", func() { newLog(s, DiscardLogger, noLimit) })
	})
	t.Run("index look-ups", func(t *testing.T) {
		s, l := newFaulty()
		s.firstErr = boom
		requirePanicsNaming(t, "FirstIndex", func() { l.firstIndex() })
		s.firstErr, s.lastErr = nil, boom
		requirePanicsNaming(t, "LastIndex", func() { l.lastIndex() })
	})
	t.Run("term", func(t *testing.T) {
		s, l := newFaulty()
		s.termErr = boom
		requirePanicsNaming(t, "Term(4)", func() { _, _ = l.term(4) })
		// The errors Storage may return are passed on.
		s.termErr = fmt.Errorf("wrapped: %w", ErrCompacted)
		_, err := l.term(4)
		require.ErrorIs(t, err, ErrCompacted)
		s.termErr = fmt.Errorf("wrapped: %w", ErrUnavailable)
		_, err = l.term(4)
		require.ErrorIs(t, err, ErrUnavailable)
	})
	t.Run("entries", func(t *testing.T) {
		s, l := newFaulty()
		s.entriesErr = boom
		requirePanicsNaming(t, "Entries", func() { _, _ = l.slice(3, 5, noLimit) })
		s.entriesErr = ErrUnavailable
		require.Panics(t, func() { _, _ = l.slice(3, 5, noLimit) })
		s.entriesErr = nil
		s.noEntries = true
		require.Panics(t, func() { _, _ = l.slice(3, 5, noLimit) })
		// Compaction racing with the read is reported, not fatal.
		s.noEntries = false
		s.entriesErr = fmt.Errorf("wrapped: %w", ErrCompacted)
		_, err := l.slice(3, 5, noLimit)
		require.ErrorIs(t, err, ErrCompacted)
	})
	t.Run("committed entries unavailable", func(t *testing.T) {
		s, l := newFaulty()
		l.commitTo(5)
		s.entriesErr = ErrCompacted
		require.Panics(t, func() { l.nextCommittedEnts() })
	})
	t.Run("snapshot", func(t *testing.T) {
		s, l := newFaulty()
		s.snapErr = ErrSnapshotTemporarilyUnavailable
		_, err := l.snapshot()
		require.ErrorIs(t, err, ErrSnapshotTemporarilyUnavailable)
	})
}

// TestLogSliceKeepsEarlierResults checks that what slice returned earlier is
// not changed by later appends, truncations or persistence: a host may
// still be sending or writing it.
func TestLogSliceKeepsEarlierResults(t *testing.T) {
	ms := logTestStorage(t, entryID{}, logTestEntries(1, 1, 1))
	l := newLog(ms, DiscardLogger, noLimit)
	l.append(logTestEntries(3, 1, 1, 1, 1)...)

	var held [][]Entry
	var want [][]Entry
	hold := func(lo, hi uint64) {
		ents, err := l.slice(lo, hi, noLimit)
		require.NoError(t, err)
		held = append(held, ents)
		want = append(want, slices.Clone(ents))
	}
	hold(1, 7)
	hold(3, 5)
	hold(4, 7)
	held = append(held, l.unstableEntries())
	want = append(want, slices.Clone(l.unstableEntries()))

	l.append(logTestEntries(7, 1, 1)...)    // plain append
	l.append(logTestEntries(5, 2, 2, 2)...) // truncating the unstable tail
	hold(2, 8)
	require.NoError(t, ms.Append(l.unstableEntries()))
	l.stableTo(entryID{index: 7, term: 2})
	l.append(logTestEntries(8, 2)...)
	l.append(logTestEntries(3, 3)...) // truncating into the persisted part
	l.append(logTestEntries(4, 3, 3, 3)...)

	for i := range held {
		assert.Equal(t, want[i], held[i], "result %d changed", i)
	}
}

// logTestModel is the reference for TestLogProperties: the log as a plain
// slice, with the cursors raftLog keeps.
type logTestModel struct {
	// ents[i-1] is entry i. Entries before first-1 are placeholders: they
	// were compacted or replaced by a snapshot.
	ents  []Entry
	first uint64
	// committed, applying and applied mirror raftLog's cursors.
	committed, applying, applied uint64
	// stableLast is the last index persisted and still in the log (the
	// unstable offset minus one); pendingSnap is the index of a snapshot
	// not yet persisted, or 0.
	stableLast, pendingSnap uint64
	// maxTerm is the highest term used so far. Every entry that replaces
	// another gets a fresh term, so that an (index, term) pair always
	// names the same entry, as Raft guarantees (Log Matching, §5.3).
	maxTerm uint64
}

func (m *logTestModel) last() uint64 { return uint64(len(m.ents)) }

func (m *logTestModel) term(i uint64) uint64 {
	if i == 0 {
		return 0
	}
	return m.ents[i-1].Term
}

func (m *logTestModel) freshTerm() uint64 {
	m.maxTerm++
	return m.maxTerm
}

// newEntries makes n entries from index first at term, with data of random
// sizes so that byte limits cut in various places.
func (m *logTestModel) newEntries(t *rapid.T, first uint64, n int, term uint64) []Entry {
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Index: first + uint64(i), Term: term, Data: make([]byte, rapid.IntRange(0, 60).Draw(t, "size"))}
	}
	return ents
}

// truncateAndAppend replaces the model's entries from ents[0].Index on.
func (m *logTestModel) truncateAndAppend(ents []Entry) {
	from := ents[0].Index
	m.ents = append(m.ents[:from-1:from-1], ents...)
	m.stableLast = min(m.stableLast, from-1)
}

// logTestReady is what a Ready handed to the host to persist.
type logTestReady struct {
	snap *Snapshot
	ents []Entry
	// copied is a deep copy of ents, to check that the node never changes
	// a slice it handed out.
	copied []Entry
}

// TestLogProperties runs random sequences of appends (by a leader and by
// AppendEntries), persistence with the write racing later appends,
// commits, applies, compactions and snapshots against a plain-slice model,
// and checks after each step that the log reads exactly as the model.
func TestLogProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxApplying := rapid.SampledFrom([]uint64{0, 50, 100, noLimit}).Draw(t, "maxApplyingSize")
		ms := NewMemoryStorage()
		l := newLog(ms, DiscardLogger, maxApplying)
		m := &logTestModel{first: 1}
		var ready *logTestReady

		t.Repeat(map[string]func(*rapid.T){
			"LeaderAppend": func(t *rapid.T) {
				term := m.term(m.last())
				if term == 0 || rapid.Bool().Draw(t, "newTerm") {
					term = m.freshTerm()
				}
				ents := m.newEntries(t, m.last()+1, rapid.IntRange(1, 3).Draw(t, "n"), term)
				m.ents = append(m.ents, ents...)
				require.Equal(t, m.last(), l.append(ents...))
			},
			"MaybeAppend": func(t *rapid.T) {
				prevIndex := rapid.Uint64Range(m.committed, m.last()).Draw(t, "prevIndex")
				if rapid.IntRange(0, 4).Draw(t, "mismatch") == 0 {
					// The consistency check fails: nothing changes.
					prev := entryID{index: prevIndex, term: m.term(prevIndex) + 1}
					if rapid.Bool().Draw(t, "pastEnd") {
						prev = entryID{index: m.last() + 1, term: m.term(m.last())}
					}
					last, ok := l.maybeAppend(prev, m.last(), m.newEntries(t, prev.index+1, 1, m.maxTerm+1))
					require.False(t, ok)
					require.Zero(t, last)
					return
				}
				// Entries the log already holds, then maybe new ones.
				held := rapid.Uint64Range(0, min(m.last()-prevIndex, 3)).Draw(t, "held")
				ents := slices.Clone(m.ents[prevIndex : prevIndex+held])
				if n := rapid.IntRange(0, 3).Draw(t, "new"); n > 0 {
					ents = append(ents, m.newEntries(t, prevIndex+held+1, n, m.freshTerm())...)
				}
				lastNew := prevIndex + uint64(len(ents))
				commit := rapid.Uint64Range(0, lastNew+2).Draw(t, "commit")

				last, ok := l.maybeAppend(entryID{index: prevIndex, term: m.term(prevIndex)}, commit, ents)
				require.True(t, ok)
				require.Equal(t, lastNew, last)
				if uint64(len(ents)) > held {
					m.truncateAndAppend(ents[held:])
				}
				m.committed = max(m.committed, min(commit, lastNew))
			},
			"Ready": func(t *rapid.T) {
				if ready != nil {
					t.Skip("a Ready is being handled")
				}
				ready = &logTestReady{ents: l.unstableEntries()}
				ready.copied = slices.Clone(ready.ents)
				if s := l.unstable.snapshot; s != nil {
					snap := *s
					ready.snap = &snap
				}
			},
			"Persist": func(t *rapid.T) {
				if ready == nil {
					t.Skip("no Ready")
				}
				if s := ready.snap; s != nil {
					require.NoError(t, ms.ApplySnapshot(*s))
					l.stableSnapTo(s.Metadata.Index)
					if m.pendingSnap == s.Metadata.Index {
						m.pendingSnap = 0
					}
					if s.Metadata.Index > l.applied {
						l.appliedTo(s.Metadata.Index)
						m.applied = s.Metadata.Index
						m.applying = max(m.applying, m.applied)
					}
				}
				if n := len(ready.ents); n > 0 {
					require.NoError(t, ms.Append(ready.ents))
					id := entryID{index: ready.ents[n-1].Index, term: ready.ents[n-1].Term}
					l.stableTo(id)
					// Only entries still in the log, and not already
					// stable, become stable.
					if id.index > m.stableLast && id.index <= m.last() && m.term(id.index) == id.term {
						m.stableLast = id.index
					}
				}
				require.Equal(t, ready.copied, ready.ents, "a slice handed out in a Ready changed")
				ready = nil
			},
			"Commit": func(t *rapid.T) {
				i := rapid.Uint64Range(0, m.last()).Draw(t, "commit")
				l.commitTo(i)
				m.committed = max(m.committed, i)
			},
			"Apply": func(t *rapid.T) {
				ents := l.nextCommittedEnts()
				if m.pendingSnap != 0 || m.applying == m.committed {
					require.Nil(t, ents)
					return
				}
				want := limitSize(m.ents[m.applying:m.committed], maxApplying)
				require.Equal(t, want, ents)
				l.acceptApplying(ents[len(ents)-1].Index)
				m.applying = ents[len(ents)-1].Index
				if rapid.Bool().Draw(t, "applied") {
					i := rapid.Uint64Range(m.applied, m.applying).Draw(t, "appliedTo")
					l.appliedTo(i)
					m.applied = max(m.applied, i)
				}
			},
			"Compact": func(t *rapid.T) {
				bound := min(m.applied, m.stableLast)
				if m.pendingSnap != 0 || bound < m.first {
					t.Skip("nothing to compact")
				}
				i := rapid.Uint64Range(m.first, bound).Draw(t, "compact")
				_, err := ms.CreateSnapshot(i, nil, nil)
				require.NoError(t, err)
				require.NoError(t, ms.Compact(i))
				m.first = i + 1
			},
			"Restore": func(t *rapid.T) {
				s := Snapshot{Metadata: SnapshotMetadata{
					Index: rapid.Uint64Range(m.committed+1, m.last()+3).Draw(t, "snapIndex"),
					Term:  m.freshTerm(),
				}}
				l.restore(s)
				idx := s.Metadata.Index
				m.ents = m.ents[:min(idx, m.last())]
				for m.last() < idx {
					m.ents = append(m.ents, Entry{Index: m.last() + 1})
				}
				m.ents[idx-1] = Entry{Index: idx, Term: s.Metadata.Term}
				m.first = idx + 1
				m.committed = idx
				m.stableLast = idx
				m.pendingSnap = idx
			},
			"": func(t *rapid.T) {
				require.Equal(t, m.last(), l.lastIndex(), "lastIndex")
				require.Equal(t, m.first, l.firstIndex(), "firstIndex")
				require.Equal(t, m.committed, l.committed, "committed")
				require.Equal(t, m.applying, l.applying, "applying")
				require.Equal(t, m.applied, l.applied, "applied")
				require.Equal(t, m.stableLast+1, l.unstable.offset, "unstable offset")
				wantStable := m.stableLast
				if m.pendingSnap != 0 {
					wantStable = 0
				}
				require.Equal(t, wantStable, l.lastStableIndex(), "lastStableIndex")
				require.Equal(t, m.pendingSnap == 0 && m.applying < m.committed, l.hasNextCommittedEnts())
				if want := m.ents[m.stableLast:]; len(want) == 0 {
					require.Empty(t, l.unstableEntries(), "unstable entries")
				} else {
					require.Equal(t, want, l.unstableEntries(), "unstable entries")
				}

				for i := uint64(0); i <= m.last()+2; i++ {
					term, err := l.term(i)
					switch {
					case i+1 < m.first:
						require.ErrorIs(t, err, ErrCompacted, "term(%d)", i)
					case i > m.last():
						require.ErrorIs(t, err, ErrUnavailable, "term(%d)", i)
					default:
						require.NoError(t, err, "term(%d)", i)
						require.Equal(t, m.term(i), term, "term(%d)", i)
					}
				}

				lo := rapid.Uint64Range(m.first, m.last()+1).Draw(t, "lo")
				hi := rapid.Uint64Range(lo, m.last()+1).Draw(t, "hi")
				maxSize := rapid.SampledFrom([]uint64{0, 30, 60, 100, 150, noLimit}).Draw(t, "maxSize")
				ents, err := l.slice(lo, hi, maxSize)
				require.NoError(t, err)
				if lo == hi {
					require.Empty(t, ents)
				} else {
					require.Equal(t, limitSize(m.ents[lo-1:hi-1], maxSize), ents, "slice(%d, %d, %d)", lo, hi, maxSize)
				}
				if m.first > 1 {
					_, err := l.slice(m.first-1, hi, maxSize)
					require.ErrorIs(t, err, ErrCompacted)
				}
			},
		})
	})
}
