package quorum

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// cfg builds a MajorityConfig from voter ids.
func cfg(ids ...uint64) MajorityConfig {
	c := MajorityConfig{}
	for _, id := range ids {
		c[id] = struct{}{}
	}
	return c
}

func TestIndexString(t *testing.T) {
	assert.Equal(t, "0", Index(0).String())
	assert.Equal(t, "42", Index(42).String())
	assert.Equal(t, "18446744073709551614", Index(math.MaxUint64-1).String())
	assert.Equal(t, "∞", Index(math.MaxUint64).String())
}

func TestVoteResultString(t *testing.T) {
	assert.Equal(t, "VotePending", VotePending.String())
	assert.Equal(t, "VoteLost", VoteLost.String())
	assert.Equal(t, "VoteWon", VoteWon.String())
	assert.Equal(t, "VoteResult(0)", VoteResult(0).String())
	assert.Equal(t, "VoteResult(9)", VoteResult(9).String())
}

func TestMapAckIndexer(t *testing.T) {
	l := MapAckIndexer{1: 5}
	idx, ok := l.AckedIndex(1)
	assert.True(t, ok)
	assert.Equal(t, Index(5), idx)
	idx, ok = l.AckedIndex(2)
	assert.False(t, ok)
	assert.Equal(t, Index(0), idx)
}
