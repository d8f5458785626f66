package msgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A Reader reads msgpack values from a byte slice, front to back. Its
// first error sticks: it moves the Reader to the end of its input, so that
// every later read fails at once and returns a zero value, and Finish
// returns it. Slices it returns alias the input.
//
// Every length is checked against the bytes left before it is returned: a
// str or bin of n bytes needs n bytes, an array of n values n bytes, since
// every value takes one at least. A caller that allocates for a length
// therefore allocates no more than a small multiple of its input.
//
// A Reader reads the integer, str, bin, bool, nil and array forms that
// go-msgpack writes, in any width, and skips any value but an ext.
type Reader struct {
	b     []byte
	off   int
	err   error
	limit DepthLimit
}

// A DepthLimit says how deeply the values that Skip moves past may nest,
// so that a hostile input cannot make it recurse deeply. The depth of a
// value is the number of arrays and maps around it: 0 for the input's
// outermost value, 1 for the fields of its array.
//
// go-msgpack's MaxDepth m refuses a container at level m, the outermost
// being level 1: that is DepthLimit{Max: m - 1}.
type DepthLimit struct {
	// Max is the depth at which Skip refuses a container.
	Max int
	// EmptyOK spares an empty container at Max: then Skip refuses only
	// a value deeper than Max.
	EmptyOK bool
}

// NewReader returns a Reader of b, whose Skip refuses what limit refuses.
func NewReader(b []byte, limit DepthLimit) *Reader {
	return &Reader{b: b, limit: limit}
}

// Err returns the first error of r, if any.
func (r *Reader) Err() error { return r.err }

// Offset returns the offset in the input of the next value.
func (r *Reader) Offset() int { return r.off }

// Len returns the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Fail records err, unless r has an error already, and stops reading: for
// a value the caller refuses although msgpack allows it.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// Finish returns the first error of r; if there is none, an error if any
// of the input is left unread.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.Fail(fmt.Errorf("%d trailing bytes", len(r.b)-r.off))
	}
	return r.err
}

var errEmpty = errors.New("empty input")

// failType records that the value at the offset is not of the type wanted.
func (r *Reader) failType(want string) {
	switch {
	case len(r.b) == 0:
		r.Fail(errEmpty)
	case r.off >= len(r.b):
		r.Fail(fmt.Errorf("truncated: %s expected at offset %d", want, r.off))
	default:
		r.Fail(fmt.Errorf("offset %d: %s expected, found type byte 0x%02x", r.off, want, r.b[r.off]))
	}
}

// bigEndian reads the n-byte (1, 2, 4 or 8) big-endian number after the
// type byte at the offset, and moves past both.
func (r *Reader) bigEndian(n int) (uint64, bool) {
	p := r.b[r.off+1:]
	if len(p) < n {
		r.Fail(fmt.Errorf("truncated: type 0x%02x at offset %d needs %d more bytes", r.b[r.off], r.off, n))
		return 0, false
	}
	var v uint64
	switch n {
	case 1:
		v = uint64(p[0])
	case 2:
		v = uint64(binary.BigEndian.Uint16(p))
	case 4:
		v = uint64(binary.BigEndian.Uint32(p))
	default:
		v = binary.BigEndian.Uint64(p)
	}
	r.off += 1 + n
	return v, true
}

// signed reads the int8, int16, int32 or int64 of type byte c at the
// offset, sign-extended.
func (r *Reader) signed(c byte) (int64, bool) {
	size := 1 << (c - Int8)
	v, ok := r.bigEndian(size)
	shift := 64 - 8*size
	return int64(v<<shift) >> shift, ok
}

// ReadNil reads a nil if the next value is one, and reports whether it
// did.
func (r *Reader) ReadNil() bool {
	if r.off < len(r.b) && r.b[r.off] == Nil {
		r.off++
		return true
	}
	return false
}

// ReadUint reads an integer from 0 to limit, in any form, signed or
// unsigned.
func (r *Reader) ReadUint(limit uint64) uint64 {
	start := r.off
	if start >= len(r.b) {
		r.failType("integer")
		return 0
	}
	var v uint64
	switch c := r.b[start]; {
	case c <= PosFixIntMax:
		r.off++
		v = uint64(c)
	case c >= Uint8 && c <= Uint64:
		var ok bool
		if v, ok = r.bigEndian(1 << (c - Uint8)); !ok {
			return 0
		}
	case c >= Int8 && c <= Int64:
		s, ok := r.signed(c)
		if !ok {
			return 0
		}
		if s < 0 {
			r.Fail(fmt.Errorf("offset %d: negative integer %d for an unsigned field", start, s))
			return 0
		}
		v = uint64(s)
	case c >= NegFixIntMin:
		r.Fail(fmt.Errorf("offset %d: negative integer %d for an unsigned field", start, int8(c)))
		return 0
	default:
		r.failType("integer")
		return 0
	}
	if v > limit {
		r.Fail(fmt.Errorf("offset %d: integer %d out of range (at most %d)", start, v, limit))
		return 0
	}
	return v
}

// ReadInt reads an integer that fits an int64, in any form. An unsigned
// value above MaxInt64 is an error, where go-msgpack would wrap it to a
// negative one.
func (r *Reader) ReadInt() int64 {
	start := r.off
	if start >= len(r.b) {
		r.failType("integer")
		return 0
	}
	switch c := r.b[start]; {
	case c <= PosFixIntMax || c >= NegFixIntMin:
		r.off++
		return int64(int8(c))
	case c >= Int8 && c <= Int64:
		v, _ := r.signed(c)
		return v
	case c >= Uint8 && c <= Uint64:
		v, ok := r.bigEndian(1 << (c - Uint8))
		if ok && v > math.MaxInt64 {
			r.Fail(fmt.Errorf("offset %d: integer %d out of range (at most %d)", start, v, int64(math.MaxInt64)))
			return 0
		}
		return int64(v)
	}
	r.failType("integer")
	return 0
}

