package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Parameters of the linearizability workload: small enough to check in a
// few seconds on two cores, large enough that every fault meets traffic.
const (
	linClients  = 6
	linKeys     = 8
	linDuration = 15 * time.Second
)

// A kvDoer performs one operation of the workload. record is false when the
// operation certainly had no effect and returned nothing worth checking (a
// refused connection, a failed read); out.unknown when it may or may not
// have taken effect.
type kvDoer interface {
	do(ctx context.Context, client int, rng *rand.Rand, in kvInput) (out kvOutput, record bool, err error)
}

// rawDoer sends each operation as one HTTP request to a node, which
// forwards it to the leader if it must. Client i mostly uses node i mod n,
// so that while a node hangs, the clients of the others carry on writing.
type rawDoer struct {
	c *cluster
	// nothingDone collects the writes answered 503, which the server
	// documents as "nothing was done": no read may ever see their values.
	nothingDone *valueSet
}

// A valueSet is a set of written values, safe for concurrent use.
type valueSet struct {
	mu sync.Mutex
	m  map[string]string // value -> how it was answered
}

func (s *valueSet) add(value, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[value] = why
}

// checkNeverRead fails the test for every operation of ops that observed a
// value of s.
func (s *valueSet) checkNeverRead(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		if in.op == opGet && out.found {
			if why, ok := s.m[out.value]; ok {
				t.Errorf("the write of %s=%s was answered %s (\"nothing was done\"), yet a read at %.3fs returned it (mod_revision %d)",
					in.key, out.value, why, float64(op.Call)/1e9, out.rev)
			}
		}
	}
}

func (d rawDoer) do(ctx context.Context, client int, rng *rand.Rand, in kvInput) (kvOutput, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	ids := d.c.ids()
	id := ids[client%len(ids)]
	if rng.IntN(4) == 0 {
		id = ids[rng.IntN(len(ids))]
	}
	base := d.c.url(id)
	switch in.op {
	case opGet:
		r, err := d.c.api.get(ctx, base, in.key, false)
		switch {
		case err == nil:
			return kvOutput{found: true, value: r.Value, rev: r.ModRevision, version: r.Version}, true, nil
		case statusOf(err) == http.StatusNotFound && r.Error == "key not found":
			return kvOutput{}, true, nil
		case is4xx(err):
			return kvOutput{}, false, fmt.Errorf("get %s: %v", in.key, err)
		}
		return kvOutput{}, false, nil // a read that failed tells nothing
	default:
		var r kvResp
		var err error
		if in.op == opPut {
			r, err = d.c.api.put(ctx, base, in.key, in.value, nil)
		} else {
			r, err = d.c.api.cas(ctx, base, in.key, in.value, in.ifRev)
		}
		switch {
		case err == nil:
			if r.Value != in.value {
				return kvOutput{}, false, fmt.Errorf("%v %s=%s acknowledged with value %q", in.op, in.key, in.value, r.Value)
			}
			return kvOutput{rev: r.ModRevision, version: r.Version}, true, nil
		case in.op == opCAS && statusOf(err) == http.StatusPreconditionFailed:
			return kvOutput{failed: true, rev: r.ModRevision}, true, nil
		case refused(err):
			return kvOutput{}, false, nil
		case statusOf(err) == http.StatusServiceUnavailable:
			d.nothingDone.add(in.value, trim([]byte(err.Error())))
		case is4xx(err):
			return kvOutput{}, false, fmt.Errorf("%v %s: %v", in.op, in.key, err)
		}
		return kvOutput{unknown: true}, true, nil
	}
}

// is4xx reports whether err is a 4xx answer. Those the workload expects
// (404 key not found, 412 compare failed) are handled before; any other
// refuses a well-formed request.
func is4xx(err error) bool {
	code := statusOf(err)
	return code >= 400 && code < 500
}

