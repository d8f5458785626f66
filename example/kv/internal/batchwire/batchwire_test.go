package batchwire

import (
	"bytes"
	"math"
	"runtime"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/keelraft/raft/example/kv/internal/msgp"
	"github.com/stretchr/testify/require"
)

// sampleWrites cover every field and every width of integer and length.
func sampleWrites() []Write {
	return []Write{
		{Op: OpPut, Key: "k", Value: []byte("v"), Session: 1, Seq: 1},
		{Op: OpPut, Key: "empty", Value: []byte{}, Session: 300, Seq: 70000},
		{Op: OpPut, Key: "none"},
		{Op: OpPut, Key: "\xff not utf-8", Value: []byte{0, 0xff}, Cond: true, IfModRevision: 0},
		{Op: OpPut, Key: string(bytes.Repeat([]byte("k"), 300)), Value: bytes.Repeat([]byte("v"), 70000),
			Cond: true, IfModRevision: math.MaxInt64, Session: math.MaxUint64, Seq: 1 << 32},
		{Op: OpDelete, Key: "d", Cond: true, IfModRevision: -1},
		{Op: OpDelete, Key: "d2", Cond: true, IfModRevision: math.MinInt64, Session: 5, Seq: 5},
		{Op: OpDelete, Key: string(bytes.Repeat([]byte("x"), 40)), Cond: true, IfModRevision: -200},
	}
}

func encodeRequest(ws []Write) []byte {
	b := AppendRequestHeader(nil, len(ws))
	for i := range ws {
		b = AppendWrite(b, &ws[i])
	}
	return b
}

func sampleAnswer() (Header, []Result) {
	return Header{MemberID: 3, RaftTerm: 1 << 40, Revision: 12345},
		[]Result{
			{Code: 200, Revision: 10, CreateRevision: 3, ModRevision: 10, Version: 2},
			{Code: 200, Revision: 11, Deleted: 1},
			{Code: 200, Revision: 11},
			{Code: 412, Revision: 12, ModRevision: 7, Error: "compare failed: mod_revision differs"},
			{Code: 503, Revision: 12, Error: "not leader", LeaderURL: "http://127.0.0.1:8002"},
			{Code: 504, Revision: -1, Error: "timeout; the outcome is unknown"},
			{Code: 409, Revision: math.MaxInt64, Error: "stale sequence"},
		}
}

func encodeAnswer(h Header, rs []Result) []byte {
	b := AppendAnswerHeader(nil, h, len(rs))
	for i := range rs {
		b = AppendResult(b, &rs[i])
	}
	return b
}

// clearOffsets zeroes the decoder's bookkeeping in ws, to compare them.
func clearOffsets(ws []Write) []Write {
	for i := range ws {
		ws[i].keyStart, ws[i].keyEnd = 0, 0
	}
	return ws
}

func TestRequestRoundTrip(t *testing.T) {
	want := sampleWrites()
	got, err := DecodeRequest(encodeRequest(want), 1024)
	require.NoError(t, err)
	require.Equal(t, want, clearOffsets(got))
	require.NotNil(t, got[1].Value, "an empty value is not no value")
	require.Nil(t, got[2].Value)
}

func TestAnswerRoundTrip(t *testing.T) {
	h, rs := sampleAnswer()
	b := encodeAnswer(h, rs)
	gh, grs, err := DecodeAnswer(b)
	require.NoError(t, err)
	require.Equal(t, h, gh)
	require.Equal(t, rs, grs)
	require.Less(t, len(b), 200, "a put's result takes a few bytes")
}

// The form is msgpack as any library reads it: go-msgpack (the library's
// codec, structs as arrays) decodes what this package writes into structs
// of the documented fields, and this package reads what go-msgpack writes,
// signed integers and all.
type (
	mpWrite struct {
		Op            uint8
		Key           string
		Value         []byte
		IfModRevision *int64
		Session, Seq  uint64
	}
	mpRequest struct{ Writes []mpWrite }
	mpHeader  struct {
		MemberID, RaftTerm uint64
		Revision           int64
	}
	mpResult struct {
		Code                                                    int
		Revision, CreateRevision, ModRevision, Version, Deleted int64
		Error, LeaderURL                                        string
	}
	mpAnswer struct {
		Header  mpHeader
		Results []mpResult
	}
)

func msgpackHandle() *codec.MsgpackHandle {
	h := new(codec.MsgpackHandle)
	h.StructToArray = true
	h.WriteExt = true
	return h
}

