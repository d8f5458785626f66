package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keelraft/raft"
)

// BenchmarkSave is the cost of persisting one Ready of 64 entries of 128
// bytes and a hard state: encoding, one write and, with sync, one fsync
// (an fdatasync on Linux, in a preallocated segment). fsync-ns/op is the
// part of it spent syncing.
func BenchmarkSave(b *testing.B) {
	for _, tt := range []struct {
		name string
		sync bool
	}{{"64x128B/sync", true}, {"64x128B/nosync", false}} {
		b.Run(tt.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const perReady, size = 64, 128
			ents := entries(1, perReady, 1, size)
			b.SetBytes(perReady * size)
			b.ReportAllocs()
			// The fsyncs of Save alone: those of the snapshots below are
			// taken out.
			syncs, syncTime := s.SyncStats()
			syncs, syncTime = -syncs, -syncTime
			b.ResetTimer()
			for i := range uint64(b.N) {
				for j := range ents {
					ents[j].Index = i*perReady + uint64(j) + 1
				}
				hs := raft.HardState{Term: 1, Vote: 1, Commit: i * perReady}
				if err := s.Save(hs, ents, raft.Snapshot{}, tt.sync); err != nil {
					b.Fatal(err)
				}
				// Keep memory flat: the log in memory is not what is measured.
				if i%256 == 255 {
					b.StopTimer()
					n0, t0 := s.SyncStats()
					if _, err := s.CreateSnapshot((i+1)*perReady, nil, nil); err != nil {
						b.Fatal(err)
					}
					n1, t1 := s.SyncStats()
					syncs, syncTime = syncs-(n1-n0), syncTime-(t1-t0)
					b.StartTimer()
				}
			}
			b.StopTimer()
			n, t := s.SyncStats()
			syncs, syncTime = syncs+n, syncTime+t
			b.ReportMetric(float64(syncs)/float64(b.N), "fsyncs/op")
			b.ReportMetric(float64(syncTime.Nanoseconds())/float64(b.N), "fsync-ns/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perReady), "ns/entry")
		})
	}
}

// BenchmarkFsync is the raw cost of an fsync on this disk, after an append
// of the size of one Ready above (about 10 KiB).
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 10<<10)
	var synced time.Duration
	b.ResetTimer()
	for range b.N {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		synced += time.Since(start)
	}
	b.ReportMetric(float64(synced.Nanoseconds())/float64(b.N), "fsync-ns/op")
}

// BenchmarkSaveConcurrent is BenchmarkSave/64x128B/sync in three storages at
// once, each in its own directory and goroutine, as three kv nodes on one
// machine share a disk. Each writer makes b.N synced Saves. p50-ns and
// p99-ns are of the latency of one Save, over all writers; fsyncs/s is the
// rate of syncs (fdatasync included) of all three together.
//
// It runs with segments of the default size and of 64 MiB (the default
// before the pipeline), each with the segments prepared ahead (zero-filled:
// the default) and created at the roll (fallocated, as before the
// pipeline). So that the segments written to are of the kind named, each
// writer first fills its first segment, which Open created, without syncs
// and untimed; prepared is the fraction of the segments written to after
// that which came from a prepared file.
func BenchmarkSaveConcurrent(b *testing.B) {
	for _, segSize := range []int64{DefaultSegmentSize, 64 << 20} {
		for _, prepared := range []bool{true, false} {
			name := fmt.Sprintf("seg=%dMiB/created", segSize>>20)
			if prepared {
				name = fmt.Sprintf("seg=%dMiB/prepared", segSize>>20)
			}
			b.Run(name, func(b *testing.B) {
				prepareAhead = prepared
				defer func() { prepareAhead = false }()
				saveConcurrent(b, segSize)
			})
		}
	}
}

// saveConcurrent is BenchmarkSaveConcurrent with segments of segSize.
func saveConcurrent(b *testing.B, segSize int64) {
	const writers, perReady, size = 3, 64, 128
	stores := make([]*Storage, writers)
	next := make([]uint64, writers) // the index of each writer's next entry
	for w := range stores {
		s, err := Open(b.TempDir(), Options{SegmentSize: segSize, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[w] = s
		ents := entries(1, perReady, 1, size)
		for next[w] = 1; s.fromPrepared+s.created == 1; next[w] += perReady {
			for j := range ents {
				ents[j].Index = next[w] + uint64(j)
			}
			if s.size >= segSize {
				s.prep.wait() // so that the roll finds it ready
			}
			if err := s.Save(raft.HardState{Term: 1, Vote: 1}, ents, raft.Snapshot{}, false); err != nil {
				b.Fatal(err)
			}
			if next[w]%(256*perReady) == 1 {
				if _, err := s.CreateSnapshot(next[w]+perReady-1, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	var syncs int64 // those of the timed part: less those before
	for _, s := range stores {
		n, _ := s.SyncStats()
		syncs -= n
	}
	lat := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	for w, s := range stores {
		wg.Go(func() {
			ents := entries(1, perReady, 1, size)
			lat[w] = make([]time.Duration, 0, b.N)
			for i := range uint64(b.N) {
				first := next[w] + i*perReady
				for j := range ents {
					ents[j].Index = first + uint64(j)
				}
				hs := raft.HardState{Term: 1, Vote: 1, Commit: first - 1}
				start := time.Now()
				if errs[w] = s.Save(hs, ents, raft.Snapshot{}, true); errs[w] != nil {
					return
				}
				lat[w] = append(lat[w], time.Since(start))
				if i%256 == 255 { // keep memory flat, as BenchmarkSave does
					if _, errs[w] = s.CreateSnapshot(first+perReady-1, nil, nil); errs[w] != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	fromPrepared, total := 0, -writers // Open created the first segment of each
	for _, s := range stores {
		n, _ := s.SyncStats()
		syncs += n
		fromPrepared += s.fromPrepared
		total += s.fromPrepared + s.created
	}
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(syncs)/b.Elapsed().Seconds(), "fsyncs/s")
	if total > 0 {
		b.ReportMetric(float64(fromPrepared)/float64(total), "prepared")
	}
	b.ReportMetric(0, "ns/op") // one op is three Saves at once: not a useful number
}
