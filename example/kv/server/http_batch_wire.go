package server

// The two forms of POST /batch: JSON, and the binary form of package
// batchwire that the Go client sends. Both decode to the same
// []batchWrite, checked by checkBatch, and both encode the same
// writeAnswer of each write (answerOf).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
	"github.com/keelraft/raft/example/kv/store"
)

// decodeBatchJSON decodes a JSON batch request.
func decodeBatchJSON(body []byte) ([]batchWrite, error) {
	// Unknown fields are ignored, as in the other JSON bodies of the API.
	// (json.Decoder could refuse them, but decodes at half the speed.)
	var req batchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("malformed JSON body: %w", err)
	}
	return req.Writes, nil
}

// decodeBatchMsgpack decodes a binary batch request, without reflection
// and in four allocations, however many writes: the writes of batchwire,
// their keys, the []batchWrite, and the Command of each write later. Values
// and revisions point into the body and the batchwire writes.
func decodeBatchMsgpack(body []byte) ([]batchWrite, error) {
	ws, err := batchwire.DecodeRequest(body, maxBatchWrites)
	if err != nil {
		return nil, fmt.Errorf("malformed msgpack body: %w", err)
	}
	writes := make([]batchWrite, len(ws))
	for i := range ws {
		w := &ws[i]
		writes[i] = batchWrite{Key: w.Key, Value: w.Value, Session: w.Session, Seq: w.Seq}
		switch w.Op {
		case batchwire.OpPut:
			writes[i].Op = batchOp(store.OpPut)
		case batchwire.OpDelete:
			writes[i].Op = batchOp(store.OpDelete)
		}
		if w.Cond {
			writes[i].IfModRevision = &w.IfModRevision
		}
	}
	return writes, nil
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

// writeBatchMsgpack writes the 200 answer of a batch in the binary form:
// the header once, then per write its code, the revision of its header
// and the fields of its JSON body that a client reads (batchwire.Result).
// The key and value of a put are not echoed: the client has them.
func (s *Server) writeBatchMsgpack(w http.ResponseWriter, writes []batchWrite, props []proposal, outs []batchOutcome) {
	h := batchwire.Header{MemberID: s.cfg.ID, RaftTerm: s.status().term, Revision: s.store.Revision()}
	buf := batchwire.AppendAnswerHeader(make([]byte, 0, 32+16*len(outs)), h, len(outs))
	for i := range outs {
		a := answerOf(store.Op(writes[i].Op), &props[i], outs[i])
		res := s.resultOf(&a)
		buf = batchwire.AppendResult(buf, &res)
	}
	w.Header().Set("Content-Type", batchwire.ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// resultOf returns the binary result of the answer a.
func (s *Server) resultOf(a *writeAnswer) batchwire.Result {
	if a.failure != nil {
		*a = s.failureAnswer(a.failure)
	}
	if a.rev < 0 {
		a.rev = s.store.Revision()
	}
	res := batchwire.Result{Code: a.code, Revision: a.rev, Error: a.msg}
	switch a.code {
	case http.StatusOK:
		res.CreateRevision, res.ModRevision, res.Version = a.kv.CreateRevision, a.kv.ModRevision, a.kv.Version
		res.Deleted = a.deleted
	case http.StatusPreconditionFailed:
		res.ModRevision = a.kv.ModRevision
	}
	if a.leader {
		// Errors only: the map costs nothing on the way of a success.
		res.LeaderURL, _ = s.leaderInfo()["leader_url"].(string)
	}
	return res
}

// writeBatchJSON writes the 200 answer of a batch in JSON: the result of
// each write with the status code and body write would have answered.
func (s *Server) writeBatchJSON(w http.ResponseWriter, writes []batchWrite, props []proposal, outs []batchOutcome) {
	rw := &resultWriter{hdr: http.Header{}, buf: make([]byte, 0, 256*len(writes))}
	for i := range outs {
		if i > 0 {
			rw.buf = append(rw.buf, ',')
		}
		rw.begin()
		op := store.Op(writes[i].Op)
		a := answerOf(op, &props[i], outs[i])
		s.writeAnswerJSON(rw, op, &a)
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

// writeAnswerJSON writes a with the helpers a single write answers with,
// so that its body is exactly the one of a single request.
func (s *Server) writeAnswerJSON(w http.ResponseWriter, op store.Op, a *writeAnswer) {
	switch {
	case a.failure != nil:
		s.writeFailure(w, a.failure)
	case a.code == http.StatusOK && op == store.OpPut:
		writeJSON(w, http.StatusOK, newKVBody(s.header(a.rev), a.kv))
	case a.code == http.StatusOK:
		writeJSON(w, http.StatusOK, deleteBody{Header: s.header(a.rev), Deleted: a.deleted})
	default:
		body := map[string]any{"header": s.header(a.rev), "error": a.msg}
		if a.code == http.StatusPreconditionFailed {
			body["mod_revision"] = a.kv.ModRevision
		}
		if a.leader {
			maps.Copy(body, s.leaderInfo())
		}
		writeJSON(w, a.code, body)
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
