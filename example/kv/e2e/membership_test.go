package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// changeMembers retries a membership change through the leader until it is
// acknowledged (409 "change pending" and 503 are retried).
func (c *cluster) changeMembers(what string, change func(ctx context.Context, base string) ([]memberJSON, error)) []memberJSON {
	c.t.Helper()
	var ms []memberJSON
	waitFor(c.t, 30*time.Second, what, func() error {
		l, err := c.findLeader()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ms, err = change(ctx, c.url(l))
		return err
	})
	return ms
}

// removeMember removes id through base; a 404 counts as done when an
// earlier attempt, whose answer was lost, already removed it.
func (c *cluster) removeMember(ctx context.Context, base string, id uint64) ([]memberJSON, error) {
	ms, err := c.api.removeMember(ctx, base, id)
	if statusOf(err) == http.StatusNotFound {
		if cur, merr := c.api.members(ctx, base); merr == nil && !slices.Contains(memberIDs(cur), id) {
			return cur, nil
		}
	}
	return ms, err
}

func memberIDs(ms []memberJSON) []uint64 {
	ids := make([]uint64, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitMembers waits until node id's GET /members lists exactly want.
func (c *cluster) waitMembers(id uint64, want ...uint64) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, fmt.Sprintf("node %d to list members %v", id, want), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ms, err := c.api.members(ctx, c.url(id))
		if err != nil {
			return err
		}
		if got := memberIDs(ms); !slices.Equal(got, want) {
			return fmt.Errorf("members %v", got)
		}
		return nil
	})
}

// A node added with POST /members and started with --join catches up and
// serves reads; after removing a follower and then the leader with
// DELETE /members/{id}, the remaining nodes elect a leader among themselves
// and keep committing.
func TestAddAndRemoveMembers(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	acked := map[string]string{}
	c.putKeys(acked, "three", 20)

	n4 := c.addNode(4)
	ms := c.changeMembers("add node 4", func(ctx context.Context, base string) ([]memberJSON, error) {
		ms, err := c.api.addMember(ctx, base, 4, n4.peerAddr)
		if err != nil && statusOf(err) != 0 {
			// An earlier attempt may have been applied with its answer lost.
			if cur, merr := c.api.members(ctx, base); merr == nil && slices.Contains(memberIDs(cur), 4) {
				return cur, nil
			}
		}
		return ms, err
	})
	if got := memberIDs(ms); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("POST /members answered members %v, want [1 2 3 4]", got)
	}
	c.start(4)
	c.waitServing(4)
	c.waitCaughtUp(4)
	c.checkAll(4, acked, true)
	c.checkAll(4, acked, false)
	c.putKeys(acked, "four", 10)
	c.waitMembers(4, 1, 2, 3, 4)

	// Remove a follower other than the new node.
	l := c.leader()
	var gone uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != l {
			gone = id
			break
		}
	}
	c.node(gone).mayExit = true
	c.changeMembers(fmt.Sprintf("remove follower %d", gone), func(ctx context.Context, base string) ([]memberJSON, error) {
		return c.removeMember(ctx, base, gone)
	})
	for _, id := range c.running() {
		if id != gone {
			c.waitMembers(id, without([]uint64{1, 2, 3, 4}, gone)...)
		}
	}
	if c.isRunning(gone) {
		c.kill9(gone)
	}
	c.putKeys(acked, "after-remove-follower", 10)

	// Remove the leader: it must hand over to the two that remain.
	l = c.leader()
	c.node(l).mayExit = true
	c.changeMembers(fmt.Sprintf("remove leader %d", l), func(ctx context.Context, base string) ([]memberJSON, error) {
		return c.removeMember(ctx, base, l)
	})
	if c.isRunning(l) {
		c.kill9(l)
	}
	rest := without(without([]uint64{1, 2, 3, 4}, gone), l)
	nl := c.leader()
	if !slices.Contains(rest, nl) {
		t.Fatalf("leader %d is not one of the remaining members %v", nl, rest)
	}
	for _, id := range rest {
		c.waitMembers(id, rest...)
	}
	c.putKeys(acked, "after-remove-leader", 10)
	for _, id := range rest {
		c.checkAll(id, acked, false)
	}
}

func without(ids []uint64, x uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if id != x {
			out = append(out, id)
		}
	}
	return out
}
