package quorum

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMajorityConfigString(t *testing.T) {
	assert.Equal(t, "()", MajorityConfig(nil).String())
	assert.Equal(t, "()", cfg().String())
	assert.Equal(t, "(7)", cfg(7).String())
	assert.Equal(t, "(1 2 3)", cfg(3, 1, 2).String())
	assert.Equal(t, "(2 10 100)", cfg(100, 10, 2).String(), "sorted as numbers, not text")
}

func TestMajorityConfigSlice(t *testing.T) {
	assert.Empty(t, MajorityConfig(nil).Slice())
	assert.Equal(t, []uint64{1, 5, 9}, cfg(9, 1, 5).Slice())
}

// The commit rule (Raft paper §5.3): an index is committed once a majority
// of the voters has it.
func TestMajorityConfigCommittedIndex(t *testing.T) {
	tests := []struct {
		name  string
		voter []uint64
		acked MapAckIndexer
		want  Index
	}{
		{"empty config commits anything", nil, MapAckIndexer{1: 5}, math.MaxUint64},

		{"1 voter", []uint64{1}, MapAckIndexer{1: 5}, 5},
		{"1 voter, missing", []uint64{1}, MapAckIndexer{}, 0},

		{"2 voters need both", []uint64{1, 2}, MapAckIndexer{1: 5, 2: 3}, 3},
		{"2 voters, one missing", []uint64{1, 2}, MapAckIndexer{1: 5}, 0},

		{"3 voters, all equal", []uint64{1, 2, 3}, MapAckIndexer{1: 4, 2: 4, 3: 4}, 4},
		{"3 voters, middle value", []uint64{1, 2, 3}, MapAckIndexer{1: 9, 2: 4, 3: 7}, 7},
		{"3 voters, one missing", []uint64{1, 2, 3}, MapAckIndexer{1: 9, 3: 7}, 7},
		{"3 voters, two missing", []uint64{1, 2, 3}, MapAckIndexer{1: 9}, 0},
		{"3 voters, all missing", []uint64{1, 2, 3}, MapAckIndexer{}, 0},
		{"3 voters, only non-voters acked", []uint64{1, 2, 3}, MapAckIndexer{4: 9, 5: 9}, 0},

		{"4 voters need 3", []uint64{1, 2, 3, 4}, MapAckIndexer{1: 4, 2: 7, 3: 9, 4: 9}, 7},
		{"4 voters, two ahead is not enough", []uint64{1, 2, 3, 4}, MapAckIndexer{1: 1, 2: 1, 3: 9, 4: 9}, 1},
		{"4 voters, one missing", []uint64{1, 2, 3, 4}, MapAckIndexer{2: 7, 3: 9, 4: 9}, 7},

		{"5 voters need 3", []uint64{1, 2, 3, 4, 5}, MapAckIndexer{1: 1, 2: 2, 3: 3, 4: 4, 5: 5}, 3},
		{"5 voters, two missing", []uint64{1, 2, 3, 4, 5}, MapAckIndexer{1: 9, 2: 8, 3: 7}, 7},
		{"5 voters, three missing", []uint64{1, 2, 3, 4, 5}, MapAckIndexer{1: 9, 2: 8}, 0},

		{"7 voters", []uint64{1, 2, 3, 4, 5, 6, 7}, MapAckIndexer{1: 7, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2, 7: 1}, 4},
		{"9 voters (heap path)", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9},
			MapAckIndexer{1: 9, 2: 8, 3: 7, 4: 6, 5: 5, 6: 4, 7: 3, 8: 2, 9: 1}, 5},

		{"math.MaxUint64 acked", []uint64{1, 2, 3}, MapAckIndexer{1: math.MaxUint64, 2: math.MaxUint64, 3: 1}, math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, cfg(tt.voter...).CommittedIndex(tt.acked))
		})
	}
}

