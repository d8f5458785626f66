package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Put sets key to value. The write is applied exactly once, however often
// it is retried (see the package documentation for when its outcome is
// unknown).
func (c *Client) Put(ctx context.Context, key string, value []byte) (KVResponse, error) {
	return c.put(ctx, "put "+strconv.Quote(key), key, value, nil)
}

// CompareAndSwap sets key to value only if the key's ModRevision is
// modRevision; 0 means only if the key is absent. On a mismatch it writes
// nothing and returns a *CompareError (errors.Is ErrCompareFailed) with
// the current ModRevision.
func (c *Client) CompareAndSwap(ctx context.Context, key string, value []byte, modRevision int64) (KVResponse, error) {
	return c.put(ctx, "compare-and-swap "+strconv.Quote(key), key, value, &modRevision)
}

func (c *Client) put(ctx context.Context, what, key string, value []byte, ifMod *int64) (KVResponse, error) {
	var out KVResponse
	err := c.write(ctx, what, &writeOp{key: key, value: value, ifMod: ifMod}, func(r reply) (err error) {
		out, err = c.putResult(r, key, ifMod)
		return err
	})
	if err != nil {
		return KVResponse{}, err
	}
	return out, nil
}

// putResult judges the answer r to a put of key, conditional on ifMod if
// not nil, that the retry loop did not judge already (write).
func (c *Client) putResult(r reply, key string, ifMod *int64) (KVResponse, error) {
	switch r.code {
	case http.StatusOK:
		var b kvBody
		if err := decodeJSON(r, &b); err != nil {
			return KVResponse{}, err
		}
		return b.response(), nil
	case http.StatusPreconditionFailed:
		return KVResponse{}, compareError(r, key, *ifMod)
	}
	return KVResponse{}, c.statusError(r, nil)
}

// Delete removes key. Deleting an absent key is no error: Deleted is 0.
func (c *Client) Delete(ctx context.Context, key string) (DeleteResponse, error) {
	return c.del(ctx, "delete "+strconv.Quote(key), key, nil)
}

// CompareAndDelete removes key only if its ModRevision is modRevision; on
// a mismatch it returns a *CompareError like CompareAndSwap.
func (c *Client) CompareAndDelete(ctx context.Context, key string, modRevision int64) (DeleteResponse, error) {
	return c.del(ctx, "compare-and-delete "+strconv.Quote(key), key, &modRevision)
}

func (c *Client) del(ctx context.Context, what, key string, ifMod *int64) (DeleteResponse, error) {
	var out DeleteResponse
	err := c.write(ctx, what, &writeOp{del: true, key: key, ifMod: ifMod}, func(r reply) (err error) {
		out, err = c.deleteResult(r, key, ifMod)
		return err
	})
	if err != nil {
		return DeleteResponse{}, err
	}
	return out, nil
}

// deleteResult judges the answer r to a delete of key, as putResult a
// put.
func (c *Client) deleteResult(r reply, key string, ifMod *int64) (DeleteResponse, error) {
	switch r.code {
	case http.StatusOK:
		var b deleteBody
		if err := decodeJSON(r, &b); err != nil {
			return DeleteResponse{}, err
		}
		return DeleteResponse(b), nil
	case http.StatusPreconditionFailed:
		return DeleteResponse{}, compareError(r, key, *ifMod)
	}
	return DeleteResponse{}, c.statusError(r, nil)
}

// GetOption changes how Get reads.
type GetOption func(*getOptions)

type getOptions struct{ stale bool }

// Stale makes Get read the local store of whichever node it reaches,
// without confirming with the leader: faster, still available without a
// quorum, but possibly behind the latest writes.
func Stale() GetOption { return func(o *getOptions) { o.stale = true } }

// Get reads key. By default the read is linearizable: it reflects every
// write that completed before Get was called. It returns an error wrapping
// ErrKeyNotFound if the key does not exist.
func (c *Client) Get(ctx context.Context, key string, opts ...GetOption) (KVResponse, error) {
	var o getOptions
	for _, f := range opts {
		f(&o)
	}
	req := &request{method: http.MethodGet, path: keyPath(key)}
	if o.stale {
		req.query = url.Values{"consistency": {"stale"}}
	}
	what := "get " + strconv.Quote(key)
	var out KVResponse
	err := c.read(ctx, what, req, func(r reply) error {
		switch r.code {
		case http.StatusOK:
			var b kvBody
			if err := decodeJSON(r, &b); err != nil {
				return err
			}
			out = b.response()
			return nil
		case http.StatusNotFound:
			var eb errorBody
			if decodeJSON(r, &eb) == nil && eb.Error == "key not found" {
				return fmt.Errorf("kv: %s: %w", what, ErrKeyNotFound)
			}
		}
		return c.statusError(r, nil)
	})
	if err != nil {
		return KVResponse{}, err
	}
	return out, nil
}

// keyPath returns the escaped path of key.
func keyPath(key string) string { return "/kv/" + url.PathEscape(key) }

// compareError decodes a 412 answer.
func compareError(r reply, key string, want int64) error {
	var eb errorBody
	if err := decodeJSON(r, &eb); err != nil {
		return err
	}
	return &CompareError{Key: key, Want: want, ModRevision: eb.ModRevision, Header: eb.Header}
}
