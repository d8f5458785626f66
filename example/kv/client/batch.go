package client

import (
	"context"
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

	"github.com/keelraft/raft/example/kv/internal/batchwire"
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
	// (404 or 405: an older server) gets single requests only, and one
	// that does not read the binary form gets JSON batches only.
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
// only UTF-8 keys (and a batch may have to go as JSON), big values are
// better alone, and a write the server would refuse goes alone, to get
// its own 400 rather than fail its batch.
func (o *writeOp) batchable() bool {
	return o.key != "" && len(o.key) <= maxBatchedKey && utf8.ValidString(o.key) && len(o.value) <= maxBatchedValue &&
		(o.ifMod == nil || *o.ifMod >= 0)
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
// batching"): while a request is in flight, new writes queue; when one
// returns, everything queued, up to Options.MaxBatch writes, goes in the
// next request. No write waits for a timer: a write that finds a free
// slot goes at once, alone, as the plain PUT or DELETE it would be
// without batching.
//
// Up to Options.MaxBatchesInFlight requests may be in flight, but more
// than one only while each carries a single write, or once as many
// writes wait as the batch in flight carries: a few writers overlap
// rather than take turns, and under load the writers split between two
// batches of about equal size, each half a round trip behind the other,
// rather than between a batch and the stragglers that found a free slot
// (BENCHMARKS.md: with 4 writers on three local nodes 50% more writes/s,
// with 64 writers about 10% more, in five interleaved pairs).
type batcher struct {
	c        *Client
	endpoint string

	mu        sync.Mutex
	inflight  int // write requests in flight
	batches   int // of them, those carrying more than one write
	lastBatch int // the writes of the last batch taken (queueMatchesBatch)
	// queue is the writes waiting for a request. It is not empty only
	// while inflight is at the limit, or a batch is in flight (which
	// takes the queue when it returns) and the queue is shorter than it.
	queue []*pendingWrite

	noBatchUntil atomic.Int64 // unix nanoseconds; see noBatchPause
	jsonUntil    atomic.Int64 // unix nanoseconds: send JSON batches until then
}

// pendingWrite is a write waiting in a batcher's queue, then in a batch.
type pendingWrite struct {
	op           *writeOp
	session, seq uint64
	// entry is the write as an entry of a batch, in JSON if json is set,
	// else in the binary form. Its caller encodes it before it waits, so
	// that the one goroutine that sends the batch only concatenates.
	entry []byte
	json  bool
	done  chan writeResult
	taken bool // under batcher.mu: out of the queue, in a request
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
	now := time.Now().UnixNano()
	if now < b.noBatchUntil.Load() {
		return b.c.send(parent, b.endpoint, op.request(session, seq))
	}
	if b.claim(nil) {
		return b.sendAlone(parent, op.request(session, seq))
	}
	asJSON := b.sendsJSON(now)
	p := &pendingWrite{op: op, session: session, seq: seq, entry: op.appendEntry(nil, session, seq, asJSON), json: asJSON,
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

// sendsJSON reports whether batches go as JSON at now (unix nanoseconds):
// with Options.JSONBatches, or to an endpoint that lately did not read the
// binary form.
func (b *batcher) sendsJSON(now int64) bool {
	return b.c.opts.JSONBatches || now < b.jsonUntil.Load()
}

// claim takes a free request slot and returns true if there is one: none
// is in flight, or fewer than the limit and no batch; otherwise it queues
// p, if not nil, and returns false. A queue as long as the batch in
// flight goes at once in a free slot.
func (b *batcher) claim(p *pendingWrite) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight == 0 || (b.inflight < b.c.opts.MaxBatchesInFlight && b.batches == 0) {
		b.inflight++
		return true
	}
	if p != nil {
		b.queue = append(b.queue, p)
		if b.inflight < b.c.opts.MaxBatchesInFlight && b.queueMatchesBatch() {
			b.inflight++
			go b.flushAll(b.take())
		}
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
	if batch := b.next(1); batch != nil {
		go b.flushAll(batch)
	}
	return r, err
}

// next is called when the caller's request, of sent writes, returned: it
// takes the next batch from the queue for the caller's slot, or, with
// nothing queued or a batch in flight that will take the queue, frees the
// slot and returns nil.
func (b *batcher) next(sent int) []*pendingWrite {
	b.mu.Lock()
	defer b.mu.Unlock()
	if sent > 1 {
		b.batches--
	}
	if len(b.queue) == 0 || (b.batches > 0 && !b.queueMatchesBatch()) {
		b.inflight--
		return nil
	}
	return b.take()
}

// queueMatchesBatch reports whether as many writes wait as the last batch
// taken carries: then they go beside the batch in flight, in a free slot,
// rather than wait for it. Under load the writers so split between two
// batches, each half a round trip behind the other.
func (b *batcher) queueMatchesBatch() bool { return len(b.queue) >= b.lastBatch }

// take removes the next batch from the queue and returns it.
func (b *batcher) take() []*pendingWrite {
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
	if n > 1 {
		b.batches++
		b.lastBatch = n
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
		batch = b.next(len(batch))
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
	asJSON := b.sendsJSON(time.Now().UnixNano())
	r, err := b.post(batch, asJSON)
	if err == nil && !asJSON && (r.code == http.StatusBadRequest || r.code == http.StatusUnsupportedMediaType) {
		// An older server reads every batch as JSON and refuses the binary
		// form as malformed (400), with nothing applied. (A newer one
		// never refuses a batch this client builds: the writes it would
		// refuse go alone.) Send it again in JSON, and keep to JSON for a
		// while if that works.
		r, err = b.post(batch, true)
		if err == nil && r.code == http.StatusOK {
			b.jsonUntil.Store(time.Now().Add(noBatchPause).UnixNano())
		}
	}
	switch {
	case err != nil:
		for _, p := range batch {
			p.done <- writeResult{err: err}
		}
	case r.code == http.StatusOK:
		for i, res := range batchResults(batch, r) {
			batch[i].done <- res
		}
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

// post sends batch as one POST /batch, in JSON if asJSON is set, else in
// the binary form.
func (b *batcher) post(batch []*pendingWrite, asJSON bool) (reply, error) {
	req := &request{method: http.MethodPost, path: "/batch", body: batchBody(batch, asJSON), ctype: "application/json"}
	if !asJSON {
		req.ctype = batchwire.ContentType
	}
	// The request serves many callers: it is bounded by Options.Timeout
	// (in send), not by any one caller's context.
	return b.c.send(context.Background(), b.endpoint, req)
}
