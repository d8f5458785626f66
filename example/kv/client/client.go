package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxRetryTime   = 30 * time.Second
	DefaultInitialBackoff = 25 * time.Millisecond
	DefaultMaxBackoff     = time.Second
	DefaultSessionTTL     = time.Minute
	DefaultMaxSessions    = 64
	// DefaultMaxBatch and DefaultMaxBatchesInFlight are the defaults of
	// Options.MaxBatch and Options.MaxBatchesInFlight.
	DefaultMaxBatch           = 256
	DefaultMaxBatchesInFlight = 2
)

// maxResponse bounds the body of an answer read into memory.
const maxResponse = 64 << 20

// Options tune a Client. The zero value means the defaults.
type Options struct {
	// Timeout bounds one attempt of a request on one endpoint
	// (DefaultTimeout).
	Timeout time.Duration
	// MaxRetryTime bounds all attempts of one call together
	// (DefaultMaxRetryTime). The caller's context can end a call sooner.
	MaxRetryTime time.Duration
	// InitialBackoff is the pause before the second attempt; it doubles
	// after each attempt up to MaxBackoff (DefaultInitialBackoff,
	// DefaultMaxBackoff). A pause lasts between half and all of it.
	InitialBackoff time.Duration
	// MaxBackoff caps the pause between attempts.
	MaxBackoff time.Duration
	// SessionTTL is the TTL the client asks for its sessions
	// (DefaultSessionTTL). It should be well above MaxRetryTime.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions, so the writes in flight, of the
	// client (DefaultMaxSessions). A write waits for a free session.
	MaxSessions int
	// HTTPClient sends the requests; nil means one of the client's own.
	HTTPClient *http.Client

	// DisableBatching sends every write as a request of its own (PUT or
	// DELETE /kv/{key}) instead of coalescing concurrent writes into POST
	// /batch requests (see the package documentation).
	DisableBatching bool
	// MaxBatch bounds the writes of one batch request (DefaultMaxBatch;
	// at most 1024, the server's limit).
	MaxBatch int
	// MaxBatchesInFlight bounds the write requests in flight to one
	// endpoint (DefaultMaxBatchesInFlight); further writes wait and go
	// together in the next request. A request beyond the first goes only
	// while those in flight carry one write each, or once as many writes
	// wait as the batch in flight carries.
	MaxBatchesInFlight int
	// JSONBatches sends batches as JSON, as curl users write them, rather
	// than in the compact binary form (msgpack): slower at both ends, but
	// readable in a packet capture. Against a server that refuses the
	// binary form the client falls back to JSON by itself.
	JSONBatches bool
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.MaxRetryTime, DefaultMaxRetryTime)
	def(&o.InitialBackoff, DefaultInitialBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.SessionTTL, DefaultSessionTTL)
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	o.MaxBatch = min(o.MaxBatch, maxBatchWrites)
	if o.MaxBatchesInFlight <= 0 {
		o.MaxBatchesInFlight = DefaultMaxBatchesInFlight
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.MaxSessions + 16
		o.HTTPClient = &http.Client{Transport: tr}
	}
	return o
}

// Client talks to a kv cluster through the HTTP API of its nodes. It is
// safe for concurrent use by many goroutines; share one.
type Client struct {
	endpoints []string
	opts      Options
	sessions  *sessionPool

	mu sync.Mutex
	// target is the base URL requests go to: the leader when known (from
	// GET /status or a 503's leader_url), else endpoints[next]. "" means
	// look for the leader first.
	target string
	next   int
	// avoid is the last endpoint that failed: a leader URL equal to it,
	// named by a node that has not noticed yet, is not followed.
	avoid string

	bmu      sync.Mutex
	batchers map[string]*batcher // by endpoint
}

// New returns a client of the cluster whose nodes answer at endpoints
// ("http://127.0.0.1:8001", ...). It does not contact them yet.
func New(endpoints []string, opts Options) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("kv: no endpoints")
	}
	eps := make([]string, len(endpoints))
	for i, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("kv: endpoint %q: want http://host:port", e)
		}
		eps[i] = strings.TrimRight(e, "/")
	}
	c := &Client{endpoints: eps, opts: opts.withDefaults()}
	c.sessions = newSessionPool(c, c.opts.MaxSessions)
	return c, nil
}

// Endpoints returns the endpoints the client was built with.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Close closes the client's idle sessions on the server (best effort,
// bounded by ctx) and its idle connections. Calls after Close fail.
func (c *Client) Close(ctx context.Context) error {
	c.sessions.close(ctx)
	c.opts.HTTPClient.CloseIdleConnections()
	return nil
}

// request is one HTTP request of the API, sent as many times as needed.
type request struct {
	method string
	path   string // escaped path, "/kv/a%2Fb"
	query  url.Values
	body   []byte
	ctype  string // the Content-Type of body, if any
}

// reply is one answer of a server, or one result of a batch answer.
type reply struct {
	code     int
	body     []byte
	ctype    string // the Content-Type of body
	endpoint string
	// decoded is, for a result of a batch, its body, decoded already
	// (body is then nil).
	decoded *writeBody
}

// send makes one attempt of req on endpoint, bounded by Options.Timeout.
func (c *Client) send(ctx context.Context, endpoint string, req *request) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	u := endpoint + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return reply{}, err
	}
	if req.ctype != "" {
		hr.Header.Set("Content-Type", req.ctype)
	}
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return reply{}, err
	}
	return reply{code: resp.StatusCode, body: b, ctype: resp.Header.Get("Content-Type"), endpoint: endpoint}, nil
}

// current returns the endpoint to use, and whether it is only a guess
// (no leader known).
func (c *Client) current() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.target != "" {
		return c.target, false
	}
	return c.endpoints[c.next], true
}

// useLeader makes url the target of the next requests.
func (c *Client) useLeader(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target = strings.TrimRight(url, "/")
}

// failover moves away from failed, unless another goroutine did already:
// the next request goes to the endpoint after it, by way of leader
// discovery.
func (c *Client) failover(failed string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.target != "" && c.target != failed {
		return
	}
	if c.target == "" && c.endpoints[c.next] != failed {
		return
	}
	c.target = ""
	c.next = (c.next + 1) % len(c.endpoints)
	c.avoid = failed
}

// avoided reports whether url failed last.
func (c *Client) avoided(url string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimRight(url, "/") == c.avoid
}

// decodeJSON decodes an answer's body into v.
func decodeJSON(r reply, v any) error {
	if r.decoded != nil {
		if r.decoded.fill(v) {
			return nil
		}
		// Not a type a write decodes; none asks for one today.
		r.body, _ = json.Marshal(r.decoded)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("kv: %s answered %d with malformed JSON: %w", r.endpoint, r.code, err)
	}
	return nil
}
