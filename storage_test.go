package raft

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// newTestStorage returns a storage holding a snapshot at (snapIndex,
// snapTerm), compacted up to it, followed by ents.
func newTestStorage(t *testing.T, snapIndex, snapTerm uint64, ents ...Entry) *MemoryStorage {
	t.Helper()
	ms := NewMemoryStorage()
	if snapIndex > 0 {
		require.NoError(t, ms.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: snapIndex, Term: snapTerm}}))
	}
	require.NoError(t, ms.Append(ents))
	return ms
}

// storedEntries returns every entry ms still holds.
func storedEntries(t *testing.T, ms *MemoryStorage) []Entry {
	t.Helper()
	first, err := ms.FirstIndex()
	require.NoError(t, err)
	last, err := ms.LastIndex()
	require.NoError(t, err)
	ents, err := ms.Entries(first, last+1, noLimit)
	require.NoError(t, err)
	return ents
}

// The usual fixture: compacted up to (3, 3), then entries 4 and 5 at the
// terms of their indexes.
var (
	fixEnt3 = Entry{Index: 3, Term: 3}
	fixEnt4 = Entry{Index: 4, Term: 4}
	fixEnt5 = Entry{Index: 5, Term: 5}
)

func TestMemoryStorageTerm(t *testing.T) {
	ms := newTestStorage(t, 3, 3, fixEnt4, fixEnt5)
	tests := []struct {
		i       uint64
		want    uint64
		wantErr error
	}{
		{i: 0, wantErr: ErrCompacted},
		{i: 2, wantErr: ErrCompacted},
		{i: 3, want: 3}, // the snapshot's term, kept for the §5.3 check
		{i: 4, want: 4},
		{i: 5, want: 5},
		{i: 6, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.i), func(t *testing.T) {
			term, err := ms.Term(tt.i)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, term)
		})
	}
}

