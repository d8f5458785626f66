package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft/internal/inflight"
	"github.com/keelraft/raft/internal/quorum"
)

// progressTestNew returns a progress in state with match and next, and an
// inflight window of maxInflight messages and maxBytes bytes (0: no limit).
func progressTestNew(state ProgressState, match, next uint64, maxInflight int, maxBytes uint64) *Progress {
	return &Progress{
		State:        state,
		Match:        match,
		Next:         next,
		RecentActive: true,
		inflights:    inflight.New(maxInflight, maxBytes),
	}
}

// progressTestSet returns the set of ids.
func progressTestSet(ids ...uint64) map[uint64]struct{} {
	s := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

// progressTestConfig returns the configuration with these incoming and
// outgoing voters, learners and learners-next (nil for none).
func progressTestConfig(incoming, outgoing, learners, learnersNext []uint64) trackerConfig {
	c := trackerConfig{
		Voters:       quorum.JointConfig{progressTestSet(incoming...), nil},
		Learners:     progressTestSet(learners...),
		LearnersNext: progressTestSet(learnersNext...),
	}
	if len(outgoing) > 0 {
		c.Voters[1] = progressTestSet(outgoing...)
	}
	return c
}

// progressTestTracker returns a tracker over cfg whose members all start at
// match 0, with a large inflight window.
func progressTestTracker(cfg trackerConfig) *tracker {
	trk := newTracker(256, 0)
	trk.setConfig(cfg, 10)
	return &trk
}

// progressTestFill puts n messages of bytes bytes each in pr's window.
func progressTestFill(pr *Progress, n int, bytes uint64) {
	for range n {
		pr.inflights.Add(pr.Next, bytes)
		pr.Next++
	}
}

func TestProgressBecomeProbe(t *testing.T) {
	tests := []struct {
		name     string
		pr       *Progress
		pending  uint64
		wantNext uint64
	}{
		{"from replicate", progressTestNew(StateReplicate, 1, 5, 10, 0), 0, 2},
		{"from probe", progressTestNew(StateProbe, 1, 5, 10, 0), 0, 2},
		// After a snapshot the follower holds at least the snapshot.
		{"from snapshot", progressTestNew(StateSnapshot, 1, 5, 10, 0), 10, 11},
		// Unless it already told us it holds more.
		{"from snapshot, match past it", progressTestNew(StateSnapshot, 12, 13, 10, 0), 10, 13},
		// A failed snapshot (pending reset to 0) probes after the match.
		{"from a failed snapshot", progressTestNew(StateSnapshot, 1, 5, 10, 0), 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := tt.pr
			pr.PendingSnapshot = tt.pending
			pr.MsgAppFlowPaused = true
			pr.becomeProbe()
			assert.Equal(t, StateProbe, pr.State)
			assert.Equal(t, tt.wantNext, pr.Next)
			assert.False(t, pr.MsgAppFlowPaused)
			assert.Zero(t, pr.PendingSnapshot)
		})
	}
}

func TestProgressBecomeReplicate(t *testing.T) {
	pr := progressTestNew(StateProbe, 1, 5, 10, 0)
	pr.MsgAppFlowPaused = true
	pr.becomeReplicate()
	assert.Equal(t, StateReplicate, pr.State)
	assert.Equal(t, uint64(1), pr.Match)
	assert.Equal(t, uint64(2), pr.Next)
	assert.False(t, pr.MsgAppFlowPaused)
}

func TestProgressBecomeSnapshot(t *testing.T) {
	pr := progressTestNew(StateProbe, 1, 5, 10, 0)
	pr.MsgAppFlowPaused = true
	pr.becomeSnapshot(10)
	assert.Equal(t, StateSnapshot, pr.State)
	assert.Equal(t, uint64(1), pr.Match)
	assert.Equal(t, uint64(11), pr.Next)
	assert.Equal(t, uint64(10), pr.PendingSnapshot)
	assert.False(t, pr.MsgAppFlowPaused)
	assert.True(t, pr.isPaused(), "no appends while a snapshot is on its way")
}

