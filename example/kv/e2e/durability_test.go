package e2e

import (
	"fmt"
	"testing"
)

// putKeys writes keys prefix-0 .. prefix-(n-1) and records each acknowledged
// value in acked.
func (c *cluster) putKeys(acked map[string]string, prefix string, n int) {
	c.t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s-%03d", prefix, i)
		v := fmt.Sprintf("value of %s", k)
		c.mustPut(k, v)
		acked[k] = v
	}
}

// Acknowledged writes survive kill -9 of a follower and then of the leader;
// the restarted follower catches up from its own log plus the leader's, and
// serves stale and linearizable reads of everything; a new leader takes
// over with every acknowledged write and keeps committing.
func TestAcknowledgedWritesSurviveKillOfFollowerAndLeader(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	acked := map[string]string{}
	c.putKeys(acked, "before", 40)

	f := c.follower()
	c.kill9(f)
	c.putKeys(acked, "while-down", 40)
	c.restart(f)
	c.waitCaughtUp(f)
	c.checkAll(f, acked, true)
	c.checkAll(f, acked, false)

	l := c.leader()
	c.kill9(l)
	nl := c.leader()
	if nl == l {
		t.Fatalf("node %d, killed, is still reported leader", l)
	}
	for _, id := range c.running() {
		c.checkAll(id, acked, false)
	}
	c.putKeys(acked, "after-failover", 20)

	c.restart(l)
	c.waitCaughtUp(l)
	c.checkAll(l, acked, true)
}

// A follower that was down while the leader compacted its log past the
// follower's last entry catches up from a snapshot, and survives a further
// restart from its own snapshot and log.
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{snapshotEvery: 10})
	acked := map[string]string{}
	c.putKeys(acked, "before", 5)

	f := c.follower()
	c.kill9(f)
	c.putKeys(acked, "while-down", 60)
	c.restart(f)
	c.waitCaughtUp(f)
	c.checkAll(f, acked, true)

	c.kill9(f)
	c.restart(f)
	c.waitCaughtUp(f)
	c.checkAll(f, acked, true)
	c.putKeys(acked, "after", 5)
	c.waitCaughtUp(f)
	c.checkAll(f, acked, true)
}
