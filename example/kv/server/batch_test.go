package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// batchResult is one result of a POST /batch answer.
type batchResult struct {
	Code int            `json:"code"`
	Body map[string]any `json:"body"`
}

// doBatch posts body to s's /batch and requires a 200 with one result per
// write.
func doBatch(t *testing.T, s *Server, body string, writes int) []batchResult {
	t.Helper()
	r := do(t, http.MethodPost, s.HTTPURL()+"/batch", []byte(body))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	var ans struct {
		Results []batchResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.raw), &ans), r.raw)
	require.Len(t, ans.Results, writes, r.raw)
	return ans.Results
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
	got := doBatch(t, batched, `{"writes":[`+strings.Join(entries, ",")+`]}`, len(writes))
	for i := range got {
		got[i].Body = withoutNode(got[i].Body)
		require.Equal(t, want[i], got[i], "write %d: %s", i, writes[i].json)
	}
	require.Equal(t, http.StatusPreconditionFailed, got[5].Code, "a stale compare fails alone")
	require.Equal(t, single.store.Revision(), batched.store.Revision())
}

// A batch carries the session and seq of each write: a write repeated in
// the same batch or in a later one is applied once and answered with its
// first result; an older seq is refused (409), an unknown session too
// (410), each without failing the others.
func TestBatchDeduplicatesSessions(t *testing.T) {
	lead := newCluster(t, 3, nil).leader()
	r := do(t, http.MethodPost, lead.HTTPURL()+"/sessions", []byte(`{"ttl_ms":60000}`))
	require.Equal(t, http.StatusOK, r.code, r.raw)
	session := r.num("session")
	w := func(key, value string, seq int) string {
		return fmt.Sprintf(`{"op":"put","key":%q,"value":%q,"session":%d,"seq":%d}`, key, value, session, seq)
	}

	twice := `{"writes":[` + w("k", "1", 1) + "," + w("k", "1", 1) + `]}`
	first := doBatch(t, lead, twice, 2)
	require.Equal(t, http.StatusOK, first[0].Code)
	require.Equal(t, first[0], first[1], "the same (session, seq) twice in one batch")
	require.EqualValues(t, 1, first[0].Body["version"])
	rev := lead.store.Revision()

	again := doBatch(t, lead, twice, 2)
	require.Equal(t, first, again, "the batch sent again")
	require.Equal(t, rev, lead.store.Revision(), "nothing applied twice")

	mixed := doBatch(t, lead, `{"writes":[`+w("k", "3", 3)+","+w("k", "2", 2)+","+
		`{"op":"put","key":"k","value":"x","session":999999,"seq":1},`+
		`{"op":"put","key":"other","value":"o"}]}`, 4)
	require.Equal(t, http.StatusOK, mixed[0].Code, mixed[0].Body)
	require.EqualValues(t, 2, mixed[0].Body["version"])
	require.Equal(t, http.StatusConflict, mixed[1].Code, "seq 2 after seq 3 is stale")
	require.Equal(t, http.StatusGone, mixed[2].Code, "unknown session")
	require.Equal(t, http.StatusOK, mixed[3].Code)
	require.Equal(t, "3", value(lead, "k"))
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
	doBatch(t, lead, `{"writes":[`+ok[:len(ok)-1]+`]}`, 1)
	require.EqualValues(t, 1, lead.store.Revision(), "a valid batch is applied")
}

// A follower forwards the whole batch to the leader, which answers it; a
// forwarded batch that reaches a follower is refused whole with 503 and
// the leader's URL, nothing proposed.
func TestBatchForwardedByFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead, f := c.leader(), c.follower()
	res := doBatch(t, f, `{"writes":[{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"}]}`, 2)
	require.Equal(t, http.StatusOK, res[0].Code)
	require.EqualValues(t, lead.ID(), res[0].Body["header"].(map[string]any)["member_id"], "answered by the leader")
	require.EqualValues(t, 0, res[1].Body["deleted"])
	require.Equal(t, "1", value(lead, "a"))

	req, err := http.NewRequest(http.MethodPost, f.HTTPURL()+"/batch",
		bytes.NewReader([]byte(`{"writes":[{"op":"put","key":"a","value":"2"}]}`)))
	require.NoError(t, err)
	req.Header.Set(forwardedHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(raw))
	require.Contains(t, string(raw), `"leader_url":"`+lead.HTTPURL()+`"`)
	require.Equal(t, "1", value(lead, "a"))
}

// A leader cut off from its followers accepts a batch, then steps down
// (CheckQuorum) with the entries uncommitted: they may still commit under
// a next leader, so each write is answered 504, outcome unknown, never as
// not applied.
func TestBatchOutcomeUnknownWhenLeadershipLost(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	for id := range c.nodes {
		if id != lead.ID() {
			lead.tr.Cut(id, true)
			t.Cleanup(func() { lead.tr.Cut(id, false) })
		}
	}
	res := doBatch(t, lead, `{"writes":[{"op":"put","key":"a","value":"1"},{"op":"delete","key":"b"}]}`, 2)
	for i, r := range res {
		require.Equal(t, http.StatusGatewayTimeout, r.Code, "write %d: %v", i, r.Body)
		require.Contains(t, r.Body["error"], "outcome unknown")
	}
}
