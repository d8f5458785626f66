package kvbench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Latency summarizes the durations of one kind of operation.
type Latency struct {
	// Count is the number of operations.
	Count int64
	// Mean is their mean duration.
	Mean time.Duration
	// P50, P99 and P999 are the 50th, 99th and 99.9th percentiles: the
	// smallest duration at least that fraction of operations did not
	// exceed.
	P50, P99, P999 time.Duration
	// Max is the longest duration.
	Max time.Duration
}

// summarize computes the exact percentiles of ds, which it sorts.
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		Count: int64(len(ds)),
		Mean:  sum / time.Duration(len(ds)),
		P50:   percentile(ds, 0.50),
		P99:   percentile(ds, 0.99),
		P999:  percentile(ds, 0.999),
		Max:   ds[len(ds)-1],
	}
}

// percentile returns the smallest element of sorted that at least a
// fraction p of the elements do not exceed (nearest rank):
//
//	sorted = [1 2 3 4], p = 0.5 -> rank ceil(2.0) = 2 -> 2
//	sorted = [1 2 3 4], p = 0.99 -> rank ceil(3.96) = 4 -> 4
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Report writes the result as a few lines of text.
func (r Result) Report(w io.Writer) {
	opts := r.Options
	fmt.Fprintf(w, "kv bench: %d clients on %d conns, %v, %d-byte values, %d keys, read ratio %.2f\n",
		opts.Clients, opts.Conns, r.Elapsed.Round(time.Millisecond), opts.ValueSize, opts.Keys, opts.ReadRatio)
	line := func(name string, n int64, rate float64, l Latency) {
		fmt.Fprintf(w, "%-7s %9d  %10.1f/s  p50 %-9v p99 %-9v p99.9 %-9v max %v\n", name, n, rate,
			round(l.P50), round(l.P99), round(l.P999), round(l.Max))
	}
	line("writes:", r.Writes, r.WritesPerSecond(), r.WriteLatency)
	line("reads:", r.Reads, r.ReadsPerSecond(), r.ReadLatency)
	fmt.Fprintf(w, "errors: %8d", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first: %s", r.FirstError)
	}
	fmt.Fprintln(w)
	if r.Calibrated() {
		r.reportCalibration(w)
	}
	reportNodeSyncs(w, r.NodeSyncs, r.Elapsed)
}

// reportCalibration writes the fsync and round trip measured before the
// run, and the single-writer bound they give. The bound is judged only
// for a run with one client: with more, a write also waits for the
// others batched with it, and its latency is not comparable.
func (r Result) reportCalibration(w io.Writer) {
	fmt.Fprintf(w, "fsync (4 KiB write + fsync in %s): p50 %v  p99 %v\n",
		r.Options.FsyncDir, round(r.Fsync.P50), round(r.Fsync.P99))
	if c := r.ConcurrentFsync; c.Count > 0 {
		fmt.Fprintf(w, "fsync, %d files at once (as the logs of nodes sharing the disk): p50 %v  p99 %v  p99.9 %v  max %v\n",
			concurrentFsyncFiles, round(c.P50), round(c.P99), round(c.P999), round(c.Max))
	}
	fmt.Fprintf(w, "loopback round trip: p50 %v  p99 %v\n", round(r.LoopbackRTT.P50), round(r.LoopbackRTT.P99))
	target := r.SingleWriterTarget()
	fmt.Fprintf(w, "single-writer target (2 x (fsync p50 + round trip p50)): %v", round(target))
	if r.Options.Clients == 1 {
		verdict := "within"
		if r.WriteLatency.Count == 0 || r.WriteLatency.P50 > target {
			verdict = "NOT within"
		}
		fmt.Fprintf(w, "; measured write p50: %v (%s)", round(r.WriteLatency.P50), verdict)
	}
	fmt.Fprintln(w)
}

// round rounds d to the microsecond, the precision of the report.
func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

// progressWidth is the width of the bar, in characters.
const progressWidth = 30

// startProgress redraws a progress line on out once per second until the
// returned function is called, which draws it a last time and ends the
// line. A nil out shows nothing.
func startProgress(out io.Writer, start time.Time, total time.Duration, c *counters) (stop func()) {
	if out == nil {
		return func() {}
	}
	draw := func() {
		elapsed := min(time.Since(start), total)
		filled := int(float64(progressWidth) * float64(elapsed) / float64(total))
		bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressWidth-filled)
		secs := max(time.Since(start).Seconds(), 1e-9)
		w, r := c.writes.Load(), c.reads.Load()
		fmt.Fprintf(out, "\r[%s] %3.0fs/%.0fs  writes %d (%.0f/s)  reads %d (%.0f/s)  errors %d ",
			bar, elapsed.Seconds(), total.Seconds(), w, float64(w)/secs, r, float64(r)/secs, c.errors.Load())
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				draw()
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		draw()
		fmt.Fprintln(out)
	}
}
