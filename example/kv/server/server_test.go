package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/wal"
)

// value returns key's value in s's store, "" if absent.
func value(s *Server, key string) string {
	kv, _ := s.store.Get(key)
	return string(kv.Value)
}

// A write answers with the key's revisions and version once applied; a
// compare-and-set with a stale revision gets 412 and the current one.
func TestPutGetDeleteAndCompareAndSet(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	url := lead.HTTPURL() + "/kv/"

	r := put(t, lead, "a", "1")
	require.Equal(t, "a", r.body["key"])
	require.Equal(t, "1", r.body["value"])
	require.EqualValues(t, 1, r.num("version"))
	rev1 := r.num("mod_revision")
	require.Equal(t, rev1, r.num("create_revision"))
	require.Equal(t, rev1, int64(r.body["header"].(map[string]any)["revision"].(float64)))

	r = put(t, lead, "a", "2")
	require.EqualValues(t, 2, r.num("version"))
	require.Equal(t, rev1+1, r.num("mod_revision"))
	require.Equal(t, rev1, r.num("create_revision"))

	r = do(t, http.MethodGet, url+"a", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, "2", r.body["value"])
	require.Equal(t, rev1+1, r.num("mod_revision"))

	// CAS with a stale revision: 412 and the current revision.
	r = do(t, http.MethodPut, url+fmt.Sprintf("a?if_mod_revision=%d", rev1), []byte("3"))
	require.Equal(t, http.StatusPreconditionFailed, r.code, r.raw)
	require.Equal(t, rev1+1, r.num("mod_revision"))
	// CAS with the current one succeeds.
	r = do(t, http.MethodPut, url+fmt.Sprintf("a?if_mod_revision=%d", rev1+1), []byte("3"))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.EqualValues(t, 3, r.num("version"))
	// "Only if absent" on a present key fails, on an absent one succeeds.
	r = do(t, http.MethodPut, url+"a?if_mod_revision=0", []byte("x"))
	require.Equal(t, http.StatusPreconditionFailed, r.code, r.raw)
	r = do(t, http.MethodPut, url+"b?if_mod_revision=0", []byte("x"))
	require.Equal(t, http.StatusOK, r.code, r.raw)

	// Delete, then a read gets 404 and a second delete deletes nothing.
	r = do(t, http.MethodDelete, url+"a", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.EqualValues(t, 1, r.num("deleted"))
	r = do(t, http.MethodGet, url+"a", nil)
	require.Equal(t, http.StatusNotFound, r.code, r.raw)
	require.Equal(t, "key not found", r.body["error"])
	r = do(t, http.MethodDelete, url+"a", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.EqualValues(t, 0, r.num("deleted"))
	// A conditional delete with a wrong revision: 412.
	r = do(t, http.MethodDelete, url+"b?if_mod_revision=1", nil)
	require.Equal(t, http.StatusPreconditionFailed, r.code, r.raw)

	// Bytes that are not UTF-8 come back in base64.
	r = do(t, http.MethodPut, url+"bin", []byte{0xff, 0x00})
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, "/wA=", r.body["value_base64"])
	require.NotContains(t, r.body, "value")
}

// A follower forwards writes and linearizable reads to the leader, and
// serves stale reads itself.
func TestFollowerForwardsAndServesStaleReads(t *testing.T) {
	c := newCluster(t, 3, nil)
	f := c.follower()
	r := put(t, f, "k", "v")
	require.Equal(t, float64(c.leader().ID()), r.body["header"].(map[string]any)["member_id"])

	r = do(t, http.MethodGet, f.HTTPURL()+"/kv/k", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, "v", r.body["value"])

	require.Eventually(t, func() bool { return value(f, "k") == "v" }, 5*time.Second, 5*time.Millisecond)
	r = do(t, http.MethodGet, f.HTTPURL()+"/kv/k?consistency=stale", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, "v", r.body["value"])
	require.Equal(t, float64(f.ID()), r.body["header"].(map[string]any)["member_id"])

	// A request already forwarded is not forwarded again.
	req, err := http.NewRequest(http.MethodPut, f.HTTPURL()+"/kv/k", strings.NewReader("w"))
	require.NoError(t, err)
	req.Header.Set(forwardedHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// /status names the leader and, on the leader, each follower's progress;
// /members lists every member with its URLs.
func TestStatusAndMembers(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	put(t, lead, "x", "y")

	r := do(t, http.MethodGet, lead.HTTPURL()+"/status", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, float64(lead.ID()), r.body["leader"])
	require.Equal(t, "StateLeader", r.body["role"])
	require.Len(t, r.body["members"], 3)
	prog := r.body["progress"].(map[string]any)
	require.Len(t, prog, 3)
	for _, p := range prog {
		require.Contains(t, p, "match")
		require.Contains(t, p, "next")
		require.Contains(t, []any{"probe", "replicate", "snapshot"}, p.(map[string]any)["state"])
	}
	require.GreaterOrEqual(t, r.num("commit"), int64(4))
	syncs, _ := lead.wal.SyncStats()
	require.Positive(t, r.num("wal_syncs"), "the put was synced")
	require.LessOrEqual(t, r.num("wal_syncs"), syncs)
	require.Positive(t, r.num("wal_sync_us"))

	f := c.follower()
	r = do(t, http.MethodGet, f.HTTPURL()+"/status", nil)
	require.Equal(t, float64(lead.ID()), r.body["leader"])
	require.NotContains(t, r.body, "progress")

	require.Eventually(t, func() bool {
		for _, m := range f.members() {
			if m.ClientURL == "" {
				return false
			}
		}
		return true
	}, 5*time.Second, 5*time.Millisecond)
	r = do(t, http.MethodGet, f.HTTPURL()+"/members", nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	members := r.body["members"].([]any)
	require.Len(t, members, 3)
	for i, m := range members {
		m := m.(map[string]any)
		id := uint64(i + 1)
		require.Equal(t, float64(id), m["id"])
		require.Equal(t, c.cfgs[id].Peers[id], m["peer_addr"])
		require.Equal(t, c.nodes[id].HTTPURL(), m["client_url"])
		require.Equal(t, false, m["learner"])
	}
}

// A fourth node added with POST /members and started with Join catches up;
// a removed member leaves, and the rest keep committing.
func TestAddAndRemoveMember(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	put(t, lead, "before", "1")

	addr4 := freeAddr(t)
	body := fmt.Sprintf(`{"id":4,"peer_addr":%q}`, addr4)
	r := do(t, http.MethodPost, c.follower().HTTPURL()+"/members", []byte(body))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Len(t, r.body["members"], 4)

	peers := map[uint64]string{4: addr4}
	for id, cfg := range c.cfgs {
		peers[id] = cfg.Peers[id]
	}
	c.cfgs[4] = Config{ID: 4, Peers: peers, Join: true, ListenHTTP: "127.0.0.1:0", DataDir: t.TempDir(), TickInterval: testTick, Logger: testLogger(4)}
	n4 := c.start(4)
	require.Eventually(t, func() bool { return value(n4, "before") == "1" }, 10*time.Second, 5*time.Millisecond)
	put(t, n4, "after", "2") // forwarded by the new member
	require.Eventually(t, func() bool { return value(n4, "after") == "2" }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, n4.store.Members(), 4)

	// Remove a follower other than the new node.
	var victim *Server
	for _, s := range c.nodes {
		if s != c.leader() && s != n4 {
			victim = s
			break
		}
	}
	r = do(t, http.MethodDelete, fmt.Sprintf("%s/members/%d", c.leader().HTTPURL(), victim.ID()), nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Len(t, r.body["members"], 3)
	require.Eventually(t, func() bool { return victim.status().removed }, 5*time.Second, 5*time.Millisecond)

	// The removed node refuses writes; the others commit without it.
	r = do(t, http.MethodPut, victim.HTTPURL()+"/kv/z", []byte("1"))
	require.Equal(t, http.StatusServiceUnavailable, r.code, r.raw)
	c.stop(victim.ID())
	put(t, c.leader(), "z", "1")

	// Unknown members: 404; an invalid id: 400.
	r = do(t, http.MethodDelete, c.leader().HTTPURL()+"/members/99", nil)
	require.Equal(t, http.StatusNotFound, r.code, r.raw)
	r = do(t, http.MethodDelete, c.leader().HTTPURL()+"/members/x", nil)
	require.Equal(t, http.StatusBadRequest, r.code, r.raw)
}

// A node restarted from its data directory has every write, and the
// cluster goes on.
func TestRestartFromDataDir(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	for i := range 20 {
		put(t, lead, fmt.Sprintf("k%d", i), fmt.Sprint(i))
	}
	// Restart every node, the leader included.
	for _, id := range []uint64{1, 2, 3} {
		c.stop(id)
	}
	for _, id := range []uint64{1, 2, 3} {
		c.start(id)
	}
	lead = c.leader()
	for i := range 20 {
		r := do(t, http.MethodGet, lead.HTTPURL()+fmt.Sprintf("/kv/k%d", i), nil)
		require.Equal(t, http.StatusOK, r.code, r.raw)
		require.Equal(t, fmt.Sprint(i), r.body["value"])
		require.EqualValues(t, 1, r.num("version"))
	}
	r := put(t, lead, "k0", "again")
	require.EqualValues(t, 2, r.num("version"))
	for _, s := range c.nodes {
		require.Eventually(t, func() bool { return value(s, "k0") == "again" }, 5*time.Second, 5*time.Millisecond)
	}
}

// With frequent snapshots the leader's log drops what they cover; a
// follower that was down for that catches up from a snapshot, and restarts
// from its own.
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEvery = 5 })
	f := c.follower()
	fid := f.ID()
	put(t, f, "first", "1")
	require.Eventually(t, func() bool { return value(f, "first") == "1" }, 5*time.Second, 5*time.Millisecond)
	c.stop(fid)
	lagLast, err := f.wal.LastIndex()
	require.NoError(t, err)

	lead := c.leader()
	for i := range 30 {
		put(t, lead, fmt.Sprintf("k%d", i), fmt.Sprint(i))
	}
	first, err := lead.wal.FirstIndex()
	require.NoError(t, err)
	require.Greater(t, first, lagLast+1, "the leader's log still holds what the follower lacks")

	f = c.start(fid)
	require.Eventually(t, func() bool { return value(f, "k29") == "29" }, 10*time.Second, 5*time.Millisecond)
	for i := range 30 {
		require.Equal(t, fmt.Sprint(i), value(f, fmt.Sprintf("k%d", i)))
	}
	// The store shows committed entries before its own log holds them
	// (the write goes on behind the loop): wait for the snapshot.
	require.Eventually(t, func() bool {
		snap, err := f.wal.Snapshot()
		return err == nil && snap.Metadata.Index > lagLast
	}, 5*time.Second, 5*time.Millisecond)

	// Restarted from its snapshot, it still has everything.
	c.stop(fid)
	f = c.start(fid)
	require.Equal(t, "29", value(f, "k29"))
	require.Equal(t, "1", value(f, "first"))
}

// snapshotCounter is a transport that counts the snapshots its node sends.
type snapshotCounter struct {
	peerTransport
	sent *atomic.Int64
}

func (t snapshotCounter) Send(msgs []raft.Message) {
	for i := range msgs {
		if msgs[i].Type == raft.MsgSnap {
			t.sent.Add(1)
		}
	}
	t.peerTransport.Send(msgs)
}

// The leader's log keeps SnapshotEvery/2 entries before its snapshot: a
// follower that missed fewer, while the leader took a snapshot, catches
// up from them, without a snapshot.
func TestFollowerBehindSnapshotCatchesUpFromLog(t *testing.T) {
	var snaps atomic.Int64
	orig := newTransport
	newTransport = func(c transportConfig) (peerTransport, error) {
		tr, err := orig(c)
		return snapshotCounter{peerTransport: tr, sent: &snaps}, err
	}
	t.Cleanup(func() { newTransport = orig })
	const every = 40
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEvery = every })
	lead := c.leader()
	f := c.follower()
	fid := f.ID()
	// Up to a few entries short of the leader's next snapshot.
	for i := 0; ; i++ {
		last, err := lead.wal.LastIndex()
		require.NoError(t, err)
		if snap, _ := lead.wal.Snapshot(); last+5 >= snap.Metadata.Index+every {
			break
		}
		put(t, lead, fmt.Sprintf("before%d", i), "x")
	}
	require.Eventually(t, func() bool { return f.store.Applied() == lead.store.Applied() }, 5*time.Second, 5*time.Millisecond)
	c.stop(fid)
	lagLast, err := f.wal.LastIndex()
	require.NoError(t, err)

	for i := range 10 { // fewer than every/2, past the leader's threshold
		put(t, lead, fmt.Sprintf("k%d", i), fmt.Sprint(i))
	}
	require.Eventually(t, func() bool {
		snap, _ := lead.wal.Snapshot()
		return snap.Metadata.Index > lagLast
	}, 5*time.Second, 5*time.Millisecond, "the leader took a snapshot past what the follower has")
	first, err := lead.wal.FirstIndex()
	require.NoError(t, err)
	require.LessOrEqual(t, first, lagLast+1, "the leader's log still holds what the follower lacks")

	f = c.start(fid)
	require.Eventually(t, func() bool { return value(f, "k9") == "9" }, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, snaps.Load(), "no snapshot was sent")
}

