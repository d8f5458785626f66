package raft

// The fast path of the wire format: a hand-written msgpack encoder and
// decoder for the types on the replication path (Message and what it holds:
// Entry, Snapshot, ConfState) and for HardState, which a host persists on
// almost every Ready. ConfChange is rare and stays with the codec.
//
// The encoder writes exactly the bytes go-msgpack writes with msgpackHandle:
// every integer in its shortest form (positive fixint, then uint8, uint16,
// uint32, uint64, never a signed type), every array and bin length in its
// shortest form (fixarray, array16, array32; bin8, bin16, bin32), nil for a
// nil slice or pointer. It first computes the exact size, so that Marshal
// allocates once and AppendMarshal not at all when the buffer has room.
//
// The decoder reads what the codec writes, in one pass, without checkMsgpack
// and without allocating per entry. For each field it accepts the msgpack
// types the encoder writes there, with any width of integer or of length
// header (a uint64 written as uint8, a short array as array32, a short bin
// as bin32), and signed integers too, as long as the value is not negative
// and fits the field; the codec accepts those as well. It refuses any other
// type, including some that the codec reads (TestFastPathStricterThanCodec
// lists them):
//
//	field type         the codec also reads
//	integer, enum      nil, as zero
//	bool               nil, integers
//	[]byte             str (msgpack's old raw type), an array of integers
//	struct             nil, a map keyed by field name
//
// The codec never writes these (every version of this package configured
// it as msgpackHandle is), so nothing ever encoded by this package is
// refused. Unknown trailing fields are skipped with skipValue and short
// arrays leave fields zero, as the top of encoding.go promises; ext types,
// nesting deeper than maxDecodeDepth and trailing bytes are refused as
// checkMsgpack refuses them. Every declared length is checked against the
// bytes left before anything is allocated for it, so hostile lengths cost
// nothing: a slice of n elements needs n bytes of input, since every value
// takes at least one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// maxWireSize is the largest encoding the fast path writes. msgpack cannot
// frame a bin or an array longer than this, and a value that holds one
// encodes to more.
const maxWireSize = math.MaxUint32

// errWireTooBig is wrapped into the error of an encoder for a value whose
// encoding would be bigger than maxWireSize.
var errWireTooBig = errors.New("encoding bigger than 4 GiB - 1 bytes")

// wireSizeError returns the encoding error of a value of the type what, of
// size bytes, or nil if the size is fine.
func wireSizeError(size int, what string) error {
	if uint64(size) > maxWireSize {
		return fmt.Errorf("raft: encode %s of %d bytes: %w", what, size, errWireTooBig)
	}
	return nil
}

// ---- sizes ----
//
// The *WireSize functions return the exact size of an encoding, so that the
// encoder allocates once. A struct header takes one byte (a fixarray: no
// struct has 16 fields), and so does a bool.

