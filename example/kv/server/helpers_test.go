package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft"
)

// testTick is the raft tick of test clusters: elections take 10-20 ticks.
const testTick = 20 * time.Millisecond

// cluster is a test cluster of servers in this process, on 127.0.0.1.
type cluster struct {
	t     *testing.T
	cfgs  map[uint64]Config
	nodes map[uint64]*Server // running nodes
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func testLogger(id uint64) *slog.Logger {
	if os.Getenv("KV_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", id)
}

// newCluster starts n nodes; edit adjusts each node's Config.
func newCluster(t *testing.T, n int, edit func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, cfgs: map[uint64]Config{}, nodes: map[uint64]*Server{}}
	peers := map[uint64]string{}
	for id := uint64(1); id <= uint64(n); id++ {
		peers[id] = freeAddr(t)
	}
	for id := range peers {
		cfg := Config{
			ID: id, Peers: peers, ListenHTTP: "127.0.0.1:0", DataDir: t.TempDir(),
			TickInterval: testTick, DebugFaults: true, Logger: testLogger(id),
		}
		if edit != nil {
			edit(&cfg)
		}
		c.cfgs[id] = cfg
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	return c
}

// start starts (or restarts) node id with its Config.
func (c *cluster) start(id uint64) *Server {
	c.t.Helper()
	s, err := Start(c.cfgs[id])
	require.NoError(c.t, err)
	c.nodes[id] = s
	return s
}

// stop stops node id.
func (c *cluster) stop(id uint64) {
	c.t.Helper()
	require.NoError(c.t, c.nodes[id].Stop())
	delete(c.nodes, id)
}

// leader waits until every running node agrees on one leader, and returns
// it.
func (c *cluster) leader() *Server {
	c.t.Helper()
	var lead uint64
	require.Eventually(c.t, func() bool {
		lead = 0
		for _, s := range c.nodes {
			st := s.status()
			if st.removed {
				continue
			}
			if st.lead == 0 || (lead != 0 && st.lead != lead) {
				return false
			}
			lead = st.lead
		}
		s := c.nodes[lead]
		return s != nil && s.status().role == raft.StateLeader
	}, 10*time.Second, 10*time.Millisecond, "no leader agreed on")
	return c.nodes[lead]
}

// follower returns a running node that is not the leader.
func (c *cluster) follower() *Server {
	lead := c.leader()
	for _, s := range c.nodes {
		if s != lead && !s.status().removed {
			return s
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// reply is a decoded JSON answer.
type reply struct {
	code int
	body map[string]any
	raw  string
}

// num returns the number at key of the body.
func (r reply) num(key string) int64 {
	v, ok := r.body[key].(float64)
	if !ok {
		panic(fmt.Sprintf("no number %q in %s", key, r.raw))
	}
	return int64(v)
}

// do sends a request and decodes the JSON answer, which must carry the
// header.
func do(t *testing.T, method, url string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{code: resp.StatusCode, raw: string(raw)}
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, url, raw)
	require.NoError(t, json.Unmarshal(raw, &r.body), "%s %s: %s", method, url, raw)
	h, ok := r.body["header"].(map[string]any)
	require.True(t, ok, "no header in %s", raw)
	require.Contains(t, h, "member_id")
	require.Contains(t, h, "raft_term")
	require.Contains(t, h, "revision")
	return r
}

// put writes key=value through node s and requires success.
func put(t *testing.T, s *Server, key, value string) reply {
	t.Helper()
	r := do(t, http.MethodPut, s.HTTPURL()+"/kv/"+key, []byte(value))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	return r
}
