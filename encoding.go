package raft

// The wire format.
//
// Every encoded type is one msgpack value: a struct is a msgpack array of its
// fields in declaration order (the codec's StructToArray option), nested
// structs likewise, so
//
//	Entry{Term: 2, Index: 7, Type: EntryNormal, Data: []byte("x")}
//
// is the 7 bytes 94 02 07 00 c4 01 78: a 4-element array, three positive
// fixints, then bin8 of length 1. Other rules:
//
//   - []byte fields are msgpack bin (never str); other slices are arrays.
//   - Enums (EntryType, MessageType, ...) are unsigned integers; the encoding
//     does not check that a value is a known constant, the protocol does.
//   - No msgpack ext type is used, and the decoder refuses them.
//   - A nil slice or nil *Snapshot is msgpack nil. A decoded empty slice may
//     come back nil or empty: nil and empty mean the same thing, and callers
//     must not tell them apart.
//
// Compatibility: because fields are identified by their position, a field
// may only ever be appended at the end of a struct; never reorder, remove or
// retype one. A decoder ignores elements past the fields it knows (an older
// node reading a newer message) and leaves fields missing from a short array
// at their zero value (a newer node reading an older message).
//
// Two implementations write this format. Message, Entry, Snapshot,
// ConfState and HardState, which the replication path and the storage of a
// host encode all the time, use the hand-written fast path of
// encoding_fastpath.go; ConfChange, which is rare, uses the codec
// (github.com/hashicorp/go-msgpack/v2, configured by msgpackHandle). The
// tests prove the two write the same bytes for every value, and fuzz the
// fast path's decoder against the codec.
//
// Decoding is hardened against hostile bytes. The fast path checks every
// declared length against the bytes left before it allocates for it. Before
// the codec sees an input, checkMsgpack walks it once without allocating and
// rejects it unless it is exactly one well-formed value, nested at most
// maxDecodeDepth deep, whose declared lengths all fit in the input. So
// neither allocates for a length that the input does not back, and the
// memory a decode takes is at most a small constant times len(input) (a
// 1-byte empty array can stand for a 48-byte Entry). Any panic in the codec
// is recovered and returned as an error.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// ErrDecode is wrapped into every error of an Unmarshal method: the bytes are
// not an encoding of the type asked for (truncated, trailing bytes, wrong
// types, malformed msgpack). Test for it with errors.Is.
var ErrDecode = errors.New("raft: undecodable bytes")

// maxDecodeDepth bounds the nesting of containers accepted on decode. The
// deepest path of the current types is 5 (Message, Snapshot, Metadata,
// ConfState, Voters); the rest is room for fields appended later.
const maxDecodeDepth = 32

// maxPooledBuffer is the largest encode buffer kept for reuse, so that one
// big snapshot does not pin its memory in the pool forever. An encoding
// bigger than this goes straight into a buffer of its own (see
// marshalMsgpack).
const maxPooledBuffer = 64 << 10

// msgpackHandle is the one codec configuration of the wire format. It is
// configured here and never changed afterwards, which makes it safe for
// concurrent use.
var msgpackHandle = newMsgpackHandle()

func newMsgpackHandle() *codec.MsgpackHandle {
	h := new(codec.MsgpackHandle)
	// Each struct is an array of its fields in order: compact and fast, at
	// the price that fields may only be appended (see the top of the file).
	h.StructToArray = true
	// Use the msgpack spec's bin type for []byte. Without it the codec
	// writes the old spec's raw (str) type.
	h.WriteExt = true
	// The codec counts depth from 1 and fails on reaching MaxDepth; one more
	// than checkMsgpack's limit makes the two agree.
	h.MaxDepth = maxDecodeDepth + 1
	// The codec caps the first allocation of a collection at MaxInitLen
	// elements and then grows it piece by piece, which costs time quadratic in
	// the size of a big []byte (each step copies all before it). Here every
	// declared length has already been checked against the input by
	// checkMsgpack, so the codec may allocate the declared length at once.
	h.MaxInitLen = math.MaxInt32
	return h
}

// msgpackEncoder is an Encoder with the buffers it writes into, pooled
// together.
type msgpackEncoder struct {
	buf []byte // reused for small encodings
	out []byte // a big encoding, handed to the caller
	enc *codec.Encoder
}

var msgpackEncoders = sync.Pool{New: func() any {
	e := new(msgpackEncoder)
	e.enc = codec.NewEncoderBytes(&e.buf, msgpackHandle)
	return e
}}

var msgpackDecoders = sync.Pool{New: func() any {
	return codec.NewDecoderBytes(nil, msgpackHandle)
}}

