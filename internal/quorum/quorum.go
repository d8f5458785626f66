package quorum

import (
	"math"
	"strconv"
)

// Index is a log index as seen by the quorum computations. The value
// math.MaxUint64 stands for "no constraint": it is what an empty
// configuration reports as its committed index.
type Index uint64

// String returns the decimal form of i, or "∞" for math.MaxUint64.
func (i Index) String() string {
	if i == math.MaxUint64 {
		return "∞"
	}
	return strconv.FormatUint(uint64(i), 10)
}

// AckedIndexer reports, for a voter, the highest log index it is known to
// have persisted. found is false for a voter the caller knows nothing about;
// the quorum code treats such a voter as having acknowledged nothing.
type AckedIndexer interface {
	AckedIndex(voterID uint64) (idx Index, found bool)
}

// MapAckIndexer is an AckedIndexer backed by a map from voter id to index.
// It is convenient in tests and for callers without a progress tracker.
type MapAckIndexer map[uint64]Index

// AckedIndex implements AckedIndexer.
func (m MapAckIndexer) AckedIndex(voterID uint64) (Index, bool) {
	idx, ok := m[voterID]
	return idx, ok
}

// VoteResult is the state of an election as far as one configuration can
// tell from the votes received so far.
type VoteResult uint8

const (
	// VotePending means neither outcome is decided yet: some voters have
	// not answered, and their answers could still change the result.
	VotePending VoteResult = 1 + iota
	// VoteLost means enough voters refused that a majority of yes votes can
	// no longer be reached.
	VoteLost
	// VoteWon means a majority voted yes.
	VoteWon
)

// String returns the name of r, such as "VoteWon".
func (r VoteResult) String() string {
	switch r {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(" + strconv.Itoa(int(r)) + ")"
}