// A write retried with the same session and sequence number is applied
// once: the version goes up by one.
func TestSessionWriteAppliedOnce(t *testing.T) {
	c := newCluster(t, 3, nil)
	f := c.follower()
	r := do(t, http.MethodPost, f.HTTPURL()+"/sessions", []byte(`{"ttl_ms": 60000}`))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	sess := r.num("session")
	require.Positive(t, sess)

	url := fmt.Sprintf("%s/kv/s?session=%d&seq=1", f.HTTPURL(), sess)
	r1 := do(t, http.MethodPut, url, []byte("v"))
	require.Equal(t, http.StatusOK, r1.code, r1.raw)
	r2 := do(t, http.MethodPut, url, []byte("v"))
	require.Equal(t, http.StatusOK, r2.code, r2.raw)
	require.EqualValues(t, 1, r1.num("version"))
	require.EqualValues(t, 1, r2.num("version"))
	require.Equal(t, r1.num("mod_revision"), r2.num("mod_revision"))

	r = do(t, http.MethodPut, fmt.Sprintf("%s/kv/s?session=%d&seq=2", f.HTTPURL(), sess), []byte("w"))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.EqualValues(t, 2, r.num("version"))
	// An older sequence number: 409; an unknown session: 410.
	r = do(t, http.MethodPut, url, []byte("v"))
	require.Equal(t, http.StatusConflict, r.code, r.raw)
	r = do(t, http.MethodPut, fmt.Sprintf("%s/kv/s?session=%d&seq=1", f.HTTPURL(), 1<<40), []byte("v"))
	require.Equal(t, http.StatusGone, r.code, r.raw)

	r = do(t, http.MethodGet, c.leader().HTTPURL()+"/kv/s", nil)
	require.EqualValues(t, 2, r.num("version"))

	r = do(t, http.MethodDelete, fmt.Sprintf("%s/sessions/%d", f.HTTPURL(), sess), nil)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	r = do(t, http.MethodPut, fmt.Sprintf("%s/kv/s?session=%d&seq=3", f.HTTPURL(), sess), []byte("v"))
	require.Equal(t, http.StatusGone, r.code, r.raw)
}