// marshalMsgpack encodes v, a pointer to one of the wire types, into a new
// slice that the caller owns. sizeBound is at least the size of the encoding
// (see the *WireBound functions below), so that it can allocate once:
//
//   - a small value is encoded into a pooled buffer and copied out, so the
//     result has no spare capacity;
//   - a big one (a snapshot, a large MsgApp) is encoded straight into a
//     buffer of sizeBound bytes, which saves a copy of all its data. The
//     bound is tight where it matters, on []byte contents, so the slack is
//     small; when it is not (many tiny entries), the result is copied to fit.
func marshalMsgpack(v any, what string, sizeBound int) (out []byte, err error) {
	e := msgpackEncoders.Get().(*msgpackEncoder)
	defer func() {
		if r := recover(); r != nil {
			// Not put back: the encoder's state is unknown.
			out, err = nil, fmt.Errorf("raft: encode %s: panic: %v", what, r)
		}
	}()
	if sizeBound > maxPooledBuffer {
		e.out = make([]byte, 0, sizeBound)
		e.enc.ResetBytes(&e.out)
	} else {
		e.enc.ResetBytes(&e.buf)
	}
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("raft: encode %s: %w", what, err)
	}
	if sizeBound > maxPooledBuffer {
		out, e.out = e.out, nil
		if cap(out)-len(out) > len(out)/8 {
			out = append([]byte(nil), out...)
		}
		e.enc.ResetBytes(&e.buf) // drop the encoder's reference to out
	} else {
		out = make([]byte, len(e.buf))
		copy(out, e.buf)
		if cap(e.buf) > maxPooledBuffer {
			// sizeBound was wrong; do not keep the grown buffer.
			e.buf = nil
			e.enc.ResetBytes(&e.buf)
		}
	}
	msgpackEncoders.Put(e)
	return out, nil
}

// Upper bounds of encoded sizes, in bytes, for marshalMsgpack. They count
// every integer (enums included) as 9 bytes, a uint64 marker and its value,
// and every array, bin or nil header as 5, struct headers included. If a
// bound is ever too small, encoding still works, at the cost of a copy.
const (
	mpUintBound   = 9
	mpHeaderBound = 5
)

func confChangeWireBound(cc *ConfChange) int {
	changes := mpHeaderBound + len(cc.Changes)*(mpHeaderBound+2*mpUintBound)
	return mpHeaderBound + mpUintBound + changes + mpHeaderBound + len(cc.Context)
}

// unmarshalMsgpack decodes b into v, a pointer to the zero value of one of
// the wire types. Every error wraps ErrDecode.
func unmarshalMsgpack(b []byte, v any, what string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: panic: %v", ErrDecode, what, r)
		}
	}()
	if err := checkMsgpack(b); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDecode, what, err)
	}
	if !isMsgpackArray(b[0]) {
		return fmt.Errorf("%w: %s: want a msgpack array, found type byte 0x%02x", ErrDecode, what, b[0])
	}
	d := msgpackDecoders.Get().(*codec.Decoder)
	d.ResetBytes(b)
	if err := d.Decode(v); err != nil {
		// The decoder is not put back: after an error inside the codec, its
		// state is not worth trusting.
		return fmt.Errorf("%w: %s: %w", ErrDecode, what, err)
	}
	if n := d.NumBytesRead(); n != len(b) {
		// checkMsgpack found exactly one value, so the codec should have read
		// it all; this guards against the two disagreeing.
		return fmt.Errorf("%w: %s: decoded %d of %d bytes", ErrDecode, what, n, len(b))
	}
	d.ResetBytes(emptyInput) // do not keep b alive from the pool
	msgpackDecoders.Put(d)
	return nil
}

// emptyInput is an empty, non-nil input: Decoder.ResetBytes ignores nil.
var emptyInput = []byte{}

// Marshal encodes m in the wire format (see the top of encoding.go) into a
// new slice of exactly the encoding's size. It fails only for a message of
// 4 GiB or more, which msgpack cannot frame.
func (m Message) Marshal() ([]byte, error) {
	size := messageWireSize(&m)
	if err := wireSizeError(size, "Message"); err != nil {
		return nil, err
	}
	return appendMessage(make([]byte, 0, size), &m), nil
}

// AppendMarshal appends the encoding of m, the bytes Marshal returns, to b
// and returns the extended slice. It grows b at most once, and not at all if
// b has room, so that a sender can encode message after message into one
// buffer. On error b is returned unchanged.
func (m Message) AppendMarshal(b []byte) ([]byte, error) {
	size := messageWireSize(&m)
	if err := wireSizeError(size, "Message"); err != nil {
		return b, err
	}
	return appendMessage(slices.Grow(b, size), &m), nil
}

