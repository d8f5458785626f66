package kvbench

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireOrdered checks a summary of n positive samples.
func requireOrdered(t *testing.T, l Latency, n int) {
	t.Helper()
	require.EqualValues(t, n, l.Count)
	require.Positive(t, l.P50)
	require.LessOrEqual(t, l.P50, l.P99)
	require.LessOrEqual(t, l.P99, l.Max)
}

// MeasureFsync syncs n times in dir and leaves nothing behind.
func TestMeasureFsync(t *testing.T) {
	dir := t.TempDir()
	l, err := MeasureFsync(dir, 10)
	require.NoError(t, err)
	requireOrdered(t, l, 10)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "the fsync file is removed")
}

// MeasureConcurrentFsync syncs n times in each of its files, all at once,
// summarizes every round, and leaves nothing behind.
func TestMeasureConcurrentFsync(t *testing.T) {
	dir := t.TempDir()
	l, err := MeasureConcurrentFsync(dir, 3, 10)
	require.NoError(t, err)
	requireOrdered(t, l, 30)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "the fsync files are removed")
	_, err = MeasureConcurrentFsync(dir, 0, 10)
	require.Error(t, err)
	_, err = MeasureConcurrentFsync(filepath.Join(dir, "nope"), 3, 10)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// A directory that does not exist is an error that says what was being
// done where, and wraps the cause.
func TestMeasureFsyncMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := MeasureFsync(dir, 10)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), "measure fsync in "+dir)
}

func TestMeasureRejectsNoRounds(t *testing.T) {
	_, err := MeasureFsync(t.TempDir(), 0)
	require.Error(t, err)
	_, err = MeasureLoopbackRTT(0)
	require.Error(t, err)
}

func TestMeasureLoopbackRTT(t *testing.T) {
	l, err := MeasureLoopbackRTT(50)
	require.NoError(t, err)
	requireOrdered(t, l, 50)
}

// The report prints the calibration, and judges the single-writer bound
// only for a run with one client.
func TestReportCalibration(t *testing.T) {
	ms := time.Millisecond
	r := Result{
		Options:         Options{Clients: 1, Conns: 1, FsyncDir: "/data"},
		Elapsed:         time.Second,
		Writes:          100,
		WriteLatency:    Latency{Count: 100, P50: 5 * ms, P99: 9 * ms},
		Fsync:           Latency{Count: 200, P50: 2 * ms, P99: 4 * ms},
		ConcurrentFsync: Latency{Count: 3000, P50: 3 * ms, P99: 6 * ms, P999: 15 * ms, Max: 20 * ms},
		LoopbackRTT:     Latency{Count: 2000, P50: 50 * time.Microsecond, P99: 100 * time.Microsecond},
	}
	require.Equal(t, 4100*time.Microsecond, r.SingleWriterTarget())
	report := func(r Result) string {
		var b bytes.Buffer
		r.Report(&b)
		return b.String()
	}

	out := report(r)
	require.Contains(t, out, "kv bench: 1 clients on 1 conns,")
	require.Contains(t, out, "fsync (4 KiB write + fsync in /data): p50 2ms  p99 4ms\n")
	require.Contains(t, out, "fsync, 3 files at once (as the logs of nodes sharing the disk): p50 3ms  p99 6ms  p99.9 15ms  max 20ms\n")
	require.Contains(t, out, "loopback round trip: p50 50µs  p99 100µs\n")
	require.Contains(t, out, "single-writer target (2 x (fsync p50 + round trip p50)): 4.1ms; measured write p50: 5ms (NOT within)\n")

	r.WriteLatency.P50 = 4 * ms
	require.Contains(t, report(r), "measured write p50: 4ms (within)\n")

	r.Options.Clients, r.Options.Conns = 64, 2
	out = report(r)
	require.Contains(t, out, "kv bench: 64 clients on 2 conns,")
	require.Contains(t, out, "single-writer target (2 x (fsync p50 + round trip p50)): 4.1ms\n")
	require.NotContains(t, out, "measured write p50")

	r.Fsync, r.ConcurrentFsync, r.LoopbackRTT = Latency{}, Latency{}, Latency{}
	require.Zero(t, r.SingleWriterTarget())
	require.NotContains(t, report(r), "fsync")
}

// With Calibrate, Run measures before the load and reports the
// measurements; the fsync directory comes out absolute.
func TestRunCalibrates(t *testing.T) {
	url := startFake(t, &fakeNode{})
	dir := t.TempDir()
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Endpoints: []string{url}, Clients: 1,
		Duration: 100 * time.Millisecond, ReadRatio: 0, Out: &out,
		Calibrate: true, FsyncDir: dir, FsyncSamples: 3, ConcurrentFsyncSamples: 4, RTTSamples: 10})
	require.NoError(t, err)
	requireOrdered(t, res.Fsync, 3)
	requireOrdered(t, res.ConcurrentFsync, 12)
	requireOrdered(t, res.LoopbackRTT, 10)
	require.Equal(t, dir, res.Options.FsyncDir)
	require.Positive(t, res.Writes)
	text := out.String()
	require.Less(t, strings.Index(text, "calibrating:"), strings.Index(text, "\r["), "calibration comes before the load")
	require.Contains(t, text, "fsync (4 KiB write + fsync in "+dir+"): p50 ")
	require.Contains(t, text, "fsync, 3 files at once (as the logs of nodes sharing the disk): p50 ")
	require.Contains(t, text, "loopback round trip: p50 ")
	require.Contains(t, text, "measured write p50: ")
}

// A calibration that fails stops the run before any load.
func TestRunCalibrationFailure(t *testing.T) {
	f := &fakeNode{}
	url := startFake(t, f)
	_, err := Run(context.Background(), Options{Endpoints: []string{url}, Duration: time.Second,
		Calibrate: true, FsyncDir: filepath.Join(t.TempDir(), "nope"), FsyncSamples: 3, RTTSamples: 10})
	require.ErrorIs(t, err, fs.ErrNotExist)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Zero(t, f.puts+f.gets)
}
