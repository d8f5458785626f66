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
// skipped, as go-msgpack skips them. Like go-msgpack, msgp.Reader.Skip
// refuses a truncated value, the reserved type byte 0xc1, and a container
// nested as deep as mpHandle's MaxDepth (commandDepth); unlike it, an ext
// value (see above). A field appended to Command must therefore mean
// "absent" when zero, must not be of a type go-msgpack writes as an ext
// (time.Time), and must be added to commandSize, appendCommand and
// readCommand below; TestCommandMatchesCodec fails until it is.
//
// The msgpack itself (the forms above, and a reader that checks every
// length against the bytes left before anything is allocated for it, so
// that a bin32 declaring 4 GiB in a 10-byte entry is an error, not an
// allocation) is package msgp's, shared with the binary form of POST
// /batch.

import (
	"errors"
	"fmt"
	"math"

	"github.com/keelraft/raft/example/kv/internal/msgp"
)

// commandFields is the number of fields of Command, all encoded.
const commandFields = 10

// commandDepth is mpHandle's limit on nesting, for skipping the fields of
// a newer version: a container at level mpMaxDepth, the Command's array
// being level 1, is refused.
var commandDepth = msgp.DepthLimit{Max: mpMaxDepth - 1}

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
	if uint64(n) > msgp.MaxLen {
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
	r := msgp.NewReader(b, commandDepth)
	readCommand(r, c)
	if err := r.Finish(); err != nil {
		*c = Command{}
		return fmt.Errorf("%w: Command: %w", ErrDecode, err)
	}
	return nil
}

// commandSize is the exact size of the encoding of c.
func commandSize(c *Command) int {
	const header, cond = 1, 1
	return header + msgp.UintSize(uint64(c.Op)) + msgp.StrSize(len(c.Key)) + msgp.BinSize(c.Value) + cond +
		msgp.IntSize(c.IfModRevision) + msgp.UintSize(c.Session) + msgp.UintSize(c.Seq) +
		msgp.IntSize(c.SessionTTL) + msgp.IntSize(c.Time) + msgp.UintSize(c.RequestID)
}

// appendCommand appends the encoding of c to b. Fields in declaration
// order: they are positional.
func appendCommand(b []byte, c *Command) []byte {
	b = append(b, msgp.FixArrayMin|commandFields)
	b = msgp.AppendUint(b, uint64(c.Op))
	b = msgp.AppendStr(b, c.Key)
	b = msgp.AppendBin(b, c.Value)
	b = msgp.AppendBool(b, c.Cond)
	b = msgp.AppendInt(b, c.IfModRevision)
	b = msgp.AppendUint(b, c.Session)
	b = msgp.AppendUint(b, c.Seq)
	b = msgp.AppendInt(b, c.SessionTTL)
	b = msgp.AppendInt(b, c.Time)
	return msgp.AppendUint(b, c.RequestID)
}

// readCommand reads an array of fields into c, which must be zero.
func readCommand(r *msgp.Reader, c *Command) {
	n := r.ReadArrayLen()
	for i := 0; i < n && r.Err() == nil; i++ {
		if i >= commandFields {
			r.Skip(1) // a newer field, inside the Command's array
			continue
		}
		if r.ReadNil() {
			continue // go-msgpack's zero value, for a field of any type
		}
		switch i {
		case 0:
			c.Op = Op(r.ReadUint(math.MaxUint8))
		case 1:
			c.Key = r.ReadString()
		case 2:
			if v := r.ReadBytes(); r.Err() == nil {
				// Empty but not nil, as go-msgpack decodes an empty bin.
				c.Value = make([]byte, len(v))
				copy(c.Value, v)
			}
		case 3:
			c.Cond = r.ReadBool()
		case 4:
			c.IfModRevision = r.ReadInt()
		case 5:
			c.Session = r.ReadUint(math.MaxUint64)
		case 6:
			c.Seq = r.ReadUint(math.MaxUint64)
		case 7:
			c.SessionTTL = r.ReadInt()
		case 8:
			c.Time = r.ReadInt()
		case 9:
			c.RequestID = r.ReadUint(math.MaxUint64)
		}
	}
}
