package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelraft/raft/example/kv/client"
)

// A dropper is an http.RoundTripper that loses answers on purpose: once
// armed, it sends the next PUT of its key, and if the server answers 200
// (the write was applied), it reads the answer, runs the hook, and returns
// an error instead of it. The client cannot tell whether its write
// happened and must retry.
type dropper struct {
	next http.RoundTripper
	key  string // the key whose PUTs d watches

	mu      sync.Mutex
	armed   bool
	hook    func()
	dropped int // answers dropped since arm
	puts    int // PUTs of the key sent since arm, dropped or not
}

// arm makes d drop the next 200 answer to a PUT of its key, after calling
// hook (if not nil), and resets the counts.
func (d *dropper) arm(hook func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed, d.hook, d.dropped, d.puts = true, hook, 0, 0
}

// counts returns the answers dropped and the PUTs sent since arm.
func (d *dropper) counts() (dropped, puts int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped, d.puts
}

func (d *dropper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	d.mu.Lock()
	isPut := req.Method == http.MethodPut && strings.TrimPrefix(req.URL.Path, "/kv/") == d.key
	if isPut {
		d.puts++
	}
	drop := isPut && d.armed && err == nil && resp.StatusCode == http.StatusOK
	hook := d.hook
	if drop {
		d.armed, d.hook = false, nil
		d.dropped++
	}
	d.mu.Unlock()
	if !drop {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if hook != nil {
		hook()
	}
	return nil, errors.New("e2e: answer dropped on purpose")
}

// A write whose answer is lost is retried by the client in its session and
// applied once: the key's version rises by one, not two. This holds for a
// put and a compare-and-set, and also when the leader that applied the
// write is killed -9 before the retry.
func TestClientRetriesLostAnswerExactlyOnce(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	d := &dropper{next: httpClient().Transport, key: "k"}
	cl := c.newClient(client.Options{
		HTTPClient:   &http.Client{Transport: d},
		Timeout:      3 * time.Second,
		MaxRetryTime: 40 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	r, err := cl.Put(ctx, "k", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	version := r.KV.Version

	// put checks that a write through the client, whose answer d drops
	// once, comes back as applied once.
	put := func(value string, write func() (client.KVResponse, error)) {
		t.Helper()
		r, err := write()
		if err != nil {
			t.Fatalf("write %s: %v", value, err)
		}
		if dropped, puts := d.counts(); dropped != 1 || puts < 2 {
			t.Fatalf("write %s: %d answers dropped, %d PUTs sent; want one dropped and a retry", value, dropped, puts)
		}
		version++
		if string(r.KV.Value) != value || r.KV.Version != version {
			t.Fatalf("write %s: answered value %q version %d, want %q version %d", value, r.KV.Value, r.KV.Version, value, version)
		}
		got, found := c.mustGet(c.leader(), "k", false)
		if !found || got.Value != value || got.Version != version {
			t.Fatalf("after write %s: the cluster has k = %q version %d (found %t), want %q version %d: the retry was applied again",
				value, got.Value, got.Version, found, value, version)
		}
	}

	d.arm(nil)
	put("v2", func() (client.KVResponse, error) { return cl.Put(ctx, "k", []byte("v2")) })

	d.arm(nil)
	rev := r.KV.ModRevision
	if g, err := cl.Get(ctx, "k"); err == nil {
		rev = g.KV.ModRevision
	}
	put("v3", func() (client.KVResponse, error) { return cl.CompareAndSwap(ctx, "k", []byte("v3"), rev) })

	// The leader that applied the write dies before the retry.
	var hookErr error
	d.arm(func() {
		l, err := c.findLeader()
		if err == nil {
			err = c.kill9Err(l)
		}
		hookErr = err
	})
	old, _ := c.findLeader()
	put("v4", func() (client.KVResponse, error) { return cl.Put(ctx, "k", []byte("v4")) })
	if hookErr != nil {
		t.Fatalf("killing the leader: %v", hookErr)
	}
	if c.isRunning(old) {
		t.Fatalf("leader %d was not killed", old)
	}

	// And a plain write still works, once.
	r, err = cl.Put(ctx, "k", []byte("v5"))
	if err != nil {
		t.Fatal(err)
	}
	if r.KV.Version != version+1 {
		t.Fatalf("put v5: version %d, want %d", r.KV.Version, version+1)
	}
	c.restart(old)
	c.waitCaughtUp(old)
	got, _ := c.mustGet(old, "k", true)
	if got.Value != "v5" || got.Version != version+1 {
		t.Fatalf("restarted node %d has k = %q version %d, want v5 version %d", old, got.Value, got.Version, version+1)
	}
}
