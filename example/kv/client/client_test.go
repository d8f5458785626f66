package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fastOptions make retries quick; no test asserts how long anything takes.
func fastOptions() Options {
	return Options{Timeout: 2 * time.Second, MaxRetryTime: 10 * time.Second,
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func newTestClient(t *testing.T, endpoints []string, opts Options) *Client {
	t.Helper()
	c, err := New(endpoints, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	_, err := New(nil, Options{})
	require.Error(t, err)
	_, err = New([]string{"127.0.0.1:8001"}, Options{})
	require.Error(t, err)
}

// The client asks /status who leads and sends the write there, not to the
// endpoint it was given first.
func TestFindsLeaderThroughStatus(t *testing.T) {
	fc := newFakeCluster(t, 3)
	fc.setLeader(1)
	c := newTestClient(t, fc.urls(), fastOptions())

	res, err := c.Put(context.Background(), "k", []byte("v"))
	require.NoError(t, err)
	require.Equal(t, KeyValue{Key: "k", Value: []byte("v"), CreateRevision: 1, ModRevision: 1, Version: 1}, res.KV)
	require.Equal(t, uint64(2), res.Header.MemberID)
	require.Len(t, fc.requests(0, "GET /status"), 1)
	require.Empty(t, fc.requests(0, "PUT"))
	require.Len(t, fc.requests(1, "PUT /kv/k"), 1)
}

// When the leader changes, the old one's 503 names the new one and the
// client goes there at once.
func TestFollowsLeaderNamedBy503(t *testing.T) {
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc.urls(), fastOptions())
	ctx := context.Background()
	_, err := c.Put(ctx, "k", []byte("1"))
	require.NoError(t, err)

	fc.setLeader(2)
	res, err := c.Put(ctx, "k", []byte("2"))
	require.NoError(t, err)
	require.Equal(t, uint64(3), res.Header.MemberID)
	require.Len(t, fc.requests(0, "PUT"), 2, "the first put and the refused one")
	require.Len(t, fc.requests(2, "PUT"), 1)
	require.Empty(t, fc.requests(2, "GET /status"), "the hint was enough")
}

// A refused connection moves the client to the next endpoint.
func TestFailsOverOnConnectionRefused(t *testing.T) {
	fc := newFakeCluster(t, 3)
	fc.setLeader(1)
	fc.nodes[0].srv.Close()
	c := newTestClient(t, fc.urls(), fastOptions())

	_, err := c.Put(context.Background(), "k", []byte("v"))
	require.NoError(t, err)
	got, err := c.Get(context.Background(), "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(got.KV.Value))
}

// The leader dies after the client found it: the client moves on, and does
// not follow the nodes that still name the dead leader.
func TestFailsOverWhenLeaderDies(t *testing.T) {
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc.urls(), fastOptions())
	_, err := c.Put(context.Background(), "k", []byte("1"))
	require.NoError(t, err)

	fc.nodes[0].srv.Close()
	var refusals atomic.Int32
	for _, i := range []int{1, 2} {
		fc.hook(i, false, func(w http.ResponseWriter, r *http.Request) bool {
			// Until three requests failed, the survivors have no leader.
			if refusals.Add(1) <= 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		})
	}
	fc.setLeader(2)
	res, err := c.Put(context.Background(), "k", []byte("2"))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.KV.Version)
}

// §6.3: the leader applies the write but the answer is lost (a timeout, a
// broken connection); the retry carries the same (session, seq), and the
// write is applied once.
func TestRetryKeepsSessionAndSeq(t *testing.T) {
	for _, fault := range []string{"504", "timeout", "dropped connection"} {
		t.Run(fault, func(t *testing.T) {
			fc := newFakeCluster(t, 3)
			opts := fastOptions()
			if fault == "timeout" {
				opts.Timeout = 100 * time.Millisecond
			}
			c := newTestClient(t, fc.urls(), opts)
			fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPut {
					return false
				}
				fc.nodes[0].handle(httptestRecorder(), r) // applied...
				switch fault {                            // ...but the client never hears
				case "504":
					w.WriteHeader(http.StatusGatewayTimeout)
				case "timeout":
					<-r.Context().Done()
				case "dropped connection":
					conn, _, err := w.(http.Hijacker).Hijack()
					require.NoError(t, err)
					conn.Close()
				}
				return true
			})

			res, err := c.Put(context.Background(), "k", []byte("v"))
			require.NoError(t, err)
			require.Equal(t, int64(1), res.KV.Version)
			puts := fc.requests(0, "PUT")
			require.Len(t, puts, 2)
			require.Equal(t, puts[0], puts[1], "same session and seq")
			require.Contains(t, puts[0], "seq=1")
			require.Equal(t, int64(1), fc.st.Revision(), "applied once")

			_, err = c.Put(context.Background(), "k", []byte("w"))
			require.NoError(t, err)
			require.Contains(t, fc.requests(0, "PUT")[2], "seq=2")
		})
	}
}