// Malformed requests get 4xx answers in JSON, and the node serves on.
func TestMalformedRequests(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxValueSize = 1024 })
	lead := c.leader()
	u := lead.HTTPURL()
	for _, tc := range []struct {
		method, path string
		body         string
		code         int
	}{
		{http.MethodPut, "/kv/a?if_mod_revision=x", "v", 400},
		{http.MethodPut, "/kv/a?if_mod_revision=-1", "v", 400},
		{http.MethodPut, "/kv/a?if_mod_revision=", "v", 400},
		{http.MethodPut, "/kv/a?if_mod_revision=99999999999999999999", "v", 400},
		{http.MethodPut, "/kv/a?session=1", "v", 400},
		{http.MethodPut, "/kv/a?session=0&seq=1", "v", 400},
		{http.MethodPut, "/kv/a?session=1&seq=x", "v", 400},
		{http.MethodPut, "/kv/a?timeout_ms=-5", "v", 400},
		{http.MethodPut, "/kv/a?timeout_ms=abc", "v", 400},
		{http.MethodPut, "/kv/", "v", 400},
		{http.MethodPut, "/kv/" + strings.Repeat("k", maxKeySize+1), "v", 400},
		{http.MethodPut, "/kv/a", strings.Repeat("v", 1025), 413},
		{http.MethodGet, "/kv/a?consistency=weird", "", 400},
		{http.MethodPost, "/kv/a", "", 405},
		{http.MethodPatch, "/status", "", 405},
		{http.MethodPut, "/members", "", 405},
		{http.MethodGet, "/sessions", "", 405},
		{http.MethodGet, "/nope", "", 404},
		{http.MethodGet, "/", "", 404},
		{http.MethodPost, "/debug/cut?peer=x", "", 400},
		{http.MethodPost, "/sessions", "{", 400},
		{http.MethodPost, "/sessions", `{"ttl_ms": -1}`, 400},
		{http.MethodPost, "/sessions", `{"ttl_ms": 1e30}`, 400},
		{http.MethodPost, "/sessions", strings.Repeat(" ", maxJSONBody+1), 413},
		{http.MethodDelete, "/sessions/x", "", 400},
		{http.MethodPost, "/members", `{"id":0,"peer_addr":"127.0.0.1:1"}`, 400},
		{http.MethodPost, "/members", `{"id":7,"peer_addr":"nope"}`, 400},
		{http.MethodPost, "/members", `[1,2]`, 400},
		{http.MethodPost, "/members", `{"id":"x"}`, 400},
	} {
		r := do(t, tc.method, u+tc.path, []byte(tc.body))
		require.Equal(t, tc.code, r.code, "%s %s: %s", tc.method, tc.path, r.raw)
		require.Contains(t, r.body, "error")
	}
	r := put(t, lead, "still", "alive")
	require.EqualValues(t, 1, r.num("version"))
}

