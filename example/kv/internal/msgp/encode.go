package msgp

import (
	"encoding/binary"
	"math"
)

// Each AppendX appends one value to b, in the form go-msgpack writes for
// it, and returns the extended slice; XSize, where there is one, is the
// size of what AppendX appends, so that a caller can allocate once.

// MaxLen is the longest str or bin msgpack can frame: 4 GiB - 1 bytes.
// AppendStr and AppendBin write a longer one's length modulo 2^32, as
// go-msgpack does, and so a corrupt value: a caller that may be handed one
// refuses it first.
const MaxLen = math.MaxUint32

// UintSize is the size of the encoding of v by AppendUint.
func UintSize(v uint64) int {
	switch {
	case v <= PosFixIntMax:
		return 1
	case v <= math.MaxUint8:
		return 2
	case v <= math.MaxUint16:
		return 3
	case v <= math.MaxUint32:
		return 5
	default:
		return 9
	}
}

// AppendUint appends v in its shortest unsigned form: a positive fixint,
// then uint8, uint16, uint32, uint64 (go-msgpack's EncodeUint).
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= PosFixIntMax:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, Uint8, byte(v))
	case v <= math.MaxUint16:
		return append(b, Uint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, Uint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, Uint64), v)
	}
}

// IntSize is the size of the encoding of v by AppendInt.
func IntSize(v int64) int {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return 1
	case v >= math.MinInt8 && v < -32:
		return 2
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return 3
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return 5
	default:
		return 9
	}
}

// AppendInt appends v as go-msgpack's EncodeInt does: a fixint from -32 to
// 127, and otherwise the shortest signed form, never an unsigned one.
// Positive values above 127 skip int8, which cannot hold them: 200 is
// int16 d1 00 c8, not uint8 cc c8; -33 is int8 d0 df. For a negative v
// this is the shortest form of all.
func AppendInt(b []byte, v int64) []byte {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return append(b, byte(v))
	case v >= math.MinInt8 && v < -32:
		return append(b, Int8, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return append(b, Int16, byte(v>>8), byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, Int32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, Int64), uint64(v))
	}
}

// StrSize is the size of the encoding of a string of n bytes by AppendStr.
func StrSize(n int) int {
	if n <= FixStrMax-FixStrMin {
		return 1 + n
	}
	return sizedHeaderLen(n) + n
}

// AppendStr appends s as a str: fixstr, str8, str16, str32. s need not be
// UTF-8: the Reader takes any bytes.
func AppendStr(b []byte, s string) []byte {
	if n := len(s); n <= FixStrMax-FixStrMin {
		b = append(b, FixStrMin|byte(n))
	} else {
		b = appendSizedHeader(b, n, Str8)
	}
	return append(b, s...)
}

// BinSize is the size of the encoding of v by AppendBin.
func BinSize(v []byte) int {
	if v == nil {
		return 1
	}
	return sizedHeaderLen(len(v)) + len(v)
}

// AppendBin appends nil for a nil v, and a bin (bin8, bin16, bin32) for
// any other, an empty one included (c4 00), as go-msgpack does.
func AppendBin(b, v []byte) []byte {
	if v == nil {
		return append(b, Nil)
	}
	return append(appendSizedHeader(b, len(v), Bin8), v...)
}

// appendSizedHeader appends the header of a str or bin of n bytes in the
// smallest of its 8-, 16- and 32-bit forms, whose type bytes are first
// (Str8 or Bin8) and the two after it.
func appendSizedHeader(b []byte, n int, first byte) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, first, byte(n))
	case n <= math.MaxUint16:
		return append(b, first+1, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, first+2), uint32(n))
	}
}

// sizedHeaderLen is the size of the header appendSizedHeader appends.
func sizedHeaderLen(n int) int {
	switch {
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	default:
		return 5
	}
}

// AppendBool appends v, in one byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, True)
	}
	return append(b, False)
}

// AppendArrayHeader appends the header of an array of n values: fixarray,
// array16, array32. The n values follow it.
func AppendArrayHeader(b []byte, n int) []byte {
	switch {
	case n <= FixArrayMax-FixArrayMin:
		return append(b, FixArrayMin|byte(n))
	case n <= math.MaxUint16:
		return append(b, Array16, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, Array32), uint32(n))
	}
}
