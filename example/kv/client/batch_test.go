package client

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
)

// isWrite reports whether r is a write request: PUT or DELETE /kv/{key}
// or POST /batch.
func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodDelete || r.URL.Path == "/batch"
}

// holdWrites makes node i hold every write request until release is
// called (at the latest when the test ends).
func holdWrites(t *testing.T, fc *fakeCluster, i int) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	fc.hook(i, false, func(w http.ResponseWriter, r *http.Request) bool {
		if isWrite(r) {
			<-ch
		}
		return false
	})
	return release
}

// batchOptions allow one write request in flight, so that writes queue
// behind it and go together.
func batchOptions() Options {
	o := fastOptions()
	o.MaxBatchesInFlight = 1
	return o
}

// forms are the two forms of a batch request, and the options that make
// a client send them.
var forms = []struct {
	name string
	opts func(Options) Options
}{
	{"msgpack", func(o Options) Options { return o }}, // the default
	{"json", func(o Options) Options { o.JSONBatches = true; return o }},
}

// forEachForm runs test once for each form of batch, with base options
// that send batches in that form.
func forEachForm(t *testing.T, base func() Options, test func(t *testing.T, form string, formOpts func() Options)) {
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			test(t, f.name, func() Options { return f.opts(base()) })
		})
	}
}

// inOneBatch runs ops at once while node 0, the leader, holds a first
// write: they queue behind it, and go in one batch once it is released.
// It returns their errors in order.
func inOneBatch(t *testing.T, fc *fakeCluster, c *Client, ops ...func() error) []error {
	t.Helper()
	ctx := context.Background()
	_, err := c.Put(ctx, "warm-up", nil) // finds the leader
	require.NoError(t, err)
	release, first := holdFirstWrite(t, fc, c)
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op() })
	}
	waitQueued(t, fc, c, len(ops))
	release()
	wg.Wait()
	require.NoError(t, <-first)
	return errs
}

// holdFirstWrite makes node 0 hold writes, and starts a write of the key
// "first" that takes the one request slot of c (batchOptions) and stays
// there until release. Its error comes on first.
func holdFirstWrite(t *testing.T, fc *fakeCluster, c *Client) (release func(), first chan error) {
	t.Helper()
	release = holdWrites(t, fc, 0)
	sent := len(fc.requests(0, "PUT /kv/first"))
	first = make(chan error, 1)
	go func() {
		_, err := c.Put(context.Background(), "first", nil)
		first <- err
	}()
	require.Eventually(t, func() bool { return len(fc.requests(0, "PUT /kv/first")) == sent+1 },
		5*time.Second, time.Millisecond, "the first write was not sent")
	return release, first
}

// waitQueued waits until n writes wait in c's queue for node 0.
func waitQueued(t *testing.T, fc *fakeCluster, c *Client, n int) {
	t.Helper()
	b := c.batcher(fc.nodes[0].srv.URL)
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == n
	}, 5*time.Second, time.Millisecond, "the writes did not queue")
}

// writeLines returns the writes node i received whose line contains
// part, sent alone or in a batch, without the "BATCH " prefix.
func writeLines(fc *fakeCluster, i int, part string) []string {
	var out []string
	for _, l := range append(fc.requests(i, "PUT"), fc.requests(i, "BATCH PUT")...) {
		if strings.Contains(l, part) {
			out = append(out, strings.TrimPrefix(l, "BATCH "))
		}
	}
	return out
}

// Writes that find the requests in flight busy queue and go together in
// one POST /batch once a request returns.
func TestQueuedWritesGoInOneBatch(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		c := newTestClient(t, fc.urls(), formOpts())
		var ops []func() error
		for i := range 20 {
			ops = append(ops, func() error {
				r, err := c.Put(context.Background(), fmt.Sprint("k", i), []byte(fmt.Sprint(i)))
				if err == nil && (string(r.KV.Value) != fmt.Sprint(i) || r.KV.Version != 1) {
					return fmt.Errorf("k%d answered %+v", i, r.KV)
				}
				return err
			})
		}
		for _, err := range inOneBatch(t, fc, c, ops...) {
			require.NoError(t, err)
		}
		require.Equal(t, []int{20}, fc.batchSizes(0))
		require.Equal(t, []string{form}, fc.batchForms(0))
		require.Len(t, fc.requests(0, "PUT"), 2, "the warm-up and the first write went alone")
		require.Equal(t, int64(22), fc.st.Revision())
	})
}

