package batchwire

import "github.com/keelraft/raft/example/kv/internal/msgp"

// AppendRequestHeader appends the start of a request of n writes to b;
// the n writes (AppendWrite) follow it.
func AppendRequestHeader(b []byte, n int) []byte {
	return msgp.AppendArrayHeader(append(b, msgp.FixArrayMin|1), n)
}

// AppendWrite appends w to b, as one write of a request. Key and Value
// must be shorter than 4 GiB.
func AppendWrite(b []byte, w *Write) []byte {
	b = append(b, msgp.FixArrayMin|6, byte(w.Op))
	b = msgp.AppendStr(b, w.Key)
	b = msgp.AppendBin(b, w.Value)
	if w.Cond {
		b = appendInt(b, w.IfModRevision)
	} else {
		b = append(b, msgp.Nil)
	}
	b = msgp.AppendUint(b, w.Session)
	return msgp.AppendUint(b, w.Seq)
}

// AppendAnswerHeader appends the start of an answer of n results to b;
// the n results (AppendResult) follow it.
func AppendAnswerHeader(b []byte, h Header, n int) []byte {
	b = append(b, msgp.FixArrayMin|2, msgp.FixArrayMin|3)
	b = msgp.AppendUint(b, h.MemberID)
	b = msgp.AppendUint(b, h.RaftTerm)
	b = appendInt(b, h.Revision)
	return msgp.AppendArrayHeader(b, n)
}

// AppendResult appends r to b, as one result of an answer, without its
// trailing zero fields. Its strings must be shorter than 4 GiB.
func AppendResult(b []byte, r *Result) []byte {
	n := r.fields()
	b = msgp.AppendArrayHeader(b, n)
	b = msgp.AppendUint(b, uint64(r.Code))
	b = appendInt(b, r.Revision)
	for i, v := range [...]int64{r.CreateRevision, r.ModRevision, r.Version, r.Deleted} {
		if 3+i > n {
			return b
		}
		b = appendInt(b, v)
	}
	if n >= 7 {
		b = msgp.AppendStr(b, r.Error)
	}
	if n >= 8 {
		b = msgp.AppendStr(b, r.LeaderURL)
	}
	return b
}

// appendInt appends v in its shortest form: unsigned if v >= 0, where
// go-msgpack (msgp.AppendInt) writes a signed one above 127.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return msgp.AppendUint(b, uint64(v))
	}
	return msgp.AppendInt(b, v)
}