func TestReadableByGoMsgpack(t *testing.T) {
	ws := sampleWrites()
	var req mpRequest
	require.NoError(t, codec.NewDecoderBytes(encodeRequest(ws), msgpackHandle()).Decode(&req))
	require.Len(t, req.Writes, len(ws))
	for i, w := range ws {
		m := req.Writes[i]
		require.Equal(t, uint8(w.Op), m.Op)
		require.Equal(t, w.Key, m.Key)
		require.Equal(t, len(w.Value), len(m.Value))
		require.Equal(t, w.Value == nil, m.Value == nil, "write %d", i)
		require.Equal(t, w.Cond, m.IfModRevision != nil)
		if w.Cond {
			require.Equal(t, w.IfModRevision, *m.IfModRevision)
		}
		require.Equal(t, w.Session, m.Session)
		require.Equal(t, w.Seq, m.Seq)
	}

	h, rs := sampleAnswer()
	var ans mpAnswer
	require.NoError(t, codec.NewDecoderBytes(encodeAnswer(h, rs), msgpackHandle()).Decode(&ans))
	require.Equal(t, mpHeader(h), ans.Header)
	require.Len(t, ans.Results, len(rs))
	for i, r := range rs {
		require.Equal(t, mpResult(r), ans.Results[i])
	}
}

func TestReadsGoMsgpack(t *testing.T) {
	var req mpRequest
	for _, w := range sampleWrites() {
		m := mpWrite{Op: uint8(w.Op), Key: w.Key, Value: w.Value, Session: w.Session, Seq: w.Seq}
		if w.Cond {
			m.IfModRevision = &w.IfModRevision
		}
		req.Writes = append(req.Writes, m)
	}
	var b []byte
	require.NoError(t, codec.NewEncoderBytes(&b, msgpackHandle()).Encode(req))
	got, err := DecodeRequest(b, 1024)
	require.NoError(t, err)
	want := sampleWrites()
	for i := range want {
		require.Equal(t, want[i].Key, got[i].Key)
		require.True(t, bytes.Equal(want[i].Value, got[i].Value))
		require.Equal(t, want[i].Cond, got[i].Cond)
		require.Equal(t, want[i].IfModRevision, got[i].IfModRevision)
		require.Equal(t, want[i].Session, got[i].Session)
	}

	h, rs := sampleAnswer()
	ans := mpAnswer{Header: mpHeader(h)}
	for _, r := range rs {
		ans.Results = append(ans.Results, mpResult(r))
	}
	b = nil
	require.NoError(t, codec.NewEncoderBytes(&b, msgpackHandle()).Encode(ans))
	gh, grs, err := DecodeAnswer(b)
	require.NoError(t, err)
	require.Equal(t, h, gh)
	require.Equal(t, rs, grs)
}

// Fields appended by a newer writer are skipped; fields missing from a
// shorter one are zero.
func TestSkipsNewFieldsAndZeroesMissingOnes(t *testing.T) {
	b := []byte{msgp.FixArrayMin | 2, msgp.FixArrayMin | 2}
	b = append(b, msgp.FixArrayMin|8, byte(OpPut), msgp.FixStrMin|1, 'k', msgp.Nil, msgp.Nil, 7, 9,
		msgp.FixMapMin|1, msgp.FixStrMin|1, 'x', msgp.FixArrayMin|2, msgp.Float64, 0, 0, 0, 0, 0, 0, 0, 0, msgp.True, // unknown field 6
		msgp.Bin8, 1, 'z') // unknown field 7
	b = append(b, msgp.FixArrayMin|1, byte(OpDelete))
	b = append(b, msgp.Str8, 2, 'h', 'i') // an unknown request field
	ws, err := DecodeRequest(b, 10)
	require.NoError(t, err)
	require.Equal(t, []Write{{Op: OpPut, Key: "k", Session: 7, Seq: 9}, {Op: OpDelete}}, clearOffsets(ws))

	b = []byte{msgp.FixArrayMin | 3, msgp.FixArrayMin | 1, 4, msgp.FixArrayMin | 1, msgp.FixArrayMin | 9}
	b = append(b, 0xcd, 0x01, 0xf7, 1, 2, 3, 4, 5, msgp.FixStrMin|1, 'e', msgp.Nil, msgp.Int64, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, msgp.Nil)
	h, rs, err := DecodeAnswer(b)
	require.NoError(t, err)
	require.Equal(t, Header{MemberID: 4}, h)
	require.Equal(t, []Result{{Code: 503, Revision: 1, CreateRevision: 2, ModRevision: 3, Version: 4, Deleted: 5, Error: "e"}}, rs)
}

