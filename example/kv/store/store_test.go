package store

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every applied write raises the revision by one; a key carries the
// revision that created it, the one that last modified it, and the number
// of puts since its creation.
func TestRevisionsAndVersions(t *testing.T) {
	r := newReplica(t)
	steps := []struct {
		op      string
		key     string
		wantRev int64
		wantKV  KeyValue // after a put, before a delete
		deleted int64
	}{
		{"put", "a", 1, kv("a", "v1", 1, 1, 1), 0},
		{"put", "a", 2, kv("a", "v2", 1, 2, 2), 0},
		{"put", "b", 3, kv("b", "v3", 3, 3, 1), 0},
		{"del", "a", 4, kv("a", "v2", 1, 2, 2), 1},
		{"del", "a", 4, KeyValue{}, 0}, // nothing to delete: no new revision
		{"put", "a", 5, kv("a", "v6", 5, 5, 1), 0},
	}
	for i, st := range steps {
		var res Result
		if st.op == "put" {
			res = r.put(st.key, string(st.wantKV.Value))
		} else {
			res = r.del(st.key)
		}
		require.Equal(t, st.wantRev, res.Revision, "step %d", i)
		require.Equal(t, st.wantKV, res.KV, "step %d", i)
		require.Equal(t, st.deleted, res.Deleted, "step %d", i)
		require.Equal(t, st.wantRev, r.s.Revision(), "step %d", i)
	}
	got, ok := r.s.Get("a")
	require.True(t, ok)
	require.Equal(t, kv("a", "v6", 5, 5, 1), got)
	require.Equal(t, uint64(len(steps)), r.s.Applied())
}

func TestCompareAndSwap(t *testing.T) {
	r := newReplica(t)
	cas := func(op Op, key, value string, ifMod int64) Result {
		return r.apply(Command{Op: op, Key: key, Value: []byte(value), Cond: true, IfModRevision: ifMod})
	}

	// Absent: IfModRevision 0 matches; any other fails with a zero KV.
	res := cas(OpPut, "k", "x", 7)
	require.True(t, res.Failed)
	require.Equal(t, KeyValue{Key: "k"}, res.KV)
	require.Equal(t, int64(0), res.Revision)
	res = cas(OpPut, "k", "v1", 0)
	require.False(t, res.Failed)
	require.Equal(t, kv("k", "v1", 1, 1, 1), res.KV)

	// Present: 0 ("only if absent") and a wrong revision fail, reporting
	// the current value; the right revision wins.
	res = cas(OpPut, "k", "v2", 0)
	require.True(t, res.Failed)
	require.Equal(t, kv("k", "v1", 1, 1, 1), res.KV)
	res = cas(OpPut, "k", "v2", 2)
	require.True(t, res.Failed)
	res = cas(OpPut, "k", "v2", 1)
	require.False(t, res.Failed)
	require.Equal(t, kv("k", "v2", 1, 2, 2), res.KV)
	require.Equal(t, int64(2), r.s.Revision())

	// A conditional delete likewise.
	res = cas(OpDelete, "k", "", 1)
	require.True(t, res.Failed)
	require.Equal(t, int64(0), res.Deleted)
	res = cas(OpDelete, "k", "", 2)
	require.False(t, res.Failed)
	require.Equal(t, int64(1), res.Deleted)
	require.Equal(t, int64(3), res.Revision)
	_, ok := r.s.Get("k")
	require.False(t, ok)
}

// A delete removes the key with its history: a later put starts a new
// generation with version 1 and a new create revision.
func TestDeleteThenPutRecreates(t *testing.T) {
	r := newReplica(t)
	r.put("k", "a")
	r.put("k", "b")
	res := r.del("k")
	require.Equal(t, kv("k", "b", 1, 2, 2), res.KV)
	res = r.put("k", "c")
	require.Equal(t, kv("k", "c", 4, 4, 1), res.KV)
}

func TestEmptyValueIsStoredAsNil(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	a.apply(Command{Op: OpPut, Key: "k", Value: []byte{}})
	b.apply(Command{Op: OpPut, Key: "k"})
	require.Equal(t, a.snapshot(), b.snapshot())
}

// Empty entries and replays of applied indexes change nothing but Applied.
func TestApplyEmptyAndReplayedEntries(t *testing.T) {
	r := newReplica(t)
	r.put("k", "v")
	res, err := r.s.Apply(2, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Revision)
	require.Equal(t, uint64(2), r.s.Applied())

	data, err := Command{Op: OpPut, Key: "k", Value: []byte("again")}.Marshal()
	require.NoError(t, err)
	res, err = r.s.Apply(1, data) // replay of index 1
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Revision)
	got, _ := r.s.Get("k")
	require.Equal(t, kv("k", "v", 1, 1, 1), got)

	r.s.MarkApplied(9)
	require.Equal(t, uint64(9), r.s.Applied())
	r.s.MarkApplied(3)
	require.Equal(t, uint64(9), r.s.Applied())
}

// Data that is not a Command is an error, not a panic, and still consumes
// its index.
func TestApplyUndecodable(t *testing.T) {
	s := New()
	for i, data := range [][]byte{{0xc1}, {0x01}, {0x91}, []byte("hello"), {0x9a, 0xff}} {
		_, err := s.Apply(uint64(i+1), data)
		require.ErrorIs(t, err, ErrDecode, "data % x", data)
	}
	require.Equal(t, uint64(5), s.Applied())
	bad, err := Command{Op: 99}.Marshal()
	require.NoError(t, err)
	_, err = s.Apply(6, bad)
	require.ErrorIs(t, err, ErrDecode)
	require.Equal(t, int64(0), s.Revision())
}

func TestCommandRoundTrip(t *testing.T) {
	c := Command{Op: OpPut, Key: "k", Value: []byte{0, 1, 2}, Cond: true, IfModRevision: 4,
		Session: 9, Seq: 3, SessionTTL: 5e9, Time: 1700000000000000000, RequestID: 42}
	b, err := c.Marshal()
	require.NoError(t, err)
	var got Command
	require.NoError(t, got.Unmarshal(b))
	require.Equal(t, c, got)

	err = got.Unmarshal(append(b, 0))
	require.ErrorIs(t, err, ErrDecode)
	require.Equal(t, Command{}, got)
	require.True(t, errors.Is(got.Unmarshal(b[:len(b)-1]), ErrDecode))
}

func TestMembers(t *testing.T) {
	s := New()
	s.SetMember(Member{ID: 3, PeerAddr: "c:3"})
	s.SetMember(Member{ID: 1, PeerAddr: "a:1"})
	s.SetMember(Member{ID: 2, PeerAddr: "b:2", Learner: true})
	s.SetMember(Member{ID: 2, PeerAddr: "b:2"}) // promoted
	s.RemoveMember(3)
	s.RemoveMember(7)
	require.Equal(t, []Member{{ID: 1, PeerAddr: "a:1"}, {ID: 2, PeerAddr: "b:2"}}, s.Members())

	b, err := Member{ID: 4, PeerAddr: "d:4", Learner: true}.Marshal()
	require.NoError(t, err)
	var m Member
	require.NoError(t, m.Unmarshal(b))
	require.Equal(t, Member{ID: 4, PeerAddr: "d:4", Learner: true}, m)
	require.ErrorIs(t, m.Unmarshal([]byte{0x93, 0x04}), ErrDecode)
}
