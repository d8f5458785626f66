package raft

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// isAppendWithEntries matches appends to id that carry entries.
func isAppendWithEntries(id uint64) func(Message) bool {
	return func(m Message) bool { return m.Type == MsgApp && m.To == id && len(m.Entries) > 0 }
}

// Thesis §10.2.2: the leader pipelines appends, but no more than
// MaxInflightMsgs may wait for an answer; a follower whose answers do not
// come is not flooded. Once answers flow again, it catches up.
func TestFlowSlowFollowerGetsAtMostMaxInflightMsgs(t *testing.T) {
	const window = 4
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxInflightMsgs = window })
	c.campaign(1)
	require.Equal(t, StateReplicate, c.progress(1, 3).State)
	c.drop = func(m Message) bool { return m.From == 3 && m.Type == MsgAppResp }
	sent := c.countSent(isAppendWithEntries(3), func() { c.proposeN(1, "v", 20) })
	require.Equal(t, window, sent)
	pr := c.progress(1, 3)
	require.Equal(t, window, pr.InflightCount())
	require.True(t, pr.isPaused())
	require.Len(t, c.appliedData(2), 20, "the fast follower is not held back")

	c.drop = nil
	c.tick(1, 3)
	c.requireConverged(1, 2, 3)
	require.Zero(t, pr.InflightCount())
}

// The window also has a byte limit, MaxInflightBytes: the leader stops
// sending once the payload in flight reaches it (the last append sent may
// carry it past the limit, so that an entry larger than the limit is ever
// sent at all).
func TestFlowSlowFollowerGetsAtMostMaxInflightBytes(t *testing.T) {
	const limit = 1000
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxInflightBytes = limit })
	c.campaign(1)
	c.drop = func(m Message) bool { return m.From == 3 && m.Type == MsgAppResp }
	var inFlight []uint64 // bytes in flight before each append to 3
	var bytes uint64
	c.onReady = func(id uint64, rd Ready) {
		for _, m := range rd.Messages {
			if isAppendWithEntries(3)(m) {
				inFlight = append(inFlight, bytes)
				bytes += payloadsSize(m.Entries)
			}
		}
	}
	for i := range 20 {
		require.NoError(t, c.propose(1, fmt.Sprintf("%03d%s", i, strings.Repeat("x", 297))))
	}
	require.Equal(t, []uint64{0, 300, 600, 900}, inFlight, "each append left while under the limit")
	require.Equal(t, bytes, c.progress(1, 3).InflightBytes())
	require.True(t, c.progress(1, 3).isPaused())

	c.drop = nil
	c.tick(1, 3)
	c.requireConverged(1, 2, 3)
	require.Zero(t, c.progress(1, 3).InflightBytes())
}

// A follower known to match gets appends back to back, without the leader
// waiting for each answer (thesis §10.2.2).
func TestFlowFastFollowerGetsPipelinedAppends(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	for i := range 5 {
		// One Ready per proposal: proposals between two Readys would share
		// one append.
		require.NoError(t, c.nodes[1].rn.Propose(fmt.Appendf(nil, "v%d", i)))
		c.handleReady(1)
	}
	var apps []Message
	for _, m := range c.queue {
		require.NotEqual(t, MsgAppResp, m.Type)
		if isAppendWithEntries(2)(m) {
			apps = append(apps, m)
		}
	}
	require.Len(t, apps, 5, "five appends in flight before any answer")
	for i, m := range apps {
		require.Equal(t, apps[0].Index+uint64(i), m.Index, "each follows the previous")
	}
	require.Equal(t, 5, c.progress(1, 2).InflightCount())
	c.stabilize()
	c.requireConverged(1, 2, 3)
}

// A probing leader does not know where the follower's log ends, so it sends
// one append and waits: for the answer, or, if none comes, for the next
// heartbeat interval, when it tries again.
func TestFlowProbeSendsOneAppendPerHeartbeatInterval(t *testing.T) {
	const heartbeat = 3
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.HeartbeatTick = heartbeat })
	c.campaign(1)
	c.nodes[1].rn.ReportUnreachable(3)
	require.Equal(t, StateProbe, c.progress(1, 3).State)
	// 3 hears everything but its answers to appends are lost.
	c.drop = func(m Message) bool { return m.From == 3 && m.Type == MsgAppResp }
	isApp := isMsg(MsgApp, 3)
	require.Equal(t, 1, c.countSent(isApp, func() { c.proposeN(1, "a", 5) }))
	for i := range 5 {
		sent := c.countSent(isApp, func() {
			c.proposeN(1, fmt.Sprintf("b%d-", i), 2)
			c.tick(1, heartbeat)
		})
		require.Equal(t, 1, sent, "interval %d", i)
		require.Equal(t, StateProbe, c.progress(1, 3).State)
	}
	c.drop = nil
	c.tick(1, heartbeat)
	require.Equal(t, StateReplicate, c.progress(1, 3).State)
	c.requireConverged(1, 2, 3)
}

