package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
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
// A request whose Content-Type is msgpack (batchwire.IsContentType) is the
// binary form of package batchwire, and so is its 200 answer: the same
// results, without what the client knows already (see
// writeBatchMsgpack). The whole request fails, with nothing proposed and
// a JSON answer in either form, when it is invalid (400, 413 for a value
// over MaxValueSize) or when a follower cannot forward it (503, 504 as
// for a single write). A follower forwards the body with its Content-Type,
// so the leader answers in the form asked.
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
	binary := batchwire.IsContentType(r.Header.Get("Content-Type"))
	var writes []batchWrite
	if binary {
		writes, err = decodeBatchMsgpack(body)
	} else {
		writes, err = decodeBatchJSON(body)
	}
	if err != nil {
		s.badRequest(w, "%v", err)
		return
	}
	if code, err := s.checkBatch(writes); err != nil {
		s.writeError(w, code, err.Error(), nil)
		return
	}
	if s.passWrite(ctx, w, r, body) {
		return
	}
	props, err := s.proposeBatch(ctx, writes)
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
	if binary {
		s.writeBatchMsgpack(w, writes, props, outs)
	} else {
		s.writeBatchJSON(w, writes, props, outs)
	}
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

// writeAnswer is the answer of one write of a batch, decided once and
// then encoded in the form of the request (writeBatchJSON,
// writeBatchMsgpack).
type writeAnswer struct {
	code int
	// failure, if not nil, is the error the write failed with: the answer
	// is the one writeFailure gives to it, and the fields below are unset.
	failure error
	rev     int64          // the revision of the answer's header; -1: the store's current one
	msg     string         // the error text of an answer other than 200
	leader  bool           // the answer names the leader, as leaderInfo does
	kv      store.KeyValue // a put's key (200); the key's current mod revision (412)
	deleted int64          // a delete's (200)
}

// answerOf returns the answer of one write of a batch, as write answers a
// single one. It is stricter in one case: a proposal the loop had
// accepted (it has an index) and that then failed other than by losing
// its slot may still be committed by the next leader, so it gets 504
// (outcome unknown), where write would answer 503 to a stopping node.
func answerOf(op store.Op, p *proposal, o batchOutcome) writeAnswer {
	res := o.out.res
	switch {
	case o.unknown:
		return writeAnswer{code: http.StatusGatewayTimeout, rev: -1,
			msg: "the request ended while the write waited; the outcome is unknown"}
	case o.err != nil && p.index != 0 && !errors.Is(o.err, errEntryLost) && !errors.Is(o.err, errUndecodable) &&
		!errors.Is(o.err, errLeadershipLost):
		// p.index was set by the loop before it answered on p.done: the
		// receive orders the read after the write.
		return writeAnswer{code: http.StatusGatewayTimeout, rev: -1, msg: o.err.Error() + "; the outcome is unknown", leader: true}
	case o.err != nil:
		return writeAnswer{failure: o.err}
	case res.Err != "":
		// The header is the revision right after the write, as a single
		// request answered at once would (almost always) carry, not the
		// revision once the whole batch is applied.
		return writeAnswer{code: statusOfSessionError(res.Err), rev: res.Revision, msg: res.Err}
	case res.Failed:
		return writeAnswer{code: http.StatusPreconditionFailed, rev: res.Revision,
			msg: "compare failed: mod_revision differs", kv: res.KV}
	case op == store.OpPut:
		return writeAnswer{code: http.StatusOK, rev: res.Revision, kv: res.KV}
	default:
		return writeAnswer{code: http.StatusOK, rev: res.Revision, deleted: res.Deleted}
	}
}

// failureAnswer is the answer to a request that failed with err, in
// either form: writeFailure writes it as JSON, and a batch's binary
// answer carries it as it is.
func (s *Server) failureAnswer(err error) writeAnswer {
	a := writeAnswer{code: http.StatusServiceUnavailable, rev: -1, msg: err.Error(), leader: true}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		a = writeAnswer{code: http.StatusGatewayTimeout, rev: -1, msg: "timeout; the outcome is unknown"}
	case errors.Is(err, errLeadershipLost), errors.Is(err, errAbandoned):
		a.code = http.StatusGatewayTimeout
	case errors.Is(err, errChangePending):
		a.code, a.leader = http.StatusConflict, false
	case errors.Is(err, errInvalidChange):
		a.code, a.leader = http.StatusBadRequest, false
	case errors.Is(err, errUndecodable):
		a.code, a.leader = http.StatusInternalServerError, false
	case errors.Is(err, errNotLeader):
		a.msg = "not leader"
		if s.status().lead == 0 {
			a.msg = "no leader"
		}
	}
	return a
}