// uintWireSize is the size of v in its shortest msgpack form.
func uintWireSize(v uint64) int {
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

// arrayHeaderWireSize is the size of the header of an array of n elements.
func arrayHeaderWireSize(n int) int {
	switch {
	case n <= mpFixArrayMax-mpFixArrayMin:
		return 1
	case n <= math.MaxUint16:
		return 3
	default:
		return 5
	}
}

// bytesWireSize is the size of b as a bin, or as nil if b is nil.
func bytesWireSize(b []byte) int {
	switch n := len(b); {
	case b == nil:
		return 1
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	default:
		return 5 + n
	}
}

func uint64sWireSize(s []uint64) int {
	if s == nil {
		return 1
	}
	n := arrayHeaderWireSize(len(s))
	for _, v := range s {
		n += uintWireSize(v)
	}
	return n
}

func entryWireSize(e *Entry) int {
	return 1 + uintWireSize(e.Term) + uintWireSize(e.Index) + uintWireSize(uint64(e.Type)) + bytesWireSize(e.Data)
}

func hardStateWireSize(st *HardState) int {
	return 1 + uintWireSize(st.Term) + uintWireSize(st.Vote) + uintWireSize(st.Commit)
}

func confStateWireSize(cs *ConfState) int {
	const header, autoLeave = 1, 1
	return header + uint64sWireSize(cs.Voters) + uint64sWireSize(cs.Learners) +
		uint64sWireSize(cs.VotersOutgoing) + uint64sWireSize(cs.LearnersNext) + autoLeave
}

func snapshotWireSize(sp *Snapshot) int {
	md := &sp.Metadata
	metadata := 1 + confStateWireSize(&md.ConfState) + uintWireSize(md.Index) + uintWireSize(md.Term)
	return 1 + metadata + bytesWireSize(sp.Data)
}

func messageWireSize(m *Message) int {
	const header, reject = 1, 1
	n := header + uintWireSize(uint64(m.Type)) + uintWireSize(m.To) + uintWireSize(m.From) +
		uintWireSize(m.Term) + uintWireSize(m.LogTerm) + uintWireSize(m.Index) +
		uintWireSize(m.Commit) + reject + uintWireSize(m.RejectHint) + bytesWireSize(m.Context)
	if m.Entries == nil {
		n++
	} else {
		n += arrayHeaderWireSize(len(m.Entries))
		for i := range m.Entries {
			n += entryWireSize(&m.Entries[i])
		}
	}
	if m.Snapshot == nil {
		n++
	} else {
		n += snapshotWireSize(m.Snapshot)
	}
	return n
}

// ---- encoding ----
//
// A struct is written field by field, in declaration order, after a header
// that counts its fields. A field added to a wire type must be added here,
// to the size above and to the reader below; TestFastPathMatchesCodec fails
// until it is, since the codec finds fields by reflection.

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

func appendBytes(b, v []byte) []byte {
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

func appendUint64s(b []byte, s []uint64) []byte {
	if s == nil {
		return append(b, mpNil)
	}
	b = appendArrayHeader(b, len(s))
	for _, v := range s {
		b = appendUint(b, v)
	}
	return b
}

func appendEntry(b []byte, e *Entry) []byte {
	b = append(b, mpFixArrayMin|4)
	b = appendUint(b, e.Term)
	b = appendUint(b, e.Index)
	b = appendUint(b, uint64(e.Type))
	return appendBytes(b, e.Data)
}

func appendHardState(b []byte, st *HardState) []byte {
	b = append(b, mpFixArrayMin|3)
	b = appendUint(b, st.Term)
	b = appendUint(b, st.Vote)
	return appendUint(b, st.Commit)
}

func appendConfState(b []byte, cs *ConfState) []byte {
	b = append(b, mpFixArrayMin|5)
	b = appendUint64s(b, cs.Voters)
	b = appendUint64s(b, cs.Learners)
	b = appendUint64s(b, cs.VotersOutgoing)
	b = appendUint64s(b, cs.LearnersNext)
	return appendBool(b, cs.AutoLeave)
}

func appendSnapshot(b []byte, sp *Snapshot) []byte {
	b = append(b, mpFixArrayMin|2) // Metadata, Data
	b = append(b, mpFixArrayMin|3) // Metadata: ConfState, Index, Term
	b = appendConfState(b, &sp.Metadata.ConfState)
	b = appendUint(b, sp.Metadata.Index)
	b = appendUint(b, sp.Metadata.Term)
	return appendBytes(b, sp.Data)
}

func appendMessage(b []byte, m *Message) []byte {
	b = append(b, mpFixArrayMin|12)
	b = appendUint(b, uint64(m.Type))
	b = appendUint(b, m.To)
	b = appendUint(b, m.From)
	b = appendUint(b, m.Term)
	b = appendUint(b, m.LogTerm)
	b = appendUint(b, m.Index)
	if m.Entries == nil {
		b = append(b, mpNil)
	} else {
		b = appendArrayHeader(b, len(m.Entries))
		for i := range m.Entries {
			b = appendEntry(b, &m.Entries[i])
		}
	}
	b = appendUint(b, m.Commit)
	if m.Snapshot == nil {
		b = append(b, mpNil)
	} else {
		b = appendSnapshot(b, m.Snapshot)
	}
	b = appendBool(b, m.Reject)
	b = appendUint(b, m.RejectHint)
	return appendBytes(b, m.Context)
}

// ---- decoding ----

// A wireReader decodes values of the wire format from b, starting at off.
// Its first error sticks: it moves off to the end of b, so that every later
// read fails at once, returns a zero value and allocates nothing. Slices of
// bytes it returns alias b.
//
// depth arguments are the nesting depth of the value about to be read,
// counted as checkMsgpack counts it: 0 for the top-level value.
type wireReader struct {
	b   []byte
	off int
	err error
}

// finish checks that the reader consumed all of its input, and returns its
// error, if any, wrapped in ErrDecode.
func (r *wireReader) finish(what string) error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Errorf("%d trailing bytes after the value", len(r.b)-r.off))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDecode, what, r.err)
	}
	return nil
}

