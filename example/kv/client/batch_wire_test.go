package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
	"github.com/keelraft/raft/example/kv/server"
	"github.com/keelraft/raft/example/kv/store"
)

// judgment is everything the client makes of the answer to one attempt
// of a write: what write's retry loop does with it (transient, uncertain,
// the endpoint it goes to next) and, if that does not judge it, the
// result or error of the call (putResult, deleteResult).
type judgment struct {
	Step      step
	Transient error
	Judged    bool
	Uncertain bool
	Target    string
	Put       KVResponse
	Delete    DeleteResponse
	Err       error
}

func judge(c *Client, endpoint string, op *writeOp, res writeResult) judgment {
	if res.err != nil {
		return judgment{Err: res.err}
	}
	r := res.r
	j := judgment{Uncertain: uncertain(r, nil)}
	j.Step, j.Transient, j.Judged = c.transient(context.Background(), endpoint, r, nil)
	j.Target, _ = c.current()
	if !j.Judged {
		if op.del {
			j.Delete, j.Err = c.deleteResult(r, op.key, op.ifMod)
		} else {
			j.Put, j.Err = c.putResult(r, op.key, op.ifMod)
		}
	}
	return j
}

// resultOfJSON returns the binary result of the JSON answer (code, body)
// to a write: what the server writes for it, as
// TestBatchMsgpackCarriesTheJSONAnswer in package server checks.
func resultOfJSON(code int, body map[string]any) batchwire.Result {
	raw, _ := json.Marshal(body)
	var b struct {
		Header         Header  `json:"header"`
		Key            *string `json:"key"`
		CreateRevision int64   `json:"create_revision"`
		ModRevision    int64   `json:"mod_revision"`
		Version        int64   `json:"version"`
		Deleted        int64   `json:"deleted"`
		Error          string  `json:"error"`
		LeaderURL      string  `json:"leader_url"`
	}
	_ = json.Unmarshal(raw, &b)
	return batchwire.Result{Code: code, Revision: b.Header.Revision, CreateRevision: b.CreateRevision,
		ModRevision: b.ModRevision, Version: b.Version, Deleted: b.Deleted, Error: b.Error, LeaderURL: b.LeaderURL}
}

