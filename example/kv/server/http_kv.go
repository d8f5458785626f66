package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/keelraft/raft/example/kv/store"
)

// maxSessionTTL is the longest session TTL a client may ask for.
const maxSessionTTL = 7 * 24 * time.Hour

// kvBody is the answer to PUT and GET /kv/{key}. A value that is not valid
// UTF-8 comes as value_base64 instead of value.
type kvBody struct {
	Header         header  `json:"header"`
	Key            string  `json:"key"`
	Value          *string `json:"value,omitempty"`
	ValueBase64    []byte  `json:"value_base64,omitempty"`
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
}

func newKVBody(h header, kv store.KeyValue) kvBody {
	b := kvBody{Header: h, Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version}
	if utf8.Valid(kv.Value) {
		v := string(kv.Value)
		b.Value = &v
	} else {
		b.ValueBase64 = kv.Value
		if b.ValueBase64 == nil {
			b.ValueBase64 = []byte{}
		}
	}
	return b
}

// writeQuery is the query of a PUT or DELETE.
type writeQuery struct {
	cond          bool
	ifModRevision int64
	session, seq  uint64
}

// parseWriteQuery reads ?if_mod_revision and ?session&seq.
func parseWriteQuery(r *http.Request) (writeQuery, error) {
	var q writeQuery
	v := r.URL.Query()
	if s := v.Get("if_mod_revision"); s != "" || v.Has("if_mod_revision") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return q, errors.New("if_mod_revision must be a revision >= 0 (0: only if absent)")
		}
		q.cond, q.ifModRevision = true, n
	}
	hasSession, hasSeq := v.Has("session"), v.Has("seq")
	if hasSession != hasSeq {
		return q, errors.New("session and seq go together")
	}
	if hasSession {
		var err error
		if q.session, err = strconv.ParseUint(v.Get("session"), 10, 64); err != nil || q.session == 0 {
			return q, errors.New("session must be a session id > 0")
		}
		if q.seq, err = strconv.ParseUint(v.Get("seq"), 10, 64); err != nil || q.seq == 0 {
			return q, errors.New("seq must be a number > 0")
		}
	}
	return q, nil
}

// checkKey answers 400 and returns false if key is not a valid key.
func (s *Server) checkKey(w http.ResponseWriter, key string) bool {
	switch {
	case key == "":
		s.badRequest(w, "empty key")
	case len(key) > maxKeySize:
		s.badRequest(w, "key longer than %d bytes", maxKeySize)
	default:
		return true
	}
	return false
}

// writeCommand checks key and the query of a PUT or DELETE and returns the
// command it asks for, or answers 400 and returns false.
func (s *Server) writeCommand(w http.ResponseWriter, r *http.Request, op store.Op, key string) (store.Command, bool) {
	if !s.checkKey(w, key) {
		return store.Command{}, false
	}
	q, err := parseWriteQuery(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return store.Command{}, false
	}
	return store.Command{Op: op, Key: key, Cond: q.cond, IfModRevision: q.ifModRevision, Session: q.session, Seq: q.seq}, true
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, key string) {
	cmd, ok := s.writeCommand(w, r, store.OpPut, key)
	if !ok {
		return
	}
	if cmd.Value, ok = s.readBody(w, r, s.cfg.MaxValueSize); !ok {
		return
	}
	s.write(w, r, cmd.Value, cmd, func(res store.Result) {
		writeJSON(w, http.StatusOK, newKVBody(s.header(res.Revision), res.KV))
	})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, key string) {
	cmd, ok := s.writeCommand(w, r, store.OpDelete, key)
	if !ok {
		return
	}
	s.write(w, r, nil, cmd, func(res store.Result) {
		writeJSON(w, http.StatusOK, map[string]any{"header": s.header(res.Revision), "deleted": res.Deleted})
	})
}

// sessionRequest is the body of POST /sessions.
type sessionRequest struct {
	TTLMillis int64 `json:"ttl_ms"`
}

func (s *Server) handleOpenSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	body, ok := s.decodeJSON(w, r, &req)
	if !ok {
		return
	}
	if req.TTLMillis < 0 || req.TTLMillis > maxSessionTTL.Milliseconds() {
		s.badRequest(w, "ttl_ms must be in 0..%d (0: the default)", maxSessionTTL.Milliseconds())
		return
	}
	cmd := store.Command{Op: store.OpOpenSession, SessionTTL: (time.Duration(req.TTLMillis) * time.Millisecond).Nanoseconds()}
	s.write(w, r, body, cmd, func(res store.Result) {
		writeJSON(w, http.StatusOK, map[string]any{"header": s.header(res.Revision), "session": res.Session})
	})
}