func TestMemoryStorageTermEmpty(t *testing.T) {
	ms := NewMemoryStorage()
	term, err := ms.Term(0)
	require.NoError(t, err)
	assert.Zero(t, term)
	_, err = ms.Term(1)
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestMemoryStorageEntries(t *testing.T) {
	data := make([]byte, 10) // each entry has size 34
	d4 := Entry{Index: 4, Term: 4, Data: data}
	d5 := Entry{Index: 5, Term: 5, Data: data}
	d6 := Entry{Index: 6, Term: 6, Data: data}
	ms := newTestStorage(t, 3, 3, d4, d5, d6)
	one := d4.size()
	require.EqualValues(t, 34, one)

	tests := []struct {
		name    string
		lo, hi  uint64
		maxSize uint64
		want    []Entry
		wantErr error
	}{
		{name: "below snapshot", lo: 2, hi: 6, maxSize: noLimit, wantErr: ErrCompacted},
		{name: "at snapshot", lo: 3, hi: 4, maxSize: noLimit, wantErr: ErrCompacted},
		{name: "past last", lo: 4, hi: 8, maxSize: noLimit, wantErr: ErrUnavailable},
		{name: "empty range", lo: 5, hi: 5, maxSize: noLimit, want: nil},
		{name: "empty range at end", lo: 7, hi: 7, maxSize: noLimit, want: nil},
		{name: "one", lo: 4, hi: 5, maxSize: noLimit, want: []Entry{d4}},
		{name: "all", lo: 4, hi: 7, maxSize: noLimit, want: []Entry{d4, d5, d6}},
		{name: "tail", lo: 5, hi: 7, maxSize: noLimit, want: []Entry{d5, d6}},
		{name: "zero limit still one", lo: 4, hi: 7, maxSize: 0, want: []Entry{d4}},
		{name: "limit below one entry still one", lo: 4, hi: 7, maxSize: one - 1, want: []Entry{d4}},
		{name: "limit exactly one", lo: 4, hi: 7, maxSize: one, want: []Entry{d4}},
		{name: "limit below two", lo: 4, hi: 7, maxSize: 2*one - 1, want: []Entry{d4}},
		{name: "limit exactly two", lo: 4, hi: 7, maxSize: 2 * one, want: []Entry{d4, d5}},
		{name: "limit below three", lo: 4, hi: 7, maxSize: 3*one - 1, want: []Entry{d4, d5}},
		{name: "limit exactly three", lo: 4, hi: 7, maxSize: 3 * one, want: []Entry{d4, d5, d6}},
		{name: "limit above all", lo: 4, hi: 7, maxSize: 10 * one, want: []Entry{d4, d5, d6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ents, err := ms.Entries(tt.lo, tt.hi, tt.maxSize)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if len(tt.want) == 0 {
				assert.Empty(t, ents)
				return
			}
			assert.Equal(t, tt.want, ents)
		})
	}
}

func TestMemoryStorageEntriesInvalidRange(t *testing.T) {
	ms := newTestStorage(t, 3, 3, fixEnt4, fixEnt5)
	_, err := ms.Entries(5, 4, noLimit)
	require.ErrorContains(t, err, "invalid entry range")
}

func TestLimitSize(t *testing.T) {
	ents := []Entry{{Index: 1}, {Index: 2, Data: make([]byte, 6)}, {Index: 3}}
	require.EqualValues(t, 3*entryOverhead+6, entsSize(ents))
	assert.Zero(t, entsSize(nil))

	tests := []struct {
		maxSize uint64
		want    int
	}{
		{0, 1},
		{entryOverhead, 1},
		{2*entryOverhead + 5, 1},
		{2*entryOverhead + 6, 2},
		{3*entryOverhead + 5, 2},
		{3*entryOverhead + 6, 3},
		{noLimit, 3},
	}
	for _, tt := range tests {
		assert.Len(t, limitSize(ents, tt.maxSize), tt.want, "maxSize %d", tt.maxSize)
	}
	assert.Empty(t, limitSize(nil, 0))
}

func TestMemoryStorageFirstLastIndex(t *testing.T) {
	index := func(ms *MemoryStorage) (first, last uint64) {
		first, err := ms.FirstIndex()
		require.NoError(t, err)
		last, err = ms.LastIndex()
		require.NoError(t, err)
		return first, last
	}

	ms := NewMemoryStorage()
	first, last := index(ms)
	assert.Equal(t, []uint64{1, 0}, []uint64{first, last}, "empty")

	require.NoError(t, ms.Append([]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 2}}))
	first, last = index(ms)
	assert.Equal(t, []uint64{1, 3}, []uint64{first, last}, "after append")

	_, err := ms.CreateSnapshot(2, nil, nil)
	require.NoError(t, err)
	require.NoError(t, ms.Compact(2))
	first, last = index(ms)
	assert.Equal(t, []uint64{3, 3}, []uint64{first, last}, "after compact")

	require.NoError(t, ms.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 4}}))
	first, last = index(ms)
	assert.Equal(t, []uint64{11, 10}, []uint64{first, last}, "after snapshot")
}

func TestMemoryStorageCompact(t *testing.T) {
	e6, e7 := Entry{Index: 6, Term: 6}, Entry{Index: 7, Term: 6}
	tests := []struct {
		compact   uint64
		wantErr   error
		wantFirst uint64
	}{
		{compact: 2, wantErr: ErrCompacted},
		{compact: 3, wantErr: ErrCompacted},
		{compact: 4, wantFirst: 5},
		{compact: 6, wantFirst: 7}, // exactly at the snapshot
		{compact: 7, wantErr: ErrCompactBeyondSnapshot},
		{compact: 8, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.compact), func(t *testing.T) {
			ms := newTestStorage(t, 3, 3, fixEnt4, fixEnt5, e6, e7)
			_, err := ms.CreateSnapshot(6, nil, nil)
			require.NoError(t, err)
			before := storedEntries(t, ms)

			err = ms.Compact(tt.compact)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, before, storedEntries(t, ms), "a refused Compact changes nothing")
				return
			}
			require.NoError(t, err)
			first, err := ms.FirstIndex()
			require.NoError(t, err)
			assert.Equal(t, tt.wantFirst, first)
			term, err := ms.Term(tt.compact)
			require.NoError(t, err)
			assert.Equal(t, before[tt.compact-4].Term, term, "the compaction point keeps its term")
			assert.Equal(t, before[tt.compact-3:], storedEntries(t, ms))

			require.ErrorIs(t, ms.Compact(tt.compact), ErrCompacted, "compacting twice")
		})
	}
}

