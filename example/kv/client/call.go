package client

import (
	"context"
	"fmt"
	"net/http"
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
// (session, seq), so the store applies the write at most once. An attempt
// may travel in a batch with other writes (sendWrite); its answer is then
// its own result in the batch, judged as the answer to a single request.
// An answer 410 (the session expired) before any attempt whose outcome is
// unknown is harmless, since the store wrote nothing: the write moves to a
// new session and a new seq. After such an attempt, it is the end: the
// first attempt may have been applied, and the retry cannot tell, so the
// error wraps ErrOutcomeUnknown and ErrSessionExpired.
func (c *Client) write(ctx context.Context, what string, op *writeOp, handle func(reply) error) error {
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
	err, gaveUp := c.retry(ctx, what, func(ctx context.Context, endpoint string) (step, error) {
		if s == nil {
			var err error
			if s, err = c.sessions.acquire(ctx); err != nil {
				return done, fmt.Errorf("kv: %s: session: %w", what, err)
			}
			s.seq++
		}
		r, err := c.sendWrite(ctx, endpoint, op, s.id, s.seq)
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
