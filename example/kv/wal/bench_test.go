package wal

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelraft/raft"
)

// BenchmarkSave is the cost of persisting one Ready of 64 entries of 128
// bytes and a hard state: encoding, one write and, with sync, one fsync.
// fsync-ns/op is the part of it spent in fsync.
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
			syncs, syncTime := -s.syncs, -s.syncTime
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
					syncs, syncTime = syncs+s.syncs, syncTime+s.syncTime
					if _, err := s.CreateSnapshot((i+1)*perReady, nil, nil); err != nil {
						b.Fatal(err)
					}
					syncs, syncTime = syncs-s.syncs, syncTime-s.syncTime
					b.StartTimer()
				}
			}
			b.StopTimer()
			syncs, syncTime = syncs+s.syncs, syncTime+s.syncTime
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