// ReportUnreachable says appends to the follower were likely lost: the
// leader stops pipelining and probes from what the follower is known to hold.
func TestFlowReportUnreachableMovesReplicateToProbe(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.drop = func(m Message) bool { return m.To == 3 || m.From == 3 }
	c.proposeN(1, "v", 3)
	pr := c.progress(1, 3)
	require.Equal(t, StateReplicate, pr.State)
	require.Equal(t, 3, pr.InflightCount())
	match := pr.Match

	c.nodes[1].rn.ReportUnreachable(3)
	require.Equal(t, StateProbe, pr.State)
	require.Equal(t, match+1, pr.Next)
	require.Zero(t, pr.InflightCount())
	require.False(t, pr.isPaused(), "the next append is sent at once, as a probe")

	c.drop = nil
	c.tick(1, 1)
	require.Equal(t, StateReplicate, pr.State)
	c.requireConverged(1, 2, 3)

	// A second report finds the follower probing, and changes nothing.
	c.nodes[1].rn.ReportUnreachable(3)
	next := pr.Next
	c.nodes[1].rn.ReportUnreachable(3)
	require.Equal(t, StateProbe, pr.State)
	require.Equal(t, next, pr.Next)
}

// A lost probe does not leave the follower stuck in probe: the answer to
// the next heartbeat makes the leader probe again.
func TestFlowHeartbeatResponseRetriesLostProbe(t *testing.T) {
	c := newSMCluster(t, 3)
	c.campaign(1)
	c.nodes[1].rn.ReportUnreachable(3)
	lost := 0
	c.drop = func(m Message) bool {
		if m.Type == MsgApp && m.To == 3 && lost == 0 {
			lost++
			return true
		}
		return false
	}
	require.NoError(t, c.propose(1, "x"))
	require.Equal(t, 1, lost)
	require.Empty(t, c.appliedData(3), "3 waits: the probe is lost")
	require.Equal(t, StateProbe, c.progress(1, 3).State)
	require.True(t, c.progress(1, 3).isPaused())

	require.Equal(t, 1, c.countSent(isAppendWithEntries(3), func() { c.tick(1, 1) }))
	require.Equal(t, StateReplicate, c.progress(1, 3).State)
	c.requireConverged(1, 2, 3)
}

// A window full of lost appends, with more entries waiting: the answer to
// a heartbeat frees one slot, the next append shows the gap, and the
// follower's rejection sends the leader back to probing.
func TestFlowFullWindowOfLostAppendsRecovers(t *testing.T) {
	const window = 4
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxInflightMsgs = window })
	c.campaign(1)
	c.drop = func(m Message) bool { return isAppendWithEntries(3)(m) }
	c.proposeN(1, "v", window+2)
	require.True(t, c.progress(1, 3).isPaused())
	c.drop = nil
	c.tick(1, 3)
	c.requireConverged(1, 2, 3)
	require.Equal(t, StateReplicate, c.progress(1, 3).State)
}

// §5.3: "If followers crash or run slowly, or if network packets are lost,
// the leader retries AppendEntries RPCs indefinitely ... until all
// followers eventually store all log entries." Here the appends to a
// replicating follower are lost silently (no ReportUnreachable) and nothing
// new is proposed afterwards: the heartbeats that follower answers must
// still lead the leader to resend.
func TestFlowLostAppendsAreResentWhileIdle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries int
	}{
		{"one append", 1},
		{"a full window", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxInflightMsgs = 4 })
			c.campaign(1)
			c.drop = func(m Message) bool { return m.Type == MsgApp && m.To == 3 }
			c.proposeN(1, "v", tc.entries)
			c.drop = nil
			c.tick(1, 10)
			require.Len(t, c.appliedData(3), tc.entries)
			c.requireConverged(1, 2, 3)
		})
	}
}

