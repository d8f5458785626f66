package batchwire

import (
	"fmt"
	"math"
	"strings"

	"github.com/keelraft/raft/example/kv/internal/msgp"
)

// depthLimit bounds the nesting of the values a reader skips, so that a
// hostile body cannot make it recurse deeply: a value inside more than 16
// arrays or maps is refused. Nothing this package writes nests deeper than
// 3. The depth arguments below count the arrays around the value about to
// be read.
var depthLimit = msgp.DepthLimit{Max: 16, EmptyOK: true}

// malformed wraps err, the error of reading what, in ErrMalformed.
func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
}

// DecodeRequest decodes a request body of at most maxWrites writes. The
// writes' values alias body; their keys share one string. A body of more
// writes is refused before anything is allocated for them.
func DecodeRequest(body []byte, maxWrites int) ([]Write, error) {
	r := msgp.NewReader(body, depthLimit)
	var ws []Write
	var keys strings.Builder
	for i, n := 0, r.ReadArrayLen(); i < n && r.Err() == nil; i++ {
		if i > 0 {
			r.Skip(1) // a field of a newer request
			continue
		}
		count := r.ReadArrayLen()
		if count > maxWrites {
			r.Fail(fmt.Errorf("%d writes; a batch holds at most %d", count, maxWrites))
		}
		if r.Err() != nil {
			break
		}
		ws = make([]Write, count)
		keys.Grow(min(16*count, r.Len())) // typical keys in one allocation; no more than the body holds
		for j := 0; j < count && r.Err() == nil; j++ {
			readWrite(r, &ws[j], &keys, 2)
		}
	}
	if err := r.Finish(); err != nil {
		return nil, malformed("request", err)
	}
	all := keys.String()
	for i := range ws {
		ws[i].Key = all[ws[i].keyStart:ws[i].keyEnd]
	}
	return ws, nil
}

// readWrite reads one write, its key appended to keys.
func readWrite(r *msgp.Reader, w *Write, keys *strings.Builder, depth int) {
	n := r.ReadArrayLen()
	for i := 0; i < n && r.Err() == nil; i++ {
		switch i {
		case 0:
			start := r.Offset()
			// 0 is no op, as a write without one: the server refuses it as
			// it refuses a JSON write without "op".
			if w.Op = Op(r.ReadUint(math.MaxUint8)); w.Op > OpDelete {
				r.Fail(fmt.Errorf("offset %d: op %d: want %d (put) or %d (delete)", start, w.Op, OpPut, OpDelete))
			}
		case 1:
			k := r.ReadBytes()
			w.keyStart = keys.Len()
			keys.Write(k)
			w.keyEnd = keys.Len()
		case 2:
			w.Value = r.ReadBytes()
		case 3:
			if !r.ReadNil() {
				w.Cond, w.IfModRevision = true, r.ReadInt()
			}
		case 4:
			w.Session = r.ReadUint(math.MaxUint64)
		case 5:
			w.Seq = r.ReadUint(math.MaxUint64)
		default:
			r.Skip(depth + 1)
		}
	}
}

// DecodeAnswer decodes an answer body.
func DecodeAnswer(body []byte) (Header, []Result, error) {
	r := msgp.NewReader(body, depthLimit)
	var h Header
	var rs []Result
	for i, n := 0, r.ReadArrayLen(); i < n && r.Err() == nil; i++ {
		switch i {
		case 0:
			readHeader(r, &h, 1)
		case 1:
			count := r.ReadArrayLen()
			if r.Err() != nil {
				break
			}
			rs = make([]Result, count)
			for j := 0; j < count && r.Err() == nil; j++ {
				readResult(r, &rs[j], 2)
			}
		default:
			r.Skip(1)
		}
	}
	if err := r.Finish(); err != nil {
		return Header{}, nil, malformed("answer", err)
	}
	return h, rs, nil
}

func readHeader(r *msgp.Reader, h *Header, depth int) {
	n := r.ReadArrayLen()
	for i := 0; i < n && r.Err() == nil; i++ {
		switch i {
		case 0:
			h.MemberID = r.ReadUint(math.MaxUint64)
		case 1:
			h.RaftTerm = r.ReadUint(math.MaxUint64)
		case 2:
			h.Revision = r.ReadInt()
		default:
			r.Skip(depth + 1)
		}
	}
}

func readResult(r *msgp.Reader, res *Result, depth int) {
	n := r.ReadArrayLen()
	for i := 0; i < n && r.Err() == nil; i++ {
		switch i {
		case 0:
			res.Code = int(r.ReadUint(999))
		case 1:
			res.Revision = r.ReadInt()
		case 2:
			res.CreateRevision = r.ReadInt()
		case 3:
			res.ModRevision = r.ReadInt()
		case 4:
			res.Version = r.ReadInt()
		case 5:
			res.Deleted = r.ReadInt()
		case 6:
			res.Error = r.ReadString()
		case 7:
			res.LeaderURL = r.ReadString()
		default:
			r.Skip(depth + 1)
		}
	}
}