// TestProgressStateChangesResetFlowControl checks that every state change
// starts with an empty inflight window and no pause: what was in flight
// belongs to the previous way of replicating.
func TestProgressStateChangesResetFlowControl(t *testing.T) {
	transitions := map[string]func(*Progress){
		"becomeProbe":     (*Progress).becomeProbe,
		"becomeReplicate": (*Progress).becomeReplicate,
		"becomeSnapshot":  func(pr *Progress) { pr.becomeSnapshot(20) },
	}
	for _, from := range []ProgressState{StateProbe, StateReplicate, StateSnapshot} {
		for name, become := range transitions {
			t.Run(fmt.Sprintf("%s %s", from, name), func(t *testing.T) {
				pr := progressTestNew(StateReplicate, 3, 4, 3, 0)
				progressTestFill(pr, 3, 100)
				require.Equal(t, 3, pr.InflightCount())
				pr.State = from
				pr.MsgAppFlowPaused = true
				become(pr)
				assert.Zero(t, pr.InflightCount())
				assert.Zero(t, pr.InflightBytes())
				assert.False(t, pr.MsgAppFlowPaused)
				// The window is usable again.
				if pr.State == StateReplicate {
					assert.False(t, pr.isPaused())
				}
			})
		}
	}
}

func TestProgressMaybeUpdate(t *testing.T) {
	// Pipelining: appends up to 6 are on their way, 3 is acknowledged.
	const match, next = 3, 7
	tests := []struct {
		n         uint64
		wantOK    bool
		wantMatch uint64
		wantNext  uint64
	}{
		{match - 1, false, match, next},    // old news
		{match, false, match, next},        // no news
		{match + 1, true, match + 1, next}, // Next stays ahead
		{next - 1, true, next - 1, next},
		{next, true, next, next + 1}, // Next follows a Match that reaches it
		{match + 10, true, match + 10, match + 11},
	}
	for _, tt := range tests {
		pr := progressTestNew(StateProbe, match, next, 10, 0)
		pr.MsgAppFlowPaused = true
		ok := pr.maybeUpdate(tt.n)
		assert.Equal(t, tt.wantOK, ok, "n=%d", tt.n)
		assert.Equal(t, tt.wantMatch, pr.Match, "n=%d match", tt.n)
		assert.Equal(t, tt.wantNext, pr.Next, "n=%d next", tt.n)
		// An acknowledgement answers the probe.
		assert.Equal(t, !tt.wantOK, pr.MsgAppFlowPaused, "n=%d paused", tt.n)
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		name              string
		state             ProgressState
		match, next       uint64
		rejected, hint    uint64
		wantOK            bool
		wantNext          uint64
		wantPausedCleared bool
	}{
		// Replicate: a rejection at or below Match is stale (answers may
		// come out of order); a newer one backs up to Match+1.
		{"replicate, stale at match", StateReplicate, 5, 10, 5, 5, false, 10, false},
		{"replicate, stale below match", StateReplicate, 5, 10, 4, 4, false, 10, false},
		{"replicate, real", StateReplicate, 5, 10, 9, 9, true, 6, false},
		{"replicate, real, low hint", StateReplicate, 5, 10, 7, 2, true, 6, false},
		// Probe: only the rejection of the latest probe (at Next-1) counts.
		{"probe, not the latest probe", StateProbe, 0, 10, 8, 8, false, 10, false},
		{"probe, rejection past the probe", StateProbe, 0, 10, 10, 10, false, 10, false},
		{"probe, hint at the probe", StateProbe, 0, 10, 9, 9, true, 9, true},
		{"probe, hint past the probe", StateProbe, 0, 10, 9, 20, true, 9, true},
		{"probe, uses the hint", StateProbe, 0, 10, 9, 4, true, 5, true},
		{"probe, hint 0", StateProbe, 0, 10, 9, 0, true, 1, true},
		// Never below what the follower is known to hold.
		{"probe, hint below match", StateProbe, 3, 10, 9, 1, true, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := progressTestNew(tt.state, tt.match, tt.next, 10, 0)
			pr.MsgAppFlowPaused = true
			ok := pr.maybeDecrTo(tt.rejected, tt.hint)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantNext, pr.Next)
			assert.Equal(t, tt.match, pr.Match, "Match never changes on a rejection")
			if tt.wantPausedCleared {
				assert.False(t, pr.MsgAppFlowPaused, "the probe was answered")
			}
		})
	}
}

