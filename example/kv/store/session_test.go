package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// §6.3: a retried command is not applied again; the state machine returns
// the response it gave the first time.
func TestRetryOfSameSeqAppliesOnce(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(time.Minute, 0)
	put := Command{Op: OpPut, Key: "k", Value: []byte("v"), Session: sid, Seq: 1}

	first := r.apply(put)
	require.Equal(t, kv("k", "v", 1, 1, 1), first.KV)
	r.put("other", "x") // the revision moves on between the attempts
	retry := r.apply(put)
	require.Equal(t, first, retry)
	got, _ := r.s.Get("k")
	require.Equal(t, int64(1), got.Version, "the retry must not apply again")

	put.Seq = 2
	res := r.apply(put)
	require.Equal(t, kv("k", "v", 1, 3, 2), res.KV)
}

// The remembered result of a failed compare is returned too: the retry
// does not re-evaluate the condition against the newer state.
func TestRetryReturnsRememberedFailure(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(time.Minute, 0)
	cas := Command{Op: OpPut, Key: "k", Value: []byte("v"), Cond: true, IfModRevision: 5, Session: sid, Seq: 1}
	require.True(t, r.apply(cas).Failed)
	r.put("k", "w") // now at revision 1... still not 5
	res := r.apply(cas)
	require.True(t, res.Failed)
	require.Equal(t, KeyValue{Key: "k"}, res.KV, "the first answer, taken when k was absent")
}

func TestLowerSeqIsStale(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(time.Minute, 0)
	r.apply(Command{Op: OpPut, Key: "k", Value: []byte("a"), Session: sid, Seq: 1})
	r.apply(Command{Op: OpPut, Key: "k", Value: []byte("b"), Session: sid, Seq: 3}) // gaps are allowed
	res := r.apply(Command{Op: OpPut, Key: "k", Value: []byte("c"), Session: sid, Seq: 2})
	require.Equal(t, ErrMsgStaleSequence, res.Err)
	res = r.apply(Command{Op: OpPut, Key: "k", Value: []byte("c"), Session: sid, Seq: 0})
	require.Equal(t, ErrMsgStaleSequence, res.Err)
	got, _ := r.s.Get("k")
	require.Equal(t, kv("k", "b", 1, 2, 2), got)
}

func TestWriteInMissingSessionWritesNothing(t *testing.T) {
	r := newReplica(t)
	r.put("x", "1")
	res := r.apply(Command{Op: OpPut, Key: "k", Value: []byte("v"), Session: 1000, Seq: 1})
	require.Equal(t, ErrMsgUnknownSession, res.Err, "id above the applied index")
	res = r.apply(Command{Op: OpDelete, Key: "x", Session: 1, Seq: 1})
	require.Equal(t, ErrMsgSessionExpired, res.Err, "id of an applied entry that is no session")
	require.Equal(t, int64(1), r.s.Revision())
	_, ok := r.s.Get("x")
	require.True(t, ok)
}

func TestCloseSession(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(time.Minute, 0)
	require.Empty(t, r.apply(Command{Op: OpCloseSession, Session: sid}).Err)
	res := r.apply(Command{Op: OpPut, Key: "k", Session: sid, Seq: 1})
	require.Equal(t, ErrMsgSessionExpired, res.Err)
	require.Equal(t, ErrMsgSessionExpired, r.apply(Command{Op: OpCloseSession, Session: sid}).Err)
}

// The store's clock is the largest Time applied: an entry proposed by a
// node whose clock is behind does not move it back.
func TestClockNeverGoesBack(t *testing.T) {
	r := newReplica(t)
	r.apply(Command{Op: OpPut, Key: "a", Time: 100})
	r.apply(Command{Op: OpPut, Key: "a", Time: 50})
	require.Equal(t, int64(100), r.s.Clock())
}

// Expiry is decided by the log alone: two stores fed the same entries
// expire the same session at the same entry, whatever their wall clocks, and
// a store restored from a snapshot carries on identically.
func TestExpiryByLogClockIsReplicated(t *testing.T) {
	const sec = int64(time.Second)
	entries := []Command{
		{Op: OpOpenSession, SessionTTL: 10 * sec, Time: 0},       // 1: session 1
		{Op: OpOpenSession, SessionTTL: 30 * sec, Time: 1 * sec}, // 2: session 2
		{Op: OpPut, Key: "a", Session: 1, Seq: 1, Time: 5 * sec}, // 1 used at 5s
		{Op: OpPut, Key: "b", Time: 14 * sec},                    // 1 idle 9s: alive
		{Op: OpPut, Key: "c", Time: 3 * sec},                     // an old clock: no effect
		{Op: OpPut, Key: "d", Time: 16 * sec},                    // 1 idle 11s > 10s: expired
	}
	a, b := newReplica(t), newReplica(t)
	for _, c := range entries {
		a.apply(c)
		b.apply(c)
	}
	require.Equal(t, a.snapshot(), b.snapshot())

	restored := newReplica(t)
	require.NoError(t, restored.s.Restore(a.snapshot()))
	restored.index = a.index
	require.Equal(t, a.snapshot(), restored.snapshot())

	later := []Command{
		{Op: OpPut, Key: "x", Session: 1, Seq: 2, Time: 17 * sec}, // expired
		{Op: OpPut, Key: "y", Session: 2, Seq: 1, Time: 18 * sec}, // alive: idle 17s < 30s
		{Op: OpPut, Key: "z", Time: 49 * sec},                     // 2 idle 31s: expired
		{Op: OpPut, Key: "y", Session: 2, Seq: 2, Time: 49 * sec},
	}
	want := []string{ErrMsgSessionExpired, "", "", ErrMsgSessionExpired}
	for i, c := range later {
		ra, rr := a.apply(c), restored.apply(c)
		require.Equal(t, want[i], ra.Err, "later entry %d", i)
		require.Equal(t, ra, rr, "later entry %d", i)
	}
	require.Equal(t, a.snapshot(), restored.snapshot())
}

// A session expires only when idle for strictly longer than its TTL, and
// a retry counts as use.
func TestSessionExpiryBoundary(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(10, 0)
	put := Command{Op: OpPut, Key: "k", Session: sid, Seq: 1, Time: 10}
	require.Empty(t, r.apply(put).Err, "idle exactly the TTL")
	put.Time = 20
	require.Empty(t, r.apply(put).Err, "a retry, idle exactly the TTL again")
	put.Time, put.Seq = 31, 2
	require.Equal(t, ErrMsgSessionExpired, r.apply(put).Err)
}

func TestDefaultSessionTTL(t *testing.T) {
	r := newReplica(t)
	sid := r.openSession(0, 0)
	r.apply(Command{Op: OpPut, Key: "k", Time: int64(DefaultSessionTTL)})
	require.Empty(t, r.apply(Command{Op: OpPut, Key: "k", Session: sid, Seq: 1}).Err)
	r.apply(Command{Op: OpPut, Key: "k", Time: 2*int64(DefaultSessionTTL) + 1})
	require.Equal(t, ErrMsgSessionExpired, r.apply(Command{Op: OpPut, Key: "k", Session: sid, Seq: 2}).Err)
}