// Compacting past the latest snapshot would leave a follower that needs the
// discarded entries with nothing to be sent: neither entries nor a snapshot
// covering them (§7). Compact refuses, and the host snapshots first.
func TestMemoryStorageCompactNeedsSnapshot(t *testing.T) {
	ms := newTestStorage(t, 0, 0, Entry{Index: 1, Term: 1}, Entry{Index: 2, Term: 1}, Entry{Index: 3, Term: 2})

	err := ms.Compact(2)
	require.ErrorIs(t, err, ErrCompactBeyondSnapshot)
	require.ErrorContains(t, err, "latest snapshot is at 0")
	ents, err := ms.Entries(1, 4, noLimit)
	require.NoError(t, err)
	require.Len(t, ents, 3, "nothing was discarded")

	_, err = ms.CreateSnapshot(2, &ConfState{Voters: []uint64{1}}, []byte("state"))
	require.NoError(t, err)
	require.NoError(t, ms.Compact(2))

	// A follower needing entry 1 gets ErrCompacted, and a snapshot covering it.
	_, err = ms.Entries(1, 4, noLimit)
	require.ErrorIs(t, err, ErrCompacted)
	snap, err := ms.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), snap.Metadata.Index)
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	prevCS := ConfState{Voters: []uint64{1, 2, 3}}
	newCS := ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}
	data := []byte("data")
	tests := []struct {
		name    string
		i       uint64
		cs      *ConfState
		want    SnapshotMetadata
		wantErr error
	}{
		{name: "older", i: 2, cs: &newCS, wantErr: ErrSnapOutOfDate},
		{name: "same", i: 3, cs: &newCS, wantErr: ErrSnapOutOfDate},
		{name: "new", i: 4, cs: &newCS, want: SnapshotMetadata{Index: 4, Term: 4, ConfState: newCS}},
		{name: "last", i: 5, cs: &newCS, want: SnapshotMetadata{Index: 5, Term: 5, ConfState: newCS}},
		{name: "keep ConfState", i: 5, cs: nil, want: SnapshotMetadata{Index: 5, Term: 5, ConfState: prevCS}},
		{name: "past last", i: 6, cs: &newCS, wantErr: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := NewMemoryStorage()
			require.NoError(t, ms.ApplySnapshot(Snapshot{Metadata: SnapshotMetadata{Index: 3, Term: 3, ConfState: prevCS}}))
			require.NoError(t, ms.Append([]Entry{fixEnt4, fixEnt5}))

			snap, err := ms.CreateSnapshot(tt.i, tt.cs, data)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				got, err := ms.Snapshot()
				require.NoError(t, err)
				assert.Equal(t, uint64(3), got.Metadata.Index, "a refused snapshot changes nothing")
				return
			}
			require.NoError(t, err)
			want := Snapshot{Metadata: tt.want, Data: data}
			assert.Equal(t, want, snap)
			got, err := ms.Snapshot()
			require.NoError(t, err)
			assert.Equal(t, want, got)
			_, cs, err := ms.InitialState()
			require.NoError(t, err)
			assert.Equal(t, tt.want.ConfState, cs)
			assert.Len(t, storedEntries(t, ms), 2, "creating a snapshot discards nothing")
		})
	}
}