// runWorkload runs linClients clients doing gets, puts and compare-and-sets
// on linKeys keys through doer for d, timed by h, while nemesis (if not
// nil) injects faults, and returns the recorded operations.
func runWorkload(t *testing.T, h *history, doer kvDoer, d time.Duration, nemesis func(stop <-chan struct{}) []error) []porcupine.Operation {
	t.Helper()
	var (
		mu   sync.Mutex
		ops  []porcupine.Operation
		errs []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := range linClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(client), uint64(h.start.UnixNano())))
			lastRev := map[string]int64{}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				in := kvInput{key: fmt.Sprintf("k%d", rng.IntN(linKeys))}
				switch p := rng.IntN(10); {
				case p < 4:
					in.op = opGet
				case p < 7:
					in.op = opPut
				default:
					in.op = opCAS
					in.ifRev = lastRev[in.key]
				}
				if in.op != opGet {
					in.value = fmt.Sprintf("c%d-%d", client, n)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := h.now()
				out, record, err := doer.do(ctx, client, rng, in)
				ret := h.now()
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				if !record {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				ops = append(ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
				switch {
				case out.unknown:
					// Each lost write stays concurrent with everything
					// after it (see resolveLostWrites); pause so that
					// an outage does not pile up hundreds of them.
					time.Sleep(time.Second)
				case in.op == opGet && !out.found:
					lastRev[in.key] = 0
				default:
					lastRev[in.key] = out.rev
				}
			}
		}()
	}
	var nemesisErrs []error
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		if nemesis != nil {
			nemesisErrs = nemesis(stop)
		}
	}()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	<-nemesisDone
	for _, err := range nemesisErrs {
		t.Errorf("nemesis: %v", err)
	}
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... and %d more errors", len(errs)-10)
			break
		}
		t.Errorf("workload: %v", err)
	}
	return ops
}

// finalReads reads every key linearizably once the cluster is whole
// again, appends the reads to ops as client linClients, and returns each
// key's version (0 if absent), which tells how many lost writes took
// effect (see resolveLostWrites).
func finalReads(t *testing.T, c *cluster, h *history, ops []porcupine.Operation) ([]porcupine.Operation, map[string]int64) {
	t.Helper()
	versions := map[string]int64{}
	for k := range linKeys {
		key := fmt.Sprintf("k%d", k)
		var out kvOutput
		var call, ret int64
		waitFor(t, 30*time.Second, "final read of "+key, func() error {
			l, err := c.findLeader()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			call = h.now()
			r, err := c.api.get(ctx, c.url(l), key, false)
			ret = h.now()
			switch {
			case err == nil:
				out = kvOutput{found: true, value: r.Value, rev: r.ModRevision, version: r.Version}
			case statusOf(err) == http.StatusNotFound:
				out = kvOutput{}
			default:
				return err
			}
			return nil
		})
		ops = append(ops, porcupine.Operation{ClientId: linClients, Input: kvInput{op: opGet, key: key}, Call: call, Output: out, Return: ret})
		versions[key] = out.version
	}
	return ops, versions
}

