package store

import (
	"testing"
	"time"
)

// FuzzApply: any bytes as an entry give a result or an error, never a
// panic, and leave a store that still snapshots.
func FuzzApply(f *testing.F) {
	for _, c := range []Command{
		{Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, Session: 1, Seq: 1, Time: 9},
		{Op: OpDelete, Key: "k"},
		{Op: OpOpenSession, SessionTTL: int64(time.Second)},
	} {
		b, err := c.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x93, 0x01, 0xdb, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReplica(t)
		r.openSession(time.Minute, 0)
		_, _ = r.s.Apply(2, data)
		if _, err := r.s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRestore: any bytes as a snapshot are restored or refused, never a
// panic, and what is restored can be snapshotted again.
func FuzzRestore(f *testing.F) {
	r := newReplica(f)
	sid := r.openSession(time.Minute, 0)
	r.apply(Command{Op: OpPut, Key: "k", Value: []byte("v"), Session: sid, Seq: 1})
	r.s.SetMember(Member{ID: 1, PeerAddr: "a"})
	f.Add(r.snapshot())
	f.Add(New().mustSnapshot(f))
	f.Add([]byte{0x97, 0x01, 0x00, 0x00, 0x00, 0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New()
		if err := s.Restore(data); err != nil {
			return
		}
		if _, err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}

func (s *Store) mustSnapshot(tb testing.TB) []byte {
	b, err := s.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
