package batchwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// maxDepth bounds the nesting of the values a reader skips, so that a
// hostile body cannot make it recurse deeply. Nothing this package writes
// nests deeper than 3.
const maxDepth = 16

// DecodeRequest decodes a request body of at most maxWrites writes. The
// writes' values alias body; their keys share one string. A body of more
// writes is refused before anything is allocated for them.
func DecodeRequest(body []byte, maxWrites int) ([]Write, error) {
	r := reader{b: body}
	var ws []Write
	var keys strings.Builder
	for i, n := 0, r.arrayLen(0); i < n && r.err == nil; i++ {
		if i > 0 {
			r.skip(1) // a field of a newer request
			continue
		}
		count := r.arrayLen(1)
		if count > maxWrites {
			r.fail(fmt.Errorf("%d writes; a batch holds at most %d", count, maxWrites))
		}
		if r.err != nil {
			break
		}
		ws = make([]Write, count)
		keys.Grow(min(16*count, len(r.b)-r.off)) // typical keys in one allocation; no more than the body holds
		for j := 0; j < count && r.err == nil; j++ {
			r.readWrite(&ws[j], &keys, 2)
		}
	}
	if err := r.finish("request"); err != nil {
		return nil, err
	}
	all := keys.String()
	for i := range ws {
		ws[i].Key = all[ws[i].keyStart:ws[i].keyEnd]
	}
	return ws, nil
}

// readWrite reads one write, its key appended to keys.
func (r *reader) readWrite(w *Write, keys *strings.Builder, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			start := r.off
			// 0 is no op, as a write without one: the server refuses it as
			// it refuses a JSON write without "op".
			if w.Op = Op(r.readUint(math.MaxUint8)); w.Op > OpDelete {
				r.fail(fmt.Errorf("offset %d: op %d: want %d (put) or %d (delete)", start, w.Op, OpPut, OpDelete))
			}
		case 1:
			k, _ := r.readBytes()
			w.keyStart = keys.Len()
			keys.Write(k)
			w.keyEnd = keys.Len()
		case 2:
			w.Value, _ = r.readBytes()
		case 3:
			if !r.isNil() {
				w.Cond, w.IfModRevision = true, r.readInt()
			}
		case 4:
			w.Session = r.readUint(math.MaxUint64)
		case 5:
			w.Seq = r.readUint(math.MaxUint64)
		default:
			r.skip(depth + 1)
		}
	}
}

// DecodeAnswer decodes an answer body.
func DecodeAnswer(body []byte) (Header, []Result, error) {
	r := reader{b: body}
	var h Header
	var rs []Result
	for i, n := 0, r.arrayLen(0); i < n && r.err == nil; i++ {
		switch i {
		case 0:
			r.readHeader(&h, 1)
		case 1:
			count := r.arrayLen(1)
			if r.err != nil {
				break
			}
			rs = make([]Result, count)
			for j := 0; j < count && r.err == nil; j++ {
				r.readResult(&rs[j], 2)
			}
		default:
			r.skip(1)
		}
	}
	if err := r.finish("answer"); err != nil {
		return Header{}, nil, err
	}
	return h, rs, nil
}

func (r *reader) readHeader(h *Header, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			h.MemberID = r.readUint(math.MaxUint64)
		case 1:
			h.RaftTerm = r.readUint(math.MaxUint64)
		case 2:
			h.Revision = r.readInt()
		default:
			r.skip(depth + 1)
		}
	}
}

func (r *reader) readResult(res *Result, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			res.Code = int(r.readUint(999))
		case 1:
			res.Revision = r.readInt()
		case 2:
			res.CreateRevision = r.readInt()
		case 3:
			res.ModRevision = r.readInt()
		case 4:
			res.Version = r.readInt()
		case 5:
			res.Deleted = r.readInt()
		case 6:
			res.Error = r.readString()
		case 7:
			res.LeaderURL = r.readString()
		default:
			r.skip(depth + 1)
		}
	}
}

