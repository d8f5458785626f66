package kvbench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Defaults of the calibration options.
const (
	DefaultFsyncSamples           = 200
	DefaultConcurrentFsyncSamples = 1000
	DefaultRTTSamples             = 2000
)

// concurrentFsyncFiles is how many files the concurrent fsync calibration
// syncs at once: the logs of a local three-node cluster.
const concurrentFsyncFiles = 3

// fsyncWriteSize is the size of each write MeasureFsync syncs: about what
// a leader appends for a small batch of 128-byte puts.
const fsyncWriteSize = 4 << 10

// warmups are the unrecorded rounds before the measured ones, so that the
// first allocation of file blocks, or the first packets of a connection,
// do not count.
const warmups = 5

// MeasureFsync measures n rounds of appending 4 KiB to a new file in dir
// and syncing it with (*os.File).Sync, the way the kv example's WAL makes
// a batch durable, and summarizes their durations. dir should be on the
// disk the servers' data directories are on. The file is removed
// afterwards.
func MeasureFsync(dir string, n int) (Latency, error) {
	return MeasureConcurrentFsync(dir, 1, n)
}

// MeasureConcurrentFsync is MeasureFsync in files files at once, each
// appended to and synced n times by a goroutine of its own, as the logs
// of nodes sharing a disk are; it summarizes the durations of all
// rounds. A disk that throttles shows here what one file alone does not.
func MeasureConcurrentFsync(dir string, files, n int) (Latency, error) {
	if files <= 0 || n <= 0 {
		return Latency{}, fmt.Errorf("kvbench: measure fsync: %d rounds in %d files, want at least one of each", n, files)
	}
	ds := make([][]time.Duration, files)
	errs := make([]error, files)
	var wg sync.WaitGroup
	for i := range files {
		wg.Go(func() { ds[i], errs[i] = fsyncRounds(dir, n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Latency{}, fmt.Errorf("kvbench: measure fsync in %s: %w", dir, err)
	}
	return summarize(slices.Concat(ds...)), nil
}

// fsyncRounds appends 4 KiB to a new file in dir and syncs it, n times
// after a few warm-up rounds, and returns how long each took. The file is
// removed afterwards.
func fsyncRounds(dir string, n int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "kvbench-fsync-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	buf := make([]byte, fsyncWriteSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	ds := make([]time.Duration, 0, n)
	for i := range warmups + n {
		begin := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		if i >= warmups {
			ds = append(ds, time.Since(begin))
		}
	}
	return ds, nil
}

// pingSize is the size of one message of MeasureLoopbackRTT.
const pingSize = 8

// MeasureLoopbackRTT measures n round trips of a few bytes over one TCP
// connection on 127.0.0.1 (a write, and the read of the echo), and
// summarizes their durations: the least a request between two processes
// on this machine costs.
func MeasureLoopbackRTT(n int) (Latency, error) {
	if n <= 0 {
		return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %d rounds, want at least 1", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() { echoOne(ln) })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %w", err)
	}
	defer conn.Close()
	// A dead echo must not hang the bench: loopback round trips take
	// microseconds, so a minute is far beyond any real run.
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %w", err)
	}
	buf := make([]byte, pingSize)
	ds := make([]time.Duration, 0, n)
	for i := range warmups + n {
		begin := time.Now()
		if _, err := conn.Write(buf); err != nil {
			return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %w", err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			return Latency{}, fmt.Errorf("kvbench: measure loopback round trip: %w", err)
		}
		if i >= warmups {
			ds = append(ds, time.Since(begin))
		}
	}
	return summarize(ds), nil
}

// echoOne accepts one connection on ln and sends back every message it
// reads, until the connection ends.
func echoOne(ln net.Listener) {
	conn, err := ln.Accept()
	if err != nil {
		return // the measurement failed to dial and closed ln
	}
	defer conn.Close()
	buf := make([]byte, pingSize)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		if _, err := conn.Write(buf); err != nil {
			return
		}
	}
}

// calibrate fills in r's fsync and loopback measurements, as opts ask.
func (r *Result) calibrate(opts Options) error {
	var err error
	if r.Fsync, err = MeasureFsync(opts.FsyncDir, opts.FsyncSamples); err != nil {
		return err
	}
	if r.ConcurrentFsync, err = MeasureConcurrentFsync(opts.FsyncDir, concurrentFsyncFiles, opts.ConcurrentFsyncSamples); err != nil {
		return err
	}
	r.LoopbackRTT, err = MeasureLoopbackRTT(opts.RTTSamples)
	return err
}

// resolveFsyncDir makes dir absolute ("" is the current directory), so
// that the report says which disk was measured.
func resolveFsyncDir(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("kvbench: fsync dir %q: %w", dir, err)
	}
	return abs, nil
}

// SingleWriterTarget returns the bound a single writer's median write
// latency is judged against: 2 x (fsync p50 + loopback round trip p50),
// as measured before the run. A write cannot beat one fsync (the leader
// and the followers sync in parallel) plus the round trips client ->
// leader -> follower; the bound allows twice one fsync and one round
// trip, for HTTP, the Raft pipeline and a second round trip. It returns
// 0 if the run was not calibrated.
func (r Result) SingleWriterTarget() time.Duration {
	if !r.Calibrated() {
		return 0
	}
	return 2 * (r.Fsync.P50 + r.LoopbackRTT.P50)
}

// Calibrated reports whether the run measured fsync and the loopback
// round trip (Options.Calibrate).
func (r Result) Calibrated() bool { return r.Fsync.Count > 0 && r.LoopbackRTT.Count > 0 }