func TestMemoryStorageApplySnapshot(t *testing.T) {
	cs := ConfState{Voters: []uint64{1, 2, 3}}
	snap := func(index, term uint64) Snapshot {
		return Snapshot{Metadata: SnapshotMetadata{Index: index, Term: term, ConfState: cs}, Data: []byte("data")}
	}

	ms := NewMemoryStorage()
	require.ErrorIs(t, ms.ApplySnapshot(Snapshot{}), ErrSnapOutOfDate, "an empty snapshot is never newer")

	require.NoError(t, ms.Append([]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}}))
	require.NoError(t, ms.ApplySnapshot(snap(4, 4)), "onto a storage that never had a snapshot")
	got, err := ms.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, snap(4, 4), got)
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	assert.Equal(t, []uint64{5, 4}, []uint64{first, last}, "the log is replaced")
	term, err := ms.Term(4)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), term)
	_, gotCS, err := ms.InitialState()
	require.NoError(t, err)
	assert.Equal(t, cs, gotCS)

	err = ms.ApplySnapshot(snap(3, 3))
	require.ErrorIs(t, err, ErrSnapOutOfDate, "older")
	require.ErrorContains(t, err, "index 3")
	require.ErrorIs(t, ms.ApplySnapshot(snap(4, 4)), ErrSnapOutOfDate, "same index")

	// A newer snapshot inside the log still replaces all of it.
	require.NoError(t, ms.Append([]Entry{{Index: 5, Term: 4}, {Index: 6, Term: 4}, {Index: 7, Term: 5}}))
	require.NoError(t, ms.ApplySnapshot(snap(6, 4)))
	last, _ = ms.LastIndex()
	assert.Equal(t, uint64(6), last)
	assert.Empty(t, storedEntries(t, ms))
}

func TestMemoryStorageAppend(t *testing.T) {
	tests := []struct {
		name       string
		ents       []Entry
		want       []Entry
		wantErr    error  // checked with errors.Is
		wantErrMsg string // checked as a substring
	}{
		{name: "nothing", ents: nil, want: []Entry{fixEnt4, fixEnt5}},
		{name: "all compacted", ents: []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, want: []Entry{fixEnt4, fixEnt5}},
		{name: "same entries", ents: []Entry{fixEnt3, fixEnt4, fixEnt5}, want: []Entry{fixEnt4, fixEnt5}},
		{
			name: "compacted prefix trimmed, rest replaced",
			ents: []Entry{fixEnt3, {Index: 4, Term: 6}, {Index: 5, Term: 6}},
			want: []Entry{{Index: 4, Term: 6}, {Index: 5, Term: 6}},
		},
		{
			name: "compacted prefix trimmed, one more",
			ents: []Entry{fixEnt3, fixEnt4, fixEnt5, {Index: 6, Term: 5}},
			want: []Entry{fixEnt4, fixEnt5, {Index: 6, Term: 5}},
		},
		{
			name: "conflict truncates the suffix",
			ents: []Entry{{Index: 2, Term: 3}, fixEnt3, {Index: 4, Term: 5}},
			want: []Entry{{Index: 4, Term: 5}},
		},
		{name: "rewrite first", ents: []Entry{{Index: 4, Term: 5}}, want: []Entry{{Index: 4, Term: 5}}},
		{name: "rewrite last", ents: []Entry{{Index: 5, Term: 6}}, want: []Entry{fixEnt4, {Index: 5, Term: 6}}},
		{name: "extend", ents: []Entry{{Index: 6, Term: 5}}, want: []Entry{fixEnt4, fixEnt5, {Index: 6, Term: 5}}},
		{
			name:    "gap",
			ents:    []Entry{{Index: 7, Term: 5}},
			want:    []Entry{fixEnt4, fixEnt5},
			wantErr: ErrUnavailable, wantErrMsg: "gap after last index 5",
		},
		{
			name:       "non-contiguous",
			ents:       []Entry{{Index: 6, Term: 5}, {Index: 8, Term: 5}},
			want:       []Entry{fixEnt4, fixEnt5},
			wantErrMsg: "non-contiguous",
		},
		{
			name:       "repeated index",
			ents:       []Entry{fixEnt4, fixEnt4},
			want:       []Entry{fixEnt4, fixEnt5},
			wantErrMsg: "non-contiguous",
		},
		{
			name:       "decreasing index",
			ents:       []Entry{fixEnt5, fixEnt4},
			want:       []Entry{fixEnt4, fixEnt5},
			wantErrMsg: "non-contiguous",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newTestStorage(t, 3, 3, fixEnt4, fixEnt5)
			err := ms.Append(tt.ents)
			if tt.wantErr != nil || tt.wantErrMsg != "" {
				require.Error(t, err)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
				}
				require.ErrorContains(t, err, tt.wantErrMsg)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, storedEntries(t, ms))
		})
	}
}