// Stop ends every goroutine and closes the log; the data directory can be
// opened again at once.
func TestStopIsClean(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	c := newCluster(t, 3, nil)
	s := c.leader()
	put(t, c.follower(), "a", "b")
	for _, id := range []uint64{1, 2, 3} {
		c.stop(id)
	}
	require.NoError(t, s.Stop()) // a second Stop returns the first's result
	http.DefaultClient.CloseIdleConnections()
	// Polled here, not with Eventually, whose condition runs in a goroutine
	// of its own.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}

	s = c.start(s.ID())
	require.Equal(t, "b", value(s, "a"))
}

// Concurrent writes through every node all succeed, each applied once;
// they share fsyncs (one Save per Ready).
func TestConcurrentWrites(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.leader()
	nodes := []*Server{c.nodes[1], c.nodes[2], c.nodes[3]}
	const writers, each = 16, 10
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				url := fmt.Sprintf("%s/kv/w%d", nodes[(w+i)%3].HTTPURL(), w)
				req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(fmt.Sprint(i)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("PUT %s: %s", url, resp.Status)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lead := c.leader()
	for w := range writers {
		kv, ok := lead.store.Get(fmt.Sprintf("w%d", w))
		require.True(t, ok)
		require.EqualValues(t, each, kv.Version)
		require.Equal(t, fmt.Sprint(each-1), string(kv.Value))
	}
}

// Error bodies, like the others, begin with the header.
func TestErrorBodyBeginsWithHeader(t *testing.T) {
	b := string(marshalHeaderFirst(map[string]any{"error": "e", "header": header{MemberID: 1}, "mod_revision": 3, "a": true}))
	require.Equal(t, `{"header":{"member_id":1,"raft_term":0,"revision":0},"a":true,"error":"e","mod_revision":3}`+"\n", b)
}

// The persister holds back a HardState whose only change is the commit
// index, so after a crash the log's commit index may lag its snapshot. A
// restart raises it to the snapshot's index instead of refusing the log.
func TestRestartWithCommitIndexBehindSnapshot(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.SnapshotEvery = 3 })
	lead := c.leader()
	for i := range 10 {
		put(t, lead, fmt.Sprintf("k%d", i), fmt.Sprint(i))
	}
	require.Eventually(t, func() bool {
		snap, err := lead.wal.Snapshot()
		return err == nil && snap.Metadata.Index > 2
	}, 5*time.Second, 5*time.Millisecond)
	c.stop(1)

	// What a crash leaves when the last commit index written is old.
	w, err := wal.Open(c.cfgs[1].DataDir, wal.Options{})
	require.NoError(t, err)
	hs, _, err := w.InitialState()
	require.NoError(t, err)
	hs.Commit = 1
	require.NoError(t, w.Save(hs, nil, raft.Snapshot{}, true))
	require.NoError(t, w.Close())

	s := c.start(1)
	require.Eventually(t, s.leads, 5*time.Second, 5*time.Millisecond)
	for i := range 10 {
		require.Equal(t, fmt.Sprint(i), value(s, fmt.Sprintf("k%d", i)))
	}
	put(t, s, "after", "restart")
	require.Equal(t, "restart", value(s, "after"))
}