func TestProgressIsPaused(t *testing.T) {
	t.Run("probe", func(t *testing.T) {
		pr := progressTestNew(StateProbe, 0, 1, 10, 0)
		assert.False(t, pr.isPaused())
		// One probe per heartbeat interval, empty or not.
		pr.sentEntries(0, 0, 0, 0)
		assert.True(t, pr.isPaused())
		pr.MsgAppFlowPaused = false
		pr.sentEntries(2, 10, 2, 0)
		assert.True(t, pr.isPaused())
		assert.Equal(t, uint64(1), pr.Next, "a probe does not move Next")
		assert.True(t, pr.maybeUpdate(2))
		assert.False(t, pr.isPaused())
	})
	t.Run("replicate, full by count", func(t *testing.T) {
		pr := progressTestNew(StateReplicate, 0, 1, 3, 0)
		for i := range 3 {
			assert.False(t, pr.isPaused(), "after %d messages", i)
			pr.sentEntries(1, 1000, pr.Next, 0)
		}
		assert.True(t, pr.isPaused())
		assert.Equal(t, 3, pr.InflightCount())
		pr.inflights.FreeLE(1)
		assert.False(t, pr.isPaused())
	})
	t.Run("replicate, full by bytes", func(t *testing.T) {
		pr := progressTestNew(StateReplicate, 0, 1, 100, 100)
		pr.sentEntries(1, 60, 1, 0)
		assert.False(t, pr.isPaused())
		pr.sentEntries(1, 39, 2, 0)
		assert.False(t, pr.isPaused())
		pr.sentEntries(1, 1, 3, 0)
		assert.True(t, pr.isPaused())
		assert.Equal(t, uint64(100), pr.InflightBytes())
		pr.inflights.FreeLE(1)
		assert.False(t, pr.isPaused())
	})
	t.Run("replicate, one message over the byte budget", func(t *testing.T) {
		// An idle follower always gets one message, however large.
		pr := progressTestNew(StateReplicate, 0, 1, 100, 100)
		assert.False(t, pr.isPaused())
		pr.sentEntries(1, 1000, 1, 0)
		assert.True(t, pr.isPaused())
	})
	t.Run("replicate, empty appends take no room", func(t *testing.T) {
		pr := progressTestNew(StateReplicate, 0, 1, 1, 0)
		pr.sentEntries(0, 0, 0, 5)
		assert.False(t, pr.isPaused())
		assert.Zero(t, pr.InflightCount())
	})
	t.Run("snapshot", func(t *testing.T) {
		pr := progressTestNew(StateSnapshot, 0, 1, 10, 0)
		assert.True(t, pr.isPaused())
		pr.MsgAppFlowPaused = false
		assert.True(t, pr.isPaused())
	})
}

