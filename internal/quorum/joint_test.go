package quorum

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestJointConfigString(t *testing.T) {
	assert.Equal(t, "()", JointConfig{}.String())
	assert.Equal(t, "(1 2 3)", JointConfig{cfg(1, 2, 3)}.String())
	assert.Equal(t, "(1 2 3)", JointConfig{cfg(1, 2, 3), cfg()}.String())
	assert.Equal(t, "(1 2 3)&&(1 2 4)", JointConfig{cfg(3, 2, 1), cfg(4, 2, 1)}.String())
	assert.Equal(t, "()&&(1 2)", JointConfig{nil, cfg(1, 2)}.String())
}

func TestJointConfigIDs(t *testing.T) {
	assert.Empty(t, JointConfig{}.IDs())
	assert.Equal(t, map[uint64]struct{}{1: {}, 2: {}, 3: {}, 4: {}},
		JointConfig{cfg(1, 2, 3), cfg(1, 2, 4)}.IDs())
	assert.Equal(t, map[uint64]struct{}{5: {}}, JointConfig{cfg(5)}.IDs())

	// The result is a fresh set: changing it leaves the configuration alone.
	c := JointConfig{cfg(1), cfg(2)}
	c.IDs()[3] = struct{}{}
	assert.Equal(t, "(1)&&(2)", c.String())
}

// Joint consensus (Raft paper §6): an entry is committed only once separate
// majorities of the old and the new configuration have it.
func TestJointConfigCommittedIndex(t *testing.T) {
	tests := []struct {
		name    string
		in, out []uint64
		acked   MapAckIndexer
		want    Index
	}{
		{"both empty", nil, nil, MapAckIndexer{1: 3}, math.MaxUint64},
		{"not joint: incoming decides", []uint64{1, 2, 3}, nil, MapAckIndexer{1: 9, 2: 7, 3: 4}, 7},
		{"empty incoming: outgoing decides", nil, []uint64{1, 2, 3}, MapAckIndexer{1: 9, 2: 7, 3: 4}, 7},
		{"same voters", []uint64{1, 2, 3}, []uint64{1, 2, 3}, MapAckIndexer{1: 9, 2: 7, 3: 4}, 7},
		{"outgoing lags",
			[]uint64{1, 2, 3}, []uint64{1, 4, 5},
			MapAckIndexer{1: 9, 2: 9, 3: 9, 4: 2, 5: 3}, 3},
		{"incoming lags",
			[]uint64{1, 2, 3}, []uint64{1, 4, 5},
			MapAckIndexer{1: 9, 2: 1, 3: 2, 4: 8, 5: 8}, 2},
		{"new voters missing hold back the commit",
			[]uint64{1, 2, 3, 4}, []uint64{1, 2, 3},
			MapAckIndexer{1: 9, 2: 9, 3: 1}, 1},
		{"disjoint halves",
			[]uint64{1}, []uint64{2},
			MapAckIndexer{1: 5, 2: 6}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := JointConfig{cfg(tt.in...), cfg(tt.out...)}
			assert.Equal(t, tt.want, c.CommittedIndex(tt.acked))
		})
	}
}

// Joint consensus (Raft paper §6): a candidate needs a majority in each
// configuration, and loses as soon as either is out of reach.
func TestJointConfigVoteResult(t *testing.T) {
	const y, n = true, false
	in, out := []uint64{1, 2, 3}, []uint64{1, 4, 5}
	tests := []struct {
		name    string
		in, out []uint64
		votes   map[uint64]bool
		want    VoteResult
	}{
		{"both empty", nil, nil, nil, VoteWon},
		{"not joint: won", in, nil, map[uint64]bool{1: y, 2: y}, VoteWon},
		{"not joint: lost", in, nil, map[uint64]bool{1: n, 2: n}, VoteLost},
		{"not joint: pending", in, nil, map[uint64]bool{1: y}, VotePending},
		{"empty incoming: outgoing decides", nil, out, map[uint64]bool{4: y, 5: y}, VoteWon},

		{"no votes", in, out, nil, VotePending},
		{"both won", in, out, map[uint64]bool{1: y, 2: y, 4: y}, VoteWon},
		{"incoming won, outgoing pending", in, out, map[uint64]bool{2: y, 3: y, 4: y}, VotePending},
		{"incoming pending, outgoing won", in, out, map[uint64]bool{2: y, 4: y, 5: y}, VotePending},
		{"incoming won, outgoing lost", in, out, map[uint64]bool{2: y, 3: y, 4: n, 5: n}, VoteLost},
		{"incoming lost, outgoing won", in, out, map[uint64]bool{2: n, 3: n, 4: y, 5: y}, VoteLost},
		{"incoming lost, outgoing pending", in, out, map[uint64]bool{2: n, 3: n}, VoteLost},
		{"both lost", in, out, map[uint64]bool{1: n, 2: n, 4: n}, VoteLost},
		{"shared voter's no counts in both", in, out, map[uint64]bool{1: n, 2: y, 3: y, 4: y, 5: n}, VoteLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := JointConfig{cfg(tt.in...), cfg(tt.out...)}
			assert.Equal(t, tt.want, c.VoteResult(tt.votes))
		})
	}
}

func BenchmarkJointConfigCommittedIndex(b *testing.B) {
	in, l := benchConfig(5)
	out := cfg(1, 2, 3)
	c := JointConfig{in, out}
	var ai AckedIndexer = l
	b.ReportAllocs()
	for b.Loop() {
		_ = c.CommittedIndex(ai)
	}
}
