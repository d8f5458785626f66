package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
)

// batchResult is one result of a POST /batch answer.
type batchResult struct {
	Code int            `json:"code"`
	Body map[string]any `json:"body"`
}

// forms are the two forms of POST /batch.
var forms = []string{"json", "msgpack"}

// forEachForm runs test for each form of POST /batch.
func forEachForm(t *testing.T, test func(t *testing.T, form string)) {
	for _, form := range forms {
		t.Run(form, func(t *testing.T) { test(t, form) })
	}
}

// postBatch posts the batch body (JSON) to url in form: as it is, or
// converted to the binary form. It returns the status code, Content-Type
// and body of the answer.
func postBatch(t *testing.T, url, form, body string, header http.Header) (int, string, []byte) {
	t.Helper()
	if form == "msgpack" {
		return post(t, url, batchwire.ContentType, toMsgpack(t, body), header)
	}
	return post(t, url, "application/json", []byte(body), header)
}

// post posts raw as ctype to url, and returns the status code,
// Content-Type and body of the answer.
func post(t *testing.T, url, ctype string, raw []byte, header http.Header) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), ans
}

// jsonWrite is a write of a JSON batch, as a test writes it.
type jsonWrite struct {
	Op            string  `json:"op"`
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ValueBase64   []byte  `json:"value_base64"`
	IfModRevision *int64  `json:"if_mod_revision"`
	Session       uint64  `json:"session"`
	Seq           uint64  `json:"seq"`
}

// parseWrites reads the writes of a valid JSON batch.
func parseWrites(t *testing.T, body string) []batchwire.Write {
	t.Helper()
	var req struct{ Writes []jsonWrite }
	require.NoError(t, json.Unmarshal([]byte(body), &req), body)
	var ws []batchwire.Write
	for _, j := range req.Writes {
		w := batchwire.Write{Key: j.Key, Value: j.ValueBase64, Session: j.Session, Seq: j.Seq}
		switch j.Op {
		case "put":
			w.Op = batchwire.OpPut
		case "delete":
			w.Op = batchwire.OpDelete
		}
		if j.Value != nil {
			w.Value = []byte(*j.Value)
		}
		if j.IfModRevision != nil {
			w.Cond, w.IfModRevision = true, *j.IfModRevision
		}
		ws = append(ws, w)
	}
	return ws
}

// toMsgpack converts a valid JSON batch to the binary form.
func toMsgpack(t *testing.T, body string) []byte {
	ws := parseWrites(t, body)
	b := batchwire.AppendRequestHeader(nil, len(ws))
	for i := range ws {
		b = batchwire.AppendWrite(b, &ws[i])
	}
	return b
}