func TestProgressSentEntries(t *testing.T) {
	t.Run("replicate", func(t *testing.T) {
		pr := progressTestNew(StateReplicate, 4, 5, 10, 0)
		pr.sentEntries(3, 30, 7, 2)
		assert.Equal(t, uint64(8), pr.Next, "pipelining: Next moves past what was sent")
		assert.Equal(t, 1, pr.InflightCount())
		assert.Equal(t, uint64(30), pr.InflightBytes())
		pr.sentEntries(0, 0, 7, 3) // commit only
		assert.Equal(t, uint64(8), pr.Next)
		assert.Equal(t, 1, pr.InflightCount())
		assert.Equal(t, uint64(3), pr.sentCommit)
	})
	t.Run("probe", func(t *testing.T) {
		pr := progressTestNew(StateProbe, 4, 5, 10, 0)
		pr.sentEntries(3, 30, 7, 2)
		assert.Equal(t, uint64(5), pr.Next)
		assert.Zero(t, pr.InflightCount())
		assert.True(t, pr.MsgAppFlowPaused)
		assert.Equal(t, uint64(2), pr.sentCommit)
	})
	t.Run("snapshot", func(t *testing.T) {
		pr := progressTestNew(StateSnapshot, 4, 11, 10, 0)
		pr.sentEntries(0, 0, 10, 9)
		assert.Equal(t, uint64(11), pr.Next)
		assert.Zero(t, pr.InflightCount())
		assert.Equal(t, uint64(9), pr.sentCommit)
	})
	t.Run("sent commit never goes back", func(t *testing.T) {
		pr := progressTestNew(StateReplicate, 4, 5, 10, 0)
		pr.sentEntries(0, 0, 4, 4)
		pr.sentEntries(0, 0, 4, 2)
		assert.Equal(t, uint64(4), pr.sentCommit)
	})
}

func TestProgressCanBumpCommit(t *testing.T) {
	pr := progressTestNew(StateReplicate, 4, 5, 10, 0)
	assert.False(t, pr.canBumpCommit(0), "nothing committed")
	assert.True(t, pr.canBumpCommit(3))
	pr.sentEntries(0, 0, 4, 3)
	assert.False(t, pr.canBumpCommit(3), "already told")
	assert.True(t, pr.canBumpCommit(4))
	// Past what the follower holds or is about to receive (Next-1 = 4),
	// the commit index is of no use to it.
	pr.sentEntries(0, 0, 4, 4)
	assert.False(t, pr.canBumpCommit(10))
	pr.sentEntries(2, 20, 6, 4)
	assert.True(t, pr.canBumpCommit(10), "new entries on their way")
}

func TestProgressString(t *testing.T) {
	pr := progressTestNew(StateReplicate, 3, 6, 2, 0)
	assert.Equal(t, "StateReplicate match=3 next=6", pr.String())
	progressTestFill(pr, 1, 10)
	assert.Equal(t, "StateReplicate match=3 next=7 inflight=1", pr.String())
	progressTestFill(pr, 1, 10)
	pr.IsLearner = true
	pr.RecentActive = false
	assert.Equal(t, "StateReplicate match=3 next=8 learner paused inactive inflight=2[full]", pr.String())

	pr = progressTestNew(StateSnapshot, 3, 11, 2, 0)
	pr.PendingSnapshot = 10
	assert.Equal(t, "StateSnapshot match=3 next=11 paused pendingSnap=10", pr.String())
}

func TestProgressClone(t *testing.T) {
	pr := progressTestNew(StateReplicate, 3, 4, 10, 0)
	progressTestFill(pr, 2, 10)
	c := pr.clone()
	progressTestFill(pr, 1, 10)
	pr.Match = 9
	assert.Equal(t, 2, c.InflightCount())
	assert.Equal(t, uint64(20), c.InflightBytes())
	assert.Equal(t, uint64(3), c.Match)
	c.inflights.FreeLE(100)
	assert.Equal(t, 3, pr.InflightCount())
}

