package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
	"github.com/keelraft/raft/example/kv/store"
)

// fakeCluster is a stand-in for a kv cluster: nodes serving the HTTP API
// over one store.Store, so sessions behave as in the real thing. Only the
// leader serves writes and linearizable reads; the others answer 503 with
// the leader's URL (they do not forward). Tests inject faults with hooks.
type fakeCluster struct {
	t     *testing.T
	mu    sync.Mutex
	st    *store.Store
	index uint64
	clock int64 // Command.Time of the next entry
	lead  int   // index into nodes; -1: no leader
	nodes []*fakeNode
	// jsonOnly makes the nodes read every batch as JSON, as a server
	// older than the binary form does.
	jsonOnly bool
}

type fakeNode struct {
	c   *fakeCluster
	id  uint64
	srv *httptest.Server

	mu      sync.Mutex
	log     []string // "PUT /kv/k?session=1&seq=1", in arrival order
	batches []int    // the size of each batch handled
	forms   []string // the form of each batch handled: "json" or "msgpack"
	hooks   []hook
}

// A hook sees each request before the node; it returns true if it
// answered it itself. It is removed once it returns true if once is set.
type hook struct {
	fn   func(w http.ResponseWriter, r *http.Request) bool
	once bool
}

func newFakeCluster(t *testing.T, n int) *fakeCluster {
	c := &fakeCluster{t: t, st: store.New()}
	for i := range n {
		nd := &fakeNode{c: c, id: uint64(i + 1)}
		nd.srv = httptest.NewServer(http.HandlerFunc(nd.serve))
		t.Cleanup(nd.srv.Close)
		c.nodes = append(c.nodes, nd)
		c.st.SetMember(store.Member{ID: nd.id, PeerAddr: "peer" + strconv.Itoa(i+1)})
	}
	return c
}

func (c *fakeCluster) urls() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.srv.URL)
	}
	return out
}

func (c *fakeCluster) setLeader(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lead = i
}

// apply appends cmd to the fake log and applies it.
func (c *fakeCluster) apply(cmd store.Command) store.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd.Time = c.clock
	data, err := cmd.Marshal()
	if err != nil {
		c.t.Errorf("marshal: %v", err)
	}
	c.index++
	res, err := c.st.Apply(c.index, data)
	if err != nil {
		c.t.Errorf("apply: %v", err)
	}
	return res
}

// advance moves the fake cluster's clock, for session expiry.
func (c *fakeCluster) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock += int64(d)
}

// hook adds a fault injector to node i.
func (c *fakeCluster) hook(i int, once bool, fn func(w http.ResponseWriter, r *http.Request) bool) {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.hooks = append(nd.hooks, hook{fn: fn, once: once})
}

