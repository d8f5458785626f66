package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits of batching.
const (
	// maxBatchWrites is the server's limit of writes per batch.
	maxBatchWrites = 1024
	// maxBatchBody bounds the body of a batch request the client builds;
	// the server takes at least 1 MiB.
	maxBatchBody = 1<<20 - 1<<10
	// maxBatchedValue is the largest value a batched write carries: a
	// larger one goes alone, since a request costs little next to it.
	maxBatchedValue = 64 << 10
	// maxBatchedKey is the server's longest key; a longer one goes alone,
	// to get its own 400.
	maxBatchedKey = 4096
	// noBatchPause is how long an endpoint that does not know POST /batch
	// (404 or 405: an older server) gets single requests only.
	noBatchPause = time.Minute
)

// errNotSent is the error of a write attempt that gave up while it still
// waited for a batch to go in: nothing was sent, so nothing applied.
var errNotSent = errors.New("write not sent")

// writeOp is one put or delete, sent alone as PUT or DELETE /kv/{key}, or
// as an entry of a POST /batch.
type writeOp struct {
	del   bool
	key   string
	value []byte
	ifMod *int64 // nil: unconditional
}

// request returns the request of op alone, in session with seq.
func (o *writeOp) request(session, seq uint64) *request {
	req := &request{method: http.MethodPut, path: keyPath(o.key), query: make(url.Values, 3), body: o.value}
	if o.del {
		req.method, req.body = http.MethodDelete, nil
	} else if req.body == nil {
		req.body = []byte{}
	}
	if o.ifMod != nil {
		req.query.Set("if_mod_revision", strconv.FormatInt(*o.ifMod, 10))
	}
	req.query.Set("session", strconv.FormatUint(session, 10))
	req.query.Set("seq", strconv.FormatUint(seq, 10))
	return req
}

// batchable reports whether op can go in a batch: a JSON string carries
// only UTF-8 keys, and big values are better alone.
func (o *writeOp) batchable() bool {
	return o.key != "" && len(o.key) <= maxBatchedKey && utf8.ValidString(o.key) && len(o.value) <= maxBatchedValue
}

