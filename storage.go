package raft

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrCompacted is returned when a requested index is older than the first
// index the storage still holds, because the log was compacted up to a
// snapshot. The caller needs the snapshot instead.
var ErrCompacted = errors.New("raft: requested index is compacted")

// ErrUnavailable is returned when a requested index is past the last index
// the storage holds.
var ErrUnavailable = errors.New("raft: requested index is unavailable")

// ErrSnapOutOfDate is returned when a snapshot to apply or create is not newer
// than the one the storage already holds.
var ErrSnapOutOfDate = errors.New("raft: snapshot is out of date")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot when the
// snapshot is not ready yet (for example, it is still being built). The core
// treats it as "try again later" and keeps the follower waiting.
var ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")

// ErrCompactBeyondSnapshot is returned by MemoryStorage.Compact when asked to
// discard entries that the latest snapshot does not cover. Were it allowed, a
// follower that lags behind the compaction point could be sent neither the
// entries it needs (discarded) nor a snapshot (too old to replace them). Call
// CreateSnapshot at or past the index first.
var ErrCompactBeyondSnapshot = errors.New("raft: compaction past the latest snapshot")

// noLimit is the maxSize that means "no byte limit" to Storage.Entries and
// limitSize.
const noLimit = math.MaxUint64

// entryOverhead approximates the encoded size of an Entry without its Data:
// term, index and type, plus framing. The estimate need not be the exact
// encoded length; it only has to grow with the real size so that byte limits
// on messages and Ready batches behave as configured.
const entryOverhead = 24

// size approximates the encoded size of e in bytes.
func (e Entry) size() uint64 { return entryOverhead + uint64(len(e.Data)) }

// entsSize approximates the encoded size of ents in bytes.
func entsSize(ents []Entry) uint64 {
	var n uint64
	for i := range ents {
		n += ents[i].size()
	}
	return n
}

// limitSize returns the longest prefix of ents whose size is at most maxSize,
// but never less than one entry when ents is not empty, so that an entry
// larger than the limit can still make progress. maxSize 0 thus yields one
// entry, and noLimit yields all of them.
func limitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 || maxSize == noLimit {
		return ents
	}
	size := ents[0].size()
	for i := 1; i < len(ents); i++ {
		size += ents[i].size()
		if size > maxSize {
			return ents[:i]
		}
	}
	return ents
}

// Storage is the stable log and state a node reads from. The host writes to
// it (the entries, HardState and snapshot of each Ready); the core only reads.
//
// Slices returned by a Storage are shared: the core keeps references to them,
// so it never modifies them, and a Storage must never modify a slice after
// returning it (write a new backing array instead, as MemoryStorage does).
//
// Methods return ErrCompacted, ErrUnavailable and
// ErrSnapshotTemporarilyUnavailable as they are or wrapped; the core tests
// them with errors.Is. Any other error is fatal to the node.
type Storage interface {
	// InitialState returns the HardState and the ConfState saved last, which
	// a restarting node starts from.
	InitialState() (HardState, ConfState, error)

	// Entries returns the entries with indexes in [lo, hi), in order. Their
	// total size (see Entry.size) is at most maxSize, except that at least one
	// entry is returned when the range is not empty; maxSize noLimit means no
	// limit. It returns ErrCompacted if lo < FirstIndex() and ErrUnavailable
	// if hi > LastIndex()+1.
	Entries(lo, hi, maxSize uint64) ([]Entry, error)

	// Term returns the term of the entry at index i, for i in
	// [FirstIndex()-1, LastIndex()]. The term at FirstIndex()-1 is that of the
	// last entry compacted away (the snapshot's), kept so that the core can
	// check the entry just before FirstIndex() (§5.3). It returns
	// ErrCompacted for a smaller i and ErrUnavailable for a larger one.
	Term(i uint64) (uint64, error)

	// LastIndex returns the index of the last entry, or the snapshot's index
	// if the log holds no entry after it.
	LastIndex() (uint64, error)

	// FirstIndex returns the index of the first entry still available (the
	// snapshot's index plus one if the log is empty). Older entries were
	// compacted into the snapshot.
	FirstIndex() (uint64, error)

	// Snapshot returns the most recent snapshot. If it is not ready yet, it
	// returns ErrSnapshotTemporarilyUnavailable, and the core asks again
	// later.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage backed by memory. Hosts use it as the node's view
// of their durable log: they write each Ready's entries, HardState and
// snapshot both to disk and to the MemoryStorage. It is safe for concurrent
// use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	snapshot  Snapshot
	// ents[0] is a dummy entry whose Index and Term are those of the last
	// entry compacted away (0 and 0 if none was), so that ents[i] has index
	// ents[0].Index+i. Elements in ents[:len(ents)] are never written again
	// once stored: Entries hands them out, so truncation and compaction copy
	// to a new backing array.
	//
	// Invariant: ents[0].Index <= snapshot.Metadata.Index <= lastIndex(), so
	// every compacted entry is covered by the snapshot.
	ents []Entry
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemoryStorage returns an empty MemoryStorage: no entries, no snapshot.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage. The ConfState is the latest snapshot's.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, ms.snapshot.Metadata.ConfState, nil
}

