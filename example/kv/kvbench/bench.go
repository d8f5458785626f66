package kvbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelraft/raft/example/kv/client"
)

// Defaults of Options.
const (
	DefaultClients   = 8
	DefaultConns     = 1
	DefaultValueSize = 256
	DefaultKeys      = 1000
)

// Options describe one run.
type Options struct {
	// Endpoints are the client URLs of the cluster's nodes.
	Endpoints []string
	// Clients is the number of concurrent workers, each with one
	// operation in flight at a time (DefaultClients).
	Clients int
	// Conns is the number of client.Client instances the workers share
	// (DefaultConns; more than Clients counts as Clients): worker i uses
	// client i % Conns. One client shared by all is how an application
	// uses it; more clients split its locks (leader, session pool) among
	// fewer workers. Whatever Conns, each request in flight has an HTTP
	// connection of its own.
	Conns int
	// Duration is how long the run lasts; it must be positive.
	Duration time.Duration
	// ValueSize is the size of written values in bytes (DefaultValueSize).
	ValueSize int
	// ReadRatio is the fraction of operations that are reads, in [0, 1].
	ReadRatio float64
	// Keys is the number of distinct keys, chosen uniformly
	// (DefaultKeys).
	Keys int
	// StaleReads makes reads local (client.Stale) instead of
	// linearizable.
	StaleReads bool
	// Out receives a progress line redrawn every second, then the report.
	// nil: nothing is printed.
	Out io.Writer
	// Client tunes each client. Its MaxSessions is raised to the number
	// of workers sharing the client, so that no worker waits for a
	// session.
	Client client.Options

	// Calibrate makes Run measure, before the load, what a write's
	// latency is judged against: fsync on the servers' disk
	// (MeasureFsync in FsyncDir), alone and in three files at once
	// (MeasureConcurrentFsync), and the loopback TCP round trip
	// (MeasureLoopbackRTT). The result and the report then carry them.
	// It is off in the zero value, so that a caller of the package is
	// not surprised by files written to its current directory; `kv
	// bench` turns it on unless --no-calibrate.
	Calibrate bool
	// FsyncDir is the directory Calibrate writes its file in; it should
	// be on the disk of the servers' data directories. "" is the current
	// directory. Run makes it absolute.
	FsyncDir string
	// FsyncSamples, ConcurrentFsyncSamples (per file) and RTTSamples are
	// the measured rounds of each calibration (DefaultFsyncSamples,
	// DefaultConcurrentFsyncSamples, DefaultRTTSamples).
	FsyncSamples, ConcurrentFsyncSamples, RTTSamples int
}

// Result is the outcome of a run.
type Result struct {
	// Options are the options of the run, defaults filled in.
	Options Options
	// Elapsed is the measured duration of the run.
	Elapsed time.Duration
	// Writes and Reads count the operations that succeeded. A read of a
	// key not written yet is a success.
	Writes, Reads int64
	// Errors counts the operations that failed.
	Errors int64
	// FirstError is the text of the first failure, "" if none.
	FirstError string
	// WriteLatency and ReadLatency summarize the durations of the
	// successful operations.
	WriteLatency, ReadLatency Latency
	// Fsync, ConcurrentFsync and LoopbackRTT are the calibration
	// measured before the load (Options.Calibrate), zero without it.
	Fsync, ConcurrentFsync, LoopbackRTT Latency
	// NodeSyncs are the fsyncs of each node's log during the run, from
	// the nodes' GET /status before and after; empty if they did not
	// answer.
	NodeSyncs []NodeSyncs
}

// WritesPerSecond returns Writes over Elapsed.
func (r Result) WritesPerSecond() float64 { return perSecond(r.Writes, r.Elapsed) }