// Entries covered by the snapshot are committed: appending them again changes
// nothing (in particular, it does not truncate what follows), and appending
// them at another term is refused.
func TestMemoryStorageAppendUnderSnapshot(t *testing.T) {
	ents := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}, {Index: 4, Term: 2}, {Index: 5, Term: 2}}
	tests := []struct {
		name    string
		ents    []Entry
		want    []Entry
		wantErr bool
	}{
		{name: "repeat covered entries", ents: ents[1:3], want: ents},
		{
			name: "repeat covered, then replace",
			ents: []Entry{ents[2], {Index: 4, Term: 3}},
			want: []Entry{ents[0], ents[1], ents[2], {Index: 4, Term: 3}},
		},
		{name: "rewrite covered entry", ents: []Entry{{Index: 3, Term: 2}}, want: ents, wantErr: true},
		{
			name:    "rewrite covered entry after a matching one",
			ents:    []Entry{ents[1], {Index: 3, Term: 2}, {Index: 4, Term: 2}},
			want:    ents,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := newTestStorage(t, 0, 0, ents...)
			_, err := ms.CreateSnapshot(3, nil, nil)
			require.NoError(t, err)

			err = ms.Append(tt.ents)
			if tt.wantErr {
				require.ErrorContains(t, err, "snapshot at 3 holds it at term 1")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, storedEntries(t, ms))
		})
	}
}

// The core keeps the slices Entries returns, so the storage must never write
// to them again, and a caller's append to one must not reach the storage.
func TestMemoryStorageReturnedSlicesAreStable(t *testing.T) {
	ms := newTestStorage(t, 0, 0, Entry{Index: 1, Term: 1}, Entry{Index: 2, Term: 1}, Entry{Index: 3, Term: 1})
	held, err := ms.Entries(1, 4, noLimit)
	require.NoError(t, err)
	want := slices.Clone(held)

	require.NoError(t, ms.Append([]Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}}))
	assert.Equal(t, want, held, "after a conflicting append")
	require.NoError(t, ms.Append([]Entry{{Index: 4, Term: 2}}))
	_, err = ms.CreateSnapshot(2, nil, nil)
	require.NoError(t, err)
	require.NoError(t, ms.Compact(2))
	require.NoError(t, ms.Append([]Entry{{Index: 5, Term: 2}}))
	assert.Equal(t, want, held)

	limited, err := ms.Entries(3, 6, 0)
	require.NoError(t, err)
	require.Len(t, limited, 1)
	_ = append(limited, Entry{Index: 99, Term: 99})
	all, err := ms.Entries(3, 6, noLimit)
	require.NoError(t, err)
	_ = append(all, Entry{Index: 99, Term: 99})
	assert.Equal(t, []Entry{{Index: 3, Term: 2}, {Index: 4, Term: 2}, {Index: 5, Term: 2}}, storedEntries(t, ms))
	require.NoError(t, ms.Append([]Entry{{Index: 6, Term: 2}}))
	assert.Equal(t, uint64(6), storedEntries(t, ms)[3].Index)
}

func TestMemoryStorageAppendCopiesEntries(t *testing.T) {
	ms := NewMemoryStorage()
	ents := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}
	require.NoError(t, ms.Append(ents))
	ents[0].Term = 9
	assert.Equal(t, []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}, storedEntries(t, ms))
}