// appendJSON appends the batch entry of op, in session with seq, to buf:
//
//	{"op":"put","key":"k","value":"v","if_mod_revision":3,"session":7,"seq":12}
func (o *writeOp) appendJSON(buf []byte, session, seq uint64) []byte {
	if o.del {
		buf = append(buf, `{"op":"delete","key":`...)
	} else {
		buf = append(buf, `{"op":"put","key":`...)
	}
	buf = appendJSONString(buf, o.key)
	switch {
	case o.del || len(o.value) == 0: // an absent value is the empty value
	case utf8.Valid(o.value):
		buf = append(buf, `,"value":`...)
		buf = appendJSONString(buf, o.value)
	default:
		buf = append(buf, `,"value_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, o.value)
		buf = append(buf, '"')
	}
	if o.ifMod != nil {
		buf = append(buf, `,"if_mod_revision":`...)
		buf = strconv.AppendInt(buf, *o.ifMod, 10)
	}
	buf = append(buf, `,"session":`...)
	buf = strconv.AppendUint(buf, session, 10)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	return append(buf, '}')
}

// appendJSONString appends s, valid UTF-8, as a JSON string. Printable
// ASCII is copied as it is; anything else goes through encoding/json.
func appendJSONString[T ~string | ~[]byte](buf []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			b, _ := json.Marshal(string(s)) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// sendWrite makes one attempt of op in session with seq on endpoint: in
// a batch with the other writes to endpoint, or alone. Its answer is the
// one op would get alone: the status code and body of its own result in
// the batch, or the whole answer when the batch failed as a whole (a
// transport error, 503, 504).
func (c *Client) sendWrite(ctx context.Context, endpoint string, op *writeOp, session, seq uint64) (reply, error) {
	if c.opts.DisableBatching || !op.batchable() {
		return c.send(ctx, endpoint, op.request(session, seq))
	}
	return c.batcher(endpoint).do(ctx, op, session, seq)
}

// batcher returns the batcher of endpoint.
func (c *Client) batcher(endpoint string) *batcher {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	b := c.batchers[endpoint]
	if b == nil {
		if c.batchers == nil {
			c.batchers = map[string]*batcher{}
		}
		b = &batcher{c: c, endpoint: endpoint}
		c.batchers[endpoint] = b
	}
	return b
}

// A batcher coalesces the concurrent writes to one endpoint ("natural
// batching"): while Options.MaxBatchesInFlight requests are in flight,
// new writes queue; when one returns, everything queued, up to
// Options.MaxBatch writes, goes in the next request. No write waits for a
// timer: a write that finds a free slot goes at once, alone, as the plain
// PUT or DELETE it would be without batching.
type batcher struct {
	c        *Client
	endpoint string

	mu       sync.Mutex
	inflight int             // write requests in flight
	queue    []*pendingWrite // not empty only while inflight is at the limit

	noBatchUntil atomic.Int64 // unix nanoseconds; see noBatchPause
}

// pendingWrite is a write waiting in a batcher's queue, then in a batch.
type pendingWrite struct {
	op           *writeOp
	session, seq uint64
	entry        []byte // its JSON in the batch
	done         chan writeResult
	taken        bool // under batcher.mu: out of the queue, in a request
}

// writeResult is the answer of one write of a batch.
type writeResult struct {
	r   reply
	err error
	// alone: the server refused the batch as a whole with nothing
	// applied (400, 413; 404 from an older server): send the write alone
	// to get its own answer.
	alone bool
}

// do makes one attempt of op on the batcher's endpoint, bounded by
// Options.Timeout, and returns the write's answer.
func (b *batcher) do(parent context.Context, op *writeOp, session, seq uint64) (reply, error) {
	if time.Now().UnixNano() < b.noBatchUntil.Load() {
		return b.c.send(parent, b.endpoint, op.request(session, seq))
	}
	if b.claim(nil) {
		return b.sendAlone(parent, op.request(session, seq))
	}
	p := &pendingWrite{op: op, session: session, seq: seq, entry: op.appendJSON(nil, session, seq),
		done: make(chan writeResult, 1)}
	if b.claim(p) {
		// A request returned while the entry was built.
		return b.sendAlone(parent, op.request(session, seq))
	}
	// A timer rather than a context.WithTimeout: cheaper, and the batch
	// request does not depend on this caller's context.
	timer := time.NewTimer(b.c.opts.Timeout)
	defer timer.Stop()
	var res writeResult
	var stop error
	select {
	case res = <-p.done:
	case <-timer.C:
		stop = context.DeadlineExceeded
	case <-parent.Done():
		stop = parent.Err()
	}
	if stop != nil {
		if b.unqueue(p) {
			return reply{}, fmt.Errorf("%w: %w", errNotSent, stop)
		}
		select {
		case res = <-p.done:
		default:
			// In a request already: as for a single request that timed
			// out, the write may be applied.
			return reply{}, fmt.Errorf("batch request: %w", stop)
		}
	}
	if res.alone {
		return b.c.send(parent, b.endpoint, op.request(session, seq))
	}
	return res.r, res.err
}

// claim takes a free request slot and returns true if there is one;
// otherwise it queues p, if not nil, and returns false.
func (b *batcher) claim(p *pendingWrite) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight < b.c.opts.MaxBatchesInFlight {
		b.inflight++
		return true
	}
	if p != nil {
		b.queue = append(b.queue, p)
	}
	return false
}

// unqueue removes p from the queue and reports whether it was there: if
// so, it was never sent.
func (b *batcher) unqueue(p *pendingWrite) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.taken {
		return false
	}
	for i, q := range b.queue {
		if q == p {
			b.queue = slices.Delete(b.queue, i, i+1)
			return true
		}
	}
	return false
}

// sendAlone sends req in the slot claim took, then hands the slot to the
// writes that queued meanwhile.
func (b *batcher) sendAlone(ctx context.Context, req *request) (reply, error) {
	r, err := b.c.send(ctx, b.endpoint, req)
	if batch := b.next(); batch != nil {
		go b.flushAll(batch)
	}
	return r, err
}

// next takes the next batch from the queue, or, with nothing queued,
// frees the caller's slot and returns nil.
func (b *batcher) next() []*pendingWrite {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.inflight--
		return nil
	}
	n, size := 0, len(`{"writes":[]}`)
	for n < len(b.queue) && n < b.c.opts.MaxBatch {
		size += len(b.queue[n].entry) + 1
		if n > 0 && size > maxBatchBody {
			break
		}
		n++
	}
	batch := make([]*pendingWrite, n)
	copy(batch, b.queue)
	for _, p := range batch {
		p.taken = true
	}
	k := copy(b.queue, b.queue[n:])
	clear(b.queue[k:])
	b.queue = b.queue[:k]
	return batch
}

// flushAll sends batch, then the next ones, until the queue is empty.
func (b *batcher) flushAll(batch []*pendingWrite) {
	for batch != nil {
		b.flush(batch)
		batch = b.next()
	}
}

// flush sends one batch and gives each write its answer.
func (b *batcher) flush(batch []*pendingWrite) {
	if len(batch) == 1 {
		p := batch[0]
		r, err := b.c.send(context.Background(), b.endpoint, p.op.request(p.session, p.seq))
		p.done <- writeResult{r: r, err: err}
		return
	}
	size := len(`{"writes":[]}`)
	for _, p := range batch {
		size += len(p.entry) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, `{"writes":[`...)
	for i, p := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, p.entry...)
	}
	body = append(body, "]}"...)
	// The request serves many callers: it is bounded by Options.Timeout
	// (in send), not by any one caller's context.
	r, err := b.c.send(context.Background(), b.endpoint, &request{method: http.MethodPost, path: "/batch", body: body})
	switch {
	case err != nil:
		for _, p := range batch {
			p.done <- writeResult{err: err}
		}
	case r.code == http.StatusOK:
		b.deliver(batch, r)
	case r.code >= 400 && r.code < 500:
		if r.code == http.StatusNotFound || r.code == http.StatusMethodNotAllowed {
			b.noBatchUntil.Store(time.Now().Add(noBatchPause).UnixNano())
		}
		for _, p := range batch {
			p.done <- writeResult{alone: true}
		}
	default:
		// 503, 504, another 5xx: the answer of each write, as if alone.
		for _, p := range batch {
			p.done <- writeResult{r: r}
		}
	}
}

// batchAnswer is the body of a 200 answer to POST /batch.
type batchAnswer struct {
	Results []struct {
		Code int        `json:"code"`
		Body *writeBody `json:"body"`
	} `json:"results"`
}

// deliver gives each write of batch its result from the 200 answer r. An
// answer that does not decode, or has not one result per write, leaves
// the outcome of the writes unknown, as a broken connection would.
func (b *batcher) deliver(batch []*pendingWrite, r reply) {
	var ans batchAnswer
	err := json.Unmarshal(r.body, &ans)
	if err == nil && len(ans.Results) != len(batch) {
		err = fmt.Errorf("%d results for %d writes", len(ans.Results), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.done <- writeResult{err: fmt.Errorf("malformed batch answer: %w", err)}
			continue
		}
		res := ans.Results[i]
		if res.Code == 0 || res.Body == nil {
			p.done <- writeResult{err: fmt.Errorf("malformed batch answer: result %d has no code or body", i)}
			continue
		}
		p.done <- writeResult{r: reply{code: res.Code, decoded: res.Body, endpoint: r.endpoint}}
	}
}