func TestRefusesMalformedBodies(t *testing.T) {
	valid := encodeRequest(sampleWrites()[:2])
	for name, b := range map[string][]byte{
		"empty":            {},
		"not an array":     {msgp.FixMapMin},
		"trailing byte":    append(append([]byte{}, valid...), 0),
		"writes not array": {msgp.FixArrayMin | 1, 5},
		"too many writes":  append([]byte{msgp.FixArrayMin | 1, msgp.Array16, 0x04, 0x01}, bytes.Repeat([]byte{msgp.FixArrayMin}, 1025)...),
		"op 3":             {msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, 3},
		"negative seq":     {msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.FixArrayMin | 6, 1, msgp.Nil, msgp.Nil, msgp.Nil, 1, 0xff},
		"if_mod > int64":   {msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.FixArrayMin | 4, 1, msgp.Nil, msgp.Nil, msgp.Uint64, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"key not bytes":    {msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.FixArrayMin | 2, 1, 5},
		"ext":              {msgp.FixArrayMin | 2, msgp.FixArrayMin, 0xd4, 0, 0},
		"0xc1":             {msgp.FixArrayMin | 2, msgp.FixArrayMin, 0xc1},
		"huge bin":         {msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.FixArrayMin | 3, 1, msgp.Nil, msgp.Bin32, 0xff, 0xff, 0xff, 0xff},
		"huge array":       {msgp.FixArrayMin | 1, msgp.Array32, 0xff, 0xff, 0xff, 0xff},
		"huge map skipped": {msgp.FixArrayMin | 2, msgp.FixArrayMin, msgp.Map32, 0xff, 0xff, 0xff, 0xff},
		"deep nesting":     append([]byte{msgp.FixArrayMin | 2, msgp.FixArrayMin}, bytes.Repeat([]byte{msgp.FixArrayMin | 1}, 100)...),
	} {
		_, err := DecodeRequest(b, 1024)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	for cut := range len(valid) {
		_, err := DecodeRequest(valid[:cut], 1024)
		require.ErrorIs(t, err, ErrMalformed, "cut at %d", cut)
	}
	h, rs := sampleAnswer()
	ans := encodeAnswer(h, rs)
	for cut := range len(ans) {
		_, _, err := DecodeAnswer(ans[:cut])
		require.ErrorIs(t, err, ErrMalformed, "cut at %d", cut)
	}
	_, _, err := DecodeAnswer([]byte{msgp.FixArrayMin | 2, msgp.FixArrayMin, msgp.FixArrayMin | 1, msgp.FixArrayMin | 1, msgp.Uint16, 0x03, 0xe8})
	require.ErrorIs(t, err, ErrMalformed, "code 1000")
}

// A hostile body costs at most its own size: lengths are checked against
// the bytes left before anything is allocated.
func TestHostileLengthsAllocateLittle(t *testing.T) {
	for _, b := range [][]byte{
		{msgp.FixArrayMin | 1, msgp.Array32, 0, 0, 0x04, 0},
		{msgp.FixArrayMin | 1, msgp.Array16, 0x03, 0xff, msgp.FixArrayMin | 3, 1, msgp.Str32, 0x7f, 0xff, 0xff, 0xff},
		{msgp.FixArrayMin | 2, msgp.Array32, 0x7f, 0xff, 0xff, 0xff},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			_, _ = DecodeRequest(b, 1024)
			_, _, _ = DecodeAnswer(b)
		}
		runtime.ReadMemStats(&after)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "% x", b)
	}
}

// Any input either decodes to what encodes back to the same values, or
// fails with ErrMalformed; none panics.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(sampleWrites()))
	f.Add([]byte{msgp.FixArrayMin | 1, msgp.FixArrayMin})
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := DecodeRequest(b, 1024)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := DecodeRequest(encodeRequest(ws), 1024)
		require.NoError(t, err)
		if len(ws) > 0 { // else one may be nil, the other empty
			require.Equal(t, clearOffsets(ws), clearOffsets(again))
		}
		require.Len(t, again, len(ws))
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add(encodeAnswer(sampleAnswer()))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, rs, err := DecodeAnswer(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		h2, rs2, err := DecodeAnswer(encodeAnswer(h, rs))
		require.NoError(t, err)
		require.Equal(t, h, h2)
		if len(rs) > 0 {
			require.Equal(t, rs, rs2)
		}
		require.Len(t, rs2, len(rs))
	})
}
