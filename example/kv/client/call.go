package client

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
)

// read runs a call that has no effect: every failure is retried.
// handle judges the answers transient does not.
func (c *Client) read(ctx context.Context, what string, req *request, handle func(reply) error) error {
	err, _ := c.retry(ctx, what, func(ctx context.Context, endpoint string) (step, error) {
		r, err := c.send(ctx, endpoint, req)
		if st, err, ok := c.transient(ctx, endpoint, r, err); ok {
			return st, err
		}
		return done, handle(r)
	})
	return err
}

// write runs a put or delete in a session: every attempt carries the same
// (session, seq), so the store applies the write at most once. An answer
// 410 (the session expired) before any attempt whose outcome is unknown is
// harmless, since the store wrote nothing: the write moves to a new
// session and a new seq. After such an attempt, it is the end: the first
// attempt may have been applied, and the retry cannot tell, so the error
// wraps ErrOutcomeUnknown and ErrSessionExpired.
func (c *Client) write(ctx context.Context, what string, req *request, handle func(reply) error) error {
	s, err := c.sessions.acquire(ctx)
	if err != nil {
		return fmt.Errorf("kv: %s: session: %w", what, err)
	}
	s.seq++
	defer func() {
		if s != nil {
			c.sessions.release(s)
		}
	}()
	unknown := false // an attempt may have been applied
	attempt := *req
	err, gaveUp := c.retry(ctx, what, func(ctx context.Context, endpoint string) (step, error) {
		if s == nil {
			var err error
			if s, err = c.sessions.acquire(ctx); err != nil {
				return done, fmt.Errorf("kv: %s: session: %w", what, err)
			}
			s.seq++
		}
		q := make(url.Values, len(req.query)+2)
		maps.Copy(q, req.query)
		q.Set("session", strconv.FormatUint(s.id, 10))
		q.Set("seq", strconv.FormatUint(s.seq, 10))
		attempt.query = q
		r, err := c.send(ctx, endpoint, &attempt)
		wasUnknown := unknown
		unknown = unknown || uncertain(r, err)
		if st, err, ok := c.transient(ctx, endpoint, r, err); ok {
			return st, err
		}
		if r.code == http.StatusGone {
			c.sessions.drop(s)
			s = nil
			if wasUnknown {
				return done, fmt.Errorf("kv: %s: %w: %w", what, ErrOutcomeUnknown, ErrSessionExpired)
			}
			return againNow, c.statusError(r, nil)
		}
		err = handle(r)
		if err != nil && wasUnknown && r.code == http.StatusConflict {
			// "stale sequence": the store no longer knows the result of
			// this seq. Every other answer to the same (session, seq) is
			// the one the first attempt got, or would have got.
			return done, fmt.Errorf("kv: %s: %w: %w", what, ErrOutcomeUnknown, err)
		}
		return done, err
	})
	if gaveUp && unknown {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return err
}