func TestTrackerCommitted(t *testing.T) {
	tests := []struct {
		name  string
		cfg   trackerConfig
		match map[uint64]uint64
		want  uint64
	}{
		{"one voter", progressTestConfig([]uint64{1}, nil, nil, nil), map[uint64]uint64{1: 5}, 5},
		{"three voters", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), map[uint64]uint64{1: 5, 2: 3, 3: 1}, 3},
		{"three voters, two ahead", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), map[uint64]uint64{1: 5, 2: 5, 3: 1}, 5},
		{"three voters, one ahead", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), map[uint64]uint64{1: 5, 2: 0, 3: 0}, 0},
		{"four voters", progressTestConfig([]uint64{1, 2, 3, 4}, nil, nil, nil), map[uint64]uint64{1: 9, 2: 7, 3: 4, 4: 1}, 4},
		{"five voters", progressTestConfig([]uint64{1, 2, 3, 4, 5}, nil, nil, nil), map[uint64]uint64{1: 9, 2: 7, 3: 5, 4: 3, 5: 1}, 5},
		{"five voters, unordered", progressTestConfig([]uint64{1, 2, 3, 4, 5}, nil, nil, nil), map[uint64]uint64{1: 1, 2: 9, 3: 3, 4: 7, 5: 5}, 5},
		{
			"learners do not count", progressTestConfig([]uint64{1, 2, 3}, nil, []uint64{4, 5}, nil),
			map[uint64]uint64{1: 2, 2: 1, 3: 1, 4: 100, 5: 100}, 1,
		},
		{
			"joint, outgoing behind", progressTestConfig([]uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, nil),
			map[uint64]uint64{1: 5, 2: 5, 3: 1, 4: 1, 5: 1}, 1,
		},
		{
			"joint, incoming behind", progressTestConfig([]uint64{1, 2, 3}, []uint64{1, 2, 4}, nil, nil),
			map[uint64]uint64{1: 10, 2: 8, 3: 2, 4: 9}, 8,
		},
		{
			"joint, both halves agree", progressTestConfig([]uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, nil),
			map[uint64]uint64{1: 7, 2: 7, 3: 1, 4: 7, 5: 7, 6: 1}, 7,
		},
		{
			// A demoted voter still counts in the outgoing half.
			"joint, learner next counts", progressTestConfig([]uint64{1, 2}, []uint64{1, 2, 3}, nil, []uint64{3}),
			map[uint64]uint64{1: 9, 2: 4, 3: 9}, 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trk := progressTestTracker(tt.cfg)
			for id, m := range tt.match {
				trk.progress[id].Match = m
			}
			assert.Equal(t, tt.want, trk.committed())
		})
	}
}

func TestTrackerQuorumActive(t *testing.T) {
	tests := []struct {
		name   string
		cfg    trackerConfig
		active []uint64
		want   bool
	}{
		{"alone", progressTestConfig([]uint64{1}, nil, nil, nil), nil, true},
		{"no one else", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), nil, false},
		{"one other", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), []uint64{3}, true},
		{"learners do not count", progressTestConfig([]uint64{1, 2, 3}, nil, []uint64{4, 5}, nil), []uint64{4, 5}, false},
		{"five voters, two others", progressTestConfig([]uint64{1, 2, 3, 4, 5}, nil, nil, nil), []uint64{2, 5}, true},
		{"five voters, one other", progressTestConfig([]uint64{1, 2, 3, 4, 5}, nil, nil, nil), []uint64{2}, false},
		{"joint, outgoing inactive", progressTestConfig([]uint64{1, 2, 3}, []uint64{1, 4, 5}, nil, nil), []uint64{2}, false},
		{"joint, both active", progressTestConfig([]uint64{1, 2, 3}, []uint64{1, 4, 5}, nil, nil), []uint64{2, 4}, true},
		{"joint, learner next counts", progressTestConfig([]uint64{1}, []uint64{1, 2, 3}, nil, []uint64{2, 3}), []uint64{3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trk := progressTestTracker(tt.cfg)
			for _, pr := range trk.progress {
				pr.RecentActive = false
			}
			for _, id := range tt.active {
				trk.progress[id].RecentActive = true
			}
			assert.Equal(t, tt.want, trk.quorumActive(1))
		})
	}
}