// Unmarshal sets m to the Message encoded in b, overwriting every field. On
// error, which wraps ErrDecode, m is the zero Message.
//
// m aliases b: the Data of its entries, its Context and its Snapshot's Data
// are slices of b, not copies, so that decoding an append costs one
// allocation for its entries, however many there are. The caller must
// therefore not modify b, nor reuse it for other input, while m or anything
// taken from it is in use; and stepping m into a RawNode or Node puts its
// entries in the log and then in Storage, where they stay. A transport that
// reads frames into a reused buffer must decode a copy of each frame instead:
//
//	err := m.Unmarshal(bytes.Clone(frame))
//
// Appending to one of these slices does not write into b: they have no
// spare capacity.
func (m *Message) Unmarshal(b []byte) error {
	*m = Message{}
	r := wireReader{b: b}
	r.readMessage(m, 0)
	if err := r.finish("Message"); err != nil {
		*m = Message{}
		return err
	}
	return nil
}

// Marshal encodes e in the wire format (see the top of encoding.go).
func (e Entry) Marshal() ([]byte, error) {
	size := entryWireSize(&e)
	if err := wireSizeError(size, "Entry"); err != nil {
		return nil, err
	}
	return appendEntry(make([]byte, 0, size), &e), nil
}

// AppendMarshal appends the encoding of e, the bytes Marshal returns, to b
// and returns the extended slice. It grows b at most once, and not at all if
// b has room. On error b is returned unchanged.
func (e Entry) AppendMarshal(b []byte) ([]byte, error) {
	size := entryWireSize(&e)
	if err := wireSizeError(size, "Entry"); err != nil {
		return b, err
	}
	return appendEntry(slices.Grow(b, size), &e), nil
}

// Unmarshal sets e to the Entry encoded in b, overwriting every field. On
// error, which wraps ErrDecode, e is the zero Entry. e keeps no reference to b:
// unlike Message.Unmarshal, it copies Data.
func (e *Entry) Unmarshal(b []byte) error {
	*e = Entry{}
	r := wireReader{b: b}
	r.readEntry(e, 0)
	if err := r.finish("Entry"); err != nil {
		*e = Entry{}
		return err
	}
	e.Data = bytes.Clone(e.Data)
	return nil
}

// Marshal encodes st in the wire format (see the top of encoding.go).
func (st HardState) Marshal() ([]byte, error) {
	return appendHardState(make([]byte, 0, hardStateWireSize(&st)), &st), nil
}

// Unmarshal sets st to the HardState encoded in b, overwriting every field. On
// error, which wraps ErrDecode, st is the zero HardState.
func (st *HardState) Unmarshal(b []byte) error {
	*st = HardState{}
	r := wireReader{b: b}
	r.readHardState(st, 0)
	if err := r.finish("HardState"); err != nil {
		*st = HardState{}
		return err
	}
	return nil
}

// Marshal encodes sp in the wire format (see the top of encoding.go). It
// fails only for a snapshot of 4 GiB or more, which msgpack cannot frame.
func (sp Snapshot) Marshal() ([]byte, error) {
	size := snapshotWireSize(&sp)
	if err := wireSizeError(size, "Snapshot"); err != nil {
		return nil, err
	}
	return appendSnapshot(make([]byte, 0, size), &sp), nil
}

// Unmarshal sets sp to the Snapshot encoded in b, overwriting every field. On
// error, which wraps ErrDecode, sp is the zero Snapshot. sp keeps no reference
// to b: unlike Message.Unmarshal, it copies Data.
func (sp *Snapshot) Unmarshal(b []byte) error {
	*sp = Snapshot{}
	r := wireReader{b: b}
	r.readSnapshot(sp, 0)
	if err := r.finish("Snapshot"); err != nil {
		*sp = Snapshot{}
		return err
	}
	sp.Data = bytes.Clone(sp.Data)
	return nil
}

// Marshal encodes cs in the wire format (see the top of encoding.go).
func (cs ConfState) Marshal() ([]byte, error) {
	size := confStateWireSize(&cs)
	if err := wireSizeError(size, "ConfState"); err != nil {
		return nil, err
	}
	return appendConfState(make([]byte, 0, size), &cs), nil
}

// Unmarshal sets cs to the ConfState encoded in b, overwriting every field. On
// error, which wraps ErrDecode, cs is the zero ConfState.
func (cs *ConfState) Unmarshal(b []byte) error {
	*cs = ConfState{}
	r := wireReader{b: b}
	r.readConfState(cs, 0)
	if err := r.finish("ConfState"); err != nil {
		*cs = ConfState{}
		return err
	}
	return nil
}

// Marshal encodes cc in the wire format (see the top of encoding.go).
func (cc ConfChange) Marshal() ([]byte, error) {
	return marshalMsgpack(&cc, "ConfChange", confChangeWireBound(&cc))
}

// Unmarshal sets cc to the ConfChange encoded in b, overwriting every field.
// On error, which wraps ErrDecode, cc is the zero ConfChange. cc keeps no
// reference to b.
func (cc *ConfChange) Unmarshal(b []byte) error {
	*cc = ConfChange{}
	err := unmarshalMsgpack(b, cc, "ConfChange")
	if err != nil {
		*cc = ConfChange{}
	}
	return err
}

