package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/keelraft/raft"
	"github.com/keelraft/raft/example/kv/internal/batchwire"
	"github.com/keelraft/raft/example/kv/store"
)

// The binary result of every answer a write of a batch can get carries
// what its JSON body does, but for what the client knows already (the
// key and value of a put) and the leader's id, which the client does not
// read: expanded back with the write, it is the JSON body.
func TestBatchMsgpackCarriesTheJSONAnswer(t *testing.T) {
	s := newCluster(t, 1, nil).leader()
	put(t, s, "x", "y")
	kv := store.KeyValue{Key: "k", Value: []byte("v"), CreateRevision: 3, ModRevision: 9, Version: 2}
	bin := store.KeyValue{Key: "b", Value: []byte{0xff, 0}, CreateRevision: 10, ModRevision: 10, Version: 1}
	empty := store.KeyValue{Key: "e", Value: []byte{}, CreateRevision: 11, ModRevision: 11, Version: 1}
	type answer struct {
		op store.Op
		kv store.KeyValue // the write's key and value
		a  writeAnswer
	}
	answers := []answer{
		{store.OpPut, kv, writeAnswer{code: 200, rev: 9, kv: kv}},
		{store.OpPut, bin, writeAnswer{code: 200, rev: 10, kv: bin}},
		{store.OpPut, empty, writeAnswer{code: 200, rev: 11, kv: empty}},
		{store.OpDelete, kv, writeAnswer{code: 200, rev: 12, deleted: 1}},
		{store.OpDelete, kv, writeAnswer{code: 200, rev: 12}},
		{store.OpPut, kv, answerOf(store.OpPut, &proposal{}, batchOutcome{out: applied{res: store.Result{Revision: 12, Failed: true, KV: kv}}})},
		{store.OpDelete, kv, answerOf(store.OpDelete, &proposal{}, batchOutcome{out: applied{res: store.Result{Revision: 12, Failed: true}}})},
		{store.OpPut, kv, answerOf(store.OpPut, &proposal{}, batchOutcome{out: applied{res: store.Result{Revision: 12, Err: store.ErrMsgStaleSequence}}})},
		{store.OpPut, kv, answerOf(store.OpPut, &proposal{}, batchOutcome{out: applied{res: store.Result{Revision: 12, Err: store.ErrMsgSessionExpired}}})},
		{store.OpPut, kv, answerOf(store.OpPut, &proposal{}, batchOutcome{unknown: true})},
		{store.OpPut, kv, answerOf(store.OpPut, &proposal{index: 5}, batchOutcome{err: errStopped})},
	}
	for _, err := range []error{errNotLeader, errLeadershipLost, errEntryLost, errRemoved, errFailed, errBusy, errStopped,
		errUndecodable, errNotProposed, errChangePending, errInvalidChange, context.DeadlineExceeded, context.Canceled,
		fmt.Errorf("wrapped: %w", errNotLeader), fmt.Errorf("wrapped: %w", context.DeadlineExceeded)} {
		answers = append(answers, answer{store.OpPut, kv, answerOf(store.OpPut, &proposal{}, batchOutcome{err: err})})
	}
	codes := map[int]bool{}
	for i, tc := range answers {
		rw := &resultWriter{hdr: http.Header{}}
		rw.begin()
		a := tc.a
		s.writeAnswerJSON(rw, tc.op, &a)
		rw.end()
		var want batchResult
		require.NoError(t, json.Unmarshal(rw.buf, &want), "%s", rw.buf)
		delete(want.Body, "leader")

		a = tc.a
		res := s.resultOf(&a)
		w := batchwire.Write{Op: batchwire.OpPut, Key: tc.kv.Key, Value: tc.kv.Value}
		if tc.op == store.OpDelete {
			w.Op = batchwire.OpDelete
		}
		h := batchwire.Header{MemberID: s.ID(), RaftTerm: s.status().term}
		got := batchResult{Code: res.Code, Body: expand(t, h, w, res)}
		require.Equal(t, want, got, "answer %d: %+v", i, tc.a)
		codes[got.Code] = true
	}
	require.Equal(t, map[int]bool{200: true, 400: true, 409: true, 410: true, 412: true, 500: true, 503: true, 504: true}, codes)
}