// requests returns the requests node i received whose "METHOD path"
// starts with prefix.
func (c *fakeCluster) requests(i int, prefix string) []string {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	var out []string
	for _, l := range nd.log {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (nd *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	nd.mu.Lock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	nd.log = append(nd.log, line)
	hooks := nd.hooks
	nd.mu.Unlock()
	for i, h := range hooks {
		if h.fn(w, r) {
			if h.once {
				nd.mu.Lock()
				nd.hooks = append(nd.hooks[:i:i], nd.hooks[i+1:]...)
				nd.mu.Unlock()
			}
			return
		}
	}
	nd.handle(w, r)
}

func (nd *fakeNode) header() map[string]any {
	return map[string]any{"member_id": nd.id, "raft_term": 1, "revision": nd.c.st.Revision()}
}

func (nd *fakeNode) reply(w http.ResponseWriter, code int, body map[string]any) {
	if body["header"] == nil {
		body["header"] = nd.header()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func (nd *fakeNode) leader() (uint64, string) {
	nd.c.mu.Lock()
	defer nd.c.mu.Unlock()
	if nd.c.lead < 0 {
		return 0, ""
	}
	l := nd.c.nodes[nd.c.lead]
	return l.id, l.srv.URL
}

func (nd *fakeNode) members() []map[string]any {
	var out []map[string]any
	for _, m := range nd.c.st.Members() {
		out = append(out, map[string]any{"id": m.ID, "peer_addr": m.PeerAddr,
			"client_url": nd.c.nodes[m.ID-1].srv.URL, "learner": m.Learner})
	}
	return out
}

func (nd *fakeNode) handle(w http.ResponseWriter, r *http.Request) {
	lead, leadURL := nd.leader()
	if r.URL.Path == "/status" {
		nd.reply(w, 200, map[string]any{"id": nd.id, "term": 1, "leader": lead,
			"revision": nd.c.st.Revision(), "members": nd.members()})
		return
	}
	if r.URL.Path == "/members" && r.Method == http.MethodGet {
		nd.reply(w, 200, map[string]any{"members": nd.members()})
		return
	}
	stale := r.URL.Query().Get("consistency") == "stale"
	if lead != nd.id && !stale {
		body := map[string]any{"error": "not leader", "leader": lead}
		if lead == 0 {
			body["error"] = "no leader"
		} else {
			body["leader_url"] = leadURL
		}
		nd.reply(w, 503, body)
		return
	}
	if r.URL.Path == "/batch" && r.Method == http.MethodPost {
		nd.handleBatch(w, r)
		return
	}
	q := r.URL.Query()
	session, _ := strconv.ParseUint(q.Get("session"), 10, 64)
	seq, _ := strconv.ParseUint(q.Get("seq"), 10, 64)
	cmd := store.Command{Session: session, Seq: seq}
	if v := q.Get("if_mod_revision"); v != "" {
		cmd.Cond = true
		cmd.IfModRevision, _ = strconv.ParseInt(v, 10, 64)
	}
	key, isKV := strings.CutPrefix(r.URL.Path, "/kv/")
	switch {
	case isKV && r.Method == http.MethodGet:
		kv, ok := nd.c.st.Get(key)
		if !ok {
			nd.reply(w, 404, map[string]any{"error": "key not found"})
			return
		}
		nd.reply(w, 200, kvJSON(kv))
		return
	case isKV && r.Method == http.MethodPut:
		cmd.Op, cmd.Key = store.OpPut, key
		cmd.Value, _ = io.ReadAll(r.Body)
	case isKV && r.Method == http.MethodDelete:
		cmd.Op, cmd.Key = store.OpDelete, key
	case r.URL.Path == "/sessions" && r.Method == http.MethodPost:
		var b struct {
			TTL int64 `json:"ttl_ms"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		res := nd.c.apply(store.Command{Op: store.OpOpenSession, SessionTTL: b.TTL * int64(time.Millisecond)})
		nd.reply(w, 200, map[string]any{"session": res.Session})
		return
	case strings.HasPrefix(r.URL.Path, "/sessions/") && r.Method == http.MethodDelete:
		id, _ := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, "/sessions/"), 10, 64)
		nd.c.apply(store.Command{Op: store.OpCloseSession, Session: id})
		nd.reply(w, 200, map[string]any{"closed": true})
		return
	case r.URL.Path == "/members" && r.Method == http.MethodPost:
		var m struct {
			ID       uint64 `json:"id"`
			PeerAddr string `json:"peer_addr"`
			Learner  bool   `json:"learner"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m.ID == 0 || m.ID > uint64(len(nd.c.nodes)) {
			nd.reply(w, 400, map[string]any{"error": "invalid change"})
			return
		}
		nd.c.st.SetMember(store.Member{ID: m.ID, PeerAddr: m.PeerAddr, Learner: m.Learner})
		nd.reply(w, 200, map[string]any{"members": nd.members()})
		return
	case strings.HasPrefix(r.URL.Path, "/members/") && r.Method == http.MethodDelete:
		id, _ := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, "/members/"), 10, 64)
		found := false
		for _, m := range nd.c.st.Members() {
			found = found || m.ID == id
		}
		if !found {
			nd.reply(w, 404, map[string]any{"error": "unknown member"})
			return
		}
		nd.c.st.RemoveMember(id)
		nd.reply(w, 200, map[string]any{"members": nd.members()})
		return
	default:
		nd.reply(w, 404, map[string]any{"error": "no such route"})
		return
	}
	code, body := nd.write(cmd)
	nd.reply(w, code, body)
}

// write applies a put or delete and returns the answer's code and body.
func (nd *fakeNode) write(cmd store.Command) (int, map[string]any) {
	res := nd.c.apply(cmd)
	switch {
	case res.Err == store.ErrMsgStaleSequence:
		return 409, map[string]any{"error": res.Err}
	case res.Err != "":
		return 410, map[string]any{"error": res.Err}
	case res.Failed:
		return 412, map[string]any{"error": "compare failed", "mod_revision": res.KV.ModRevision}
	case cmd.Op == store.OpDelete:
		return 200, map[string]any{"deleted": res.Deleted}
	default:
		return 200, kvJSON(res.KV)
	}
}

// handleBatch serves POST /batch on the leader: each write is applied as
// a single one, and logged as "BATCH PUT /kv/k?seq=1&session=1", the line
// the single request would have, prefixed. A binary request gets a binary
// answer, unless the cluster is jsonOnly.
func (nd *fakeNode) handleBatch(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form := "json"
	var writes []batchwire.Write
	var err error
	if batchwire.IsContentType(r.Header.Get("Content-Type")) && !nd.c.jsonOnly {
		form = "msgpack"
		writes, err = batchwire.DecodeRequest(body, 1024)
	} else {
		writes, err = decodeJSONBatch(body)
	}
	if err != nil || len(writes) == 0 {
		nd.reply(w, 400, map[string]any{"error": fmt.Sprintf("bad batch: %v", err)})
		return
	}
	nd.mu.Lock()
	nd.batches = append(nd.batches, len(writes))
	nd.forms = append(nd.forms, form)
	nd.mu.Unlock()
	var results []map[string]any
	var bin []byte
	for _, wr := range writes {
		cmd := store.Command{Key: wr.Key, Session: wr.Session, Seq: wr.Seq, Cond: wr.Cond, IfModRevision: wr.IfModRevision}
		q := url.Values{"session": {strconv.FormatUint(wr.Session, 10)}, "seq": {strconv.FormatUint(wr.Seq, 10)}}
		if wr.Cond {
			q.Set("if_mod_revision", strconv.FormatInt(wr.IfModRevision, 10))
		}
		method := http.MethodPut
		if wr.Op == batchwire.OpDelete {
			cmd.Op, method = store.OpDelete, http.MethodDelete
		} else {
			cmd.Op, cmd.Value = store.OpPut, wr.Value
		}
		nd.mu.Lock()
		nd.log = append(nd.log, "BATCH "+method+" /kv/"+wr.Key+"?"+q.Encode())
		nd.mu.Unlock()
		code, body := nd.write(cmd)
		body["header"] = nd.header()
		results = append(results, map[string]any{"code": code, "body": body})
		res := resultOfJSON(code, body)
		bin = batchwire.AppendResult(bin, &res)
	}
	if form == "json" {
		nd.reply(w, 200, map[string]any{"results": results})
		return
	}
	h := nd.header()
	out := batchwire.AppendAnswerHeader(nil, batchwire.Header{MemberID: h["member_id"].(uint64), RaftTerm: 1,
		Revision: nd.c.st.Revision()}, len(writes))
	w.Header().Set("Content-Type", batchwire.ContentType)
	_, _ = w.Write(append(out, bin...))
}

// decodeJSONBatch decodes a JSON batch request.
func decodeJSONBatch(body []byte) ([]batchwire.Write, error) {
	var req struct {
		Writes []struct {
			Op            string  `json:"op"`
			Key           string  `json:"key"`
			Value         *string `json:"value"`
			ValueBase64   []byte  `json:"value_base64"`
			IfModRevision *int64  `json:"if_mod_revision"`
			Session       uint64  `json:"session"`
			Seq           uint64  `json:"seq"`
		} `json:"writes"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	var out []batchwire.Write
	for _, wr := range req.Writes {
		w := batchwire.Write{Op: batchwire.OpPut, Key: wr.Key, Value: wr.ValueBase64, Session: wr.Session, Seq: wr.Seq}
		if wr.Op == "delete" {
			w.Op = batchwire.OpDelete
		}
		if wr.Value != nil {
			w.Value = []byte(*wr.Value)
		}
		if wr.IfModRevision != nil {
			w.Cond, w.IfModRevision = true, *wr.IfModRevision
		}
		out = append(out, w)
	}
	return out, nil
}

// batchForms returns the form of each batch node i applied, in order.
func (c *fakeCluster) batchForms(i int) []string {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return append([]string(nil), nd.forms...)
}

// batchSizes returns the number of writes of each batch node i applied,
// in order.
func (c *fakeCluster) batchSizes(i int) []int {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return append([]int(nil), nd.batches...)
}

func kvJSON(kv store.KeyValue) map[string]any {
	body := map[string]any{"key": kv.Key, "create_revision": kv.CreateRevision,
		"mod_revision": kv.ModRevision, "version": kv.Version}
	if utf8.Valid(kv.Value) {
		body["value"] = string(kv.Value)
	} else {
		body["value_base64"] = kv.Value
	}
	return body
}

// httptestRecorder is a ResponseWriter whose answer nobody reads: the
// node handles the request, the client never hears.
func httptestRecorder() http.ResponseWriter { return httptest.NewRecorder() }
