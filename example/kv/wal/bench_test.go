package wal

import (
	"errors"
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
func BenchmarkSaveConcurrent(b *testing.B) {
	const writers, perReady, size = 3, 64, 128
	stores := make([]*Storage, writers)
	for w := range stores {
		s, err := Open(b.TempDir(), Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[w] = s
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
				for j := range ents {
					ents[j].Index = i*perReady + uint64(j) + 1
				}
				hs := raft.HardState{Term: 1, Vote: 1, Commit: i * perReady}
				start := time.Now()
				if errs[w] = s.Save(hs, ents, raft.Snapshot{}, true); errs[w] != nil {
					return
				}
				lat[w] = append(lat[w], time.Since(start))
				if i%256 == 255 { // keep memory flat, as BenchmarkSave does
					if _, errs[w] = s.CreateSnapshot((i+1)*perReady, nil, nil); errs[w] != nil {
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
	var syncs int64
	for _, s := range stores {
		n, _ := s.SyncStats()
		syncs += n
	}
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(syncs)/b.Elapsed().Seconds(), "fsyncs/s")
	b.ReportMetric(0, "ns/op") // one op is three Saves at once: not a useful number
}
