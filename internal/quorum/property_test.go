package quorum

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Voter ids are drawn from a small range so that the two halves of a joint
// configuration overlap often, as they do in practice.
const maxID = 10

// genConfig draws a configuration of minVoters to 7 distinct voters.
func genConfig(t *rapid.T, minVoters int, label string) MajorityConfig {
	ids := rapid.SliceOfNDistinct(rapid.Uint64Range(1, maxID), minVoters, 7, rapid.ID[uint64]).Draw(t, label)
	return cfg(ids...)
}

// genAcked draws acknowledged indexes for a random subset of all ids,
// members or not. Small indexes make ties likely.
func genAcked(t *rapid.T) MapAckIndexer {
	l := MapAckIndexer{}
	for id := uint64(1); id <= maxID; id++ {
		if rapid.Bool().Draw(t, "acked") {
			l[id] = Index(rapid.Uint64Range(0, 12).Draw(t, "index"))
		}
	}
	return l
}

// genVotes draws votes from a random subset of all ids, members or not.
func genVotes(t *rapid.T) map[uint64]bool {
	votes := map[uint64]bool{}
	for id := uint64(1); id <= maxID; id++ {
		switch rapid.IntRange(0, 2).Draw(t, "vote") {
		case 1:
			votes[id] = true
		case 2:
			votes[id] = false
		}
	}
	return votes
}

// bruteCommitted is the definition of the commit rule: the largest i such
// that at least len(c)/2+1 voters acknowledged an index >= i.
func bruteCommitted(c MajorityConfig, l MapAckIndexer) Index {
	if len(c) == 0 {
		return math.MaxUint64
	}
	best := Index(0)
	for _, cand := range l { // the answer is 0 or one of the acked values
		n := 0
		for id := range c {
			if l[id] >= cand { // missing voters read as 0
				n++
			}
		}
		if n >= len(c)/2+1 && cand > best {
			best = cand
		}
	}
	return best
}

// bruteVote counts the votes: won with a majority of yes, lost when even
// all silent voters saying yes could not make a majority.
func bruteVote(c MajorityConfig, votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	yes, no := 0, 0
	for id := range c {
		if v, ok := votes[id]; ok {
			if v {
				yes++
			} else {
				no++
			}
		}
	}
	q := len(c)/2 + 1
	if yes >= q {
		return VoteWon
	}
	if len(c)-no < q {
		return VoteLost
	}
	return VotePending
}

func TestMajorityConfigCommittedIndexProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConfig(t, 1, "voters")
		l := genAcked(t)
		require.Equal(t, bruteCommitted(c, l), c.CommittedIndex(l), "config %v acked %v", c, l)
	})
}

func TestMajorityConfigVoteResultProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConfig(t, 1, "voters")
		votes := genVotes(t)
		require.Equal(t, bruteVote(c, votes), c.VoteResult(votes), "config %v votes %v", c, votes)
	})
}

func TestJointConfigCommittedIndexProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := JointConfig{genConfig(t, 1, "incoming"), genConfig(t, 0, "outgoing")}
		l := genAcked(t)
		want := min(bruteCommitted(c[0], l), bruteCommitted(c[1], l))
		require.Equal(t, want, c.CommittedIndex(l), "config %v acked %v", c, l)
	})
}

func TestJointConfigVoteResultProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := JointConfig{genConfig(t, 1, "incoming"), genConfig(t, 0, "outgoing")}
		votes := genVotes(t)
		r0, r1 := bruteVote(c[0], votes), bruteVote(c[1], votes)
		var want VoteResult
		switch {
		case r0 == VoteWon && r1 == VoteWon:
			want = VoteWon
		case r0 == VoteLost || r1 == VoteLost:
			want = VoteLost
		default:
			want = VotePending
		}
		require.Equal(t, want, c.VoteResult(votes), "config %v votes %v", c, votes)
	})
}