func TestTrackerTallyVotes(t *testing.T) {
	type vote struct {
		id      uint64
		granted bool
	}
	tests := []struct {
		name                      string
		cfg                       trackerConfig
		votes                     []vote
		wantGranted, wantRejected int
		want                      quorum.VoteResult
	}{
		{"no votes", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), nil, 0, 0, quorum.VotePending},
		{"one vote", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), []vote{{1, true}}, 1, 0, quorum.VotePending},
		{"won", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), []vote{{1, true}, {3, true}}, 2, 0, quorum.VoteWon},
		{"lost", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil), []vote{{1, true}, {2, false}, {3, false}}, 1, 2, quorum.VoteLost},
		{
			"learners' votes are ignored", progressTestConfig([]uint64{1, 2, 3}, nil, []uint64{4, 5}, nil),
			[]vote{{1, true}, {4, true}, {5, true}}, 1, 0, quorum.VotePending,
		},
		{
			"strangers' votes are ignored", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil),
			[]vote{{1, true}, {8, true}, {9, false}}, 1, 0, quorum.VotePending,
		},
		{
			"only the first answer counts", progressTestConfig([]uint64{1, 2, 3}, nil, nil, nil),
			[]vote{{1, true}, {2, true}, {2, false}}, 2, 0, quorum.VoteWon,
		},
		{
			"joint, incoming won", progressTestConfig([]uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, nil),
			[]vote{{1, true}, {2, true}}, 2, 0, quorum.VotePending,
		},
		{
			"joint, both won", progressTestConfig([]uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, nil),
			[]vote{{1, true}, {2, true}, {4, true}, {5, true}}, 4, 0, quorum.VoteWon,
		},
		{
			"joint, outgoing lost", progressTestConfig([]uint64{1, 2, 3}, []uint64{4, 5, 6}, nil, nil),
			[]vote{{1, true}, {2, true}, {3, true}, {4, false}, {5, false}}, 3, 2, quorum.VoteLost,
		},
		{
			"joint, learner next votes", progressTestConfig([]uint64{1}, []uint64{1, 2, 3}, nil, []uint64{2, 3}),
			[]vote{{1, true}, {2, true}}, 2, 0, quorum.VoteWon,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trk := progressTestTracker(tt.cfg)
			for _, v := range tt.votes {
				trk.recordVote(v.id, v.granted)
			}
			granted, rejected, result := trk.tallyVotes()
			assert.Equal(t, tt.wantGranted, granted, "granted")
			assert.Equal(t, tt.wantRejected, rejected, "rejected")
			assert.Equal(t, tt.want, result)

			trk.resetVotes()
			granted, rejected, result = trk.tallyVotes()
			assert.Zero(t, granted)
			assert.Zero(t, rejected)
			assert.Equal(t, quorum.VotePending, result)
		})
	}
}

func TestTrackerSetConfig(t *testing.T) {
	trk := progressTestTracker(progressTestConfig([]uint64{1, 2, 3}, nil, []uint64{4}, nil))
	pr2 := trk.progress[2]
	pr2.Match, pr2.Next = 7, 8
	pr2.becomeReplicate()
	pr2.RecentActive = false
	pr4 := trk.progress[4]
	pr4.Match, pr4.Next = 5, 6

	// Remove 1, demote 3, promote 4, add voter 5 and learner 6.
	trk.setConfig(progressTestConfig([]uint64{2, 4, 5}, nil, []uint64{3, 6}, nil), 20)

	assert.NotContains(t, trk.progress, uint64(1))
	assert.Equal(t, []uint64{2, 3, 4, 5, 6}, trk.ids)
	assert.Same(t, pr2, trk.progress[2], "a member that stays keeps its progress")
	assert.Equal(t, uint64(7), pr2.Match)
	assert.Equal(t, StateReplicate, pr2.State)
	assert.False(t, pr2.RecentActive)
	assert.True(t, trk.progress[3].IsLearner, "demoted")
	assert.Same(t, pr4, trk.progress[4])
	assert.False(t, pr4.IsLearner, "promoted")
	assert.Equal(t, uint64(5), pr4.Match, "promotion keeps the progress")

	for _, id := range []uint64{5, 6} {
		pr := trk.progress[id]
		require.NotNil(t, pr, "new member %d", id)
		assert.Equal(t, StateProbe, pr.State, "a new member is probed")
		assert.Equal(t, uint64(0), pr.Match)
		assert.Equal(t, uint64(21), pr.Next, "probed from just past the last index")
		assert.True(t, pr.RecentActive, "a new member counts as active")
		assert.Equal(t, id == 6, pr.IsLearner)
		assert.False(t, pr.isPaused())
	}

	// Joint: a demoted voter stays a voter until the joint config is left.
	trk.setConfig(progressTestConfig([]uint64{4, 5}, []uint64{2, 4, 5}, []uint64{3, 6}, []uint64{2}), 20)
	assert.False(t, trk.progress[2].IsLearner, "a learner next still votes")
	assert.True(t, trk.isVoter(2))
	assert.Same(t, pr2, trk.progress[2])
	trk.setConfig(progressTestConfig([]uint64{4, 5}, nil, []uint64{2, 3, 6}, nil), 20)
	assert.True(t, trk.progress[2].IsLearner)
	assert.False(t, trk.isVoter(2))
	assert.Same(t, pr2, trk.progress[2])
}