// faultNemesis injects one fault at a time into c until stop is closed,
// and leaves every node running and every link whole when it returns:
//
//   - pause a node (the leader every other time) with SIGSTOP, continue it
//     after a while, cut off from the others at first: requests sent to
//     it meanwhile are served when it wakes up, still believing it leads;
//   - kill -9 a node (the leader every other time), restart it after a while;
//   - isolate a node (the leader every other time) by cutting its links to
//     every other node, heal after a while;
//   - cut the link between two nodes, heal after a while.
//
// Each fault is logged with its time on h's clock.
func faultNemesis(c *cluster, h *history, seed uint64) func(stop <-chan struct{}) []error {
	return func(stop <-chan struct{}) []error {
		rng := rand.New(rand.NewPCG(seed, 1))
		logf := func(format string, args ...any) {
			c.t.Logf("%.3fs nemesis: %s", float64(h.now())/1e9, fmt.Sprintf(format, args...))
		}
		var errs []error
		fail := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		// sleep waits d or until stop; it reports whether to go on.
		sleep := func(d time.Duration) bool {
			select {
			case <-stop:
				return false
			case <-time.After(d):
				return true
			}
		}
		ids := c.ids()
		// pick returns the leader in even cycles of faults (the first
		// pause, kill and isolation hit the leader), any node in odd ones.
		pick := func(round int) uint64 {
			if round/4%2 == 0 {
				if l, err := c.findLeader(); err == nil {
					return l
				}
			}
			return ids[rng.IntN(len(ids))]
		}
		cutBoth := func(a, b uint64, cut bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			fail(c.api.cut(ctx, c.url(a), b, cut))
			fail(c.api.cut(ctx, c.url(b), a, cut))
		}
		for round := 0; sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond); round++ {
			switch round % 4 {
			case 0:
				// The victim sleeps cut off from the others, which elect
				// a new leader and move on. It wakes up still cut off
				// (the cut is on the others' side, made while it slept,
				// so that nothing from the new term waits in its
				// sockets), still believing it leads, and serves the
				// requests queued meanwhile.
				victim := pick(round)
				logf("pause node %d and cut it off on the others' side", victim)
				fail(c.pauseErr(victim, true))
				for _, id := range ids {
					if id != victim {
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						fail(c.api.cut(ctx, c.url(id), victim, true))
						cancel()
					}
				}
				sleep(time.Duration(2000+rng.IntN(1000)) * time.Millisecond)
				logf("continue node %d", victim)
				fail(c.pauseErr(victim, false))
				sleep(time.Duration(1000+rng.IntN(1000)) * time.Millisecond)
				logf("heal node %d", victim)
				for _, id := range ids {
					if id != victim {
						cutBoth(id, victim, false)
					}
				}
			case 1:
				victim := pick(round)
				logf("kill -9 node %d", victim)
				fail(c.kill9Err(victim))
				sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
				logf("restart node %d", victim)
				fail(c.startErr(victim))
				// Let it rejoin before the next fault, so that a
				// majority stays up.
				fail(c.servingErr(victim, 20*time.Second))
				time.Sleep(time.Second)
			case 2:
				victim := pick(round)
				logf("isolate node %d", victim)
				for _, id := range ids {
					if id != victim {
						cutBoth(victim, id, true)
					}
				}
				sleep(time.Duration(1500+rng.IntN(1500)) * time.Millisecond)
				logf("heal node %d", victim)
				for _, id := range ids {
					if id != victim {
						cutBoth(victim, id, false)
					}
				}
			case 3:
				i := rng.IntN(len(ids))
				a, b := ids[i], ids[(i+1)%len(ids)]
				logf("cut link %d-%d", a, b)
				cutBoth(a, b, true)
				sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
				logf("heal link %d-%d", a, b)
				cutBoth(a, b, false)
			}
		}
		return errs
	}
}

// Concurrent puts, gets and compare-and-sets sent as raw HTTP requests to
// random nodes, while nodes are killed and restarted and links are cut,
// form a linearizable history.
func TestLinearizableUnderFaultsRawHTTP(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{debugFaults: true, snapshotEvery: 200})
	h := &history{start: time.Now()}
	doer := rawDoer{c: c, nothingDone: &valueSet{}}
	ops := runWorkload(t, h, doer, linDuration, faultNemesis(c, h, 1))
	c.waitHealthy()
	ops, versions := finalReads(t, c, h, ops)
	doer.nothingDone.checkNeverRead(t, ops)
	checkHistory(t, h, ops, versions)
}

// checkHistory resolves the lost writes of ops and checks linearizability.
func checkHistory(t *testing.T, h *history, ops []porcupine.Operation, finalVersion map[string]int64) {
	t.Helper()
	if len(ops) < 100 {
		t.Errorf("only %d operations completed: the cluster was mostly unavailable", len(ops))
	}
	end := h.now()
	ops, dropped := resolveLostWrites(ops, end, finalVersion)
	t.Logf("%d lost writes dropped: by the versions read, they did not take effect before the final reads", dropped)
	sortOps(ops)
	checkLinearizable(t, ops)
}