// benchWrites returns n puts as kv bench writes them: 14-byte keys,
// 256-byte values, in a session, every other one conditional.
func benchWrites(n int) []batchwire.Write {
	value := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 10)[:256]
	ws := make([]batchwire.Write, n)
	for i := range ws {
		ws[i] = batchwire.Write{Op: batchwire.OpPut, Key: fmt.Sprintf("bench-%08d", i*7919), Value: value,
			Cond: i%2 == 1, IfModRevision: int64(1000 + i), Session: uint64(100 + i), Seq: 12345}
	}
	return ws
}

// benchBody returns the request of ws in form.
func benchBody(ws []batchwire.Write, form string) []byte {
	if form == "msgpack" {
		b := batchwire.AppendRequestHeader(nil, len(ws))
		for i := range ws {
			b = batchwire.AppendWrite(b, &ws[i])
		}
		return b
	}
	var entries []string
	for _, w := range ws {
		e := fmt.Sprintf(`{"op":"put","key":%q,"value":%q,"session":%d,"seq":%d`, w.Key, w.Value, w.Session, w.Seq)
		if w.Cond {
			e += fmt.Sprintf(`,"if_mod_revision":%d`, w.IfModRevision)
		}
		entries = append(entries, e+"}")
	}
	return []byte(`{"writes":[` + strings.Join(entries, ",") + `]}`)
}

// The binary form decodes in a few allocations, however many writes.
func TestBatchMsgpackDecodesInFewAllocations(t *testing.T) {
	body := benchBody(benchWrites(64), "msgpack")
	writes, err := decodeBatchMsgpack(body)
	require.NoError(t, err)
	require.Len(t, writes, 64)
	require.Equal(t, int64(1001), *writes[1].IfModRevision)
	require.Nil(t, writes[0].IfModRevision)
	allocs := testing.AllocsPerRun(100, func() { _, _ = decodeBatchMsgpack(body) })
	require.LessOrEqual(t, allocs, 3.0)
}