// A write the loop has taken may still commit: a node that stops while the
// write waits answers 504 (outcome unknown), never 503 (nothing applied).
func TestWriteAbandonedByStopIsOutcomeUnknown(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	for id := range c.nodes {
		if id != lead.ID() {
			lead.tr.Cut(id, true) // the entry cannot commit
		}
	}
	answer := make(chan reply, 1)
	go func() { answer <- do(t, http.MethodPut, lead.HTTPURL()+"/kv/k?timeout_ms=30000", []byte("v")) }()
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, lead.call(context.Background(), func() { waiting = len(lead.n.waiters.byIndex) }))
		return waiting == 1
	}, 5*time.Second, time.Millisecond, "the loop took the write")
	c.stop(lead.ID())
	r := <-answer
	require.Equal(t, http.StatusGatewayTimeout, r.code, r.raw)
	require.Contains(t, r.body["error"], "outcome is unknown")
}

// A follower relays the leader's whole answer. A value of MaxValueSize
// made of control characters is six times longer in JSON (\u0001 per
// byte): a relay cut at a size of the order of the value would hand the
// client a truncated body.
func TestForwardedAnswerIsWhole(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, f := c.leader(), c.follower()
	value := strings.Repeat("\x01", DefaultMaxValueSize)
	put(t, lead, "k", value)
	r := do(t, http.MethodGet, f.HTTPURL()+"/kv/k", nil) // linearizable: forwarded
	require.Equal(t, http.StatusOK, r.code)
	require.Equal(t, value, r.body["value"])
}