// Every answer a write can get in a batch gives the same result or error,
// and the same next step, whether the batch went as JSON or in the binary
// form, which does not echo the key and value. The JSON bodies are those
// the server writes.
func TestBinaryAnswersMapLikeJSON(t *testing.T) {
	const endpoint, leader = "http://node2", "http://node3"
	i64 := func(v int64) *int64 { return &v }
	hdr := func(rev int64) map[string]any { return map[string]any{"member_id": 2, "raft_term": 5, "revision": rev} }
	body := func(rev int64, kv ...any) map[string]any {
		b := map[string]any{"header": hdr(rev)}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	cases := []struct {
		op   writeOp
		code int
		body map[string]any
	}{
		{writeOp{key: "k", value: []byte("v")}, 200,
			body(9, "key", "k", "value", "v", "create_revision", 3, "mod_revision", 9, "version", 2)},
		{writeOp{key: "bin", value: []byte{0xff, 0}}, 200,
			body(10, "key", "bin", "value_base64", "/wA=", "create_revision", 10, "mod_revision", 10, "version", 1)},
		{writeOp{key: "empty"}, 200,
			body(11, "key", "empty", "value", "", "create_revision", 11, "mod_revision", 11, "version", 1)},
		{writeOp{key: "é", value: []byte("\"é\"\n")}, 200,
			body(12, "key", "é", "value", "\"é\"\n", "create_revision", 4, "mod_revision", 12, "version", 3)},
		{writeOp{key: "cas", value: []byte("v"), ifMod: i64(0)}, 200,
			body(13, "key", "cas", "value", "v", "create_revision", 13, "mod_revision", 13, "version", 1)},
		{writeOp{del: true, key: "d"}, 200, body(14, "deleted", 1)},
		{writeOp{del: true, key: "absent"}, 200, body(14, "deleted", 0)},
		{writeOp{key: "cas", value: []byte("x"), ifMod: i64(99)}, 412,
			body(14, "error", "compare failed: mod_revision differs", "mod_revision", 13)},
		{writeOp{del: true, key: "gone", ifMod: i64(98)}, 412,
			body(14, "error", "compare failed: mod_revision differs", "mod_revision", 0)},
		{writeOp{key: "stale"}, 409, body(14, "error", store.ErrMsgStaleSequence)},
		{writeOp{key: "expired"}, 410, body(14, "error", store.ErrMsgSessionExpired)},
		{writeOp{del: true, key: "expired"}, 410, body(14, "error", store.ErrMsgUnknownSession)},
		{writeOp{key: "moved"}, 503, body(15, "error", "not leader", "leader", 3, "leader_url", leader)},
		{writeOp{key: "nobody"}, 503, body(15, "error", "no leader", "leader", 0)},
		{writeOp{del: true, key: "late"}, 503,
			body(15, "error", "request ended before the write was proposed; not applied", "leader", 3, "leader_url", leader)},
		{writeOp{key: "slow"}, 504, body(15, "error", "timeout; the outcome is unknown")},
		{writeOp{key: "lost"}, 504,
			body(15, "error", "leadership lost; outcome unknown", "leader", 3, "leader_url", leader)},
		{writeOp{key: "ended"}, 504, body(16, "error", "the request ended while the write waited; the outcome is unknown")},
		{writeOp{key: "odd"}, 500, body(16, "error", "entry is not a command")},
	}
	var batch []*pendingWrite
	var jsonRes []map[string]any
	bin := batchwire.AppendAnswerHeader(nil, batchwire.Header{MemberID: 2, RaftTerm: 5, Revision: 16}, len(cases))
	for i := range cases {
		tc := &cases[i]
		batch = append(batch, &pendingWrite{op: &tc.op, session: 7, seq: uint64(i + 1)})
		jsonRes = append(jsonRes, map[string]any{"code": tc.code, "body": tc.body})
		res := resultOfJSON(tc.code, tc.body)
		bin = batchwire.AppendResult(bin, &res)
	}
	jsonBody, err := json.Marshal(map[string]any{"header": hdr(16), "results": jsonRes})
	require.NoError(t, err)
	fromJSON := batchResults(batch, reply{code: 200, body: jsonBody, ctype: "application/json", endpoint: endpoint})
	fromBin := batchResults(batch, reply{code: 200, body: bin, ctype: batchwire.ContentType, endpoint: endpoint})

	client := func() *Client { return newTestClient(t, []string{endpoint, leader}, fastOptions()) }
	for i, tc := range cases {
		want := judge(client(), endpoint, &tc.op, fromJSON[i])
		got := judge(client(), endpoint, &tc.op, fromBin[i])
		require.Equal(t, want, got, "%d: %d %v", i, tc.code, tc.body)
		if tc.code == 200 {
			require.NoError(t, got.Err, "%d", i)
		} else {
			require.True(t, got.Err != nil || got.Transient != nil, "%d: an error", i)
		}
	}
	put := judge(client(), endpoint, &cases[0].op, fromBin[0]).Put
	require.Equal(t, KeyValue{Key: "k", Value: []byte("v"), CreateRevision: 3, ModRevision: 9, Version: 2}, put.KV)
	require.Equal(t, Header{MemberID: 2, RaftTerm: 5, Revision: 9}, put.Header)
	cases[0].op.value[0] = 'X'
	require.Equal(t, "v", string(put.KV.Value), "the result does not alias the caller's value")
	require.Equal(t, leader, judge(client(), endpoint, &cases[12].op, fromBin[12]).Target, "the leader hint is followed")
}

// startServer starts a one-node cluster and returns its URL once it
// leads.
func startServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	peer := ln.Addr().String()
	require.NoError(t, ln.Close())
	s, err := server.Start(server.Config{ID: 1, Peers: map[uint64]string{1: peer}, ListenHTTP: "127.0.0.1:0",
		DataDir: t.TempDir(), TickInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop() })
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.HTTPURL() + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Leader == 1
	}, 10*time.Second, 10*time.Millisecond)
	return s.HTTPURL()
}

