package kvbench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft/example/kv/store"
)

// fakeNode is a one-node stand-in for the cluster: the HTTP API over a
// store.Store, counting the operations it applied and served.
type fakeNode struct {
	mu           sync.Mutex
	st           *store.Store
	index        uint64
	puts, gets   int
	failEveryPut int // > 0: every n-th put answers 400

	// putDelay > 0 holds each put that long before it is applied,
	// outside mu, so that the puts of concurrent writers overlap and
	// flight can see them.
	putDelay time.Duration
	flight   inflight
}

// inflight tracks the puts being served: how many at most at once, and
// whether a session ever had two.
type inflight struct {
	mu         sync.Mutex
	now, peak  int
	sessions   map[uint64]bool // the sessions with a put in flight
	seen       map[uint64]bool // every session that wrote
	sessionTwo bool            // a session had two puts in flight
}

func (f *inflight) begin(session uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions, f.seen = map[uint64]bool{}, map[uint64]bool{}
	}
	f.now++
	f.peak = max(f.peak, f.now)
	if f.sessions[session] {
		f.sessionTwo = true
	}
	f.sessions[session], f.seen[session] = true, true
}

func (f *inflight) end(session uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now--
	delete(f.sessions, session)
}

func (f *fakeNode) apply(c store.Command) store.Result {
	data, _ := c.Marshal()
	f.index++
	res, _ := f.st.Apply(f.index, data)
	return res
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && f.putDelay > 0 {
		// The answer is sent after ServeHTTP returns, so after end: a
		// session's next put cannot overlap this one here.
		session, _ := strconv.ParseUint(r.URL.Query().Get("session"), 10, 64)
		f.flight.begin(session)
		defer f.flight.end(session)
		time.Sleep(f.putDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	body := map[string]any{"header": map[string]any{"member_id": 1, "raft_term": 1, "revision": f.st.Revision()}}
	reply := func(code int) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	q := r.URL.Query()
	key := strings.TrimPrefix(r.URL.Path, "/kv/")
	switch {
	case r.URL.Path == "/status":
		body["leader"] = 1
		// One 100µs fsync per put.
		body["id"], body["wal_syncs"], body["wal_sync_us"] = 1, f.puts, 100*f.puts
		reply(200)
	case r.URL.Path == "/sessions":
		var b struct {
			TTL int64 `json:"ttl_ms"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		body["session"] = f.apply(store.Command{Op: store.OpOpenSession, SessionTTL: b.TTL * 1e6}).Session
		reply(200)
	case strings.HasPrefix(r.URL.Path, "/sessions/"):
		reply(200)
	case r.Method == http.MethodPut:
		f.puts++
		if f.failEveryPut > 0 && f.puts%f.failEveryPut == 0 {
			body["error"] = "refused for the test"
			reply(400)
			return
		}
		session, _ := strconv.ParseUint(q.Get("session"), 10, 64)
		seq, _ := strconv.ParseUint(q.Get("seq"), 10, 64)
		value, _ := io.ReadAll(r.Body)
		res := f.apply(store.Command{Op: store.OpPut, Key: key, Value: value, Session: session, Seq: seq})
		if res.Err != "" {
			body["error"] = res.Err
			reply(410)
			return
		}
		body["key"], body["value"], body["mod_revision"] = key, string(res.KV.Value), res.KV.ModRevision
		reply(200)
	case r.Method == http.MethodGet:
		f.gets++
		kv, ok := f.st.Get(key)
		if !ok {
			body["error"] = "key not found"
			reply(404)
			return
		}
		body["key"], body["value"] = key, string(kv.Value)
		reply(200)
	default:
		reply(404)
	}
}

func startFake(t *testing.T, f *fakeNode) string {
	f.st = store.New()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The counts of the result agree with what the server saw: every counted
// operation reached it, and at most one per client was cut off by the end
// of the run.
func TestRunCountsAgreeWithServer(t *testing.T) {
	f := &fakeNode{}
	url := startFake(t, f)
	var out bytes.Buffer
	opts := Options{Endpoints: []string{url}, Clients: 4, Duration: 300 * time.Millisecond,
		ValueSize: 16, ReadRatio: 0.5, Keys: 10, Out: &out}
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)

	f.mu.Lock()
	defer f.mu.Unlock()
	require.Positive(t, res.Writes)
	require.Positive(t, res.Reads)
	require.Zero(t, res.Errors, res.FirstError)
	require.GreaterOrEqual(t, int64(f.puts), res.Writes)
	require.LessOrEqual(t, int64(f.puts), res.Writes+int64(opts.Clients))
	require.GreaterOrEqual(t, int64(f.gets), res.Reads)
	require.LessOrEqual(t, int64(f.gets), res.Reads+int64(opts.Clients))
	require.Equal(t, int64(f.st.Revision()), int64(f.puts), "each put applied once")

	require.Equal(t, res.Writes, res.WriteLatency.Count)
	require.Equal(t, res.Reads, res.ReadLatency.Count)
	for _, l := range []Latency{res.WriteLatency, res.ReadLatency} {
		require.LessOrEqual(t, l.P50, l.P99)
		require.LessOrEqual(t, l.P99, l.P999)
		require.LessOrEqual(t, l.P999, l.Max)
	}
	require.Contains(t, out.String(), "\r[")
	require.Contains(t, out.String(), "writes:")
	require.Contains(t, out.String(), "p99.9")

	// The node's fsyncs during the run, from its /status: every counted
	// write was applied before the final read; a put cut short by the end
	// of the run may be applied after it.
	require.Len(t, res.NodeSyncs, 1)
	ns := res.NodeSyncs[0]
	require.Equal(t, uint64(1), ns.ID)
	require.Equal(t, 100*time.Microsecond, ns.Mean)
	require.GreaterOrEqual(t, ns.Syncs, res.Writes)
	require.LessOrEqual(t, ns.Syncs, int64(f.puts))
	require.Contains(t, out.String(), "wal fsyncs during the run:  node 1: ")
	require.Contains(t, out.String(), "mean 100µs")
}

// A node's fsyncs during a run are the difference of its counters; a node
// whose counters went back (it restarted) or that answered only once is
// left out.
func TestNodeSyncs(t *testing.T) {
	before := map[uint64]walCounters{1: {ID: 1, Syncs: 10, Micros: 1000}, 2: {ID: 2, Syncs: 50, Micros: 9000}, 3: {ID: 3, Syncs: 5}}
	after := map[uint64]walCounters{1: {ID: 1, Syncs: 30, Micros: 7000}, 2: {ID: 2, Syncs: 4, Micros: 100}, 4: {ID: 4, Syncs: 9}, 3: {ID: 3, Syncs: 5}}
	require.Equal(t, []NodeSyncs{{ID: 1, Syncs: 20, Mean: 300 * time.Microsecond}, {ID: 3}}, nodeSyncs(before, after))
}

// Refused operations are counted as errors, not as successes.
func TestRunCountsErrors(t *testing.T) {
	f := &fakeNode{failEveryPut: 3}
	url := startFake(t, f)
	res, err := Run(context.Background(), Options{Endpoints: []string{url}, Clients: 2,
		Duration: 200 * time.Millisecond, ReadRatio: 0})
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Positive(t, res.Errors)
	require.Contains(t, res.FirstError, "refused for the test")
	require.Zero(t, res.Reads)
	require.LessOrEqual(t, int64(f.puts), res.Writes+res.Errors+2)
	require.GreaterOrEqual(t, int64(f.puts), res.Writes+res.Errors)
}

// Workers sharing a client still write in parallel, each in a session of
// its own: the client has a session for each worker on it, and never two
// writes in flight in one session.
func TestRunSharedClientsWriteInParallel(t *testing.T) {
	for _, conns := range []int{1, 2, 4} {
		f := &fakeNode{putDelay: 5 * time.Millisecond}
		url := startFake(t, f)
		var out bytes.Buffer
		res, err := Run(context.Background(), Options{Endpoints: []string{url}, Clients: 4, Conns: conns,
			Duration: 300 * time.Millisecond, ReadRatio: 0, Out: &out})
		require.NoError(t, err)
		require.Zero(t, res.Errors, res.FirstError)
		require.Positive(t, res.Writes)
		require.Equal(t, conns, res.Options.Conns)
		require.Contains(t, out.String(), "kv bench: 4 clients on "+strconv.Itoa(conns)+" conns,")

		// Unlocked before asserting: a failing require must not leave a
		// handler blocked, which would hang the server's Close.
		f.flight.mu.Lock()
		peak, sessionTwo, sessions := f.flight.peak, f.flight.sessionTwo, len(f.flight.seen)
		f.flight.mu.Unlock()
		require.Equal(t, 4, peak, "conns %d: every worker has a put in flight at once", conns)
		require.False(t, sessionTwo, "conns %d: a session had two puts in flight", conns)
		require.LessOrEqual(t, sessions, 4, "conns %d: sessions", conns)
	}
}

// Worker i uses client i % conns; workersOn counts them.
func TestWorkersOn(t *testing.T) {
	require.Equal(t, []int{3, 2, 2}, []int{workersOn(0, 7, 3), workersOn(1, 7, 3), workersOn(2, 7, 3)})
	for n := 1; n <= 9; n++ {
		for conns := 1; conns <= n; conns++ {
			count := make([]int, conns)
			for w := range n {
				count[w%conns]++
			}
			for i := range conns {
				require.Equal(t, count[i], workersOn(i, n, conns), "n %d conns %d client %d", n, conns, i)
			}
		}
	}
}

// Conns defaults to one client, and is at most one per worker.
func TestConnsDefaults(t *testing.T) {
	o, err := Options{Endpoints: []string{"http://x"}, Duration: time.Second, Clients: 4}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 1, o.Conns)
	o, err = Options{Endpoints: []string{"http://x"}, Duration: time.Second, Clients: 4, Conns: 9}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 4, o.Conns)
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Duration: time.Second},
		{Endpoints: []string{"http://x"}},
		{Endpoints: []string{"http://x"}, Duration: time.Second, ReadRatio: 2},
	} {
		_, err := Run(context.Background(), o)
		require.Error(t, err)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{4, 1, 3, 2}
	l := summarize(ds)
	require.Equal(t, Latency{Count: 4, Mean: 2, P50: 2, P99: 4, P999: 4, Max: 4}, l)
	ds = make([]time.Duration, 1000)
	for i := range ds {
		ds[i] = time.Duration(1000 - i)
	}
	l = summarize(ds)
	require.Equal(t, time.Duration(500), l.P50)
	require.Equal(t, time.Duration(990), l.P99)
	require.Equal(t, time.Duration(999), l.P999)
	require.Equal(t, Latency{}, summarize(nil))
}
