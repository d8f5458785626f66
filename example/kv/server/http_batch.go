package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/keelraft/raft/example/kv/store"
)

// maxBatchWrites is the most writes one POST /batch may carry.
const maxBatchWrites = 1024

// errNotProposed answers a write of a batch that never reached the loop:
// the request ended, or the loop stopped, while the writes before it were
// handed over. It was not applied (503).
var errNotProposed = errors.New("request ended before the write was proposed; not applied")

// batchRequest is the body of POST /batch: puts and deletes with the
// fields of the single-write API, each proposed as its own entry.
type batchRequest struct {
	Writes []batchWrite `json:"writes"`
}

// batchWrite is one write of a batch. A put carries its value as value
// (UTF-8 text) or value_base64, or neither for an empty value.
type batchWrite struct {
	Op            batchOp   `json:"op"`
	Key           string    `json:"key"`
	Value         textValue `json:"value"`
	ValueBase64   []byte    `json:"value_base64"`
	IfModRevision *int64    `json:"if_mod_revision"` // nil: unconditional
	Session       uint64    `json:"session"`         // 0: no session
	Seq           uint64    `json:"seq"`
}

// batchOp is the "op" of a batchWrite: store.OpPut or store.OpDelete. It
// decodes without allocating a string per write.
type batchOp store.Op

