package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelraft/raft/example/kv/client"
)

// Issue 9: with the leader killed mid-run, a client keeps writing once a
// new leader is elected, and a write that eventually succeeds returns no
// error: the client finds the new leader and retries on its own.
func TestClientFailsOverWhenLeaderIsKilled(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	cl := c.newClient(client.Options{
		HTTPClient:   httpClient(),
		Timeout:      2 * time.Second,
		MaxRetryTime: 30 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var written atomic.Int64
	var stop atomic.Bool
	done := make(chan error, 1)
	key := func(i int64) string { return fmt.Sprintf("failover-%05d", i) }
	go func() {
		for i := int64(0); !stop.Load(); i++ {
			if _, err := cl.Put(ctx, key(i), []byte(key(i))); err != nil {
				done <- fmt.Errorf("put %s: %w", key(i), err)
				return
			}
			written.Add(1)
		}
		done <- nil
	}()
	wrote := func(n int64) func() error {
		return func() error {
			if w := written.Load(); w < n {
				return fmt.Errorf("%d writes so far", w)
			}
			return nil
		}
	}

	waitFor(t, 30*time.Second, "the writer to get going", wrote(20))
	lead := c.leader()
	c.kill9(lead)
	atKill := written.Load()
	waitFor(t, 60*time.Second, "writes to go on after the leader was killed", wrote(atKill+20))
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("a write failed across the failover (leader %d killed after %d writes): %v", lead, atKill, err)
	}
	for i := range written.Load() {
		got, err := cl.Get(ctx, key(i))
		if err != nil || string(got.KV.Value) != key(i) {
			t.Fatalf("get %s after the failover: %q, %v", key(i), got.KV.Value, err)
		}
	}
	if nl := c.leader(); nl == lead {
		t.Fatalf("node %d, killed, is still reported leader", lead)
	}
}
