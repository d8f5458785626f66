package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(time.Minute, 5)
	r.put("b", "2")
	r.put("a", "1")
	r.apply(Command{Op: OpPut, Key: "c", Value: []byte("3"), Session: sid, Seq: 1, Time: 7})
	r.del("b")
	r.s.SetMember(Member{ID: 2, PeerAddr: "127.0.0.1:7002"})
	r.s.SetMember(Member{ID: 1, PeerAddr: "127.0.0.1:7001", Learner: true})
	snap := r.snapshot()

	s := New()
	s.SetMember(Member{ID: 9}) // replaced, not merged
	s.Get("zz")
	require.NoError(t, s.Restore(snap))
	require.Equal(t, r.s.Revision(), s.Revision())
	require.Equal(t, r.s.Applied(), s.Applied())
	require.Equal(t, int64(7), s.Clock())
	require.Equal(t, r.s.Members(), s.Members())
	got, ok := s.Get("c")
	require.True(t, ok)
	require.Equal(t, kv("c", "3", 3, 3, 1), got)
	_, ok = s.Get("b")
	require.False(t, ok)

	// The session came along: a retry answers from memory.
	data, err := Command{Op: OpPut, Key: "c", Value: []byte("3"), Session: sid, Seq: 1, Time: 8}.Marshal()
	require.NoError(t, err)
	res, err := s.Apply(r.index+1, data)
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Revision, "the remembered result")
	require.Equal(t, int64(4), s.Revision(), "nothing applied")
}

// Same history, different map insertion orders: identical bytes.
func TestSnapshotIsDeterministic(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	for i := range 100 {
		a.put(fmt.Sprint("k", i), "v")
		b.put(fmt.Sprint("k", i), "v")
	}
	for i := range 10 {
		a.openSession(time.Minute, int64(i))
		b.openSession(time.Minute, int64(i))
	}
	for _, id := range []uint64{5, 1, 3} {
		a.s.SetMember(Member{ID: id})
	}
	for _, id := range []uint64{3, 5, 1} {
		b.s.SetMember(Member{ID: id})
	}
	require.Equal(t, a.snapshot(), b.snapshot())
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	r := newReplica(t)
	r.put("k", "v")
	good := r.snapshot()
	s := New()
	s.SetMember(Member{ID: 1})
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0xc0),
		"not array": {0xc0},
		"version":   append([]byte{good[0], 2}, good[2:]...),
	}
	for name, data := range cases {
		require.ErrorIs(t, s.Restore(data), ErrDecode, name)
	}
	// Unsorted (or duplicate) keys would break determinism.
	dup, err := encode(&snapshotData{Version: snapshotVersion, KVs: []KeyValue{{Key: "a"}, {Key: "a"}}}, "test")
	require.NoError(t, err)
	require.ErrorIs(t, s.Restore(dup), ErrDecode)
	require.Equal(t, []Member{{ID: 1}}, s.Members(), "a failed restore changes nothing")
}

// Property: for any history, Snapshot → Restore → Snapshot is the identity,
// and the restored store answers like the original.
func TestSnapshotRestoreIdentityProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := newReplica(t)
		keys := rapid.SampledFrom([]string{"a", "b", "c", "d", ""})
		var sessions []uint64
		var clock int64
		n := rapid.IntRange(0, 60).Draw(t, "n")
		for range n {
			clock += rapid.Int64Range(-5, 20).Draw(t, "dt")
			c := Command{Time: clock, Key: keys.Draw(t, "key")}
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0:
				c.Op, c.SessionTTL = OpOpenSession, rapid.Int64Range(-1, 50).Draw(t, "ttl")
			case 1:
				c.Op = OpCloseSession
			case 2, 3, 4:
				c.Op = OpDelete
			default:
				c.Op = OpPut
				c.Value = rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "value")
			}
			if rapid.Bool().Draw(t, "cond") {
				c.Cond, c.IfModRevision = true, rapid.Int64Range(0, int64(n)).Draw(t, "ifmod")
			}
			if len(sessions) > 0 && rapid.Bool().Draw(t, "insession") {
				c.Session = rapid.SampledFrom(sessions).Draw(t, "session")
				c.Seq = rapid.Uint64Range(0, 5).Draw(t, "seq")
			}
			res := r.apply(c)
			if c.Op == OpOpenSession {
				sessions = append(sessions, res.Session)
			}
			if rapid.IntRange(0, 9).Draw(t, "member") == 0 {
				r.s.SetMember(Member{ID: rapid.Uint64Range(1, 4).Draw(t, "id"), PeerAddr: "p"})
			}
		}
		snap := r.snapshot()
		s := New()
		if err := s.Restore(snap); err != nil {
			t.Fatalf("restore: %v", err)
		}
		again, err := s.Snapshot()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		require.Equal(t, snap, again)
		for _, k := range []string{"a", "b", "c", "d", ""} {
			want, wok := r.s.Get(k)
			got, gok := s.Get(k)
			require.Equal(t, wok, gok)
			require.Equal(t, want, got)
		}
	})
}