// UnmarshalJSON accepts "put" and "delete".
func (o *batchOp) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"put"`:
		*o = batchOp(store.OpPut)
	case `"delete"`:
		*o = batchOp(store.OpDelete)
	default:
		return fmt.Errorf("op %s: want \"put\" or \"delete\"", b)
	}
	return nil
}

// textValue is a value sent as a JSON string: the bytes of its text. It
// decodes straight into bytes, without a string in between, and stays nil
// when the field is absent or null.
type textValue []byte

// UnmarshalJSON decodes a JSON string. One without escapes and in valid
// UTF-8 is copied as it is, which is what decoding it would give.
func (v *textValue) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		*v = append(textValue{}, b[1:len(b)-1]...)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*v = textValue(s)
	return nil
}

// batchBodyLimit bounds the body of a batch: room for a largest value in
// base64 with more writes besides.
func (s *Server) batchBodyLimit() int { return 2*s.cfg.MaxValueSize + 1<<20 }

// handleBatch serves POST /batch. The answer is 200 with one result per
// write, in order, each the status code and the JSON body the write would
// have got as a request of its own:
//
//	{"header": {...}, "results": [{"code": 200, "body": {"header": ..., "key": ...}},
//	                              {"code": 412, "body": {"header": ..., "error": ..., "mod_revision": 7}}]}
//
// The whole request fails, with nothing proposed, when it is invalid (400,
// 413 for a value over MaxValueSize) or when a follower cannot forward it
// (503, 504 as for a single write).
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, err := requestContext(r)
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	defer cancel()
	body, ok := s.readBody(w, r, s.batchBodyLimit())
	if !ok {
		return
	}
	// Unknown fields are ignored, as in the other JSON bodies of the API.
	// (json.Decoder could refuse them, but decodes at half the speed.)
	var req batchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.badRequest(w, "malformed JSON body: %v", err)
		return
	}
	if code, err := s.checkBatch(req.Writes); err != nil {
		s.writeError(w, code, err.Error(), nil)
		return
	}
	if st := s.status(); st.removed {
		s.writeFailure(w, errRemoved)
		return
	}
	if !s.leads() {
		s.forward(ctx, w, r, body)
		return
	}
	props, err := s.proposeBatch(ctx, req.Writes)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	outs := s.awaitBatch(ctx, props)
	if allNotLeader(outs) {
		// Leadership moved before the writes reached the loop, which
		// proposed none of them: the leader can take the whole batch, as
		// write forwards a single write.
		s.forward(ctx, w, r, body)
		return
	}
	s.writeBatchAnswer(w, req.Writes, props, outs)
}

// checkBatch validates every write of a batch before any is proposed, and
// returns the status code of the first invalid one.
func (s *Server) checkBatch(writes []batchWrite) (int, error) {
	if len(writes) == 0 || len(writes) > maxBatchWrites {
		return http.StatusBadRequest, fmt.Errorf("a batch holds 1..%d writes, not %d", maxBatchWrites, len(writes))
	}
	for i := range writes {
		wr := &writes[i]
		bad := func(format string, args ...any) (int, error) {
			return http.StatusBadRequest, fmt.Errorf("write %d: %s", i, fmt.Sprintf(format, args...))
		}
		switch {
		case wr.Op == 0:
			return bad("no op: want \"put\" or \"delete\"")
		case wr.Key == "":
			return bad("empty key")
		case len(wr.Key) > maxKeySize:
			return bad("key longer than %d bytes", maxKeySize)
		case wr.Value != nil && wr.ValueBase64 != nil:
			return bad("value and value_base64 go alone")
		case store.Op(wr.Op) == store.OpDelete && (wr.Value != nil || wr.ValueBase64 != nil):
			return bad("a delete has no value")
		case wr.IfModRevision != nil && *wr.IfModRevision < 0:
			return bad("if_mod_revision must be a revision >= 0 (0: only if absent)")
		case (wr.Session == 0) != (wr.Seq == 0):
			return bad("session and seq go together, both > 0")
		case len(wr.Value) > s.cfg.MaxValueSize || len(wr.ValueBase64) > s.cfg.MaxValueSize:
			return http.StatusRequestEntityTooLarge, fmt.Errorf("write %d: value larger than %d bytes", i, s.cfg.MaxValueSize)
		}
	}
	return 0, nil
}

// proposeBatch builds the command of each write as write does, and hands
// the proposals to the loop in order, so that their entries follow the
// order of the batch. A write not handed over before ctx ended or the
// loop stopped gets errNotProposed in its done channel. The error is one
// of encoding, before anything was proposed.
func (s *Server) proposeBatch(ctx context.Context, writes []batchWrite) ([]proposal, error) {
	props := make([]proposal, len(writes))
	now := time.Now().UnixNano()
	for i := range writes {
		wr := &writes[i]
		cmd := store.Command{Op: store.Op(wr.Op), Key: wr.Key, Session: wr.Session, Seq: wr.Seq, Time: now, RequestID: s.newRequestID()}
		if cmd.Op == store.OpPut {
			cmd.Value = wr.Value
			if wr.ValueBase64 != nil {
				cmd.Value = wr.ValueBase64
			}
			if cmd.Value == nil {
				cmd.Value = []byte{} // as a PUT with an empty body
			}
		}
		if wr.IfModRevision != nil {
			cmd.Cond, cmd.IfModRevision = true, *wr.IfModRevision
		}
		data, err := cmd.Marshal()
		if err != nil {
			return nil, err
		}
		props[i] = proposal{data: data, requestID: cmd.RequestID, done: make(chan applied, 1)}
	}
	for i := range props {
		select {
		case s.propc <- &props[i]:
			continue
		case <-ctx.Done():
		case <-s.loopDone:
		}
		for j := i; j < len(props); j++ {
			props[j].done <- applied{err: errNotProposed}
		}
		break
	}
	return props, nil
}

// batchOutcome is what became of one proposal of a batch. unknown is set
// when the handler stopped waiting before the loop answered: the entry
// may still be applied.
type batchOutcome struct {
	out     applied
	err     error
	unknown bool
}

// awaitBatch waits for the proposals in order, as proposeAndWait does,
// and returns their outcomes. Once ctx ends or the loop stops, the
// proposals not answered yet have an unknown outcome.
func (s *Server) awaitBatch(ctx context.Context, props []proposal) []batchOutcome {
	outs := make([]batchOutcome, len(props))
	stopped := false
	for i := range props {
		p := &props[i]
		if !stopped {
			select {
			case out := <-p.done:
				outs[i] = batchOutcome{out: out, err: out.err}
				continue
			case <-ctx.Done():
			case <-s.loopDone:
			}
			stopped = true
		}
		select {
		case out := <-p.done:
			outs[i] = batchOutcome{out: out, err: out.err}
		default:
			outs[i] = batchOutcome{unknown: true}
		}
	}
	return outs
}

// allNotLeader reports whether the loop refused every write as not
// leader: then nothing of the batch was proposed.
func allNotLeader(outs []batchOutcome) bool {
	for i := range outs {
		if !errors.Is(outs[i].err, errNotLeader) {
			return false
		}
	}
	return true
}

// writeBatchAnswer writes the 200 answer of a batch: the result of each
// write with the status code and body write would have answered.
func (s *Server) writeBatchAnswer(w http.ResponseWriter, writes []batchWrite, props []proposal, outs []batchOutcome) {
	rw := &resultWriter{hdr: http.Header{}, buf: make([]byte, 0, 256*len(writes))}
	for i := range outs {
		if i > 0 {
			rw.buf = append(rw.buf, ',')
		}
		rw.begin()
		s.answerWrite(rw, store.Op(writes[i].Op), &props[i], outs[i])
		rw.end()
	}
	h, err := json.Marshal(s.header(-1))
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(append([]byte(`{"header":`), h...), `,"results":[`...))
	_, _ = w.Write(rw.buf)
	_, _ = w.Write([]byte("]}\n"))
}

// answerWrite writes the answer of one write of a batch to rw, as write
// answers a single one. It is stricter in one case: a proposal the loop
// had accepted (it has an index) and that then failed other than by
// losing its slot may still be committed by the next leader, so it gets
// 504 (outcome unknown), where write would answer 503 to a stopping node.
func (s *Server) answerWrite(rw *resultWriter, op store.Op, p *proposal, o batchOutcome) {
	res := o.out.res
	switch {
	case o.unknown:
		s.writeError(rw, http.StatusGatewayTimeout, "the request ended while the write waited; the outcome is unknown", nil)
	case o.err != nil && p.index != 0 && !errors.Is(o.err, errEntryLost) && !errors.Is(o.err, errUndecodable) &&
		!errors.Is(o.err, errLeadershipLost):
		// p.index was set by the loop before it answered on p.done: the
		// receive orders the read after the write.
		s.writeError(rw, http.StatusGatewayTimeout, o.err.Error()+"; the outcome is unknown", s.leaderInfo())
	case o.err != nil:
		s.writeFailure(rw, o.err)
	case res.Err != "":
		// The header is the revision right after the write, as a single
		// request answered at once would (almost always) carry, not the
		// revision once the whole batch is applied.
		writeJSON(rw, statusOfSessionError(res.Err), map[string]any{"header": s.header(res.Revision), "error": res.Err})
	case res.Failed:
		writeJSON(rw, http.StatusPreconditionFailed, map[string]any{"header": s.header(res.Revision),
			"error": "compare failed: mod_revision differs", "mod_revision": res.KV.ModRevision})
	case op == store.OpPut:
		writeJSON(rw, http.StatusOK, newKVBody(s.header(res.Revision), res.KV))
	default:
		writeJSON(rw, http.StatusOK, deleteBody{Header: s.header(res.Revision), Deleted: res.Deleted})
	}
}

// deleteBody is the answer to DELETE /kv/{key}; a struct, encoded as the
// map handleDelete writes, to spare the map in a batch.
type deleteBody struct {
	Header  header `json:"header"`
	Deleted int64  `json:"deleted"`
}

// resultWriter is the http.ResponseWriter the answer helpers (writeJSON,
// writeError, writeFailure) write one result of a batch to: it appends
// {"code": N, "body": ...} to buf, so that every result carries exactly
// the body of a single request.
type resultWriter struct {
	hdr  http.Header // written by the helpers, not sent
	buf  []byte
	code bool // WriteHeader was called for the current result
}

// Header returns the headers the helpers set; they are dropped.
func (rw *resultWriter) Header() http.Header { return rw.hdr }

// WriteHeader starts the current result with its code.
func (rw *resultWriter) WriteHeader(code int) {
	rw.code = true
	rw.buf = append(rw.buf, `{"code":`...)
	rw.buf = strconv.AppendInt(rw.buf, int64(code), 10)
	rw.buf = append(rw.buf, `,"body":`...)
}

// Write appends to the body of the current result.
func (rw *resultWriter) Write(b []byte) (int, error) {
	if !rw.code {
		rw.WriteHeader(http.StatusOK)
	}
	rw.buf = append(rw.buf, b...)
	return len(b), nil
}

// begin starts a result; end closes it, without the newline the helpers
// end a body with.
func (rw *resultWriter) begin() { rw.code = false }

func (rw *resultWriter) end() {
	if !rw.code {
		rw.WriteHeader(http.StatusInternalServerError)
		rw.buf = append(rw.buf, "null"...)
	}
	rw.buf = bytes.TrimRight(rw.buf, "\n")
	rw.buf = append(rw.buf, '}')
}
