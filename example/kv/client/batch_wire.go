package client

// The two forms of a POST /batch: JSON, and the binary form of package
// batchwire that the client sends unless told otherwise
// (Options.JSONBatches) or the server does not read it.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/keelraft/raft/example/kv/internal/batchwire"
)

// appendEntry appends the batch entry of op, in session with seq, to buf:
// in JSON if asJSON is set, else in the binary form.
func (o *writeOp) appendEntry(buf []byte, session, seq uint64, asJSON bool) []byte {
	if buf == nil {
		// Room for the entry in most cases, so that it is allocated once:
		// the fields, the key, and the value, in base64 in JSON if need
		// be.
		buf = make([]byte, 0, 96+len(o.key)+len(o.value)*4/3)
	}
	if asJSON {
		return o.appendJSON(buf, session, seq)
	}
	w := batchwire.Write{Op: batchwire.OpPut, Key: o.key, Value: o.value, Session: session, Seq: seq}
	if o.del {
		w.Op, w.Value = batchwire.OpDelete, nil
	}
	if o.ifMod != nil {
		w.Cond, w.IfModRevision = true, *o.ifMod
	}
	return batchwire.AppendWrite(buf, &w)
}

// appendJSON appends the batch entry of op, in session with seq, to buf:
//
//	{"op":"put","key":"k","value":"v","if_mod_revision":3,"session":7,"seq":12}
func (o *writeOp) appendJSON(buf []byte, session, seq uint64) []byte {
	if o.del {
		buf = append(buf, `{"op":"delete","key":`...)
	} else {
		buf = append(buf, `{"op":"put","key":`...)
	}
	buf = appendJSONString(buf, o.key)
	switch {
	case o.del || len(o.value) == 0: // an absent value is the empty value
	case utf8.Valid(o.value):
		buf = append(buf, `,"value":`...)
		buf = appendJSONString(buf, o.value)
	default:
		buf = append(buf, `,"value_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, o.value)
		buf = append(buf, '"')
	}
	if o.ifMod != nil {
		buf = append(buf, `,"if_mod_revision":`...)
		buf = strconv.AppendInt(buf, *o.ifMod, 10)
	}
	buf = append(buf, `,"session":`...)
	buf = strconv.AppendUint(buf, session, 10)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	return append(buf, '}')
}

// appendJSONString appends s, valid UTF-8, as a JSON string. Printable
// ASCII is copied as it is; anything else goes through encoding/json.
func appendJSONString[T ~string | ~[]byte](buf []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			b, _ := json.Marshal(string(s)) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// batchBody returns the body of a request of batch, in JSON if asJSON is
// set, else in the binary form.
func batchBody(batch []*pendingWrite, asJSON bool) []byte {
	size := len(`{"writes":[]}`)
	for _, p := range batch {
		size += len(p.entry) + 1
	}
	body := make([]byte, 0, size)
	if !asJSON {
		body = batchwire.AppendRequestHeader(body, len(batch))
		for _, p := range batch {
			body = p.appendEntry(body, false)
		}
		return body
	}
	body = append(body, `{"writes":[`...)
	for i, p := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = p.appendEntry(body, true)
	}
	return append(body, "]}"...)
}

// appendEntry appends p's entry to buf, in JSON if asJSON is set. An entry
// encoded in the other form (the batcher changed forms while it waited)
// is encoded again.
func (p *pendingWrite) appendEntry(buf []byte, asJSON bool) []byte {
	if p.json == asJSON {
		return append(buf, p.entry...)
	}
	return p.op.appendEntry(buf, p.session, p.seq, asJSON)
}

// batchResults returns the result of each write of batch from the 200
// answer r, in the form its Content-Type names. Each result is the reply
// the write would get alone, its body decoded already. An answer that
// does not decode, or has not one result per write, leaves the outcome of
// the writes unknown, as a broken connection would.
func batchResults(batch []*pendingWrite, r reply) []writeResult {
	if batchwire.IsContentType(r.ctype) {
		return msgpackResults(batch, r)
	}
	return jsonResults(batch, r)
}

// malformed returns the results of a batch whose answer did not decode.
func malformed(n int, err error) []writeResult {
	out := make([]writeResult, n)
	for i := range out {
		out[i].err = fmt.Errorf("malformed batch answer: %w", err)
	}
	return out
}

// batchAnswer is the body of a 200 answer to POST /batch in JSON.
type batchAnswer struct {
	Results []struct {
		Code int        `json:"code"`
		Body *writeBody `json:"body"`
	} `json:"results"`
}

func jsonResults(batch []*pendingWrite, r reply) []writeResult {
	var ans batchAnswer
	err := json.Unmarshal(r.body, &ans)
	if err == nil && len(ans.Results) != len(batch) {
		err = fmt.Errorf("%d results for %d writes", len(ans.Results), len(batch))
	}
	if err != nil {
		return malformed(len(batch), err)
	}
	out := make([]writeResult, len(batch))
	for i, res := range ans.Results {
		if res.Code == 0 || res.Body == nil {
			out[i].err = fmt.Errorf("malformed batch answer: result %d has no code or body", i)
			continue
		}
		out[i].r = reply{code: res.Code, decoded: res.Body, endpoint: r.endpoint}
	}
	return out
}

// msgpackResults decodes a binary answer into the bodies the JSON answer
// would hold, so that a write's result and error do not depend on the form
// of its batch. The answer does not echo a put's key and value: they are
// the write's own, since a put answered 200 wrote them (a retry of the
// same session and seq is the same write).
func msgpackResults(batch []*pendingWrite, r reply) []writeResult {
	h, rs, err := batchwire.DecodeAnswer(r.body)
	if err == nil && len(rs) != len(batch) {
		err = fmt.Errorf("%d results for %d writes", len(rs), len(batch))
	}
	if err != nil {
		return malformed(len(batch), err)
	}
	out := make([]writeResult, len(batch))
	bodies := make([]writeBody, len(batch))
	for i, p := range batch {
		res, wb := &rs[i], &bodies[i]
		if res.Code == 0 {
			out[i].err = fmt.Errorf("malformed batch answer: result %d has no code", i)
			continue
		}
		wb.Header = Header{MemberID: h.MemberID, RaftTerm: h.RaftTerm, Revision: res.Revision}
		wb.CreateRevision, wb.ModRevision, wb.Version = res.CreateRevision, res.ModRevision, res.Version
		wb.Deleted, wb.Error, wb.LeaderURL = res.Deleted, res.Error, res.LeaderURL
		if res.Code == http.StatusOK && !p.op.del {
			wb.Key = p.op.key
			// kvBody.response takes ValueBase64 as the value's bytes. A
			// copy, never nil, as a value decoded from JSON is: the result
			// must not alias the caller's slice.
			wb.ValueBase64 = append([]byte{}, p.op.value...)
		}
		out[i].r = reply{code: res.Code, decoded: wb, endpoint: r.endpoint}
	}
	return out
}