// SetHardState saves st, to be returned by InitialState.
func (ms *MemoryStorage) SetHardState(st HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = st
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if lo > hi {
		return nil, fmt.Errorf("raft: invalid entry range [%d, %d)", lo, hi)
	}
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	ents := limitSize(ms.ents[lo-offset:hi-offset], maxSize)
	// Cap the result so that a caller's append cannot write into ms.ents.
	return ents[:len(ents):len(ents)], nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i > ms.lastIndex() {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.firstIndex(), nil
}

func (ms *MemoryStorage) firstIndex() uint64 {
	return ms.ents[0].Index + 1
}

// Snapshot implements Storage. It returns the snapshot last applied or
// created, or an empty one if there is none.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the whole content of the storage with snap: the log
// becomes empty after snap's index, and InitialState returns snap's ConfState.
// It returns ErrSnapOutOfDate (wrapped) unless snap is newer than the
// snapshot held. A host calls it when a Ready carries a snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if old := ms.snapshot.Metadata.Index; snap.Metadata.Index <= old {
		return fmt.Errorf("raft: apply snapshot at index %d, storage holds one at %d: %w",
			snap.Metadata.Index, old, ErrSnapOutOfDate)
	}
	ms.snapshot = snap
	ms.ents = []Entry{{Index: snap.Metadata.Index, Term: snap.Metadata.Term}}
	return nil
}