// ReadsPerSecond returns Reads over Elapsed.
func (r Result) ReadsPerSecond() float64 { return perSecond(r.Reads, r.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Run runs the benchmark until opts.Duration has passed or ctx ends, and
// returns its result. It fails only on invalid options or a failed
// calibration; failed operations are counted in Result.Errors.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	res := Result{Options: opts}
	if opts.Calibrate {
		// Before the load, which would share the disk and the CPUs.
		if opts.Out != nil {
			fmt.Fprintf(opts.Out, "calibrating: %d fsyncs in %s, then %d in each of %d files at once, %d loopback round trips\n",
				opts.FsyncSamples, opts.FsyncDir, opts.ConcurrentFsyncSamples, concurrentFsyncFiles, opts.RTTSamples)
		}
		if err := res.calibrate(opts); err != nil {
			return Result{}, err
		}
	}
	clients := make([]*client.Client, opts.Conns)
	for i := range clients {
		co := opts.Client
		co.MaxSessions = max(co.MaxSessions, workersOn(i, opts.Clients, opts.Conns))
		if clients[i], err = client.New(opts.Endpoints, co); err != nil {
			return Result{}, fmt.Errorf("kvbench: %w", err)
		}
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, c := range clients {
			_ = c.Close(closeCtx)
		}
	}()

	statusClient := &http.Client{}
	defer statusClient.CloseIdleConnections()
	walBefore := readWALCounters(ctx, statusClient, opts.Endpoints)

	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var live counters
	workers := make([]*worker, opts.Clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{opts: &opts, c: clients[i%opts.Conns], live: &live,
			rng: rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))}
		workers[i] = w
		wg.Go(func() { w.run(runCtx) })
	}
	stopProgress := startProgress(opts.Out, start, opts.Duration, &live)
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	res.Elapsed = elapsed
	res.NodeSyncs = nodeSyncs(walBefore, readWALCounters(ctx, statusClient, opts.Endpoints))
	var writes, reads []time.Duration
	for _, w := range workers {
		writes = append(writes, w.writes...)
		reads = append(reads, w.reads...)
		res.Errors += w.errors
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
	}
	res.Writes, res.Reads = int64(len(writes)), int64(len(reads))
	res.WriteLatency, res.ReadLatency = summarize(writes), summarize(reads)
	if opts.Out != nil {
		res.Report(opts.Out)
	}
	return res, nil
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Endpoints) == 0 {
		return o, errors.New("kvbench: no endpoints")
	}
	if o.Duration <= 0 {
		return o, errors.New("kvbench: duration must be positive")
	}
	if o.ReadRatio < 0 || o.ReadRatio > 1 {
		return o, fmt.Errorf("kvbench: read ratio %v not in [0, 1]", o.ReadRatio)
	}
	setDefault(&o.Clients, DefaultClients)
	setDefault(&o.ValueSize, DefaultValueSize)
	setDefault(&o.Keys, DefaultKeys)
	setDefault(&o.Conns, DefaultConns)
	o.Conns = min(o.Conns, o.Clients)
	setDefault(&o.FsyncSamples, DefaultFsyncSamples)
	setDefault(&o.ConcurrentFsyncSamples, DefaultConcurrentFsyncSamples)
	setDefault(&o.RTTSamples, DefaultRTTSamples)
	if o.Calibrate {
		var err error
		if o.FsyncDir, err = resolveFsyncDir(o.FsyncDir); err != nil {
			return o, err
		}
	}
	return o, nil
}

// setDefault sets *v to d unless it is positive.
func setDefault(v *int, d int) {
	if *v <= 0 {
		*v = d
	}
}

// workersOn returns how many of n workers use client i of conns, worker
// j using client j % conns: the first n % conns clients get one more.
//
//	n = 7, conns = 3: workers 0 3 6 | 1 4 | 2 5 -> 3, 2, 2
func workersOn(i, n, conns int) int {
	k := n / conns
	if i < n%conns {
		k++
	}
	return k
}

// counters are the live totals the progress line shows.
type counters struct {
	writes, reads, errors atomic.Int64
}

// worker is the loop of one of Options.Clients, on a client it may
// share. Its slices are its own until the run ends.
type worker struct {
	opts *Options
	c    *client.Client
	live *counters
	rng  *rand.Rand

	writes, reads []time.Duration
	errors        int64
	firstErr      error
}

func (w *worker) run(ctx context.Context) {
	value := make([]byte, w.opts.ValueSize)
	for i := range value {
		value[i] = 'a' + byte(w.rng.IntN(26))
	}
	var getOpts []client.GetOption
	if w.opts.StaleReads {
		getOpts = append(getOpts, client.Stale())
	}
	for ctx.Err() == nil {
		key := fmt.Sprintf("bench-%08d", w.rng.IntN(w.opts.Keys))
		read := w.rng.Float64() < w.opts.ReadRatio
		begin := time.Now()
		var err error
		if read {
			_, err = w.c.Get(ctx, key, getOpts...)
			if errors.Is(err, client.ErrKeyNotFound) {
				err = nil
			}
		} else {
			value[w.rng.IntN(len(value))] = 'a' + byte(w.rng.IntN(26))
			_, err = w.c.Put(ctx, key, value)
		}
		took := time.Since(begin)
		switch {
		case err != nil && ctx.Err() != nil:
			// Cut short by the end of the run: neither a success nor a
			// failure of the cluster.
		case err != nil:
			w.errors++
			w.live.errors.Add(1)
			if w.firstErr == nil {
				w.firstErr = err
			}
		case read:
			w.reads = append(w.reads, took)
			w.live.reads.Add(1)
		default:
			w.writes = append(w.writes, took)
			w.live.writes.Add(1)
		}
	}
}