func TestMemoryStorageHardState(t *testing.T) {
	ms := NewMemoryStorage()
	st, cs, err := ms.InitialState()
	require.NoError(t, err)
	assert.True(t, IsEmptyHardState(st))
	assert.Equal(t, ConfState{}, cs)

	want := HardState{Term: 3, Vote: 2, Commit: 7}
	require.NoError(t, ms.SetHardState(want))
	st, _, err = ms.InitialState()
	require.NoError(t, err)
	assert.Equal(t, want, st)
}

// One writer appends, rewrites, snapshots and compacts while readers read.
// Under -race this also checks that the storage never writes to entries it
// handed out: readers read them without the lock.
func TestMemoryStorageConcurrentUse(t *testing.T) {
	ms := NewMemoryStorage()
	done := make(chan struct{})
	var wg sync.WaitGroup

	wg.Go(func() {
		defer close(done)
		for i := uint64(1); i <= 3000; i++ {
			if !assert.NoError(t, ms.Append([]Entry{{Index: i, Term: 1}})) {
				return
			}
			if i%10 == 0 && !assert.NoError(t, ms.Append([]Entry{{Index: i - 2, Term: i}, {Index: i - 1, Term: i}, {Index: i, Term: i}})) {
				return
			}
			if i%100 == 0 {
				_, err := ms.CreateSnapshot(i-5, nil, nil)
				if !assert.NoError(t, err) || !assert.NoError(t, ms.Compact(i-50)) {
					return
				}
			}
		}
	})

	for range 4 {
		wg.Go(func() {
			var held, heldCopy []Entry
			for {
				select {
				case <-done:
					return
				default:
				}
				if !assert.Equal(t, heldCopy, held, "entries handed out were modified") {
					return
				}
				first, _ := ms.FirstIndex()
				last, _ := ms.LastIndex()
				ents, err := ms.Entries(first, last+1, 1000)
				if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
					continue // compacted or truncated between the calls
				}
				if !assert.NoError(t, err) {
					return
				}
				for k, e := range ents {
					if !assert.Equal(t, first+uint64(k), e.Index) {
						return
					}
				}
				held, heldCopy = ents, slices.Clone(ents)
				if _, err := ms.Term(first - 1); err != nil && !errors.Is(err, ErrCompacted) {
					assert.NoError(t, err)
					return
				}
				_, _ = ms.Snapshot()
				_, _, _ = ms.InitialState()
			}
		})
	}
	wg.Wait()

	last, err := ms.LastIndex()
	require.NoError(t, err)
	assert.Equal(t, uint64(3000), last)
}

// storageModel is the plain meaning of a MemoryStorage: the whole log as a
// slice indexed by entry index, a compaction point and a snapshot.
type storageModel struct {
	log       []Entry // log[i] has index i; entries up to compacted are stale
	compacted uint64  // FirstIndex()-1
	snap      Snapshot
	hardState HardState
	gen       int // makes every appended entry's Data unique
}

func (m *storageModel) last() uint64 { return uint64(len(m.log)) - 1 }