// A reader reads msgpack values from b, starting at off. Its first error
// sticks: it moves off to the end of b, so that every later read fails at
// once and returns a zero value. depth arguments count the arrays around
// the value about to be read.
type reader struct {
	b   []byte
	off int
	err error
}

// finish checks that the reader consumed all of its input, and returns its
// error, if any, wrapped in ErrMalformed.
func (r *reader) finish(what string) error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Errorf("%d trailing bytes", len(r.b)-r.off))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, r.err)
	}
	return nil
}

// fail records err, unless an error is recorded already, and stops reading.
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// failType records that the value at off is not of the type wanted.
func (r *reader) failType(want string) {
	if r.off >= len(r.b) {
		r.fail(fmt.Errorf("truncated: %s expected at offset %d", want, r.off))
		return
	}
	r.fail(fmt.Errorf("offset %d: %s expected, found type byte 0x%02x", r.off, want, r.b[r.off]))
}

// bigEndian reads the n-byte (1, 2, 4 or 8) big-endian number after the
// type byte at off, and moves off past both.
func (r *reader) bigEndian(n int) (uint64, bool) {
	p := r.b[r.off+1:]
	if len(p) < n {
		r.fail(fmt.Errorf("truncated: type 0x%02x at offset %d needs %d more bytes", r.b[r.off], r.off, n))
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

// readInteger reads an integer in any msgpack form: its magnitude, and
// whether it is negative (then v holds its two's complement).
func (r *reader) readInteger() (v uint64, negative bool) {
	if r.off >= len(r.b) {
		r.failType("integer")
		return 0, false
	}
	switch c := r.b[r.off]; {
	case c <= mpPosFixIntMax:
		r.off++
		return uint64(c), false
	case c >= mpNegFixIntMin:
		r.off++
		return uint64(int64(int8(c))), true
	case c >= mpUint8 && c <= mpUint64:
		v, _ := r.bigEndian(1 << (c - mpUint8))
		return v, false
	case c >= mpInt8 && c <= mpInt64:
		bits := 8 << (c - mpInt8)
		v, ok := r.bigEndian(1 << (c - mpInt8))
		if !ok || v>>(bits-1) == 0 {
			return v, false
		}
		return uint64(int64(v<<(64-bits)) >> (64 - bits)), true // sign-extended
	}
	r.failType("integer")
	return 0, false
}

// readUint reads a non-negative integer of at most limit.
func (r *reader) readUint(limit uint64) uint64 {
	start := r.off
	v, neg := r.readInteger()
	if r.err == nil && (neg || v > limit) {
		r.fail(fmt.Errorf("offset %d: integer out of range 0..%d", start, limit))
		return 0
	}
	return v
}

// readInt reads an integer that fits an int64.
func (r *reader) readInt() int64 {
	start := r.off
	v, neg := r.readInteger()
	if r.err == nil && !neg && v > math.MaxInt64 {
		r.fail(fmt.Errorf("offset %d: integer %d out of range of int64", start, v))
		return 0
	}
	return int64(v)
}

// isNil reports whether the value at off is nil, and if so moves past it.
func (r *reader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == mpNil {
		r.off++
		return true
	}
	return false
}

// readBytes reads a bin or a str, or nil (then b is nil and isNil true).
// b aliases the input, with no spare capacity, so that an append to it
// copies rather than overwrites the input; it is not nil for an empty bin.
func (r *reader) readBytes() (b []byte, isNil bool) {
	if r.off >= len(r.b) {
		r.failType("bin or str")
		return nil, false
	}
	start := r.off
	var n uint64
	ok := true
	switch c := r.b[r.off]; {
	case c == mpNil:
		r.off++
		return nil, true
	case c >= mpFixStrMin && c <= mpFixStrMax:
		n = uint64(c - mpFixStrMin)
		r.off++
	case c == mpBin8 || c == mpStr8:
		n, ok = r.bigEndian(1)
	case c == mpBin16 || c == mpStr16:
		n, ok = r.bigEndian(2)
	case c == mpBin32 || c == mpStr32:
		n, ok = r.bigEndian(4)
	default:
		r.failType("bin or str")
		return nil, false
	}
	if !ok {
		return nil, false
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("truncated: bin or str at offset %d declares %d bytes, %d left", start, n, len(r.b)-r.off))
		return nil, false
	}
	end := r.off + int(n)
	b = r.b[r.off:end:end]
	r.off = end
	return b, false
}

// readString reads a str or a bin as a string; nil reads as "".
func (r *reader) readString() string {
	b, _ := r.readBytes()
	return string(b)
}

// arrayLen reads the header of an array at the given depth and returns its
// length. It refuses a length that the bytes left cannot back (every value
// takes a byte at least), and an array nested too deep.
func (r *reader) arrayLen(depth int) int {
	if r.off >= len(r.b) {
		r.failType("array")
		return 0
	}
	start := r.off
	var n uint64
	switch c := r.b[r.off]; {
	case c >= mpFixArrayMin && c <= mpFixArrayMax:
		n = uint64(c - mpFixArrayMin)
		r.off++
	case c == mpArray16:
		n, _ = r.bigEndian(2)
	case c == mpArray32:
		n, _ = r.bigEndian(4)
	default:
		r.failType("array")
		return 0
	}
	if left := uint64(len(r.b) - r.off); r.err == nil && n > left {
		r.fail(fmt.Errorf("truncated: array at offset %d declares %d values, %d bytes left", start, n, left))
	}
	if r.err == nil && depth >= maxDepth {
		r.fail(fmt.Errorf("offset %d: arrays nested deeper than %d", start, maxDepth))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// skip moves past one value of any type but ext, at the given depth: a
// field appended by a newer version of the format.
func (r *reader) skip(depth int) {
	if r.off >= len(r.b) {
		r.failType("value")
		return
	}
	start := r.off
	c := r.b[r.off]
	var payload, elements uint64 // bytes, values after the header
	ok := true
	switch {
	case c <= mpPosFixIntMax || c >= mpNegFixIntMin || c == mpNil || c == mpFalse || c == mpTrue:
		r.off++
		return
	case c <= mpFixMapMax:
		elements = 2 * uint64(c-mpFixMapMin)
		r.off++
	case c <= mpFixArrayMax:
		elements = uint64(c - mpFixArrayMin)
		r.off++
	case c <= mpFixStrMax:
		payload = uint64(c - mpFixStrMin)
		r.off++
	case c == mpUint8 || c == mpInt8:
		payload = 1
		r.off++
	case c == mpUint16 || c == mpInt16:
		payload = 2
		r.off++
	case c == mpUint32 || c == mpInt32 || c == mpFloat32:
		payload = 4
		r.off++
	case c == mpUint64 || c == mpInt64 || c == mpFloat64:
		payload = 8
		r.off++
	case c == mpBin8 || c == mpStr8:
		payload, ok = r.bigEndian(1)
	case c == mpBin16 || c == mpStr16:
		payload, ok = r.bigEndian(2)
	case c == mpBin32 || c == mpStr32:
		payload, ok = r.bigEndian(4)
	case c == mpArray16:
		elements, ok = r.bigEndian(2)
	case c == mpArray32:
		elements, ok = r.bigEndian(4)
	case c == mpMap16:
		elements, ok = r.bigEndian(2)
		elements *= 2
	case c == mpMap32:
		elements, ok = r.bigEndian(4)
		elements *= 2
	default: // mpNeverUsed, the ext types
		r.failType("value (not ext)")
		return
	}
	if !ok {
		return
	}
	left := uint64(len(r.b) - r.off)
	switch {
	case payload > left || elements > left:
		r.fail(fmt.Errorf("truncated: type 0x%02x at offset %d declares more than the %d bytes left", c, start, left))
		return
	case elements > 0 && depth >= maxDepth:
		r.fail(fmt.Errorf("offset %d: values nested deeper than %d", start, maxDepth))
		return
	}
	r.off += int(payload)
	for i := uint64(0); i < elements && r.err == nil; i++ {
		r.skip(depth + 1)
	}
}