// Under load from many goroutines, writes share requests: far fewer
// requests than writes, none larger than MaxBatch, each write applied
// once.
func TestConcurrentWritesAreCoalesced(t *testing.T) {
	forEachForm(t, fastOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
			if isWrite(r) {
				time.Sleep(2 * time.Millisecond) // a commit takes time
			}
			return false
		})
		opts := formOpts()
		opts.MaxBatch = 8
		c := newTestClient(t, fc.urls(), opts)
		const writers, writes = 32, 20
		putConcurrently(t, c, writers, writes)
		requests := len(fc.requests(0, "PUT")) + len(fc.requests(0, "POST /batch"))
		require.Less(t, requests, writers*writes/3, "%d requests for %d writes", requests, writers*writes)
		for _, n := range fc.batchSizes(0) {
			require.LessOrEqual(t, n, 8)
		}
		for _, f := range fc.batchForms(0) {
			require.Equal(t, form, f)
		}
		require.Equal(t, int64(writers*writes), fc.st.Revision())
		for w := range writers {
			kv, _ := fc.st.Get(fmt.Sprint("k", w))
			require.Equal(t, int64(writes), kv.Version)
		}
	})
}

// gatedWrites makes node 0 hold each single write until a token comes on
// singles, and each batch until one comes on batches; put writes key in
// the background, and its error is asserted once it returns.
func gatedWrites(t *testing.T, fc *fakeCluster, c *Client) (singles, batches chan struct{}, put func(key string)) {
	t.Helper()
	ctx := context.Background()
	_, err := c.Put(ctx, "warm-up", nil) // finds the leader
	require.NoError(t, err)
	singles, batches = make(chan struct{}), make(chan struct{})
	fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == "/batch":
			<-batches
		case isWrite(r):
			<-singles
		}
		return false
	})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(singles)
		close(batches)
		wg.Wait()
	})
	put = func(key string) {
		wg.Go(func() {
			_, err := c.Put(ctx, key, []byte(key))
			assert.NoError(t, err, key)
		})
	}
	return singles, batches, put
}