// append returns the error Append must return (errNotSentinel for any error that
// is not a sentinel), and applies the change if there is none.
func (m *storageModel) append(ents []Entry) error {
	for k := 1; k < len(ents); k++ {
		if ents[k].Index != ents[k-1].Index+1 {
			return errNotSentinel
		}
	}
	var kept []Entry
	for _, e := range ents {
		if e.Index > m.compacted {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if kept[0].Index > m.last()+1 {
		return ErrUnavailable
	}
	for len(kept) > 0 && kept[0].Index <= m.snap.Metadata.Index {
		if m.log[kept[0].Index].Term != kept[0].Term {
			return errNotSentinel
		}
		kept = kept[1:]
	}
	if len(kept) > 0 {
		m.log = append(m.log[:kept[0].Index], kept...)
	}
	return nil
}

var errNotSentinel = errors.New("any non-sentinel error")

func requireStorageErr(t require.TestingT, want, got error) {
	switch want {
	case nil:
		require.NoError(t, got)
	case errNotSentinel:
		require.Error(t, got)
		for _, sentinel := range []error{ErrCompacted, ErrUnavailable, ErrSnapOutOfDate, ErrCompactBeyondSnapshot} {
			require.NotErrorIs(t, got, sentinel)
		}
	default:
		require.ErrorIs(t, got, want)
	}
}

// Random sequences of operations keep MemoryStorage equal to the model, and
// keep its invariants: FirstIndex()-1 <= snapshot index <= LastIndex(), the
// entries in [FirstIndex(), LastIndex()] are stored with consecutive indexes,
// and Term answers exactly for [FirstIndex()-1, LastIndex()].
func TestMemoryStorageProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms := NewMemoryStorage()
		m := &storageModel{log: make([]Entry, 1)}

		t.Repeat(map[string]func(*rapid.T){
			"Append": func(t *rapid.T) {
				lo := rapid.Uint64Range(max(m.compacted, 2)-2, m.last()+2).Draw(t, "lo")
				ents := make([]Entry, rapid.IntRange(0, 5).Draw(t, "n"))
				for k := range ents {
					i := lo + uint64(k)
					m.gen++
					ents[k] = Entry{Index: i, Term: rapid.Uint64Range(1, 5).Draw(t, "term"), Data: fmt.Appendf(nil, "%d", m.gen)}
					if i > m.compacted && i <= m.last() && rapid.IntRange(0, 3).Draw(t, "keepTerm") > 0 {
						ents[k].Term = m.log[i].Term
					}
				}
				if len(ents) >= 2 && rapid.IntRange(0, 9).Draw(t, "break") == 0 {
					ents[len(ents)-1].Index += rapid.SampledFrom([]uint64{1, ^uint64(0)}).Draw(t, "delta")
				}
				requireStorageErr(t, m.append(ents), ms.Append(ents))
			},
			"Compact": func(t *rapid.T) {
				i := rapid.Uint64Range(0, m.last()+1).Draw(t, "i")
				var want error
				switch {
				case i <= m.compacted:
					want = ErrCompacted
				case i > m.last():
					want = ErrUnavailable
				case i > m.snap.Metadata.Index:
					want = ErrCompactBeyondSnapshot
				default:
					m.compacted = i
				}
				requireStorageErr(t, want, ms.Compact(i))
			},
			"CreateSnapshot": func(t *rapid.T) {
				i := rapid.Uint64Range(0, m.last()+1).Draw(t, "i")
				var cs *ConfState
				if rapid.Bool().Draw(t, "newConfState") {
					cs = &ConfState{Voters: []uint64{i}}
				}
				data := fmt.Appendf(nil, "snap %d", i)
				snap, err := ms.CreateSnapshot(i, cs, data)
				switch {
				case i <= m.snap.Metadata.Index:
					require.ErrorIs(t, err, ErrSnapOutOfDate)
				case i > m.last():
					require.ErrorIs(t, err, ErrUnavailable)
				default:
					require.NoError(t, err)
					m.snap.Metadata.Index, m.snap.Metadata.Term = i, m.log[i].Term
					if cs != nil {
						m.snap.Metadata.ConfState = *cs
					}
					m.snap.Data = data
					require.Equal(t, m.snap, snap)
				}
			},
			"ApplySnapshot": func(t *rapid.T) {
				i := rapid.Uint64Range(0, m.last()+3).Draw(t, "i")
				snap := Snapshot{
					Metadata: SnapshotMetadata{Index: i, Term: rapid.Uint64Range(1, 5).Draw(t, "term"), ConfState: ConfState{Learners: []uint64{i}}},
					Data:     []byte("applied"),
				}
				err := ms.ApplySnapshot(snap)
				if i <= m.snap.Metadata.Index {
					require.ErrorIs(t, err, ErrSnapOutOfDate)
					return
				}
				require.NoError(t, err)
				m.snap, m.compacted = snap, i
				m.log = make([]Entry, i+1)
				m.log[i] = Entry{Index: i, Term: snap.Metadata.Term}
			},
			"SetHardState": func(t *rapid.T) {
				m.hardState = HardState{Term: rapid.Uint64Range(0, 5).Draw(t, "term"), Commit: m.last()}
				require.NoError(t, ms.SetHardState(m.hardState))
			},
			"Entries": func(t *rapid.T) {
				lo := rapid.Uint64Range(m.compacted+1, m.last()+1).Draw(t, "lo")
				hi := rapid.Uint64Range(lo, m.last()+1).Draw(t, "hi")
				maxSize := rapid.SampledFrom([]uint64{0, 1, 25, 30, 50, 60, 100, noLimit}).Draw(t, "maxSize")
				ents, err := ms.Entries(lo, hi, maxSize)
				require.NoError(t, err)
				want := m.log[lo:hi]
				for n := len(want); n > 1 && entsSize(want) > maxSize; n-- {
					want = want[:n-1]
				}
				require.Equal(t, len(want), len(ents))
				if len(want) > 0 {
					require.Equal(t, want, ents)
				}
			},
			"": func(t *rapid.T) {
				first, err := ms.FirstIndex()
				require.NoError(t, err)
				last, err := ms.LastIndex()
				require.NoError(t, err)
				require.Equal(t, m.compacted+1, first)
				require.Equal(t, m.last(), last)

				snap, err := ms.Snapshot()
				require.NoError(t, err)
				require.Equal(t, m.snap, snap)
				require.LessOrEqual(t, first-1, snap.Metadata.Index, "every compacted entry is covered by the snapshot")
				require.LessOrEqual(t, snap.Metadata.Index, last, "the log reaches the snapshot")
				st, cs, err := ms.InitialState()
				require.NoError(t, err)
				require.Equal(t, m.hardState, st)
				require.Equal(t, m.snap.Metadata.ConfState, cs)

				ents, err := ms.Entries(first, last+1, noLimit)
				require.NoError(t, err)
				require.Len(t, ents, int(last+1-first))
				for k, e := range ents {
					require.Equal(t, m.log[first+uint64(k)], e)
				}

				term, err := ms.Term(first - 1)
				require.NoError(t, err)
				require.Equal(t, m.log[first-1].Term, term)
				if first > 1 {
					_, err = ms.Term(first - 2)
					require.ErrorIs(t, err, ErrCompacted)
					_, err = ms.Entries(first-1, last+1, noLimit)
					require.ErrorIs(t, err, ErrCompacted)
				}
				_, err = ms.Term(last + 1)
				require.ErrorIs(t, err, ErrUnavailable)
				_, err = ms.Entries(first, last+2, noLimit)
				require.ErrorIs(t, err, ErrUnavailable)
			},
		})
	})
}

// The log in memory doubles its array when full: appending one entry at a
// time costs one allocation per doubling (15 for 10,000 entries, against 20
// with the built-in append's growth by a quarter), and a compaction leaves
// room to double (1 allocation to compact and refill, against 4).
func TestMemoryStorageAppendGrowsByDoubling(t *testing.T) {
	var ms *MemoryStorage
	var next uint64
	appendMany := func(n int) {
		for range n {
			if err := ms.Append([]Entry{{Index: next, Term: 1}}); err != nil {
				panic(err)
			}
			next++
		}
	}
	fresh := func() {
		ms, next = NewMemoryStorage(), 1
		appendMany(10_000)
	}
	assert.LessOrEqual(t, testing.AllocsPerRun(3, fresh), 16.0,
		"allocations to append 10,000 entries one by one")

	compactAndRefill := func() {
		if _, err := ms.CreateSnapshot(next-1, nil, nil); err != nil {
			panic(err)
		}
		if err := ms.Compact(next - 5_000); err != nil {
			panic(err)
		}
		appendMany(5_000)
	}
	fresh()
	assert.LessOrEqual(t, testing.AllocsPerRun(3, compactAndRefill), 2.0,
		"allocations to compact and refill: the compaction leaves room to double")
}
