package batchwire

import (
	"encoding/binary"
	"math"
)

// The msgpack type bytes this package writes or reads
// (https://github.com/msgpack/msgpack/blob/master/spec.md#formats). The
// others (0xc1, never used, and the ext types) are refused.
const (
	mpPosFixIntMax = 0x7f
	mpFixMapMin    = 0x80
	mpFixMapMax    = 0x8f
	mpFixArrayMin  = 0x90
	mpFixArrayMax  = 0x9f
	mpFixStrMin    = 0xa0
	mpFixStrMax    = 0xbf
	mpNil          = 0xc0
	mpFalse        = 0xc2
	mpTrue         = 0xc3
	mpBin8         = 0xc4
	mpBin16        = 0xc5
	mpBin32        = 0xc6
	mpFloat32      = 0xca
	mpFloat64      = 0xcb
	mpUint8        = 0xcc
	mpUint16       = 0xcd
	mpUint32       = 0xce
	mpUint64       = 0xcf
	mpInt8         = 0xd0
	mpInt16        = 0xd1
	mpInt32        = 0xd2
	mpInt64        = 0xd3
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
	mpMap16        = 0xde
	mpMap32        = 0xdf
	mpNegFixIntMin = 0xe0
)

// AppendRequestHeader appends the start of a request of n writes to b;
// the n writes (AppendWrite) follow it.
func AppendRequestHeader(b []byte, n int) []byte {
	return appendArrayHeader(append(b, mpFixArrayMin|1), n)
}

// AppendWrite appends w to b, as one write of a request. Key and Value
// must be shorter than 4 GiB.
func AppendWrite(b []byte, w *Write) []byte {
	b = append(b, mpFixArrayMin|6, byte(w.Op))
	b = appendStr(b, w.Key)
	b = appendBin(b, w.Value)
	if w.Cond {
		b = appendInt(b, w.IfModRevision)
	} else {
		b = append(b, mpNil)
	}
	b = appendUint(b, w.Session)
	return appendUint(b, w.Seq)
}

// AppendAnswerHeader appends the start of an answer of n results to b;
// the n results (AppendResult) follow it.
func AppendAnswerHeader(b []byte, h Header, n int) []byte {
	b = append(b, mpFixArrayMin|2, mpFixArrayMin|3)
	b = appendUint(b, h.MemberID)
	b = appendUint(b, h.RaftTerm)
	b = appendInt(b, h.Revision)
	return appendArrayHeader(b, n)
}

// AppendResult appends r to b, as one result of an answer, without its
// trailing zero fields. Its strings must be shorter than 4 GiB.
func AppendResult(b []byte, r *Result) []byte {
	n := r.fields()
	b = appendArrayHeader(b, n)
	b = appendUint(b, uint64(r.Code))
	b = appendInt(b, r.Revision)
	for i, v := range [...]int64{r.CreateRevision, r.ModRevision, r.Version, r.Deleted} {
		if 3+i > n {
			return b
		}
		b = appendInt(b, v)
	}
	if n >= 7 {
		b = appendStr(b, r.Error)
	}
	if n >= 8 {
		b = appendStr(b, r.LeaderURL)
	}
	return b
}

// appendUint appends v in its shortest unsigned form.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= mpPosFixIntMax:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return append(b, mpUint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
	}
}

// appendInt appends v in its shortest form: unsigned if v >= 0.
func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(v)) // negative fixint: 0xe0..0xff
	case v >= math.MinInt8:
		return append(b, mpInt8, byte(v))
	case v >= math.MinInt16:
		return append(b, mpInt16, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
	}
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n <= mpFixArrayMax-mpFixArrayMin:
		return append(b, mpFixArrayMin|byte(n))
	case n <= math.MaxUint16:
		return append(b, mpArray16, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, mpArray32), uint32(n))
	}
}

// appendStr appends s as a msgpack str. A key need not be UTF-8: the
// reader takes any bytes.
func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n <= mpFixStrMax-mpFixStrMin:
		b = append(b, mpFixStrMin|byte(n))
	case n <= math.MaxUint8:
		b = append(b, mpStr8, byte(n))
	case n <= math.MaxUint16:
		b = append(b, mpStr16, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpStr32), uint32(n))
	}
	return append(b, s...)
}

// appendBin appends v as a msgpack bin, or nil if v is nil.
func appendBin(b, v []byte) []byte {
	switch n := len(v); {
	case v == nil:
		return append(b, mpNil)
	case n <= math.MaxUint8:
		b = append(b, mpBin8, byte(n))
	case n <= math.MaxUint16:
		b = append(b, mpBin16, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpBin32), uint32(n))
	}
	return append(b, v...)
}