// Against the real server, a batch of every kind of write gets the same
// results and errors in either form.
func TestBatchFormsAnswerAlikeOnRealServer(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	run := func(asJSON bool) []judgment {
		url := startServer(t)
		opts := fastOptions()
		opts.JSONBatches = asJSON
		var ctypes []string // of the answers to POST /batch
		opts.HTTPClient = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err == nil && r.URL.Path == "/batch" {
				ctypes = append(ctypes, resp.Header.Get("Content-Type"))
			}
			return resp, err
		})}
		c := newTestClient(t, []string{url}, opts)
		_, err := c.Put(context.Background(), "warm-up", nil) // revision 1
		require.NoError(t, err)
		resp, err := http.Post(url+"/sessions", "application/json", strings.NewReader(`{"ttl_ms":60000}`))
		require.NoError(t, err)
		var sess struct{ Session uint64 }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&sess))
		resp.Body.Close()
		st, err := c.Status(context.Background())
		require.NoError(t, err)
		aRev := st.Revision + 1 // the revision of the batch's first write
		writes := []struct {
			op      writeOp
			session uint64
			seq     uint64
		}{
			{writeOp{key: "a", value: []byte("1")}, sess.Session, 1},
			{writeOp{key: "bin", value: []byte{0xff, 0}}, sess.Session, 2},
			{writeOp{key: "empty"}, sess.Session, 3},
			{writeOp{key: "é", value: []byte("é")}, sess.Session, 4},
			{writeOp{key: "a", value: []byte("2"), ifMod: i64(99)}, sess.Session, 5},
			{writeOp{del: true, key: "bin", ifMod: i64(1)}, sess.Session, 6},
			{writeOp{del: true, key: "absent"}, sess.Session, 7},
			{writeOp{key: "a", value: []byte("3"), ifMod: &aRev}, sess.Session, 8},
			{writeOp{del: true, key: "a"}, sess.Session, 9},
			{writeOp{key: "a", value: []byte("4")}, sess.Session, 1}, // stale: 409
			{writeOp{key: "z", value: []byte("z")}, 999999, 1},       // unknown session: 410
			{writeOp{del: true, key: "a"}, sess.Session, 9},          // a retry: the first answer
			{writeOp{key: "nosession", value: []byte("n")}, 0, 0},    // allowed, if not by this client
			{writeOp{key: "new", value: []byte("n"), ifMod: i64(0)}, 0, 0},
		}
		b := c.batcher(url)
		var batch []*pendingWrite
		for i := range writes {
			w := &writes[i]
			batch = append(batch, &pendingWrite{op: &w.op, session: w.session, seq: w.seq,
				entry: w.op.appendEntry(nil, w.session, w.seq, asJSON), json: asJSON, done: make(chan writeResult, 1)})
		}
		b.flush(batch)
		if asJSON {
			require.Equal(t, []string{"application/json"}, ctypes)
		} else {
			require.Equal(t, []string{batchwire.ContentType}, ctypes)
		}
		var out []judgment
		for i, p := range batch {
			res := <-p.done
			require.False(t, res.alone, "write %d refused whole", i)
			j := judge(c, url, p.op, res)
			// The two servers differ in their URL only.
			j.Target = ""
			if se, ok := j.Err.(*StatusError); ok {
				cp := *se
				cp.Endpoint = ""
				j.Err = &cp
			}
			out = append(out, j)
		}
		return out
	}
	want, got := run(true), run(false)
	require.Equal(t, want, got)
	codes := map[int]int{}
	for _, j := range got {
		var se *StatusError
		switch {
		case j.Err == nil:
			codes[200]++
		case errors.Is(j.Err, ErrCompareFailed):
			codes[412]++
		case errors.As(j.Err, &se):
			codes[se.Code]++
		}
	}
	require.Equal(t, map[int]int{200: 10, 409: 1, 410: 1, 412: 2}, codes)
	require.Equal(t, []byte("é"), got[3].Put.KV.Value)
	require.Equal(t, int64(1), got[11].Delete.Deleted, "the retry's answer is the first one")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Against a server that does not read the binary form (an older one,
// which reads every batch as JSON and answers 400, or one that answers
// 415), the batch is sent again as JSON, nothing lost, and the endpoint
// gets JSON batches from then on.
func TestFallsBackToJSONAgainstServerWithoutBinaryForm(t *testing.T) {
	for _, refusal := range []string{"older server", "415"} {
		t.Run(refusal, func(t *testing.T) {
			fc := newFakeCluster(t, 1)
			if refusal == "older server" {
				fc.jsonOnly = true
			} else {
				fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path == "/batch" && batchwire.IsContentType(r.Header.Get("Content-Type")) {
						fc.nodes[0].reply(w, http.StatusUnsupportedMediaType, map[string]any{"error": "no msgpack here"})
						return true
					}
					return false
				})
			}
			c := newTestClient(t, fc.urls(), batchOptions())
			puts := func(prefix string) []func() error {
				var ops []func() error
				for i := range 5 {
					ops = append(ops, func() error {
						r, err := c.Put(context.Background(), fmt.Sprint(prefix, i), []byte("v"))
						if err == nil && (string(r.KV.Value) != "v" || r.KV.Version != 1) {
							return fmt.Errorf("%s%d answered %+v", prefix, i, r.KV)
						}
						return err
					})
				}
				return ops
			}
			for _, err := range inOneBatch(t, fc, c, puts("a")...) {
				require.NoError(t, err)
			}
			require.Equal(t, []string{"json"}, fc.batchForms(0))
			require.Len(t, fc.requests(0, "POST /batch"), 2, "the binary form, refused, then JSON")
			require.Len(t, writeLines(fc, 0, "/kv/a"), 5, "each write applied once")

			for _, err := range inOneBatch(t, fc, c, puts("b")...) {
				require.NoError(t, err)
			}
			require.Equal(t, []string{"json", "json"}, fc.batchForms(0))
			require.Len(t, fc.requests(0, "POST /batch"), 3, "JSON at once")
		})
	}
}

