package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Waiting for the cluster: every wait polls, with generous timeouts, and
// fails with the last thing it saw.

// waitFor polls cond every 100ms until it returns nil, and fails the test
// with cond's last error once timeout has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitServing waits until node id answers GET /status.
func (c *cluster) waitServing(id uint64) {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, fmt.Sprintf("node %d to serve /status", id), func() error {
		if !c.isRunning(id) {
			return fmt.Errorf("node %d is not running", id)
		}
		_, err := c.api.status(c.url(id))
		return err
	})
}

// servingErr waits up to timeout until node id answers GET /status, for
// goroutines other than the test's.
func (c *cluster) servingErr(id uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.api.status(c.url(id))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d does not serve /status after %v: %v", id, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findLeader returns the node that claims leadership with the highest
// term among the running nodes, or 0 if none does.
func (c *cluster) findLeader() (uint64, error) {
	var best, bestTerm uint64
	var errs []string
	for _, id := range c.running() {
		st, err := c.api.status(c.url(id))
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %d: %v", id, err))
			continue
		}
		if st.Leader == id && st.Term >= bestTerm {
			best, bestTerm = id, st.Term
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no running node is leader (errors: %v)", errs)
	}
	return best, nil
}

// leader waits until a running node is leader and returns its id.
func (c *cluster) leader() uint64 {
	c.t.Helper()
	var id uint64
	waitFor(c.t, 30*time.Second, "a leader", func() error {
		var err error
		id, err = c.findLeader()
		return err
	})
	return id
}

// follower returns a running node that is not the leader.
func (c *cluster) follower() uint64 {
	c.t.Helper()
	l := c.leader()
	for _, id := range c.running() {
		if id != l {
			return id
		}
	}
	c.t.Fatal("no running follower")
	return 0
}

// waitHealthy waits until every running node serves /status and all agree
// on one leader in one term.
func (c *cluster) waitHealthy() {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, "all running nodes to agree on a leader", func() error {
		var leader, term uint64
		for _, id := range c.running() {
			st, err := c.api.status(c.url(id))
			if err != nil {
				return fmt.Errorf("node %d: %v", id, err)
			}
			if st.Leader == 0 {
				return fmt.Errorf("node %d knows no leader", id)
			}
			if leader == 0 {
				leader, term = st.Leader, st.Term
			} else if st.Leader != leader || st.Term != term {
				return fmt.Errorf("node %d sees leader %d term %d, another sees %d term %d", id, st.Leader, st.Term, leader, term)
			}
		}
		if leader == 0 {
			return errors.New("no node running")
		}
		return nil
	})
}

// waitCaughtUp waits until node id has applied at least everything the
// leader had committed when waitCaughtUp was called.
func (c *cluster) waitCaughtUp(id uint64) {
	c.t.Helper()
	var commit uint64
	waitFor(c.t, 30*time.Second, "the leader's commit index", func() error {
		l, err := c.findLeader()
		if err != nil {
			return err
		}
		st, err := c.api.status(c.url(l))
		if err != nil {
			return err
		}
		commit = st.Commit
		return nil
	})
	waitFor(c.t, 30*time.Second, fmt.Sprintf("node %d to apply index %d", id, commit), func() error {
		st, err := c.api.status(c.url(id))
		if err != nil {
			return err
		}
		if st.Applied < commit {
			return fmt.Errorf("node %d applied %d", id, st.Applied)
		}
		return nil
	})
}