// With two requests allowed in flight, a second goes beside a single
// write, so that two writers overlap. Beside a batch, writes wait until
// as many wait as the batch carries, then go as the second batch: under
// load the writers split between two batches of about equal size.
func TestSecondRequestBesideSingleWriteOrMatchingQueue(t *testing.T) {
	fc := newFakeCluster(t, 1)
	opts := fastOptions()
	opts.MaxBatchesInFlight = 2
	opts.Timeout = time.Minute // no request gives up while held
	c := newTestClient(t, fc.urls(), opts)
	singles, batches, put := gatedWrites(t, fc, c)
	inflight := func() int {
		b := c.batcher(fc.nodes[0].srv.URL)
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.inflight
	}

	put("a")
	require.Eventually(t, func() bool { return len(fc.requests(0, "PUT /kv/a")) == 1 }, 5*time.Second, time.Millisecond)
	put("b")
	require.Eventually(t, func() bool { return len(fc.requests(0, "PUT /kv/b")) == 1 }, 5*time.Second, time.Millisecond,
		"a second single write goes beside the first")
	put("c")
	put("d")
	put("e")
	waitQueued(t, fc, c, 3)
	singles <- struct{}{} // a or b returns: its slot takes c, d and e
	require.Eventually(t, func() bool { return len(fc.requests(0, "POST /batch")) == 1 }, 5*time.Second, time.Millisecond)

	put("f")
	put("g")
	waitQueued(t, fc, c, 2)
	singles <- struct{}{} // the other returns: f and g, fewer than the batch, wait for it
	require.Eventually(t, func() bool { return inflight() == 1 }, 5*time.Second, time.Millisecond)
	assert.Len(t, fc.requests(0, "POST /batch"), 1)

	put("h") // a free slot beside a batch: h waits, and with it as many wait as the batch carries
	require.Eventually(t, func() bool { return len(fc.requests(0, "POST /batch")) == 2 }, 5*time.Second, time.Millisecond,
		"the second batch goes once as many wait as the first carries")
	assert.Empty(t, fc.requests(0, "PUT /kv/h"), "h did not go alone")
	batches <- struct{}{}
	batches <- struct{}{}
	require.Eventually(t, func() bool { return len(fc.batchSizes(0)) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []int{3, 3}, fc.batchSizes(0))
}

// One writer alone, or a client with batching disabled, sends the plain
// single requests.
func TestWritesGoAloneWithoutConcurrencyOrBatching(t *testing.T) {
	fc := newFakeCluster(t, 1)
	c := newTestClient(t, fc.urls(), fastOptions())
	for i := range 5 {
		_, err := c.Put(context.Background(), "k", []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	require.Len(t, fc.requests(0, "PUT /kv/k"), 5)
	require.Empty(t, fc.requests(0, "POST /batch"))

	opts := batchOptions()
	opts.DisableBatching = true
	c = newTestClient(t, fc.urls(), opts)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := c.Delete(context.Background(), fmt.Sprint("d", i))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Len(t, fc.requests(0, "DELETE /kv/d"), 10)
	require.Empty(t, fc.requests(0, "POST /batch"))
}

// Each write of a batch gets the result and error it would get alone: a
// failed compare is a *CompareError with the current revision, and fails
// only its own write.
func TestBatchedWritesAnswerAsSingleOnes(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		c := newTestClient(t, fc.urls(), formOpts())
		ctx := context.Background()
		cas, err := c.Put(ctx, "cas", []byte("c"))
		require.NoError(t, err)
		del, err := c.Put(ctx, "del", []byte("d"))
		require.NoError(t, err)
		old, err := c.Put(ctx, "old", []byte("o"))
		require.NoError(t, err)

		var put, bin KVResponse
		var gone, absent DeleteResponse
		errs := inOneBatch(t, fc, c,
			func() (err error) { put, err = c.Put(ctx, "p", []byte("v")); return err },
			func() (err error) { bin, err = c.Put(ctx, "bin", []byte{0xff, 0}); return err },
			func() error { _, err := c.CompareAndSwap(ctx, "cas", []byte("x"), 99); return err },
			func() error { _, err := c.CompareAndDelete(ctx, "del", 98); return err },
			func() (err error) { gone, err = c.CompareAndDelete(ctx, "old", old.KV.ModRevision); return err },
			func() (err error) { absent, err = c.Delete(ctx, "absent"); return err },
		)
		require.Equal(t, []int{6}, fc.batchSizes(0))
		require.NoError(t, errs[0])
		require.Equal(t, "v", string(put.KV.Value))
		require.Equal(t, int64(1), put.KV.Version)
		require.Equal(t, put.KV.ModRevision, put.Header.Revision)
		require.NoError(t, errs[1])
		require.Equal(t, []byte{0xff, 0}, bin.KV.Value)
		for i, want := range []struct {
			key       string
			want, cur int64
		}{{"cas", 99, cas.KV.ModRevision}, {"del", 98, del.KV.ModRevision}} {
			err := errs[2+i]
			require.ErrorIs(t, err, ErrCompareFailed)
			require.NotErrorIs(t, err, ErrOutcomeUnknown)
			var ce *CompareError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, want.key, ce.Key)
			require.Equal(t, want.want, ce.Want)
			require.Equal(t, want.cur, ce.ModRevision)
		}
		require.NoError(t, errs[4])
		require.Equal(t, int64(1), gone.Deleted)
		require.NoError(t, errs[5])
		require.Equal(t, int64(0), absent.Deleted)
	})
}