// A batch refused whole as invalid (400, 413) applied nothing: each of
// its writes is sent alone and gets its own answer, in either form. The
// binary form is tried in JSON too before, in case the server does not
// read it, and kept since the JSON batch did not go through either.
func TestRefusedBatchMapsAlikeInBothForms(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge} {
		forEachForm(t, batchOptions, func(t *testing.T, form string, formOpts func() Options) {
			fc := newFakeCluster(t, 1)
			c := newTestClient(t, fc.urls(), formOpts())
			fc.hook(0, false, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == "/batch" || (r.Method == http.MethodPut && r.URL.Path == "/kv/bad") {
					fc.nodes[0].reply(w, code, map[string]any{"error": "refused"})
					return true
				}
				return false
			})
			errs := inOneBatch(t, fc, c,
				func() error { _, err := c.Put(context.Background(), "a", nil); return err },
				func() error { _, err := c.Put(context.Background(), "bad", nil); return err },
			)
			require.NoError(t, errs[0])
			var se *StatusError
			require.ErrorAs(t, errs[1], &se)
			require.Equal(t, code, se.Code)
			require.Equal(t, "refused", se.Message)
			require.NotErrorIs(t, errs[1], ErrOutcomeUnknown)
			require.Len(t, fc.requests(0, "PUT /kv/a"), 1, "sent alone")
			tries := 1
			if form == "msgpack" && code == http.StatusBadRequest {
				tries = 2
			}
			require.Len(t, fc.requests(0, "POST /batch"), tries)
			require.Zero(t, c.batcher(fc.nodes[0].srv.URL).jsonUntil.Load(), "the form is kept")
		})
	}
}

// The writes a server refuses go alone rather than fail their batch: a
// negative if_mod_revision, and keys JSON cannot carry, empty or too long.
func TestWritesTheServerWouldRefuseGoAlone(t *testing.T) {
	neg, zero := int64(-1), int64(0)
	require.True(t, (&writeOp{key: "k", ifMod: &zero}).batchable())
	for _, op := range []writeOp{
		{key: "k", ifMod: &neg},
		{key: ""},
		{key: "\xff"},
		{key: strings.Repeat("k", maxBatchedKey+1)},
		{key: "k", value: make([]byte, maxBatchedValue+1)},
	} {
		require.False(t, op.batchable(), "%.20q", op.key)
	}
}

// BenchmarkBatchClientCodec measures the client's share of the cost of
// the two forms of a batch of 64 puts as kv bench writes them: encoding
// the request (each writer its entry, then the whole body) and decoding
// the answer, which in JSON echoes each key and value. (BenchmarkBatchServerCodec
// in package server measures the server's.)
func BenchmarkBatchClientCodec(b *testing.B) {
	value := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 10)[:256])
	batch := make([]*pendingWrite, 64)
	var jsonRes []map[string]any
	bin := batchwire.AppendAnswerHeader(nil, batchwire.Header{MemberID: 1, RaftTerm: 2, Revision: 3000}, len(batch))
	for i := range batch {
		op := &writeOp{key: fmt.Sprintf("bench-%08d", i*7919), value: value}
		if i%2 == 1 {
			op.ifMod = new(int64(1000 + i))
		}
		batch[i] = &pendingWrite{op: op, session: uint64(100 + i), seq: 12345}
		body := map[string]any{"header": map[string]any{"member_id": 1, "raft_term": 2, "revision": 2000 + i},
			"key": op.key, "value": string(value), "create_revision": 7, "mod_revision": 2000 + i, "version": 3}
		jsonRes = append(jsonRes, map[string]any{"code": 200, "body": body})
		res := resultOfJSON(200, body)
		bin = batchwire.AppendResult(bin, &res)
	}
	jsonAns, err := json.Marshal(map[string]any{"header": map[string]any{"member_id": 1, "raft_term": 2, "revision": 3000},
		"results": jsonRes})
	require.NoError(b, err)
	for _, f := range forms {
		asJSON := f.name == "json"
		ans := reply{code: 200, body: bin, ctype: batchwire.ContentType}
		if asJSON {
			ans = reply{code: 200, body: jsonAns, ctype: "application/json"}
		}
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range batch {
					p.entry, p.json = p.op.appendEntry(nil, p.session, p.seq, asJSON), asJSON
				}
				body := batchBody(batch, asJSON)
				b.SetBytes(int64(len(body)))
				for _, res := range batchResults(batch, ans) {
					if res.err != nil || res.r.code != 200 {
						b.Fatal(res.err)
					}
				}
			}
		})
	}
}