// The msgpack type bytes that checkMsgpack needs to tell apart
// (https://github.com/msgpack/msgpack/blob/master/spec.md#formats).
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
	mpExt8         = 0xc7 // ext types are refused (errExtType)
	mpExt16        = 0xc8
	mpExt32        = 0xc9
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
	mpFixExt1      = 0xd4
	mpFixExt2      = 0xd5
	mpFixExt4      = 0xd6
	mpFixExt8      = 0xd7
	mpFixExt16     = 0xd8
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
	mpMap16        = 0xde
	mpMap32        = 0xdf
	mpNegFixIntMin = 0xe0
)

func isMsgpackArray(bd byte) bool {
	return (bd >= mpFixArrayMin && bd <= mpFixArrayMax) || bd == mpArray16 || bd == mpArray32
}

// errExtType rejects the msgpack ext types. The wire format has no use for
// them, and the codec reads a zero-length ext together with the value after
// it, which would make it frame the input differently from checkMsgpack.
var errExtType = errors.New("msgpack ext type")

// checkMsgpack returns an error unless b is exactly one well-formed msgpack
// value, nested at most maxDecodeDepth containers deep, without ext types, in
// which every declared length fits in what is left of b: a bin or str of n
// bytes needs n bytes, an array of n elements at least n bytes (every value
// takes one at least), a map of n pairs 2n.
func checkMsgpack(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty input")
	}
	end, err := skipValue(b, 0, 0)
	if err != nil {
		return err
	}
	if end != len(b) {
		return fmt.Errorf("%d trailing bytes after the value", len(b)-end)
	}
	return nil
}

// skipValue returns the offset just past the value that starts at off.
func skipValue(b []byte, off, depth int) (int, error) {
	if off >= len(b) {
		return 0, fmt.Errorf("truncated: value expected at offset %d", off)
	}
	bd := b[off]
	off++
	var (
		payload  uint64 // bytes that follow the header
		elements uint64 // values that follow the header
		lenBytes int    // size of the big-endian length field
	)
	switch {
	case bd <= mpPosFixIntMax || bd >= mpNegFixIntMin:
		return off, nil
	case bd <= mpFixMapMax:
		elements = 2 * uint64(bd-mpFixMapMin)
	case bd <= mpFixArrayMax:
		elements = uint64(bd - mpFixArrayMin)
	case bd <= mpFixStrMax:
		payload = uint64(bd - mpFixStrMin)
	default:
		switch bd {
		case mpNil, mpFalse, mpTrue:
			return off, nil
		case mpNeverUsed:
			return 0, fmt.Errorf("reserved type byte 0xc1 at offset %d", off-1)
		case mpUint8, mpInt8:
			payload = 1
		case mpUint16, mpInt16:
			payload = 2
		case mpUint32, mpInt32, mpFloat32:
			payload = 4
		case mpUint64, mpInt64, mpFloat64:
			payload = 8
		case mpFixExt1, mpFixExt2, mpFixExt4, mpFixExt8, mpFixExt16, mpExt8, mpExt16, mpExt32:
			return 0, fmt.Errorf("%w at offset %d", errExtType, off-1)
		case mpBin8, mpStr8:
			lenBytes = 1
		case mpBin16, mpStr16, mpArray16, mpMap16:
			lenBytes = 2
		case mpBin32, mpStr32, mpArray32, mpMap32:
			lenBytes = 4
		}
		if lenBytes > 0 {
			if len(b)-off < lenBytes {
				return 0, fmt.Errorf("truncated: length of type 0x%02x at offset %d", bd, off-1)
			}
			var n uint64
			for _, c := range b[off : off+lenBytes] {
				n = n<<8 | uint64(c)
			}
			off += lenBytes
			switch bd {
			case mpArray16, mpArray32:
				elements = n
			case mpMap16, mpMap32:
				elements = 2 * n
			default:
				payload = n
			}
		}
	}
	start := off - 1 - lenBytes
	left := uint64(len(b) - off)
	if payload > left {
		return 0, fmt.Errorf("truncated: type 0x%02x at offset %d declares %d bytes, %d left",
			bd, start, payload, left)
	}
	if elements > left {
		return 0, fmt.Errorf("truncated: type 0x%02x at offset %d declares %d values, %d bytes left",
			bd, start, elements, left)
	}
	off += int(payload)
	if elements > 0 {
		if depth == maxDecodeDepth {
			return 0, fmt.Errorf("nested deeper than %d at offset %d", maxDecodeDepth, start)
		}
		for range elements {
			var err error
			if off, err = skipValue(b, off, depth+1); err != nil {
				return 0, err
			}
		}
	}
	return off, nil
}