// §6.3 with batches: the leader applies a batch but its answer is lost;
// every write is retried with its session and seq, and applied once.
func TestLostBatchAnswerIsRetriedExactlyOnce(t *testing.T) {
	for _, fault := range []string{"504", "dropped connection", "malformed JSON", "malformed msgpack"} {
		t.Run(fault, func(t *testing.T) {
			fc := newFakeCluster(t, 1)
			opts := batchOptions()
			opts.JSONBatches = fault == "malformed JSON"
			c := newTestClient(t, fc.urls(), opts)
			fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/batch" {
					return false
				}
				fc.nodes[0].handle(httptestRecorder(), r) // applied...
				switch fault {                            // ...but the client never hears
				case "504":
					w.WriteHeader(http.StatusGatewayTimeout)
				case "dropped connection":
					conn, _, err := w.(http.Hijacker).Hijack()
					require.NoError(t, err)
					conn.Close()
				case "malformed JSON":
					fmt.Fprint(w, `{"header":{},"results":[{"code":200}]}`)
				case "malformed msgpack": // one result, truncated
					w.Header().Set("Content-Type", batchwire.ContentType)
					_, _ = w.Write([]byte{0x92, 0x93, 1, 1, 1, 0x9a, 0x92, 0xcc})
				}
				return true
			})
			var ops []func() error
			for i := range 10 {
				ops = append(ops, func() error {
					r, err := c.Put(context.Background(), fmt.Sprint("k", i), []byte("v"))
					if err == nil && r.KV.Version != 1 {
						return fmt.Errorf("k%d at version %d", i, r.KV.Version)
					}
					return err
				})
			}
			for _, err := range inOneBatch(t, fc, c, ops...) {
				require.NoError(t, err)
			}
			require.Equal(t, int64(12), fc.st.Revision(), "each write applied once")
			sent := writeLines(fc, 0, "/kv/k")
			require.Len(t, sent, 20, "sent twice each, in the batch and in a retry")
			seen := map[string]int{}
			for _, l := range sent {
				seen[l]++
			}
			for l, n := range seen {
				require.Equal(t, 2, n, "%s: the retry has the same session and seq", l)
			}
		})
	}
}

// A batch answered 503 as a whole (a node that is not the leader) sends
// each of its writes to the leader it names; one answered 504 that way
// until the client gives up leaves each write's outcome unknown.
func TestFailedBatchFailsEachWrite(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 2)
		c := newTestClient(t, fc.urls(), formOpts())
		fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/batch" {
				return false
			}
			fc.setLeader(1)
			fc.nodes[0].handle(w, r) // 503 naming node 2
			return true
		})
		var ops []func() error
		for i := range 5 {
			ops = append(ops, func() error { _, err := c.Put(context.Background(), fmt.Sprint("k", i), nil); return err })
		}
		for _, err := range inOneBatch(t, fc, c, ops...) {
			require.NoError(t, err)
		}
		require.Empty(t, fc.requests(0, "BATCH"), "node 1 applied nothing")
		require.Len(t, writeLines(fc, 1, "/kv/k"), 5, "each write went to node 2")

		fc = newFakeCluster(t, 1)
		opts := formOpts()
		opts.MaxRetryTime = 200 * time.Millisecond
		c = newTestClient(t, fc.urls(), opts)
		fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/batch" || r.URL.Path == "/kv/k1" || r.URL.Path == "/kv/k2" {
				w.WriteHeader(http.StatusGatewayTimeout)
				return true
			}
			return false
		})
		for _, err := range inOneBatch(t, fc, c,
			func() error { _, err := c.Put(context.Background(), "k1", nil); return err },
			func() error { _, err := c.Put(context.Background(), "k2", nil); return err },
		) {
			require.ErrorIs(t, err, ErrOutcomeUnknown)
			require.ErrorIs(t, err, ErrUnavailable)
		}
	})
}

