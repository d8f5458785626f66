package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keelraft/raft/example/kv/client"
)

// newClient returns a client of every node of c, sending through
// transport (nil: a plain one).
func (c *cluster) newClient(opts client.Options) *client.Client {
	c.t.Helper()
	var eps []string
	for _, id := range c.ids() {
		eps = append(eps, c.url(id))
	}
	cl, err := client.New(eps, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = cl.Close(ctx)
	})
	return cl
}

// clientDoer runs each operation through example/kv/client, with its
// retries, leader discovery and sessions.
type clientDoer struct {
	cl *client.Client
	// nothingDone collects the writes that failed without
	// ErrOutcomeUnknown, which the client documents as not applied.
	nothingDone *valueSet
}

func (d clientDoer) do(ctx context.Context, _ int, _ *rand.Rand, in kvInput) (kvOutput, bool, error) {
	switch in.op {
	case opGet:
		r, err := d.cl.Get(ctx, in.key)
		switch {
		case err == nil:
			return kvOutput{found: true, value: string(r.KV.Value), rev: r.KV.ModRevision, version: r.KV.Version}, true, nil
		case errors.Is(err, client.ErrKeyNotFound):
			return kvOutput{}, true, nil
		}
		return kvOutput{}, false, nil
	default:
		var r client.KVResponse
		var err error
		if in.op == opPut {
			r, err = d.cl.Put(ctx, in.key, []byte(in.value))
		} else {
			r, err = d.cl.CompareAndSwap(ctx, in.key, []byte(in.value), in.ifRev)
		}
		var ce *client.CompareError
		switch {
		case err == nil:
			if string(r.KV.Value) != in.value {
				return kvOutput{}, false, fmt.Errorf("%v %s=%s acknowledged with value %q", in.op, in.key, in.value, r.KV.Value)
			}
			return kvOutput{rev: r.KV.ModRevision, version: r.KV.Version}, true, nil
		case in.op == opCAS && errors.As(err, &ce):
			return kvOutput{failed: true, rev: ce.ModRevision}, true, nil
		case errors.Is(err, client.ErrBadRequest):
			return kvOutput{}, false, fmt.Errorf("%v %s: %v", in.op, in.key, err)
		case !errors.Is(err, client.ErrOutcomeUnknown):
			d.nothingDone.add(in.value, trim([]byte(err.Error())))
		}
		return kvOutput{unknown: true}, true, nil
	}
}

// The same workload and faults as TestLinearizableUnderFaultsRawHTTP, run
// through example/kv/client with its retries and sessions on, form a
// linearizable history in which no write was applied twice, and no write
// the client reported as failed (without ErrOutcomeUnknown) was applied.
func TestLinearizableUnderFaultsThroughClient(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{debugFaults: true, snapshotEvery: 200})
	cl := c.newClient(client.Options{
		HTTPClient:   httpClient(),
		Timeout:      2 * time.Second,
		MaxRetryTime: 5 * time.Second,
		SessionTTL:   time.Minute,
	})
	h := &history{start: time.Now()}
	doer := clientDoer{cl: cl, nothingDone: &valueSet{}}
	ops := runWorkload(t, h, doer, linDuration, faultNemesis(c, h, 2))
	c.waitHealthy()
	ops, versions := finalReads(t, c, h, ops)
	doer.nothingDone.checkNeverRead(t, ops)
	checkHistory(t, h, ops, versions)
}