func TestTrackerVisitOrder(t *testing.T) {
	trk := progressTestTracker(progressTestConfig([]uint64{9, 3, 7}, []uint64{5, 3, 11}, []uint64{1, 20}, nil))
	want := []uint64{1, 3, 5, 7, 9, 11, 20}
	for range 20 {
		var got []uint64
		trk.visit(func(id uint64, pr *Progress) {
			require.Same(t, trk.progress[id], pr)
			got = append(got, id)
		})
		require.Equal(t, want, got, "visit order must not depend on map iteration")
	}
	trk.setConfig(progressTestConfig([]uint64{8, 2, 6}, nil, []uint64{4}, nil), 0)
	var got []uint64
	trk.visit(func(id uint64, _ *Progress) { got = append(got, id) })
	assert.Equal(t, []uint64{2, 4, 6, 8}, got)
}

func TestTrackerMembership(t *testing.T) {
	trk := progressTestTracker(progressTestConfig([]uint64{1}, nil, []uint64{2}, nil))
	assert.True(t, trk.isSingleton())
	assert.True(t, trk.isVoter(1))
	assert.False(t, trk.isVoter(2))
	assert.False(t, trk.isVoter(3))

	trk = progressTestTracker(progressTestConfig([]uint64{1}, []uint64{1, 2}, nil, nil))
	assert.False(t, trk.isSingleton(), "joint")
	trk = progressTestTracker(progressTestConfig([]uint64{1}, []uint64{1}, []uint64{2}, nil))
	assert.True(t, trk.isSingleton(), "joint, one voter in both halves")
	trk = progressTestTracker(progressTestConfig([]uint64{1}, []uint64{2}, nil, nil))
	assert.False(t, trk.isSingleton(), "joint, a different voter in each half")
	assert.True(t, trk.isVoter(2), "outgoing voter")
	trk = progressTestTracker(progressTestConfig([]uint64{1, 2}, nil, nil, nil))
	assert.False(t, trk.isSingleton())

	idx, ok := trk.progress.AckedIndex(3)
	assert.False(t, ok)
	assert.Zero(t, idx)
	trk.progress[2].Match = 4
	idx, ok = trk.progress.AckedIndex(2)
	assert.True(t, ok)
	assert.Equal(t, quorum.Index(4), idx)
}

func TestTrackerConfigString(t *testing.T) {
	assert.Equal(t, "voters=(1 2 3) learners=() learners_next=()", progressTestConfig([]uint64{3, 1, 2}, nil, nil, nil).String())
	c := progressTestConfig([]uint64{1, 2}, []uint64{1, 2, 3}, []uint64{5}, []uint64{3})
	c.AutoLeave = true
	assert.Equal(t, "voters=(1 2)&&(1 2 3) learners=(5) learners_next=(3) autoleave", c.String())
	assert.Equal(t, "voters=()", trackerConfig{}.String())
}
