package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// The segment file pipeline. On ext4, a block that fallocate reserved is
// "unwritten": the first write to it converts the extent, and the
// fdatasync after that write must commit the journal. A block that holds
// data already, if only zeros, is overwritten in place, and fdatasync then
// writes the data and flushes the disk cache, no more. Measured with three
// logs saving at once on one disk (BenchmarkSaveConcurrent, 16 MiB
// segments), a synced Save took p50 310-380 us in zero-filled segments
// against 570-730 us in fallocated ones. So, while the log writes to its
// current segment, one goroutine writes the next segment's zeros, and the
// roll only renames that file into place.

// preparedName is the name of the next segment while it is prepared. It is
// not a segment's name, so Open never reads the file as one, and ends in
// segmentExt+tempExt, so Open removes a file a crash left behind.
const preparedName = "next" + segmentExt + tempExt

// zeroChunk is the size of the writes that fill a prepared file. Each is
// written back to the disk before the next (see zeroFill), so it is also
// the most the preparation has queued at the disk ahead of a Save's write:
// at a few hundred MB/s, under a millisecond.
const zeroChunk = 256 << 10

// zeroSyncEvery is how many bytes of zeros a preparation writes between
// two fsyncs. Writing zeros into allocated blocks marks them written: a
// change of the file's extents, which the next fsync commits to the
// journal, and every log on the disk waits for that commit. Left to one
// fsync at the end, the commit of a 16 MiB segment's extents took ~60 ms,
// and the three logs of a local cluster each had one Save wait as long
// (kv bench, one writer: max 51-73 ms against 12-13 ms). Synced every 2
// MiB, each commit took 6-10 ms and no Save waited over 20 ms.
const zeroSyncEvery = 2 << 20

// prepareAhead turns the pipeline on, in the storages opened after it is
// set. Tests and benchmarks turn it off, to test or measure the storage
// without it.
var prepareAhead = true

// errStopped is the result of a preparation that Close interrupted.
var errStopped = errors.New("wal: segment preparation stopped by Close")

// preparer prepares the next segment file of a Storage in the background:
// at most one file at a time, at path, which the roll that takes it renames
// to the new segment's name. Its fields other than those of a preparation
// belong to the Storage's writers, under Storage.mu.
type preparer struct {
	path     string
	size     int64                               // of a segment
	allocate func(*os.File, int64) (bool, error) // Storage.allocate
	sync     func(*os.File) error                // (*os.File).Sync; tests of logic turn it off
	// fill, if set, makes the file at path instead of zeroFill, so that
	// tests can delay or fail it. It runs in its own goroutine, and must
	// return soon after stop is closed, with the file removed.
	fill func(path string, stop <-chan struct{}) (ok bool, err error)
	stop chan struct{} // closed by close
	wg   sync.WaitGroup
	cur  *preparation // the preparation started and not yet taken, if any
	off  bool         // no more preparations: the storage is closed, or cannot preallocate
}

// preparation is one run of fill. Its goroutine sets ok and err, then
// closes done; they are read only after done is closed.
type preparation struct {
	done chan struct{}
	ok   bool // the file is ready; false with no error: the file system cannot preallocate
	err  error
}

// newPreparer returns the pipeline of a log whose segments are size bytes,
// preallocated by allocate; it prepares them at path.
func newPreparer(path string, size int64, allocate func(*os.File, int64) (bool, error)) *preparer {
	return &preparer{
		path:     path,
		size:     size,
		allocate: allocate,
		sync:     (*os.File).Sync,
		stop:     make(chan struct{}),
		off:      !prepareAhead,
	}
}

// zeroFiller returns zeroFill with p's size, allocate and sync, as they are
// now: the goroutine that runs it must not read p.
func (p *preparer) zeroFiller() func(path string, stop <-chan struct{}) (bool, error) {
	size, allocate, sync := p.size, p.allocate, p.sync
	return func(path string, stop <-chan struct{}) (bool, error) {
		return zeroFill(path, size, allocate, sync, stop)
	}
}

// maybeStart starts preparing the next segment file, unless a preparation
// is under way or its file not yet taken, or the pipeline is off.
func (p *preparer) maybeStart() {
	if p.cur != nil || p.off {
		return
	}
	c := &preparation{done: make(chan struct{})}
	p.cur = c
	fill, path, stop := p.fill, p.path, p.stop
	if fill == nil {
		fill = p.zeroFiller()
	}
	p.wg.Go(func() {
		c.ok, c.err = fill(path, stop)
		close(c.done)
	})
}