// expand returns the JSON body of the binary result res to the write w,
// in the header h: what the client makes of it. Numbers are float64, as
// when a JSON body is decoded into a map.
func expand(t *testing.T, h batchwire.Header, w batchwire.Write, res batchwire.Result) map[string]any {
	body := map[string]any{"header": map[string]any{"member_id": h.MemberID, "raft_term": h.RaftTerm, "revision": res.Revision}}
	switch {
	case res.Code == http.StatusOK && w.Op == batchwire.OpPut:
		body["key"] = w.Key
		if utf8.Valid(w.Value) {
			body["value"] = string(w.Value)
		} else {
			body["value_base64"] = w.Value
		}
		body["create_revision"], body["mod_revision"], body["version"] = res.CreateRevision, res.ModRevision, res.Version
	case res.Code == http.StatusOK:
		body["deleted"] = res.Deleted
	default:
		body["error"] = res.Error
		if res.Code == http.StatusPreconditionFailed {
			body["mod_revision"] = res.ModRevision
		}
		if res.LeaderURL != "" {
			body["leader_url"] = res.LeaderURL
		}
	}
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// doBatch posts body (JSON) in form to s's /batch and requires a 200 with
// one result per write. A binary answer's results are expanded to the
// JSON bodies they stand for.
func doBatch(t *testing.T, s *Server, form, body string, writes int) []batchResult {
	t.Helper()
	code, ctype, raw := postBatch(t, s.HTTPURL()+"/batch", form, body, nil)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	if form == "json" {
		require.Equal(t, "application/json", ctype)
		var ans struct {
			Results []batchResult `json:"results"`
		}
		require.NoError(t, json.Unmarshal(raw, &ans), "%s", raw)
		require.Len(t, ans.Results, writes, "%s", raw)
		return ans.Results
	}
	require.Equal(t, batchwire.ContentType, ctype)
	h, rs, err := batchwire.DecodeAnswer(raw)
	require.NoError(t, err)
	require.Len(t, rs, writes)
	ws := parseWrites(t, body)
	out := make([]batchResult, len(rs))
	for i, res := range rs {
		out[i] = batchResult{Code: res.Code, Body: expand(t, h, ws[i], res)}
	}
	return out
}

// withoutNode drops what differs between two nodes answering the same
// thing: the id and term in the header.
func withoutNode(body map[string]any) map[string]any {
	if h, ok := body["header"].(map[string]any); ok {
		delete(h, "member_id")
		delete(h, "raft_term")
	}
	return body
}

// Each write of a batch gets the status code and body the same write
// would get alone: two fresh clusters, one written with single requests,
// one with a batch of the same writes, answer alike.
func TestBatchAnswersAsSingleRequests(t *testing.T) {
	forEachForm(t, func(t *testing.T, form string) {
		single, batched := newCluster(t, 1, nil).leader(), newCluster(t, 1, nil).leader()
		type write struct {
			method, path string
			body         []byte
			json         string
		}
		writes := []write{
			{"PUT", "a", []byte("1"), `{"op":"put","key":"a","value":"1"}`},
			{"PUT", "a", []byte("2 \"é\" <x>"), `{"op":"put","key":"a","value":"2 \"\u00e9\" <x>"}`},
			{"PUT", "bin", []byte{0xff, 0}, `{"op":"put","key":"bin","value_base64":"/wA="}`},
			{"PUT", "empty", nil, `{"op":"put","key":"empty"}`},
			{"PUT", "a?if_mod_revision=2", []byte("3"), `{"op":"put","key":"a","value":"3","if_mod_revision":2}`},
			{"PUT", "a?if_mod_revision=1", []byte("4"), `{"op":"put","key":"a","value":"4","if_mod_revision":1}`},
			{"PUT", "new?if_mod_revision=0", []byte("n"), `{"op":"put","key":"new","value":"n","if_mod_revision":0}`},
			{"DELETE", "a?if_mod_revision=99", nil, `{"op":"delete","key":"a","if_mod_revision":99}`},
			{"DELETE", "a", nil, `{"op":"delete","key":"a"}`},
			{"DELETE", "a", nil, `{"op":"delete","key":"a"}`},
			{"PUT", "a%2Fb%20c", []byte("s"), `{"op":"put","key":"a/b c","value":"s"}`},
		}
		var want []batchResult
		var entries []string
		for _, w := range writes {
			r := do(t, w.method, single.HTTPURL()+"/kv/"+w.path, w.body)
			want = append(want, batchResult{Code: r.code, Body: withoutNode(r.body)})
			entries = append(entries, w.json)
		}
		got := doBatch(t, batched, form, `{"writes":[`+strings.Join(entries, ",")+`]}`, len(writes))
		for i := range got {
			got[i].Body = withoutNode(got[i].Body)
			require.Equal(t, want[i], got[i], "write %d: %s", i, writes[i].json)
		}
		require.Equal(t, http.StatusPreconditionFailed, got[5].Code, "a stale compare fails alone")
		require.Equal(t, single.store.Revision(), batched.store.Revision())
	})
}

// A batch carries the session and seq of each write: a write repeated in
// the same batch or in a later one is applied once and answered with its
// first result; an older seq is refused (409), an unknown session too
// (410), each without failing the others.
func TestBatchDeduplicatesSessions(t *testing.T) {
	forEachForm(t, func(t *testing.T, form string) {
		lead := newCluster(t, 3, nil).leader()
		r := do(t, http.MethodPost, lead.HTTPURL()+"/sessions", []byte(`{"ttl_ms":60000}`))
		require.Equal(t, http.StatusOK, r.code, r.raw)
		session := r.num("session")
		w := func(key, value string, seq int) string {
			return fmt.Sprintf(`{"op":"put","key":%q,"value":%q,"session":%d,"seq":%d}`, key, value, session, seq)
		}

		twice := `{"writes":[` + w("k", "1", 1) + "," + w("k", "1", 1) + `]}`
		first := doBatch(t, lead, form, twice, 2)
		require.Equal(t, http.StatusOK, first[0].Code)
		require.Equal(t, first[0], first[1], "the same (session, seq) twice in one batch")
		require.EqualValues(t, 1, first[0].Body["version"])
		rev := lead.store.Revision()

		again := doBatch(t, lead, form, twice, 2)
		require.Equal(t, first, again, "the batch sent again")
		require.Equal(t, rev, lead.store.Revision(), "nothing applied twice")

		mixed := doBatch(t, lead, form, `{"writes":[`+w("k", "3", 3)+","+w("k", "2", 2)+","+
			`{"op":"put","key":"k","value":"x","session":999999,"seq":1},`+
			`{"op":"put","key":"other","value":"o"}]}`, 4)
		require.Equal(t, http.StatusOK, mixed[0].Code, mixed[0].Body)
		require.EqualValues(t, 2, mixed[0].Body["version"])
		require.Equal(t, http.StatusConflict, mixed[1].Code, "seq 2 after seq 3 is stale")
		require.Equal(t, http.StatusGone, mixed[2].Code, "unknown session")
		require.Equal(t, http.StatusOK, mixed[3].Code)
		require.Equal(t, "3", value(lead, "k"))
	})
}

// An invalid batch is refused as a whole before anything is proposed: 400,
// or 413 for a value or a body over the limits.
func TestBatchRefusesInvalidRequestsWhole(t *testing.T) {
	lead := newCluster(t, 1, func(c *Config) { c.MaxValueSize = 16 }).leader()
	ok := `{"op":"put","key":"ok","value":"v"},`
	many := strings.Repeat(`{"op":"put","key":"k"},`, maxBatchWrites+1)
	for _, tc := range []struct {
		body string
		code int
	}{
		{`not json`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k"}]} {}`, 400},
		{`{"writes":[]}`, 400},
		{`{}`, 400},
		{`{"writes":[` + many[:len(many)-1] + `]}`, 400},
		{`{"writes":[` + ok + `{"op":"get","key":"k"}]}`, 400},
		{`{"writes":[` + ok + `{"key":"k"}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":""}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"` + strings.Repeat("k", maxKeySize+1) + `"}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","value":"v","value_base64":"dg=="}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","value_base64":"!!"}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","value":5}]}`, 400},
		{`{"writes":[` + ok + `{"op":"delete","key":"k","value":"v"}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","if_mod_revision":-1}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","session":1}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","seq":1}]}`, 400},
		{`{"writes":[` + ok + `{"op":"put","key":"k","value":"` + strings.Repeat("v", 17) + `"}]}`, 413},
		{`{"writes":[` + ok + `{"op":"put","key":"k","value":"` + strings.Repeat("v", 2<<20) + `"}]}`, 413},
	} {
		r := do(t, http.MethodPost, lead.HTTPURL()+"/batch", []byte(tc.body))
		require.Equal(t, tc.code, r.code, "%.200s: %s", tc.body, r.raw)
		require.NotEmpty(t, r.body["error"])
		require.Zero(t, lead.store.Revision(), "%.200s: something was applied", tc.body)
	}
	r := do(t, http.MethodGet, lead.HTTPURL()+"/batch", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.code, r.raw)
	doBatch(t, lead, "json", `{"writes":[`+ok[:len(ok)-1]+`]}`, 1)
	require.EqualValues(t, 1, lead.store.Revision(), "a valid batch is applied")
}

// The binary form is checked by the same rules as JSON (checkBatch) and
// refused whole as malformed: 400, or 413 for a value or a body over the
// limits, nothing applied, the error in JSON.
func TestBatchMsgpackRefusesInvalidRequestsWhole(t *testing.T) {
	lead := newCluster(t, 1, func(c *Config) { c.MaxValueSize = 16 }).leader()
	enc := func(ws ...batchwire.Write) []byte {
		b := batchwire.AppendRequestHeader(nil, len(ws))
		for i := range ws {
			b = batchwire.AppendWrite(b, &ws[i])
		}
		return b
	}
	ok := batchwire.Write{Op: batchwire.OpPut, Key: "ok", Value: []byte("v")}
	put := func(edit func(*batchwire.Write)) []byte {
		w := batchwire.Write{Op: batchwire.OpPut, Key: "k"}
		edit(&w)
		return enc(ok, w)
	}
	many := make([]batchwire.Write, maxBatchWrites+1)
	for i := range many {
		many[i] = batchwire.Write{Op: batchwire.OpPut, Key: "k"}
	}
	okBytes := enc(ok)[2:] // without the headers of the request and of its writes
	for name, tc := range map[string]struct {
		body []byte
		code int
	}{
		"not msgpack":       {[]byte("not json"), 400},
		"trailing bytes":    {append(enc(ok), 0), 400},
		"truncated":         {enc(ok)[:5], 400},
		"no writes":         {enc(), 400},
		"no writes array":   {[]byte{0x90}, 400},
		"too many writes":   {enc(many...), 400},
		"op 3":              {append([]byte{0x91, 0x92}, append(okBytes, 0x91, 3)...), 400},
		"no op":             {append([]byte{0x91, 0x92}, append(okBytes, 0x90)...), 400},
		"key not bytes":     {append([]byte{0x91, 0x92}, append(okBytes, 0x92, 1, 7)...), 400},
		"empty key":         {put(func(w *batchwire.Write) { w.Key = "" }), 400},
		"long key":          {put(func(w *batchwire.Write) { w.Key = strings.Repeat("k", maxKeySize+1) }), 400},
		"delete with value": {put(func(w *batchwire.Write) { w.Op, w.Value = batchwire.OpDelete, []byte{} }), 400},
		"if_mod -1":         {put(func(w *batchwire.Write) { w.Cond, w.IfModRevision = true, -1 }), 400},
		"session alone":     {put(func(w *batchwire.Write) { w.Session = 1 }), 400},
		"seq alone":         {put(func(w *batchwire.Write) { w.Seq = 1 }), 400},
		"value too large":   {put(func(w *batchwire.Write) { w.Value = bytes.Repeat([]byte("v"), 17) }), 413},
		"body too large":    {put(func(w *batchwire.Write) { w.Value = bytes.Repeat([]byte("v"), 2<<20) }), 413},
	} {
		code, ctype, raw := post(t, lead.HTTPURL()+"/batch", batchwire.ContentType, tc.body, nil)
		require.Equal(t, tc.code, code, "%s: %s", name, raw)
		require.Equal(t, "application/json", ctype, name)
		var body map[string]any
		require.NoError(t, json.Unmarshal(raw, &body), name)
		require.NotEmpty(t, body["error"], name)
		require.Zero(t, lead.store.Revision(), "%s: something was applied", name)
	}
	code, _, raw := post(t, lead.HTTPURL()+"/batch", batchwire.ContentType, enc(ok), nil)
	require.Equal(t, http.StatusOK, code, "%s", raw)
	require.EqualValues(t, 1, lead.store.Revision(), "a valid batch is applied")
}

// A follower forwards the whole batch to the leader, which answers it; a
// forwarded batch that reaches a follower is refused whole with 503 and
// the leader's URL, nothing proposed.
func TestBatchForwardedByFollower(t *testing.T) {
	forEachForm(t, func(t *testing.T, form string) {
		c := newCluster(t, 3, nil)
		lead, f := c.leader(), c.follower()
		res := doBatch(t, f, form, `{"writes":[{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"}]}`, 2)
		require.Equal(t, http.StatusOK, res[0].Code)
		require.EqualValues(t, lead.ID(), res[0].Body["header"].(map[string]any)["member_id"], "answered by the leader")
		require.EqualValues(t, 0, res[1].Body["deleted"])
		require.Equal(t, "1", value(lead, "a"))

		code, ctype, raw := postBatch(t, f.HTTPURL()+"/batch", form, `{"writes":[{"op":"put","key":"a","value":"2"}]}`,
			http.Header{forwardedHeader: {"1"}})
		require.Equal(t, http.StatusServiceUnavailable, code, string(raw))
		require.Equal(t, "application/json", ctype, "a batch that fails whole is answered in JSON")
		require.Contains(t, string(raw), `"leader_url":"`+lead.HTTPURL()+`"`)
		require.Equal(t, "1", value(lead, "a"))
	})
}

// A leader cut off from its followers accepts a batch, then steps down
// (CheckQuorum) with the entries uncommitted: they may still commit under
// a next leader, so each write is answered 504, outcome unknown, never as
// not applied.
func TestBatchOutcomeUnknownWhenLeadershipLost(t *testing.T) {
	forEachForm(t, func(t *testing.T, form string) {
		c := newCluster(t, 3, nil)
		lead := c.leader()
		for id := range c.nodes {
			if id != lead.ID() {
				lead.tr.Cut(id, true)
				t.Cleanup(func() { lead.tr.Cut(id, false) })
			}
		}
		res := doBatch(t, lead, form, `{"writes":[{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"}]}`, 2)
		for i, r := range res {
			require.Equal(t, http.StatusGatewayTimeout, r.Code, "write %d: %v", i, r.Body)
			require.Contains(t, r.Body["error"], "outcome unknown")
		}
	})
}