// fail records err, unless an error is recorded already, and stops reading.
func (r *wireReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// failType records that the value at off has a type the field cannot hold.
func (r *wireReader) failType(want string) {
	if r.err != nil {
		return
	}
	if r.off >= len(r.b) {
		r.fail(fmt.Errorf("truncated: %s expected at offset %d", want, r.off))
		return
	}
	r.fail(fmt.Errorf("offset %d: %s expected, found type byte 0x%02x", r.off, want, r.b[r.off]))
}

// bigEndian reads the n-byte (1, 2, 4 or 8) big-endian integer after the
// type byte at off, and moves off past both.
func (r *wireReader) bigEndian(n int) (uint64, bool) {
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

// readUint reads an integer of at most limit, in any msgpack integer form.
// The forms the encoder writes are read here, the others (and errors) by
// readUintSlow.
func (r *wireReader) readUint(limit uint64) uint64 {
	p := r.b[r.off:]
	if len(p) == 0 {
		return r.readUintSlow(limit)
	}
	var (
		v uint64
		n int
	)
	switch c := p[0]; {
	case c <= mpPosFixIntMax:
		r.off++
		return uint64(c)
	case c == mpUint8 && len(p) >= 2:
		v, n = uint64(p[1]), 2
	case c == mpUint16 && len(p) >= 3:
		v, n = uint64(binary.BigEndian.Uint16(p[1:])), 3
	case c == mpUint32 && len(p) >= 5:
		v, n = uint64(binary.BigEndian.Uint32(p[1:])), 5
	case c == mpUint64 && len(p) >= 9:
		v, n = binary.BigEndian.Uint64(p[1:]), 9
	default:
		return r.readUintSlow(limit)
	}
	if v > limit {
		return r.readUintSlow(limit)
	}
	r.off += n
	return v
}

func (r *wireReader) readUintSlow(limit uint64) uint64 {
	if r.off >= len(r.b) {
		r.failType("integer")
		return 0
	}
	start := r.off
	var (
		v      uint64
		ok     bool
		signed bool
		bits   uint
	)
	switch bd := r.b[r.off]; bd {
	case mpUint8, mpUint16, mpUint32, mpUint64:
		v, ok = r.bigEndian(1 << (bd - mpUint8))
	case mpInt8, mpInt16, mpInt32, mpInt64:
		bits = 8 << (bd - mpInt8)
		v, ok = r.bigEndian(1 << (bd - mpInt8))
		signed = true
	default:
		if bd >= mpNegFixIntMin {
			r.fail(fmt.Errorf("offset %d: negative integer %d for an unsigned field", start, int8(bd)))
			return 0
		}
		r.failType("integer")
		return 0
	}
	if !ok {
		return 0
	}
	if signed && v>>(bits-1) != 0 {
		r.fail(fmt.Errorf("offset %d: negative integer for an unsigned field", start))
		return 0
	}
	if v > limit {
		r.fail(fmt.Errorf("offset %d: integer %d out of range (at most %d)", start, v, limit))
		return 0
	}
	return v
}

func (r *wireReader) readUint64() uint64 { return r.readUint(math.MaxUint64) }

func (r *wireReader) readUint8() uint8 { return uint8(r.readUint(math.MaxUint8)) }

func (r *wireReader) readBool() bool {
	if r.off < len(r.b) {
		switch r.b[r.off] {
		case mpFalse:
			r.off++
			return false
		case mpTrue:
			r.off++
			return true
		}
	}
	r.failType("bool")
	return false
}

// isNil reports whether the value at off is nil, and if so moves past it.
func (r *wireReader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == mpNil {
		r.off++
		return true
	}
	return false
}

// readBytes reads a bin, or nil. The result aliases the input, with no spare
// capacity, so that an append to it copies rather than overwrites the input.
func (r *wireReader) readBytes() []byte {
	if r.off >= len(r.b) {
		r.failType("bin")
		return nil
	}
	var (
		start = r.off
		n     uint64
		ok    bool
	)
	switch r.b[r.off] {
	case mpNil:
		r.off++
		return nil
	case mpBin8:
		if len(r.b)-r.off >= 2 { // the common case, without a call
			n, ok = uint64(r.b[r.off+1]), true
			r.off += 2
			break
		}
		n, ok = r.bigEndian(1)
	case mpBin16:
		n, ok = r.bigEndian(2)
	case mpBin32:
		n, ok = r.bigEndian(4)
	default:
		r.failType("bin")
		return nil
	}
	if !ok {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("truncated: bin at offset %d declares %d bytes, %d left", start, n, len(r.b)-r.off))
		return nil
	}
	end := r.off + int(n)
	v := r.b[r.off:end:end]
	r.off = end
	return v
}

// arrayLen reads the header of an array at the given depth and returns its
// length. It refuses a length that the bytes left cannot back, and an
// array nested too deep.
func (r *wireReader) arrayLen(depth int) int {
	if r.off < len(r.b) {
		if c := r.b[r.off]; c >= mpFixArrayMin && c <= mpFixArrayMax && depth < maxDecodeDepth {
			n := int(c - mpFixArrayMin)
			if n <= len(r.b)-r.off-1 {
				r.off++
				return n
			}
		}
	}
	return r.arrayLenSlow(depth)
}

func (r *wireReader) arrayLenSlow(depth int) int {
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
		r.fail(fmt.Errorf("truncated: array at offset %d declares %d values, %d bytes left", start, n, left))
		return 0
	}
	if n > 0 && depth >= maxDecodeDepth {
		r.fail(fmt.Errorf("nested deeper than %d at offset %d", maxDecodeDepth, start))
		return 0
	}
	return int(n)
}