// Any body, however malformed or hostile, gets 200 (it was a valid batch)
// or 400 or 413 with nothing applied; never a panic (which ServeHTTP, unlike
// net/http, does not recover) or another code. It runs for 20 s (2 s
// with -short): random batches, truncated, with bytes changed or
// inserted, or random bytes.
func TestBatchMsgpackMalformedBodiesGet400(t *testing.T) {
	s := newCluster(t, 1, nil).leader()
	h := s.routes()
	d := 20 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	// Three writes in four are valid, so that batches are often valid,
	// before they are mangled.
	write := rapid.Custom(func(rt *rapid.T) batchwire.Write {
		if rapid.IntRange(0, 3).Draw(rt, "kind") == 0 {
			w := batchwire.Write{
				Op:            batchwire.Op(rapid.IntRange(0, 3).Draw(rt, "op")),
				Key:           string(rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "key")),
				Session:       rapid.Uint64Range(0, 2).Draw(rt, "session"),
				Seq:           rapid.Uint64Range(0, 2).Draw(rt, "seq"),
				Cond:          rapid.Bool().Draw(rt, "cond"),
				IfModRevision: rapid.Int64Range(-2, 5).Draw(rt, "if_mod_revision"),
			}
			if rapid.Bool().Draw(rt, "has value") {
				w.Value = rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(rt, "value")
			}
			return w
		}
		w := batchwire.Write{
			Op:  batchwire.Op(rapid.IntRange(1, 2).Draw(rt, "op")),
			Key: string(rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(rt, "key")),
		}
		if w.Op == batchwire.OpPut && rapid.Bool().Draw(rt, "has value") {
			w.Value = rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(rt, "value")
		}
		if w.Cond = rapid.Bool().Draw(rt, "cond"); w.Cond {
			w.IfModRevision = rapid.Int64Range(0, 5).Draw(rt, "if_mod_revision")
		}
		w.Session = rapid.Uint64Range(0, 2).Draw(rt, "session")
		w.Seq = min(w.Session, 1)
		return w
	})
	var valid, refused int
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		rapid.Check(quietTB{t}, func(rt *rapid.T) {
			ws := rapid.SliceOfN(write, 0, 6).Draw(rt, "writes")
			body := batchwire.AppendRequestHeader(nil, len(ws))
			for i := range ws {
				body = batchwire.AppendWrite(body, &ws[i])
			}
			switch rapid.IntRange(0, 4).Draw(rt, "mutation") {
			case 1:
				body = body[:rapid.IntRange(0, len(body)-1).Draw(rt, "cut")]
			case 2:
				for range rapid.IntRange(1, 4).Draw(rt, "changes") {
					body[rapid.IntRange(0, len(body)-1).Draw(rt, "at")] = rapid.Byte().Draw(rt, "byte")
				}
			case 3:
				at := rapid.IntRange(0, len(body)).Draw(rt, "at")
				ins := rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(rt, "inserted")
				body = append(body[:at:at], append(ins, body[at:]...)...)
			case 4:
				body = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(rt, "random")
			}
			rev := s.store.Revision()
			req := httptest.NewRequest(http.MethodPost, "/batch", bytes.NewReader(body))
			req.Header.Set("Content-Type", batchwire.ContentType)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				valid++
				sent, err := batchwire.DecodeRequest(body, maxBatchWrites)
				if err != nil {
					rt.Fatalf("200 to a body that does not decode: %v", err)
				}
				_, rs, err := batchwire.DecodeAnswer(rec.Body.Bytes())
				if err != nil || len(rs) != len(sent) {
					rt.Fatalf("answer: %v, %d results for %d writes", err, len(rs), len(sent))
				}
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
				refused++
				var ans map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans["error"] == nil {
					rt.Fatalf("answer %q: %v", rec.Body, err)
				}
				if got := s.store.Revision(); got != rev {
					rt.Fatalf("refused, but the revision moved from %d to %d", rev, got)
				}
			default:
				rt.Fatalf("answered %d: %s", rec.Code, rec.Body)
			}
		})
	}
	t.Logf("%d valid batches, %d refused", valid, refused)
	require.NotZero(t, valid)
	require.NotZero(t, refused)
}

// quietTB drops the line rapid logs for each Check that passed, which a
// loop of Checks would repeat by the thousand.
type quietTB struct{ *testing.T }

func (q quietTB) Logf(format string, args ...any) {
	if !strings.HasPrefix(format, "[rapid] OK") {
		q.T.Helper()
		q.T.Logf(format, args...)
	}
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkBatchServerCodec measures the server's share of the cost of
// the two forms of a batch of 64 puts: decoding the request and encoding
// the answer. (BenchmarkBatchClientCodec in package client measures the
// client's: encoding the request, decoding the answer.)
func BenchmarkBatchServerCodec(b *testing.B) {
	ws := benchWrites(64)
	s := &Server{cfg: Config{ID: 1}, store: store.New()}
	s.state.Store(&nodeState{term: 2, lead: 1, role: raft.StateLeader})
	props := make([]proposal, len(ws))
	outs := make([]batchOutcome, len(ws))
	for i, w := range ws {
		outs[i].out.res = store.Result{Revision: int64(2000 + i),
			KV: store.KeyValue{Key: w.Key, Value: w.Value, CreateRevision: 7, ModRevision: int64(2000 + i), Version: 3}}
	}
	for _, form := range forms {
		body := benchBody(ws, form)
		b.Run(form, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if form == "msgpack" {
					writes, err := decodeBatchMsgpack(body)
					if err != nil {
						b.Fatal(err)
					}
					s.writeBatchMsgpack(w, writes, props, outs)
				} else {
					writes, err := decodeBatchJSON(body)
					if err != nil {
						b.Fatal(err)
					}
					s.writeBatchJSON(w, writes, props, outs)
				}
			}
		})
	}
}
