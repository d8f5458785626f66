package store

// The encoding of Command, written by hand: every write is marshalled once
// on the proposing node and unmarshalled by Apply on every node, and
// go-msgpack's reflection cost a loaded leader 10-15% of its CPU. Member
// and snapshots are rare and stay with go-msgpack (encode, decode).
//
// Marshal writes exactly the bytes go-msgpack writes with mpHandle, so
// that logs written by older binaries stay readable and older binaries
// read what this one writes:
//
//	field          type    go-msgpack writes
//	(Command)              fixarray of 10 fields, in declaration order
//	Op             uint8   positive fixint, uint8
//	Key            string  fixstr, str8, str16, str32
//	Value          []byte  nil if nil; else bin8, bin16, bin32 (empty: c4 00)
//	Cond           bool    false, true
//	IfModRevision  int64   signed, see below
//	Session, Seq   uint64  positive fixint, uint8, uint16, uint32, uint64
//	SessionTTL     int64   signed
//	Time           int64   signed
//	RequestID      uint64  unsigned
//
// An int64 is written as a fixint from -32 to 127, and otherwise in the
// shortest signed form, never an unsigned one: 200 is int16 d1 00 c8, not
// uint8 cc c8; -33 is int8 d0 df.
//
// Unmarshal reads every form go-msgpack reads there that an encoder of
// this format may have written, and a few more that cost nothing:
//
//   - an integer field takes any msgpack integer form, signed or unsigned,
//     of any width, whose value fits the field;
//   - any field takes nil, as its zero value;
//   - Cond also takes the fixints 0 and 1;
//   - Key and Value each take str as well as bin.
//
// go-msgpack reads all of these too. It also reads these, which Unmarshal
// refuses (TestCommandStricterThanCodec pins them), since no encoder of
// this format writes them:
//
//	where              go-msgpack also reads
//	Key, Value         an array of integers, one per byte
//	a signed field     a uint64 above MaxInt64, wrapped to a negative value
//	a trailing field   an ext value
//
// Versions. Fields are read by position. An array shorter than ten (a
// Command written before its last fields existed) leaves the missing fields
// zero; values past the tenth (fields appended by a newer version) are
// skipped, as go-msgpack skips them. Like go-msgpack, skip refuses a
// truncated value, the reserved type byte 0xc1, and a container nested as
// deep as mpHandle's MaxDepth; unlike it, an ext value (see above). A
// field appended to Command must therefore mean "absent" when
// zero, must not be of a type go-msgpack writes as an ext (time.Time), and
// must be added to commandSize, appendCommand and readCommand below;
// TestCommandMatchesCodec fails until it is.
//
// Every length is checked against the bytes left before anything is
// allocated for it, so a hostile header costs nothing: a bin32 declaring
// 4 GiB in a 10-byte entry is an error, not an allocation.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The msgpack type bytes used here.
const (
	mpPosFixIntMax = 0x7f
	mpFixMapMin    = 0x80
	mpFixMapMax    = 0x8f
	mpFixArrayMin  = 0x90
	mpFixArrayMax  = 0x9f
	mpFixStrMin    = 0xa0
	mpFixStrMax    = 0xbf
	mpNil          = 0xc0
	mpNeverUsed    = 0xc1
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

// commandFields is the number of fields of Command, all encoded.
const commandFields = 10

// maxFramed is the longest str or bin msgpack can frame.
const maxFramed = math.MaxUint32

// ErrTooLarge is wrapped into the error of Command.Marshal for a Key or
// Value longer than msgpack can frame, 4 GiB - 1 bytes.
var ErrTooLarge = errors.New("store: too large to encode")

// Marshal encodes c for a log entry, in one allocation.
func (c Command) Marshal() ([]byte, error) {
	if err := framedLenError("Key", len(c.Key)); err != nil {
		return nil, err
	}
	if err := framedLenError("Value", len(c.Value)); err != nil {
		return nil, err
	}
	return appendCommand(make([]byte, 0, commandSize(&c)), &c), nil
}

// framedLenError returns the error of Marshal for a field of n bytes, or
// nil if msgpack can frame it. go-msgpack would write the length modulo
// 2^32 and so a corrupt entry.
func framedLenError(field string, n int) error {
	if uint64(n) > maxFramed {
		return fmt.Errorf("store: encode Command: %s of %d bytes: %w", field, n, ErrTooLarge)
	}
	return nil
}

// Unmarshal sets c to the Command encoded in b. On error, which wraps
// ErrDecode, c is the zero Command.
//
// c keeps no reference to b: Key and Value are copies. Apply stores Value
// in the map and hands it to readers for as long as the key lives, while
// an entry's Data may share its buffer with a whole transport frame or a
// WAL read; aliasing it would pin that buffer, and corrupt the store if
// its owner ever reused it.
func (c *Command) Unmarshal(b []byte) error {
	*c = Command{}
	r := commandReader{b: b}
	r.readCommand(c)
	if err := r.finish(); err != nil {
		*c = Command{}
		return err
	}
	return nil
}

// ---- encoding ----

// commandSize is the exact size of the encoding of c.
func commandSize(c *Command) int {
	const header, cond = 1, 1
	return header + uintSize(uint64(c.Op)) + strSize(len(c.Key)) + binSize(c.Value) + cond +
		intSize(c.IfModRevision) + uintSize(c.Session) + uintSize(c.Seq) +
		intSize(c.SessionTTL) + intSize(c.Time) + uintSize(c.RequestID)
}

// appendCommand appends the encoding of c to b. Fields in declaration
// order: they are positional.
func appendCommand(b []byte, c *Command) []byte {
	b = append(b, mpFixArrayMin|commandFields)
	b = appendUint(b, uint64(c.Op))
	b = appendStr(b, c.Key)
	b = appendBin(b, c.Value)
	b = appendBool(b, c.Cond)
	b = appendInt(b, c.IfModRevision)
	b = appendUint(b, c.Session)
	b = appendUint(b, c.Seq)
	b = appendInt(b, c.SessionTTL)
	b = appendInt(b, c.Time)
	return appendUint(b, c.RequestID)
}

func uintSize(v uint64) int {
	switch {
	case v <= mpPosFixIntMax:
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

// intSize and appendInt follow go-msgpack's EncodeInt: a fixint from -32
// to 127, then the shortest signed form. Positive values above 127 skip
// int8, which cannot hold them, so 128 takes three bytes.
func intSize(v int64) int {
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

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return append(b, byte(v))
	case v >= math.MinInt8 && v < -32:
		return append(b, mpInt8, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return append(b, mpInt16, byte(v>>8), byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
	}
}

func strSize(n int) int {
	switch {
	case n <= mpFixStrMax-mpFixStrMin:
		return 1 + n
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	default:
		return 5 + n
	}
}

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

// binSize and appendBin write nil for a nil slice and a bin for any other,
// an empty one included, as go-msgpack does.
func binSize(v []byte) int {
	switch n := len(v); {
	case v == nil:
		return 1
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	default:
		return 5 + n
	}
}

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

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// ---- decoding ----

// commandReader reads a Command from b, starting at off. Its first error
// sticks: it moves off to the end of b, so that every later read fails at
// once and returns a zero value. Slices it returns alias b.
type commandReader struct {
	b   []byte
	off int
	err error
}

// readCommand reads an array of fields into c, which must be zero.
func (r *commandReader) readCommand(c *Command) {
	n := r.arrayLen()
	for i := 0; i < n && r.err == nil; i++ {
		if i >= commandFields {
			r.skip(2) // a newer field, one level below the Command's array
			continue
		}
		if r.isNil() {
			continue // go-msgpack's zero value, for a field of any type
		}
		switch i {
		case 0:
			c.Op = Op(r.readUint(math.MaxUint8))
		case 1:
			c.Key = string(r.readRaw("str"))
		case 2:
			if v := r.readRaw("bin"); r.err == nil {
				// Empty but not nil, as go-msgpack decodes an empty bin.
				c.Value = make([]byte, len(v))
				copy(c.Value, v)
			}
		case 3:
			c.Cond = r.readBool()
		case 4:
			c.IfModRevision = r.readInt()
		case 5:
			c.Session = r.readUint(math.MaxUint64)
		case 6:
			c.Seq = r.readUint(math.MaxUint64)
		case 7:
			c.SessionTTL = r.readInt()
		case 8:
			c.Time = r.readInt()
		case 9:
			c.RequestID = r.readUint(math.MaxUint64)
		}
	}
}

// finish checks that the reader consumed all of its input, and returns its
// error, if any, wrapped in ErrDecode.
func (r *commandReader) finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Errorf("%d trailing bytes", len(r.b)-r.off))
	}
	if r.err != nil {
		return fmt.Errorf("%w: Command: %w", ErrDecode, r.err)
	}
	return nil
}

// fail records err, unless an error is recorded already, and stops reading.
func (r *commandReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// failType records that the value at off is not of the type wanted.
func (r *commandReader) failType(want string) {
	if r.off >= len(r.b) {
		r.fail(fmt.Errorf("truncated: %s expected at offset %d", want, r.off))
		return
	}
	r.fail(fmt.Errorf("offset %d: %s expected, found type byte 0x%02x", r.off, want, r.b[r.off]))
}

// bigEndian reads the n-byte big-endian integer after the type byte at off,
// and moves off past both.
func (r *commandReader) bigEndian(n int) (uint64, bool) {
	p := r.b[r.off+1:]
	if len(p) < n {
		r.fail(fmt.Errorf("truncated: type 0x%02x at offset %d needs %d more bytes", r.b[r.off], r.off, n))
		return 0, false
	}
	var v uint64
	for _, c := range p[:n] {
		v = v<<8 | uint64(c)
	}
	r.off += 1 + n
	return v, true
}

// signed reads the int8, int16, int32 or int64 (type byte c) at off.
func (r *commandReader) signed(c byte) (int64, bool) {
	size := 1 << (c - mpInt8)
	v, ok := r.bigEndian(size)
	shift := 64 - 8*size
	return int64(v<<shift) >> shift, ok // sign-extended
}

// readUint reads a non-negative integer of at most limit, in any form.
func (r *commandReader) readUint(limit uint64) uint64 {
	start := r.off
	if start >= len(r.b) {
		r.failType("integer")
		return 0
	}
	var v uint64
	switch c := r.b[start]; {
	case c <= mpPosFixIntMax:
		r.off++
		v = uint64(c)
	case c >= mpUint8 && c <= mpUint64:
		var ok bool
		if v, ok = r.bigEndian(1 << (c - mpUint8)); !ok {
			return 0
		}
	case c >= mpInt8 && c <= mpInt64:
		s, ok := r.signed(c)
		if !ok {
			return 0
		}
		if s < 0 {
			r.fail(fmt.Errorf("offset %d: negative integer %d for an unsigned field", start, s))
			return 0
		}
		v = uint64(s)
	case c >= mpNegFixIntMin:
		r.fail(fmt.Errorf("offset %d: negative integer %d for an unsigned field", start, int8(c)))
		return 0
	default:
		r.failType("integer")
		return 0
	}
	if v > limit {
		r.fail(fmt.Errorf("offset %d: integer %d out of range (at most %d)", start, v, limit))
		return 0
	}
	return v
}

// readInt reads an int64 in any form. An unsigned value above MaxInt64 is
// an error, where go-msgpack would wrap it.
func (r *commandReader) readInt() int64 {
	start := r.off
	if start >= len(r.b) {
		r.failType("integer")
		return 0
	}
	switch c := r.b[start]; {
	case c <= mpPosFixIntMax || c >= mpNegFixIntMin:
		r.off++
		return int64(int8(c))
	case c >= mpInt8 && c <= mpInt64:
		v, _ := r.signed(c)
		return v
	case c >= mpUint8 && c <= mpUint64:
		v, ok := r.bigEndian(1 << (c - mpUint8))
		if ok && v > math.MaxInt64 {
			r.fail(fmt.Errorf("offset %d: integer %d out of range (at most %d)", start, v, int64(math.MaxInt64)))
			return 0
		}
		return int64(v)
	}
	r.failType("integer")
	return 0
}

// readBool reads a bool, or the fixint 0 or 1 as go-msgpack does.
func (r *commandReader) readBool() bool {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case mpFalse, 0:
			r.off++
			return false
		case mpTrue, 1:
			r.off++
			return true
		}
	}
	r.failType("bool")
	return false
}