// CreateSnapshot records a snapshot of the state machine as of index i, which
// the host has applied, with data as its content and cs as the membership at
// i (nil keeps the ConfState of the previous snapshot). It does not discard
// entries; call Compact for that. It returns ErrSnapOutOfDate (wrapped) if i is
// not past the current snapshot's index, and ErrUnavailable (wrapped) if i is
// past LastIndex.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if old := ms.snapshot.Metadata.Index; i <= old {
		return Snapshot{}, fmt.Errorf("raft: create snapshot at index %d, storage holds one at %d: %w",
			i, old, ErrSnapOutOfDate)
	}
	if last := ms.lastIndex(); i > last {
		return Snapshot{}, fmt.Errorf("raft: create snapshot at index %d past last index %d: %w",
			i, last, ErrUnavailable)
	}
	ms.snapshot.Metadata.Index = i
	ms.snapshot.Metadata.Term = ms.ents[i-ms.ents[0].Index].Term
	if cs != nil {
		ms.snapshot.Metadata.ConfState = *cs
	}
	ms.snapshot.Data = data
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex; the entry at compactIndex
// is kept only as the point to check the next entry against, so FirstIndex
// becomes compactIndex+1. The latest snapshot must cover compactIndex (see
// ErrCompactBeyondSnapshot). Errors (wrapped): ErrCompacted if compactIndex is
// not past FirstIndex()-1, ErrUnavailable if it is past LastIndex(), and
// ErrCompactBeyondSnapshot if it is past the latest snapshot's index.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return fmt.Errorf("raft: compact to index %d, already compacted to %d: %w",
			compactIndex, offset, ErrCompacted)
	}
	if last := ms.lastIndex(); compactIndex > last {
		return fmt.Errorf("raft: compact to index %d past last index %d: %w",
			compactIndex, last, ErrUnavailable)
	}
	if snapIndex := ms.snapshot.Metadata.Index; compactIndex > snapIndex {
		return fmt.Errorf("raft: compact to index %d, latest snapshot is at %d: %w",
			compactIndex, snapIndex, ErrCompactBeyondSnapshot)
	}
	// A new backing array: the old one may be shared with Entries' callers,
	// and it lets the discarded entries be collected.
	i := compactIndex - offset
	// Room to double, as appendDoubling would leave it.
	ents := make([]Entry, 1, 2*(uint64(len(ms.ents))-i))
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// appendDoubling appends more to ents; when the backing array is full it
// moves to one of twice the needed size, and at least minCap. The built-in
// append grows large slices by a quarter at a time, which would copy a long
// log several times over on its way to twice its size. Elements already in
// ents are never written: slices of them handed out stay as they were.
func appendDoubling(ents, more []Entry, minCap int) []Entry {
	if n := len(ents) + len(more); n > cap(ents) {
		grown := make([]Entry, len(ents), max(2*n, minCap))
		copy(grown, ents)
		ents = grown
	}
	return append(ents, more...)
}

// Append adds entries to the log. The entries must have consecutive indexes,
// and the first must be at most LastIndex()+1; otherwise Append returns an
// error (wrapping ErrUnavailable for a gap) and changes nothing.
//
// Entries before FirstIndex are ignored, as are entries up to the latest
// snapshot's index that match the stored ones: those are committed and never
// change. An entry up to the snapshot's index with a different term is an
// error. From the first remaining entry on, the stored log is replaced: any
// stored entry at or after its index is discarded, even past the last entry
// given (the core only appends from the first conflicting entry on, §5.3).
//
// The storage keeps copies of the Entry values but shares their Data: the
// caller must not modify Data afterwards.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("raft: append non-contiguous entries: index %d follows %d",
				entries[i].Index, entries[i-1].Index)
		}
	}

	ms.mu.Lock()
	defer ms.mu.Unlock()
	first, last := ms.firstIndex(), ms.lastIndex()
	if entries[len(entries)-1].Index < first {
		return nil // all compacted
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	if entries[0].Index > last+1 {
		return fmt.Errorf("raft: append at index %d leaves a gap after last index %d: %w",
			entries[0].Index, last, ErrUnavailable)
	}

	offset := ms.ents[0].Index
	for snapIndex := ms.snapshot.Metadata.Index; len(entries) > 0 && entries[0].Index <= snapIndex; entries = entries[1:] {
		// By the invariant, snapIndex <= last, so the entry is stored.
		if stored := ms.ents[entries[0].Index-offset].Term; stored != entries[0].Term {
			return fmt.Errorf("raft: append entry %d at term %d, snapshot at %d holds it at term %d",
				entries[0].Index, entries[0].Term, snapIndex, stored)
		}
	}
	if len(entries) == 0 {
		return nil
	}

	at := entries[0].Index - offset
	if at == uint64(len(ms.ents)) {
		// Plain append: it writes only past len(ms.ents), never over an
		// element already handed out.
		ms.ents = appendDoubling(ms.ents, entries, 0)
		return nil
	}
	// Overlap: replace the suffix in a new backing array, since the old
	// elements may be held by Entries' callers.
	ents := make([]Entry, at, at+uint64(len(entries)))
	copy(ents, ms.ents[:at])
	ms.ents = append(ents, entries...)
	return nil
}