// finished returns the preparation not yet taken if it has finished, else
// nil. It does not wait.
func (p *preparer) finished() *preparation {
	if c := p.cur; c != nil {
		select {
		case <-c.done:
			return c
		default:
		}
	}
	return nil
}

// ready reports whether a prepared file waits to be taken: the preparation
// finished, and succeeded.
func (p *preparer) ready() bool {
	c := p.finished()
	return c != nil && c.ok && c.err == nil
}

// take reports whether the prepared file at p.path is ready to be renamed
// into place; the caller then owns it. It does not wait: a preparation
// still under way stays so, for a later roll, and the log does without it
// this time. A preparation that failed is returned as an error, once.
func (p *preparer) take() (bool, error) {
	c := p.finished()
	if c == nil {
		return false, nil
	}
	p.cur = nil
	if c.err != nil {
		return false, c.err
	}
	if !c.ok {
		p.off = true // the file system cannot preallocate: the log does without
	}
	return c.ok, nil
}

// wait waits until the preparation under way, if any, has finished, and
// leaves its result to take. For tests.
func (p *preparer) wait() {
	if p.cur != nil {
		<-p.cur.done
	}
}

// close stops the pipeline: it interrupts the preparation under way, waits
// for its goroutine, and removes the prepared file, if any was left.
func (p *preparer) close() error {
	p.off = true
	close(p.stop)
	p.wg.Wait()
	p.cur = nil
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wal: remove the prepared segment file: %w", err)
	}
	return nil
}

// zeroFill makes the file at path a segment-to-be: size bytes, allocated
// (allocate) and written with zeros, and synced (sync), so that neither its
// size nor its allocation nor the written state of its blocks changes when
// records overwrite the zeros. It returns false, with the file removed, if
// the file system cannot preallocate (allocate reports so), if stop is
// closed before the file is whole, or on error.
//
// The zeros go to the disk a chunk at a time, each written back before the
// next (and synced every zeroSyncEvery bytes), with a pause as long as the
// chunk took after each: the preparation takes at most about half of the
// disk's time, and never queues more than a chunk in front of the log's
// own writes. Left to one fsync at the end,
// megabytes of zeros reach the disk at once, and the Saves that sync
// meanwhile wait behind them. Measured with three logs saving at once
// (16 MiB segments), the Saves made while a segment was prepared took
// p99 35-57 ms that way, p99.9 74-132 ms; paced, p99 5-15 ms, p99.9
// 15-33 ms, against p99 4-5 ms, p99.9 19-22 ms at other times. The
// preparation of 16 MiB then takes 130-200 ms instead of ~55 ms, still far
// less than the seconds a segment takes to fill.
func zeroFill(path string, size int64, allocate func(*os.File, int64) (bool, error), sync func(*os.File) error, stop <-chan struct{}) (ok bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, fmt.Errorf("wal: prepare segment file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			ok, err = false, fmt.Errorf("wal: prepare segment file: %w", cerr)
		}
		if !ok {
			os.Remove(path)
		}
	}()
	// Allocated first, in one piece, so that the disk being full shows
	// here, not in the middle of the zeros, and the blocks are contiguous.
	allocated, err := allocate(f, size)
	if err != nil {
		return false, fmt.Errorf("wal: prepare segment file: %w", err)
	}
	if !allocated {
		return false, nil
	}
	zeros := make([]byte, min(zeroChunk, size))
	pause := time.NewTimer(0)
	defer pause.Stop()
	for off := int64(0); off < size; off += int64(len(zeros)) {
		select {
		case <-stop:
			return false, errStopped
		case <-pause.C:
		}
		start := time.Now()
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return false, fmt.Errorf("wal: prepare segment file: %w", err)
		}
		if err := writeBack(f, off, n); err != nil {
			return false, fmt.Errorf("wal: prepare segment file: %w", err)
		}
		if end := off + n; end%zeroSyncEvery == 0 && end < size {
			if err := sync(f); err != nil {
				return false, fmt.Errorf("wal: prepare segment file: sync: %w", err)
			}
		}
		pause.Reset(time.Since(start))
	}
	// fsync, not fdatasync: the size and allocation must be on disk too.
	if err := sync(f); err != nil {
		return false, fmt.Errorf("wal: prepare segment file: sync: %w", err)
	}
	return true, nil
}
