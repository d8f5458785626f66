package quorum

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// MajorityConfig is a set of voter ids; a decision needs more than half of
// them (Raft paper §5.2, §5.3).
type MajorityConfig map[uint64]struct{}

// smallConfig is the largest configuration whose CommittedIndex runs without
// allocating. Clusters of up to seven voters are by far the common case.
const smallConfig = 7

// String returns the voter ids in increasing order, such as "(1 2 3)".
func (c MajorityConfig) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range c.Slice() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteByte(')')
	return b.String()
}

// Slice returns the voter ids in increasing order.
func (c MajorityConfig) Slice() []uint64 {
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CommittedIndex returns the largest index that a majority of the voters has
// acknowledged according to l. A voter that l does not know counts as having
// acknowledged index 0.
//
// Sort the acknowledged indexes in increasing order; with n voters and a
// quorum of q = n/2+1, the entry at position n-q is acknowledged by itself
// and every voter after it, that is by exactly q voters or more:
//
//	voters  acked (sorted)  n-q  committed
//	3       [4 7 9]         1    7
//	4       [4 7 9 9]       1    7
//	5       [0 4 7 9 9]     2    7
//
// An empty configuration returns math.MaxUint64, so that in a joint
// configuration whose outgoing half is empty the other half alone decides
// (the joint result is the minimum of the halves).
func (c MajorityConfig) CommittedIndex(l AckedIndexer) Index {
	n := len(c)
	if n == 0 {
		return math.MaxUint64
	}

	// The stack array keeps the common case free of heap allocation: this
	// runs on every append acknowledgement the leader receives.
	var stk [smallConfig]uint64
	var srt []uint64
	if n <= len(stk) {
		srt = stk[:n]
	} else {
		srt = make([]uint64, n)
	}

	i := 0
	for id := range c {
		idx, _ := l.AckedIndex(id) // an unknown voter yields 0
		srt[i] = uint64(idx)
		i++
	}

	if n <= len(stk) {
		insertionSort(srt)
	} else {
		slices.Sort(srt)
	}
	return Index(srt[n-(n/2+1)])
}

// insertionSort sorts s in increasing order. For the handful of voters in a
// typical cluster it beats a general sort and needs no allocation.
func insertionSort(s []uint64) {
	for i := 1; i < len(s); i++ {
		v := s[i]
		j := i
		for ; j > 0 && s[j-1] > v; j-- {
			s[j] = s[j-1]
		}
		s[j] = v
	}
}

// VoteResult tallies votes (voter id to granted) against the configuration.
// Votes from ids outside the configuration are ignored. It returns VoteWon
// once a majority said yes, VoteLost once so many said no that a majority is
// out of reach, and VotePending otherwise.
//
// An empty configuration returns VoteWon, for the same reason that its
// CommittedIndex is math.MaxUint64: it must not hold back the other half of a
// joint configuration.
func (c MajorityConfig) VoteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}

	var yes, missing int
	for id := range c {
		granted, voted := votes[id]
		switch {
		case !voted:
			missing++
		case granted:
			yes++
		}
	}

	q := len(c)/2 + 1
	switch {
	case yes >= q:
		return VoteWon
	case yes+missing >= q:
		return VotePending
	default:
		return VoteLost
	}
}