// Elections (Raft paper §5.2): a candidate wins with votes from a majority,
// and loses once a majority is out of reach.
func TestMajorityConfigVoteResult(t *testing.T) {
	const y, n = true, false
	tests := []struct {
		name  string
		voter []uint64
		votes map[uint64]bool
		want  VoteResult
	}{
		{"empty config wins", nil, nil, VoteWon},
		{"empty config ignores a no", nil, map[uint64]bool{1: n}, VoteWon},

		{"1 voter, no votes", []uint64{1}, nil, VotePending},
		{"1 voter, yes", []uint64{1}, map[uint64]bool{1: y}, VoteWon},
		{"1 voter, no", []uint64{1}, map[uint64]bool{1: n}, VoteLost},

		{"2 voters, one yes", []uint64{1, 2}, map[uint64]bool{1: y}, VotePending},
		{"2 voters, both yes", []uint64{1, 2}, map[uint64]bool{1: y, 2: y}, VoteWon},
		{"2 voters, one no", []uint64{1, 2}, map[uint64]bool{1: y, 2: n}, VoteLost},

		{"3 voters, no votes", []uint64{1, 2, 3}, map[uint64]bool{}, VotePending},
		{"3 voters, one yes", []uint64{1, 2, 3}, map[uint64]bool{1: y}, VotePending},
		{"3 voters, two yes", []uint64{1, 2, 3}, map[uint64]bool{1: y, 2: y}, VoteWon},
		{"3 voters, yes no, one out", []uint64{1, 2, 3}, map[uint64]bool{1: y, 2: n}, VotePending},
		{"3 voters, one no", []uint64{1, 2, 3}, map[uint64]bool{1: n}, VotePending},
		{"3 voters, two no", []uint64{1, 2, 3}, map[uint64]bool{1: n, 2: n}, VoteLost},
		{"3 voters, two no one yes", []uint64{1, 2, 3}, map[uint64]bool{1: n, 2: n, 3: y}, VoteLost},
		{"3 voters, non-voters ignored", []uint64{1, 2, 3}, map[uint64]bool{1: y, 4: y, 5: y}, VotePending},
		{"3 voters, non-voter no ignored", []uint64{1, 2, 3}, map[uint64]bool{1: y, 2: y, 4: n}, VoteWon},

		{"4 voters, two yes", []uint64{1, 2, 3, 4}, map[uint64]bool{1: y, 2: y}, VotePending},
		{"4 voters, two yes two no", []uint64{1, 2, 3, 4}, map[uint64]bool{1: y, 2: y, 3: n, 4: n}, VoteLost},
		{"4 voters, three yes", []uint64{1, 2, 3, 4}, map[uint64]bool{1: y, 2: y, 3: y}, VoteWon},
		{"4 voters, two no", []uint64{1, 2, 3, 4}, map[uint64]bool{1: n, 2: n}, VoteLost},
		{"4 voters, one no", []uint64{1, 2, 3, 4}, map[uint64]bool{1: n}, VotePending},

		{"5 voters, two yes two no", []uint64{1, 2, 3, 4, 5}, map[uint64]bool{1: y, 2: y, 3: n, 4: n}, VotePending},
		{"5 voters, three yes", []uint64{1, 2, 3, 4, 5}, map[uint64]bool{1: y, 2: y, 3: y}, VoteWon},
		{"5 voters, three no", []uint64{1, 2, 3, 4, 5}, map[uint64]bool{1: n, 2: n, 3: n}, VoteLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, cfg(tt.voter...).VoteResult(tt.votes))
		})
	}
}

func TestMajorityConfigCommittedIndexDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for n := 1; n <= smallConfig; n++ {
		c, l := benchConfig(n)
		allocs := testing.AllocsPerRun(100, func() { _ = c.CommittedIndex(l) })
		assert.Zero(t, allocs, "voters=%d", n)
	}
}

func TestInsertionSort(t *testing.T) {
	for _, s := range [][]uint64{nil, {1}, {2, 1}, {3, 1, 2}, {5, 5, 1, 5, 0, 9, 2}} {
		got := append([]uint64(nil), s...)
		insertionSort(got)
		assert.IsNonDecreasing(t, got, "input %v", s)
		assert.ElementsMatch(t, s, got)
	}
}

// benchConfig returns a configuration of n voters and an indexer in which
// they acknowledged distinct indexes in no particular order.
func benchConfig(n int) (MajorityConfig, MapAckIndexer) {
	c := MajorityConfig{}
	l := MapAckIndexer{}
	for i := 1; i <= n; i++ {
		c[uint64(i)] = struct{}{}
		l[uint64(i)] = Index(1000 + (i*7919)%97)
	}
	return c, l
}

func BenchmarkMajorityConfigCommittedIndex(b *testing.B) {
	for _, n := range []int{1, 3, 5, 7, 9} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, l := benchConfig(n)
			var ai AckedIndexer = l
			b.ReportAllocs()
			for b.Loop() {
				_ = c.CommittedIndex(ai)
			}
		})
	}
}

func BenchmarkMajorityConfigVoteResult(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("voters=%d", n), func(b *testing.B) {
			c, _ := benchConfig(n)
			votes := map[uint64]bool{}
			for id := range c {
				votes[id] = id%2 == 1
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = c.VoteResult(votes)
			}
		})
	}
}
