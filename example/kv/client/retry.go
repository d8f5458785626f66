package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// step is what an attempt tells the retry loop to do next.
type step int

const (
	// done: the call is over; its error (nil or definite) is final.
	done step = iota
	// again: a transient failure; try again after a pause.
	again
	// againNow: a better endpoint is known (a leader hint); try again at
	// once.
	againNow
)

// attemptFunc makes one attempt of a call on endpoint.
type attemptFunc func(ctx context.Context, endpoint string) (step, error)

// retry runs attempt until it is done, the caller's ctx ends, or
// Options.MaxRetryTime is spent. It returns the final error of the
// attempt, or, having given up, an error wrapping ctx.Err() or
// ErrUnavailable, with gaveUp set.
//
// Before an attempt, if no leader is known, it asks the current endpoint
// for its status to find one. Pauses between attempts grow exponentially
// from InitialBackoff to MaxBackoff; a leader hint is followed at once, at
// most twice in a row, so that two nodes naming each other cannot make
// the loop spin.
func (c *Client) retry(parent context.Context, what string, attempt attemptFunc) (err error, gaveUp bool) {
	ctx, cancel := context.WithTimeout(parent, c.opts.MaxRetryTime)
	defer cancel()
	backoff := c.opts.InitialBackoff
	var last error
	hints := 0
	for {
		st, err := c.attemptOnce(ctx, attempt)
		if st == done {
			return err, false
		}
		last = err
		if st == againNow && hints < 2 && ctx.Err() == nil {
			hints++
			continue
		}
		hints = 0
		pause := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, c.opts.MaxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if parent.Err() != nil {
			return fmt.Errorf("kv: %s: %w (last attempt: %v)", what, parent.Err(), last), true
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kv: %s: %w: no answer within %v (last attempt: %v)", what, ErrUnavailable, c.opts.MaxRetryTime, last), true
		}
	}
}

// attemptOnce finds the endpoint to use, discovering the leader if need
// be, and makes one attempt there.
func (c *Client) attemptOnce(ctx context.Context, attempt attemptFunc) (step, error) {
	endpoint, guess := c.current()
	if guess {
		var err error
		if endpoint, err = c.discover(ctx, endpoint); err != nil {
			return again, err
		}
	}
	return attempt(ctx, endpoint)
}

// discover asks endpoint for the leader, makes it the target and returns
// it. A node that knows a leader but not its URL (or whose leader's URL
// failed last) is used itself: it forwards to the leader.
func (c *Client) discover(ctx context.Context, endpoint string) (string, error) {
	r, err := c.send(ctx, endpoint, &request{method: http.MethodGet, path: "/status"})
	if err != nil {
		if ctx.Err() == nil {
			c.failover(endpoint)
		}
		return "", fmt.Errorf("%s: status: %w", endpoint, err)
	}
	if r.code != http.StatusOK {
		c.failover(endpoint)
		return "", c.statusError(r, nil)
	}
	var st Status
	if err := decodeJSON(r, &st); err != nil {
		c.failover(endpoint)
		return "", err
	}
	if st.Leader == 0 {
		c.failover(endpoint)
		return "", fmt.Errorf("%s: no leader", endpoint)
	}
	target := endpoint
	for _, m := range st.Members {
		if m.ID == st.Leader && m.ClientURL != "" && !c.avoided(m.ClientURL) {
			target = m.ClientURL
		}
	}
	c.useLeader(target)
	return target, nil
}

// transient judges the answers every call treats alike: a transport
// error (ctx is the call's), 503 (nothing done; maybe go to the leader it names), 504 and
// other 5xx (outcome unknown; try again). ok is false for an answer the
// caller must judge.
func (c *Client) transient(ctx context.Context, endpoint string, r reply, err error) (st step, out error, ok bool) {
	if err != nil {
		if ctx.Err() == nil {
			// The endpoint failed, not the call: a caller that gives up
			// says nothing about the endpoint.
			c.failover(endpoint)
		}
		return again, fmt.Errorf("%s: %w", endpoint, err), true
	}
	if r.code < 500 {
		return done, nil, false
	}
	var eb errorBody
	_ = decodeJSON(r, &eb) // a 5xx from a proxy may be no JSON at all
	out = c.statusError(r, &eb)
	if eb.LeaderURL != "" && eb.LeaderURL != endpoint && !c.avoided(eb.LeaderURL) {
		c.useLeader(eb.LeaderURL)
		return againNow, out, true
	}
	if r.code == http.StatusServiceUnavailable {
		c.failover(endpoint)
	}
	return again, out, true
}

// statusError returns the error of an answer, wrapping the sentinel of its
// status code. eb is the decoded body, nil to decode it here.
func (c *Client) statusError(r reply, eb *errorBody) *StatusError {
	if eb == nil {
		eb = new(errorBody)
		_ = decodeJSON(r, eb)
	}
	msg := eb.Error
	if msg == "" {
		msg = http.StatusText(r.code)
	}
	e := &StatusError{Code: r.code, Message: msg, Header: eb.Header, Endpoint: r.endpoint}
	switch r.code {
	case http.StatusBadRequest:
		e.sentinel = ErrBadRequest
	case http.StatusRequestEntityTooLarge:
		e.sentinel = ErrValueTooLarge
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.sentinel = ErrUnavailable
	}
	return e
}

// uncertain reports whether an attempt that ended with (r, err) leaves
// its outcome unknown: a transport error other than a refused connection
// or a write that never left the batch queue (the request may have been
// sent), a 504 or another 5xx but 503 (which says nothing was done). Any
// other answer is definite.
func uncertain(r reply, err error) bool {
	if err != nil {
		var op *net.OpError
		return !(errors.As(err, &op) && op.Op == "dial") && !errors.Is(err, errNotSent)
	}
	return r.code >= 500 && r.code != http.StatusServiceUnavailable
}