// isNil reports whether the value at off is nil, and if so moves past it.
func (r *commandReader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == mpNil {
		r.off++
		return true
	}
	return false
}

// readRaw reads a bin or a str, want naming the one expected, and returns
// its bytes: a slice of the input, not to be kept.
func (r *commandReader) readRaw(want string) []byte {
	start := r.off
	if start >= len(r.b) {
		r.failType(want)
		return nil
	}
	var n uint64
	switch c := r.b[start]; {
	case c >= mpFixStrMin && c <= mpFixStrMax:
		r.off++
		n = uint64(c - mpFixStrMin)
	case c >= mpBin8 && c <= mpBin32, c >= mpStr8 && c <= mpStr32:
		first := byte(mpBin8)
		if c >= mpStr8 {
			first = mpStr8
		}
		var ok bool
		if n, ok = r.bigEndian(1 << (c - first)); !ok {
			return nil
		}
	default:
		r.failType(want)
		return nil
	}
	if left := uint64(len(r.b) - r.off); n > left {
		r.fail(fmt.Errorf("truncated: %s at offset %d declares %d bytes, %d left", want, start, n, left))
		return nil
	}
	end := r.off + int(n)
	p := r.b[r.off:end:end]
	r.off = end
	return p
}

// arrayLen reads the header of the Command's array and returns its length,
// refusing one that the bytes left cannot back: every value takes at least
// one byte.
func (r *commandReader) arrayLen() int {
	if len(r.b) == 0 {
		r.fail(errors.New("empty input"))
		return 0
	}
	var n uint64
	switch c := r.b[r.off]; {
	case c >= mpFixArrayMin && c <= mpFixArrayMax:
		r.off++
		n = uint64(c - mpFixArrayMin)
	case c == mpArray16 || c == mpArray32:
		var ok bool
		if n, ok = r.bigEndian(2 << (c - mpArray16)); !ok {
			return 0
		}
	default:
		r.failType("array")
		return 0
	}
	if left := uint64(len(r.b) - r.off); n > left {
		r.fail(fmt.Errorf("truncated: array declares %d values, %d bytes left", n, left))
		return 0
	}
	return int(n)
}