// Cancelling the caller's context stops the retries; the error says why.
func TestContextCancellationStopsRetries(t *testing.T) {
	fc := newFakeCluster(t, 3)
	fc.setLeader(-1)
	c := newTestClient(t, fc.urls(), fastOptions())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	for i := range fc.nodes {
		fc.hook(i, false, func(w http.ResponseWriter, r *http.Request) bool {
			if calls.Add(1) == 5 {
				cancel()
			}
			return false
		})
	}
	_, err := c.Get(ctx, "k")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrOutcomeUnknown)
	n := calls.Load()
	require.LessOrEqual(t, n, int32(6))
	_, err = c.Put(ctx, "k", nil)
	require.ErrorIs(t, err, context.Canceled)
}

// With no leader anywhere, a call ends after MaxRetryTime with
// ErrUnavailable.
func TestGivesUpAfterMaxRetryTime(t *testing.T) {
	fc := newFakeCluster(t, 2)
	fc.setLeader(-1)
	opts := fastOptions()
	opts.MaxRetryTime = 50 * time.Millisecond
	c := newTestClient(t, fc.urls(), opts)
	_, err := c.Get(context.Background(), "k")
	require.ErrorIs(t, err, ErrUnavailable)
}

// A write given up after an attempt whose outcome is unknown says so.
func TestGiveUpAfterUnknownOutcome(t *testing.T) {
	fc := newFakeCluster(t, 1)
	opts := fastOptions()
	opts.MaxRetryTime = 50 * time.Millisecond
	c := newTestClient(t, fc.urls(), opts)
	fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusGatewayTimeout)
			return true
		}
		return false
	})
	_, err := c.Put(context.Background(), "k", []byte("v"))
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.ErrorIs(t, err, ErrUnavailable)
}

// A session that expired before the write was sent: nothing was written,
// so the client moves the write to a new session by itself.
func TestExpiredSessionIsReplaced(t *testing.T) {
	fc := newFakeCluster(t, 1)
	opts := fastOptions()
	opts.SessionTTL = time.Hour
	c := newTestClient(t, fc.urls(), opts)
	ctx := context.Background()
	_, err := c.Put(ctx, "k", []byte("1"))
	require.NoError(t, err)

	fc.advance(2 * time.Hour)
	res, err := c.Put(ctx, "k", []byte("2"))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.KV.Version)
	require.Len(t, fc.requests(0, "POST /sessions"), 2)
	puts := fc.requests(0, "PUT")
	require.Len(t, puts, 3)
	require.Contains(t, puts[2], "seq=1", "a new session starts at seq 1")
}

// The session expired after an attempt that may have been applied: a
// retry in a new session could apply the write twice, so the client
// reports the outcome as unknown, and carries on with a new session.
func TestExpiredSessionAfterUnknownOutcome(t *testing.T) {
	fc := newFakeCluster(t, 1)
	opts := fastOptions()
	opts.SessionTTL = time.Hour
	c := newTestClient(t, fc.urls(), opts)
	fc.hook(0, true, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		fc.nodes[0].handle(httptestRecorder(), r)
		fc.advance(2 * time.Hour) // then the session expires
		w.WriteHeader(http.StatusGatewayTimeout)
		return true
	})
	_, err := c.Put(context.Background(), "k", []byte("v"))
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.ErrorIs(t, err, ErrSessionExpired)
	require.Equal(t, int64(1), fc.st.Revision(), "applied once, not retried")

	res, err := c.Put(context.Background(), "k", []byte("w"))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.KV.Version)
}

func TestCompareAndSwap(t *testing.T) {
	fc := newFakeCluster(t, 1)
	c := newTestClient(t, fc.urls(), fastOptions())
	ctx := context.Background()

	res, err := c.CompareAndSwap(ctx, "k", []byte("a"), 0)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.KV.ModRevision)

	_, err = c.CompareAndSwap(ctx, "k", []byte("b"), 0)
	require.ErrorIs(t, err, ErrCompareFailed)
	var ce *CompareError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, int64(1), ce.ModRevision)

	res, err = c.CompareAndSwap(ctx, "k", []byte("b"), ce.ModRevision)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.KV.Version)

	_, err = c.CompareAndDelete(ctx, "k", 1)
	require.ErrorIs(t, err, ErrCompareFailed)
	del, err := c.CompareAndDelete(ctx, "k", 2)
	require.NoError(t, err)
	require.Equal(t, int64(1), del.Deleted)
	require.Equal(t, int64(3), del.Header.Revision)
}