// MaxCommittedSizePerReady pages committed entries: no Ready hands out more
// than the limit (but each hands out at least one entry, however large),
// and over successive Readys every entry comes, once, in order.
func TestFlowMaxCommittedSizePerReadyPagesEntries(t *testing.T) {
	const limit = 100
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxCommittedSizePerReady = limit })
	c.campaign(1)
	pages := map[uint64][][]Entry{}
	c.onReady = func(id uint64, rd Ready) {
		if len(rd.CommittedEntries) > 0 {
			pages[id] = append(pages[id], rd.CommittedEntries)
		}
	}
	c.isolate(3)
	big := strings.Repeat("B", 2*limit)
	for i := range 12 {
		data := fmt.Sprintf("v%02d%s", i, strings.Repeat("x", 16)) // 44 bytes with overhead
		if i == 5 {
			data = big
		}
		require.NoError(t, c.nodes[1].rn.Propose([]byte(data)))
	}
	c.stabilize()
	c.heal()
	c.tick(1, 3)
	c.requireConverged(1, 2, 3)
	require.Len(t, c.appliedData(3), 12)

	for _, id := range c.ids {
		next := pages[id][0][0].Index
		for _, page := range pages[id] {
			require.NotEmpty(t, page)
			require.True(t, len(page) == 1 || entsSize(page) <= limit, "node %d: page of %d entries, %d bytes", id, len(page), entsSize(page))
			for _, e := range page {
				require.Equal(t, next, e.Index, "node %d", id)
				next++
			}
		}
		require.Equal(t, c.committed(id)+1, next)
	}
	// 3 got all 12 at once, and took them two by two (the large one alone).
	var sizes []int
	for _, page := range pages[3] {
		sizes = append(sizes, len(page))
	}
	require.Contains(t, sizes, 2)
	for _, page := range pages[3] {
		if len(page) == 1 && string(page[0].Data) == big {
			return
		}
	}
	t.Fatalf("the large entry was not handed out alone: %v", sizes)
}

// MaxUncommittedEntriesSize bounds the payload a leader holds uncommitted:
// a proposal past it is refused with ErrProposalDropped, and the quota is
// given back as entries commit, over many cycles, down to zero.
func TestFlowUncommittedSizeQuota(t *testing.T) {
	const quota = 100
	c := newSMCluster(t, 3, func(cfg *Config) { cfg.MaxUncommittedEntriesSize = quota })
	c.campaign(1)
	accepted := 0
	for cycle := range 40 {
		size := 7 + cycle%25
		var held uint64
		for i := 0; ; i++ {
			err := c.nodes[1].rn.Propose([]byte(strings.Repeat("q", size)))
			if err != nil {
				require.ErrorIs(t, err, ErrProposalDropped)
				require.Greater(t, held+uint64(size), uint64(quota), "cycle %d: refused within quota", cycle)
				break
			}
			held += uint64(size)
			accepted++
			require.LessOrEqual(t, held, uint64(quota), "cycle %d", cycle)
			require.Equal(t, held, c.raft(1).uncommittedSize)
		}
		c.stabilize()
		require.Zero(t, c.raft(1).uncommittedSize, "cycle %d", cycle)
	}
	require.Len(t, c.appliedData(3), accepted)

	// An entry larger than the whole quota still goes through alone.
	require.NoError(t, c.nodes[1].rn.Propose([]byte(strings.Repeat("L", 3*quota))))
	require.True(t, errors.Is(c.nodes[1].rn.Propose([]byte("y")), ErrProposalDropped))
	c.stabilize()
	require.Zero(t, c.raft(1).uncommittedSize)

	// A new leader starts with the whole quota, and gives it back too.
	c.isolate(1)
	require.NoError(t, c.nodes[1].rn.Propose([]byte(strings.Repeat("z", quota))))
	c.stabilize()
	c.campaign(2)
	require.Equal(t, uint64(2), c.leader())
	require.Zero(t, c.raft(2).uncommittedSize)
	require.NoError(t, c.propose(2, "after"))
	require.Zero(t, c.raft(2).uncommittedSize)
	c.heal()
	c.tick(2, 3)
	c.requireConverged(1, 2, 3)
	require.Zero(t, c.raft(1).uncommittedSize)
	require.Zero(t, c.raft(2).uncommittedSize)
}