// ReadBool reads a bool, or the fixint 0 or 1, as go-msgpack does.
func (r *Reader) ReadBool() bool {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case False, 0:
			r.off++
			return false
		case True, 1:
			r.off++
			return true
		}
	}
	r.failType("bool")
	return false
}

// ReadBytes reads a bin or a str, either of which may hold any bytes, or a
// nil. It returns nil for a nil; for a bin or str, a slice of the input
// that is not nil even when empty, without spare capacity, so that an
// append to it copies rather than overwrites the input.
func (r *Reader) ReadBytes() []byte {
	start := r.off
	if start >= len(r.b) {
		r.failType("bin or str")
		return nil
	}
	var n uint64
	switch c := r.b[start]; {
	case c == Nil:
		r.off++
		return nil
	case c >= FixStrMin && c <= FixStrMax:
		r.off++
		n = uint64(c - FixStrMin)
	case c >= Bin8 && c <= Bin32, c >= Str8 && c <= Str32:
		first := byte(Bin8)
		if c >= Str8 {
			first = Str8
		}
		var ok bool
		if n, ok = r.bigEndian(1 << (c - first)); !ok {
			return nil
		}
	default:
		r.failType("bin or str")
		return nil
	}
	if left := uint64(len(r.b) - r.off); n > left {
		r.Fail(fmt.Errorf("truncated: bin or str at offset %d declares %d bytes, %d left", start, n, left))
		return nil
	}
	end := r.off + int(n)
	p := r.b[r.off:end:end]
	r.off = end
	return p
}

// ReadString reads a str or a bin, as ReadBytes does, into a new string;
// a nil reads as "".
func (r *Reader) ReadString() string {
	return string(r.ReadBytes())
}

// ReadArrayLen reads the header of an array and returns its length. The
// values follow it.
func (r *Reader) ReadArrayLen() int {
	start := r.off
	if start >= len(r.b) {
		r.failType("array")
		return 0
	}
	var n uint64
	switch c := r.b[start]; {
	case c >= FixArrayMin && c <= FixArrayMax:
		r.off++
		n = uint64(c - FixArrayMin)
	case c == Array16 || c == Array32:
		var ok bool
		if n, ok = r.bigEndian(2 << (c - Array16)); !ok {
			return 0
		}
	default:
		r.failType("array")
		return 0
	}
	if left := uint64(len(r.b) - r.off); n > left {
		r.Fail(fmt.Errorf("truncated: array at offset %d declares %d values, %d bytes left", start, n, left))
		return 0
	}
	return int(n)
}

// Skip moves past one value at the given depth (see DepthLimit), of any
// type but ext, whatever it holds: a field appended by a newer version of
// a format, which a reader of this one does not know. Like go-msgpack, it
// refuses a truncated value, the reserved type byte 0xc1, and nesting
// past the Reader's DepthLimit; unlike it, an ext value.
func (r *Reader) Skip(depth int) {
	start := r.off
	if start >= len(r.b) {
		r.failType("value")
		return
	}
	c := r.b[start]
	var (
		payload  uint64 // bytes after the header
		elements uint64 // values after the header
		lenBytes int    // size of the big-endian length in the header
		isMap    bool
	)
	switch {
	case c <= PosFixIntMax || c >= NegFixIntMin, c == Nil, c == False, c == True:
		r.off++
		return
	case c <= FixMapMax:
		elements, isMap = uint64(c-FixMapMin), true
	case c <= FixArrayMax:
		elements = uint64(c - FixArrayMin)
	case c <= FixStrMax:
		payload = uint64(c - FixStrMin)
	case c == Uint8 || c == Int8:
		payload = 1
	case c == Uint16 || c == Int16:
		payload = 2
	case c == Uint32 || c == Int32 || c == Float32:
		payload = 4
	case c == Uint64 || c == Int64 || c == Float64:
		payload = 8
	case c == Bin8 || c == Str8:
		lenBytes = 1
	case c == Bin16 || c == Str16 || c == Array16 || c == Map16:
		lenBytes = 2
	case c == Bin32 || c == Str32 || c == Array32 || c == Map32:
		lenBytes = 4
	case c == NeverUsed:
		r.Fail(fmt.Errorf("offset %d: reserved type byte 0x%02x", start, c))
		return
	default: // fixext, ext8, ext16, ext32
		r.Fail(fmt.Errorf("offset %d: ext type 0x%02x in a trailing field", start, c))
		return
	}
	if lenBytes == 0 {
		r.off++
	} else {
		n, ok := r.bigEndian(lenBytes)
		if !ok {
			return
		}
		switch c {
		case Array16, Array32:
			elements = n
		case Map16, Map32:
			elements, isMap = n, true
		default:
			payload = n
		}
	}
	isContainer := c >= FixMapMin && c <= FixArrayMax || c >= Array16 && c <= Map32
	if isContainer && depth >= r.limit.Max && (elements > 0 || !r.limit.EmptyOK) {
		r.Fail(fmt.Errorf("offset %d: nested deeper than %d", start, r.limit.Max))
		return
	}
	if isMap {
		elements *= 2 // a key and a value each; n < 2^32, no overflow
	}
	if left := uint64(len(r.b) - r.off); payload > left || elements > left {
		r.Fail(fmt.Errorf("truncated: type 0x%02x at offset %d declares more than the %d bytes left", c, start, left))
		return
	}
	r.off += int(payload)
	for i := uint64(0); i < elements && r.err == nil; i++ {
		r.Skip(depth + 1)
	}
}