// A batch the server refuses as a whole (400, 413; 404 from an older
// server) applied nothing: its writes are sent alone and get their own
// answers. After a 404 the endpoint gets single requests only.
func TestRefusedBatchFallsBackToSingleRequests(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		c := newTestClient(t, fc.urls(), formOpts())
		fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/batch" {
				return false
			}
			w.WriteHeader(http.StatusRequestEntityTooLarge) // one value too large
			return true
		})
		fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPut && r.URL.Path == "/kv/big" {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return true
			}
			return false
		})
		errs := inOneBatch(t, fc, c,
			func() error { _, err := c.Put(context.Background(), "a", nil); return err },
			func() error { _, err := c.Put(context.Background(), "big", nil); return err },
		)
		require.NoError(t, errs[0])
		require.ErrorIs(t, errs[1], ErrValueTooLarge)
		require.NotErrorIs(t, errs[1], ErrOutcomeUnknown)
		require.Len(t, fc.requests(0, "PUT /kv/a"), 1)

		fc = newFakeCluster(t, 1)
		c = newTestClient(t, fc.urls(), formOpts())
		fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/batch" {
				w.WriteHeader(http.StatusNotFound)
				return true
			}
			return false
		})
		ops := []func() error{
			func() error { _, err := c.Put(context.Background(), "a", nil); return err },
			func() error { _, err := c.Put(context.Background(), "b", nil); return err },
		}
		for _, err := range inOneBatch(t, fc, c, ops...) {
			require.NoError(t, err)
		}
		require.Len(t, fc.requests(0, "POST /batch"), 1)
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				_, err := c.Put(context.Background(), fmt.Sprint("c", i), nil)
				require.NoError(t, err)
			})
		}
		wg.Wait()
		require.Len(t, fc.requests(0, "POST /batch"), 1, "no batch after the 404")
	})
}

// A session that expired answers 410 inside the batch: the write moves to
// a new session and is sent again, as a single write would be.
func TestBatchedWriteInExpiredSessionMovesOn(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		opts := formOpts()
		opts.SessionTTL = time.Hour
		c := newTestClient(t, fc.urls(), opts)
		ctx := context.Background()
		fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/batch" {
				fc.advance(2 * time.Hour) // every session of the batch expires
			}
			return false
		})
		var ra, rb KVResponse
		errs := inOneBatch(t, fc, c,
			func() (err error) { ra, err = c.Put(ctx, "a", []byte("1")); return err },
			func() (err error) { rb, err = c.Put(ctx, "b", []byte("1")); return err },
		)
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.Equal(t, int64(1), ra.KV.Version)
		require.Equal(t, int64(1), rb.KV.Version)
		require.Equal(t, []int{2}, fc.batchSizes(0))
		require.Equal(t, int64(4), fc.st.Revision(), "warm-up, first, a and b, once each")
		for _, key := range []string{"a", "b"} {
			require.Len(t, fc.requests(0, "BATCH PUT /kv/"+key+"?"), 1)
			sent := writeLines(fc, 0, "/kv/"+key+"?")
			require.GreaterOrEqual(t, len(sent), 2, "refused in the batch, then sent again")
			require.Len(t, slices.Compact(slices.Sorted(slices.Values(sent))), len(sent), "each time in another session")
		}
	})
}

// A write whose caller gives up while it waits in the queue is never
// sent, and its error says it was not applied.
func TestQueuedWriteGivenUpIsNotSent(t *testing.T) {
	forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
		fc := newFakeCluster(t, 1)
		c := newTestClient(t, fc.urls(), formOpts())
		_, err := c.Put(context.Background(), "warm-up", nil)
		require.NoError(t, err)
		release, first := holdFirstWrite(t, fc, c)
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan error, 1)
		go func() {
			_, err := c.Put(ctx, "gone", nil)
			gone <- err
		}()
		waitQueued(t, fc, c, 1)
		cancel()
		err = <-gone
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrOutcomeUnknown)
		waitQueued(t, fc, c, 0)
		release()
		require.NoError(t, <-first)
		require.Empty(t, writeLines(fc, 0, "gone"))
	})
}