// skip moves past one value at the given nesting level, the Command's array
// being level 1. It takes what go-msgpack's swallow takes but ext values,
// and refuses, as go-msgpack does, a container (even an empty one) at
// level mpMaxDepth or deeper.
func (r *commandReader) skip(level int) {
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
	case c <= mpPosFixIntMax || c >= mpNegFixIntMin, c == mpNil, c == mpFalse, c == mpTrue:
		r.off++
		return
	case c <= mpFixMapMax:
		elements, isMap = uint64(c-mpFixMapMin), true
	case c <= mpFixArrayMax:
		elements = uint64(c - mpFixArrayMin)
	case c <= mpFixStrMax:
		payload = uint64(c - mpFixStrMin)
	case c == mpUint8 || c == mpInt8:
		payload = 1
	case c == mpUint16 || c == mpInt16:
		payload = 2
	case c == mpUint32 || c == mpInt32 || c == mpFloat32:
		payload = 4
	case c == mpUint64 || c == mpInt64 || c == mpFloat64:
		payload = 8
	case c == mpBin8 || c == mpStr8:
		lenBytes = 1
	case c == mpBin16 || c == mpStr16 || c == mpArray16 || c == mpMap16:
		lenBytes = 2
	case c == mpBin32 || c == mpStr32 || c == mpArray32 || c == mpMap32:
		lenBytes = 4
	case c == mpNeverUsed:
		r.fail(fmt.Errorf("offset %d: reserved type byte 0x%02x", start, c))
		return
	default: // fixext, ext8, ext16, ext32
		r.fail(fmt.Errorf("offset %d: ext type 0x%02x in a trailing field", start, c))
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
		case mpArray16, mpArray32:
			elements = n
		case mpMap16, mpMap32:
			elements, isMap = n, true
		default:
			payload = n
		}
	}
	isContainer := c >= mpFixMapMin && c <= mpFixArrayMax || c >= mpArray16 && c <= mpMap32
	if isContainer && level >= mpMaxDepth {
		r.fail(fmt.Errorf("offset %d: nested deeper than %d", start, mpMaxDepth-1))
		return
	}
	if isMap {
		elements *= 2 // a key and a value each; n < 2^32, no overflow
	}
	if left := uint64(len(r.b) - r.off); payload > left || elements > left {
		r.fail(fmt.Errorf("truncated: type 0x%02x at offset %d declares more than the %d bytes left", c, start, left))
		return
	}
	r.off += int(payload)
	for i := uint64(0); i < elements && r.err == nil; i++ {
		r.skip(level + 1)
	}
}