// skip moves past one value of any type but ext, at the given depth: a field
// appended by a newer version of the format.
func (r *wireReader) skip(depth int) {
	off, err := skipValue(r.b, r.off, depth)
	if err != nil {
		r.fail(err)
		return
	}
	r.off = off
}

// The struct readers below read an array of fields in declaration order.
// Fields missing from a short array keep their zero value (the caller
// passes a zero struct); fields past the known ones are skipped.

func (r *wireReader) readEntry(e *Entry, depth int) {
	if r.off < len(r.b) && r.b[r.off] == mpFixArrayMin|4 {
		// The form the encoder writes, without the loop below.
		r.off++
		e.Term = r.readUint64()
		e.Index = r.readUint64()
		e.Type = EntryType(r.readUint8())
		e.Data = r.readBytes()
		return
	}
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			e.Term = r.readUint64()
		case 1:
			e.Index = r.readUint64()
		case 2:
			e.Type = EntryType(r.readUint8())
		case 3:
			e.Data = r.readBytes()
		default:
			r.skip(depth + 1)
		}
	}
}

// readEntries reads a []Entry, or nil: one allocation, whatever the count.
func (r *wireReader) readEntries(depth int) []Entry {
	if r.isNil() {
		return nil
	}
	n := r.arrayLen(depth)
	if r.err != nil {
		return nil
	}
	es := make([]Entry, n)
	for i := 0; i < n && r.err == nil; i++ {
		r.readEntry(&es[i], depth+1)
	}
	return es
}

func (r *wireReader) readUint64s(depth int) []uint64 {
	if r.isNil() {
		return nil
	}
	n := r.arrayLen(depth)
	if r.err != nil {
		return nil
	}
	s := make([]uint64, n)
	for i := 0; i < n && r.err == nil; i++ {
		s[i] = r.readUint64()
	}
	return s
}

func (r *wireReader) readHardState(st *HardState, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			st.Term = r.readUint64()
		case 1:
			st.Vote = r.readUint64()
		case 2:
			st.Commit = r.readUint64()
		default:
			r.skip(depth + 1)
		}
	}
}

func (r *wireReader) readConfState(cs *ConfState, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			cs.Voters = r.readUint64s(depth + 1)
		case 1:
			cs.Learners = r.readUint64s(depth + 1)
		case 2:
			cs.VotersOutgoing = r.readUint64s(depth + 1)
		case 3:
			cs.LearnersNext = r.readUint64s(depth + 1)
		case 4:
			cs.AutoLeave = r.readBool()
		default:
			r.skip(depth + 1)
		}
	}
}

func (r *wireReader) readSnapshotMetadata(md *SnapshotMetadata, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			r.readConfState(&md.ConfState, depth+1)
		case 1:
			md.Index = r.readUint64()
		case 2:
			md.Term = r.readUint64()
		default:
			r.skip(depth + 1)
		}
	}
}

func (r *wireReader) readSnapshot(sp *Snapshot, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			r.readSnapshotMetadata(&sp.Metadata, depth+1)
		case 1:
			sp.Data = r.readBytes()
		default:
			r.skip(depth + 1)
		}
	}
}

func (r *wireReader) readMessage(m *Message, depth int) {
	n := r.arrayLen(depth)
	for i := 0; i < n && r.err == nil; i++ {
		switch i {
		case 0:
			m.Type = MessageType(r.readUint8())
		case 1:
			m.To = r.readUint64()
		case 2:
			m.From = r.readUint64()
		case 3:
			m.Term = r.readUint64()
		case 4:
			m.LogTerm = r.readUint64()
		case 5:
			m.Index = r.readUint64()
		case 6:
			m.Entries = r.readEntries(depth + 1)
		case 7:
			m.Commit = r.readUint64()
		case 8:
			if !r.isNil() {
				m.Snapshot = new(Snapshot)
				r.readSnapshot(m.Snapshot, depth+1)
			}
		case 9:
			m.Reject = r.readBool()
		case 10:
			m.RejectHint = r.readUint64()
		case 11:
			m.Context = r.readBytes()
		default:
			r.skip(depth + 1)
		}
	}
}
