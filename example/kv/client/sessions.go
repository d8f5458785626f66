package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ErrClosed is returned by the writes of a closed Client.
var ErrClosed = errors.New("kv: client closed")

// A session numbers the writes of one client so that the cluster applies
// each at most once, however often it is retried (Raft thesis §6.3). The
// store remembers, per session, only the last Seq and its result, so a
// session must never have two writes in flight: the second could overtake
// the first, whose retry would then be refused as stale. The client keeps
// a pool of sessions and gives each write one to itself until the write
// is over, retries included; writes from many goroutines run in parallel
// on different sessions, up to Options.MaxSessions.
type session struct {
	id       uint64
	seq      uint64    // last Seq handed out
	lastUsed time.Time // local clock; a long-idle session is not reused
}

// sessionPool hands out sessions, opening them lazily.
type sessionPool struct {
	c     *Client
	slots chan struct{} // one token per session in use or being opened

	mu     sync.Mutex
	idle   []*session // most recently used last
	closed bool
}

func newSessionPool(c *Client, max int) *sessionPool {
	return &sessionPool{c: c, slots: make(chan struct{}, max)}
}

// acquire returns a session for one write, which must give it back with
// release or drop. It waits while MaxSessions writes are in flight.
func (p *sessionPool) acquire(ctx context.Context) (*session, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s, err := p.takeIdle(); s != nil || err != nil {
		if err != nil {
			<-p.slots
		}
		return s, err
	}
	id, err := p.c.openSession(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return &session{id: id}, nil
}

// takeIdle pops the most recently used idle session. Sessions idle for
// more than half their TTL are dropped: the cluster may have expired them,
// and a fresh session costs less than a refused write.
func (p *sessionPool) takeIdle() (*session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(s.lastUsed) < p.c.opts.SessionTTL/2 {
			return s, nil
		}
	}
	return nil, nil
}

// release gives s back for the next write.
func (p *sessionPool) release(s *session) {
	s.lastUsed = time.Now()
	p.mu.Lock()
	if !p.closed {
		p.idle = append(p.idle, s)
	}
	p.mu.Unlock()
	<-p.slots
}

// drop forgets s, which the cluster expired.
func (p *sessionPool) drop(*session) { <-p.slots }

// close closes the idle sessions on the server, best effort, one attempt
// each.
func (p *sessionPool) close(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, s := range idle {
		endpoint, _ := p.c.current()
		r, err := p.c.send(ctx, endpoint, &request{method: http.MethodDelete, path: "/sessions/" + strconv.FormatUint(s.id, 10)})
		if err != nil || r.code != http.StatusOK {
			return // the rest expire by themselves
		}
	}
}

// openSession opens a session on the cluster (POST /sessions) and returns
// its id. A retried attempt may leave an unused session behind; it
// expires.
func (c *Client) openSession(ctx context.Context) (uint64, error) {
	body, err := json.Marshal(map[string]int64{"ttl_ms": c.opts.SessionTTL.Milliseconds()})
	if err != nil {
		return 0, err
	}
	req := &request{method: http.MethodPost, path: "/sessions", body: body}
	var id uint64
	err, _ = c.retry(ctx, "open session", func(ctx context.Context, endpoint string) (step, error) {
		r, err := c.send(ctx, endpoint, req)
		if st, err, ok := c.transient(ctx, endpoint, r, err); ok {
			return st, err
		}
		if r.code != http.StatusOK {
			return done, c.statusError(r, nil)
		}
		var b struct {
			Session uint64 `json:"session"`
		}
		if err := decodeJSON(r, &b); err != nil {
			return done, err
		}
		if b.Session == 0 {
			return done, fmt.Errorf("kv: %s answered session 0", endpoint)
		}
		id = b.Session
		return done, nil
	})
	return id, err
}
