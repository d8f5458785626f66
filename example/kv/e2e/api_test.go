package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// The response shapes of the HTTP API (see example/kv/CONTRACT.md).

type respHeader struct {
	MemberID uint64 `json:"member_id"`
	RaftTerm uint64 `json:"raft_term"`
	Revision int64  `json:"revision"`
}

// kvResp is the body of every /kv/{key} answer, success or error.
type kvResp struct {
	Header         respHeader `json:"header"`
	Key            string     `json:"key"`
	Value          string     `json:"value"`
	ValueBase64    string     `json:"value_base64"`
	CreateRevision int64      `json:"create_revision"`
	ModRevision    int64      `json:"mod_revision"`
	Version        int64      `json:"version"`
	Deleted        int64      `json:"deleted"`
	Error          string     `json:"error"`
	Leader         uint64     `json:"leader"`
	LeaderURL      string     `json:"leader_url"`
}

type statusResp struct {
	Header   respHeader      `json:"header"`
	ID       uint64          `json:"id"`
	Term     uint64          `json:"term"`
	Leader   uint64          `json:"leader"`
	Commit   uint64          `json:"commit"`
	Applied  uint64          `json:"applied"`
	Revision int64           `json:"revision"`
	Members  json.RawMessage `json:"members"`
}

type memberJSON struct {
	ID        uint64 `json:"id"`
	PeerAddr  string `json:"peer_addr"`
	ClientURL string `json:"client_url"`
	Learner   bool   `json:"learner"`
}

type membersResp struct {
	Header  respHeader   `json:"header"`
	Members []memberJSON `json:"members"`
	Error   string       `json:"error"`
}

// An httpError is an answer with a status other than the one expected.
type httpError struct {
	Code int
	Body string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// statusOf returns the HTTP status of err, or 0 if err is not an answer.
func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.Code
	}
	return 0
}

// refused reports whether err says the request never reached a server
// (connection refused), so it certainly had no effect.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// api makes the HTTP calls of the tests.
type api struct {
	hc *http.Client
}

func newAPI() *api { return &api{hc: httpClient()} }

func (a *api) close() { a.hc.CloseIdleConnections() }

// do sends a request and returns the status and body.
func (a *api) do(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, data, err
	}
	return resp.StatusCode, data, nil
}

// call sends a request and decodes a 200 answer into out; any other status
// is an *httpError, whose body is also decoded into out when it is JSON.
func (a *api) call(ctx context.Context, method, u string, body []byte, out any) error {
	code, data, err := a.do(ctx, method, u, body)
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		if jerr := json.Unmarshal(data, out); jerr != nil && code == http.StatusOK {
			return fmt.Errorf("%s %s: undecodable 200 answer %q: %v", method, u, data, jerr)
		}
	}
	if code != http.StatusOK {
		return &httpError{Code: code, Body: string(bytes.TrimSpace(data))}
	}
	return nil
}

func (a *api) status(base string) (statusResp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var st statusResp
	err := a.call(ctx, http.MethodGet, base+"/status", nil, &st)
	return st, err
}

// kvURL is the URL of key at base with the given query parameters.
func kvURL(base, key string, q url.Values) string {
	u := base + "/kv/" + url.PathEscape(key)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (a *api) put(ctx context.Context, base, key, value string, q url.Values) (kvResp, error) {
	var r kvResp
	err := a.call(ctx, http.MethodPut, kvURL(base, key, q), []byte(value), &r)
	return r, err
}

// cas puts value only if key's mod revision is ifModRev (0: only if absent).
func (a *api) cas(ctx context.Context, base, key, value string, ifModRev int64) (kvResp, error) {
	return a.put(ctx, base, key, value, url.Values{"if_mod_revision": {strconv.FormatInt(ifModRev, 10)}})
}

// get reads key linearizably, or locally when stale is set.
func (a *api) get(ctx context.Context, base, key string, stale bool) (kvResp, error) {
	var q url.Values
	if stale {
		q = url.Values{"consistency": {"stale"}}
	}
	var r kvResp
	err := a.call(ctx, http.MethodGet, kvURL(base, key, q), nil, &r)
	return r, err
}

func (a *api) members(ctx context.Context, base string) ([]memberJSON, error) {
	var r membersResp
	err := a.call(ctx, http.MethodGet, base+"/members", nil, &r)
	return r.Members, err
}

func (a *api) addMember(ctx context.Context, base string, id uint64, peerAddr string) ([]memberJSON, error) {
	body, err := json.Marshal(map[string]any{"id": id, "peer_addr": peerAddr, "learner": false})
	if err != nil {
		return nil, err
	}
	var r membersResp
	err = a.call(ctx, http.MethodPost, base+"/members", body, &r)
	return r.Members, err
}

func (a *api) removeMember(ctx context.Context, base string, id uint64) ([]memberJSON, error) {
	var r membersResp
	err := a.call(ctx, http.MethodDelete, base+"/members/"+strconv.FormatUint(id, 10), nil, &r)
	return r.Members, err
}

// cut cuts (or heals) node base's link to peer: base drops everything to
// and from peer. The node must run with --debug-faults.
func (a *api) cut(ctx context.Context, base string, peer uint64, cut bool) error {
	u := fmt.Sprintf("%s/debug/cut?peer=%d&cut=%t", base, peer, cut)
	code, data, err := a.do(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK && code != http.StatusNoContent {
		return &httpError{Code: code, Body: string(data)}
	}
	return nil
}

// Cluster-level helpers that retry until the cluster answers.

// mustPut writes key=value through any running node, retrying on errors
// until one attempt is acknowledged, and returns the acknowledgement.
func (c *cluster) mustPut(key, value string) kvResp {
	c.t.Helper()
	var r kvResp
	waitFor(c.t, 30*time.Second, fmt.Sprintf("put %s=%s", key, value), func() error {
		l, err := c.findLeader()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err = c.api.put(ctx, c.url(l), key, value, nil)
		return err
	})
	if r.Value != value || r.ModRevision == 0 || r.Version == 0 {
		c.t.Fatalf("put %s=%s: acknowledged as %+v", key, value, r)
	}
	return r
}

// mustGet reads key from node id until it answers 200 or 404, and returns
// the answer and whether the key was found.
func (c *cluster) mustGet(id uint64, key string, stale bool) (kvResp, bool) {
	c.t.Helper()
	var r kvResp
	found := false
	waitFor(c.t, 30*time.Second, fmt.Sprintf("get %s from node %d (stale=%t)", key, id, stale), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		r, err = c.api.get(ctx, c.url(id), key, stale)
		switch {
		case err == nil:
			found = true
			return nil
		case statusOf(err) == http.StatusNotFound:
			found = false
			return nil
		}
		return err
	})
	return r, found
}

// checkAll fails the test unless node id returns every key of want with
// its value.
func (c *cluster) checkAll(id uint64, want map[string]string, stale bool) {
	c.t.Helper()
	for _, k := range sortedKeys(want) {
		r, found := c.mustGet(id, k, stale)
		if !found {
			c.t.Fatalf("node %d (stale=%t): acknowledged key %q is missing", id, stale, k)
		}
		if r.Value != want[k] {
			c.t.Fatalf("node %d (stale=%t): key %q = %q, acknowledged %q", id, stale, k, r.Value, want[k])
		}
	}
}