func (s *Server) handleCloseSession(w http.ResponseWriter, r *http.Request, id string) {
	session, err := strconv.ParseUint(id, 10, 64)
	if err != nil || session == 0 {
		s.badRequest(w, "session id %q: want a number > 0", id)
		return
	}
	cmd := store.Command{Op: store.OpCloseSession, Session: session}
	s.write(w, r, nil, cmd, func(res store.Result) {
		writeJSON(w, http.StatusOK, map[string]any{"header": s.header(res.Revision), "session": session, "closed": true})
	})
}

// write proposes cmd on the leader (forwarding r with body there from a
// follower), waits until it is applied, and answers with ok, or with the
// error the store's Result holds.
func (s *Server) write(w http.ResponseWriter, r *http.Request, body []byte, cmd store.Command, ok func(store.Result)) {
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	defer cancel()
	if s.passWrite(ctx, w, r, body) {
		return
	}
	cmd.Time = time.Now().UnixNano()
	cmd.RequestID = s.newRequestID()
	data, err := cmd.Marshal()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	out, err := s.proposeAndWait(ctx, &proposal{data: data, requestID: cmd.RequestID, done: make(chan applied, 1)})
	switch {
	case errors.Is(err, errNotLeader):
		// Leadership moved since the check above.
		s.forward(ctx, w, r, body)
	case err != nil:
		s.writeFailure(w, err)
	case out.res.Err != "":
		s.writeError(w, statusOfSessionError(out.res.Err), out.res.Err, nil)
	case out.res.Failed:
		s.writeError(w, http.StatusPreconditionFailed, "compare failed: mod_revision differs",
			map[string]any{"mod_revision": out.res.KV.ModRevision})
	default:
		ok(out.res)
	}
}

// passWrite answers a write this node does not take: 503 once the node was
// removed from the cluster, or the leader's answer, forwarded. It reports
// whether it answered.
func (s *Server) passWrite(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) bool {
	switch {
	case s.status().removed:
		s.writeFailure(w, errRemoved)
	case !s.leads():
		s.forward(ctx, w, r, body)
	default:
		return false
	}
	return true
}

// statusOfSessionError is the status code of a session error of the store:
// 410 for a session that expired or never was, 409 for a sequence number
// older than the session's last.
func statusOfSessionError(msg string) int {
	if msg == store.ErrMsgStaleSequence {
		return http.StatusConflict
	}
	return http.StatusGone
}

// proposeAndWait hands p to the loop and waits for its entry to be
// applied.
func (s *Server) proposeAndWait(ctx context.Context, p *proposal) (applied, error) {
	out, err := handOver(s, ctx, s.propc, p, p.done)
	if err != nil {
		return applied{}, err
	}
	return out, out.err
}

// handOver gives v to the loop on c and waits for the loop's answer on
// done. Once the loop took v it may have proposed it: giving up then (the
// request ended, the loop stopped) leaves the outcome unknown, and the
// error wraps errAbandoned; before, nothing was done.
func handOver[T, R any](s *Server, ctx context.Context, c chan<- T, v T, done <-chan R) (R, error) {
	var none R
	select {
	case c <- v:
	case <-ctx.Done():
		return none, ctx.Err()
	case <-s.loopDone:
		return none, s.loopErr
	}
	select {
	case r := <-done:
		return r, nil
	case <-ctx.Done():
		return none, fmt.Errorf("%w: %w", errAbandoned, ctx.Err())
	case <-s.loopDone:
		return none, fmt.Errorf("%w: %w", errAbandoned, s.loopErr)
	}
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, key string) {
	if !s.checkKey(w, key) {
		return
	}
	var stale bool
	switch c := r.URL.Query().Get("consistency"); c {
	case "", "linearizable":
	case "stale":
		stale = true
	default:
		s.badRequest(w, "consistency %q: want linearizable or stale", c)
		return
	}
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	defer cancel()
	if !stale {
		if !s.leads() {
			s.forward(ctx, w, r, nil)
			return
		}
		err := s.readIndexAndWait(ctx)
		if errors.Is(err, errNotLeader) {
			s.forward(ctx, w, r, nil)
			return
		}
		if errors.Is(err, errLeadershipLost) {
			// A read has no effect: it is safe to retry.
			err = errNotLeader
		}
		if err != nil {
			s.writeFailure(w, err)
			return
		}
	}
	rev := s.store.Revision()
	kv, found := s.store.Get(key)
	if !found {
		s.writeError(w, http.StatusNotFound, "key not found", nil)
		return
	}
	writeJSON(w, http.StatusOK, newKVBody(s.header(max(rev, kv.ModRevision)), kv))
}

// readIndexAndWait returns once the node applied a read index confirmed
// by the leader after the call began: the store then holds every write
// that completed before.
func (s *Server) readIndexAndWait(ctx context.Context) error {
	rr := &readRequest{done: make(chan error, 1)}
	select {
	case s.readc <- rr:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loopDone:
		return s.loopErr
	}
	select {
	case err := <-rr.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loopDone:
		return s.loopErr
	}
}