func TestGetAndDelete(t *testing.T) {
	fc := newFakeCluster(t, 2)
	fc.setLeader(1)
	c := newTestClient(t, fc.urls(), fastOptions())
	ctx := context.Background()

	_, err := c.Get(ctx, "a/b c")
	require.ErrorIs(t, err, ErrKeyNotFound)
	_, err = c.Put(ctx, "a/b c", []byte("v"))
	require.NoError(t, err)
	got, err := c.Get(ctx, "a/b c")
	require.NoError(t, err)
	require.Equal(t, "a/b c", got.KV.Key)

	got, err = c.Get(ctx, "a/b c", Stale())
	require.NoError(t, err)
	require.Equal(t, "v", string(got.KV.Value))
	require.Len(t, fc.requests(1, "GET /kv/a/b c?consistency=stale"), 1)

	del, err := c.Delete(ctx, "a/b c")
	require.NoError(t, err)
	require.Equal(t, int64(1), del.Deleted)
	del, err = c.Delete(ctx, "a/b c")
	require.NoError(t, err)
	require.Equal(t, int64(0), del.Deleted)
}

// A value that is not UTF-8 comes back as value_base64.
func TestGetDecodesBase64Value(t *testing.T) {
	fc := newFakeCluster(t, 1)
	fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.URL.Path != "/kv/bin" {
			return false
		}
		fmt.Fprint(w, `{"header":{"member_id":1,"raft_term":2,"revision":3},"key":"bin","value_base64":"/wA=","mod_revision":3}`)
		return true
	})
	c := newTestClient(t, fc.urls(), fastOptions())
	got, err := c.Get(context.Background(), "bin")
	require.NoError(t, err)
	require.Equal(t, []byte{0xff, 0x00}, got.KV.Value)
	require.Equal(t, Header{MemberID: 1, RaftTerm: 2, Revision: 3}, got.Header)
}

// Many goroutines share a client with few sessions: every write is
// applied once, none is refused as stale, and no more sessions are open
// than allowed.
func TestConcurrentWritesShareSessions(t *testing.T) {
	fc := newFakeCluster(t, 1)
	opts := fastOptions()
	opts.MaxSessions = 3
	c := newTestClient(t, fc.urls(), opts)
	const writers, writes = 16, 20
	putConcurrently(t, c, writers, writes)
	require.Equal(t, int64(writers*writes), fc.st.Revision())
	require.LessOrEqual(t, len(fc.requests(0, "POST /sessions")), 3)
	for w := range writers {
		kv, _ := fc.st.Get(fmt.Sprint("k", w))
		require.Equal(t, int64(writes), kv.Version)
	}
}

func TestMembers(t *testing.T) {
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc.urls(), fastOptions())
	ctx := context.Background()

	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms.Members, 3)
	require.Equal(t, fc.nodes[1].srv.URL, ms.Members[1].ClientURL)

	ms, err = c.RemoveMember(ctx, 3)
	require.NoError(t, err)
	require.Len(t, ms.Members, 2)
	_, err = c.RemoveMember(ctx, 3)
	require.ErrorIs(t, err, ErrMemberNotFound)

	ms, err = c.AddMember(ctx, Member{ID: 3, PeerAddr: "peer3", Learner: true})
	require.NoError(t, err)
	require.True(t, ms.Members[2].Learner)
	_, err = c.AddMember(ctx, Member{ID: 9, PeerAddr: "x"})
	require.ErrorIs(t, err, ErrInvalidMemberChange)

	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Leader)
	require.Equal(t, fc.nodes[0].srv.URL, st.Endpoint)
}

func TestClosedClientRefusesWrites(t *testing.T) {
	fc := newFakeCluster(t, 1)
	c, err := New(fc.urls(), fastOptions())
	require.NoError(t, err)
	_, err = c.Put(context.Background(), "k", nil)
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
	require.Len(t, fc.requests(0, "DELETE /sessions/"), 1)
	_, err = c.Put(context.Background(), "k", nil)
	require.ErrorIs(t, err, ErrClosed)
	require.True(t, strings.Contains(err.Error(), "put"))
	require.False(t, errors.Is(err, ErrOutcomeUnknown))
}

// putConcurrently has writers goroutines put writes values each, 0 to
// writes-1, writer w to key "k<w>", through c; every put must succeed.
func putConcurrently(t *testing.T, c *Client, writers, writes int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers*writes)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if _, err := c.Put(context.Background(), fmt.Sprint("k", w), []byte(fmt.Sprint(i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
