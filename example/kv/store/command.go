package store

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Op is the operation of a Command.
type Op uint8

// The operations. The values are part of the log format: never renumber.
const (
	// OpPut sets Key to Value.
	OpPut Op = iota + 1
	// OpDelete removes Key.
	OpDelete
	// OpOpenSession creates a session with SessionTTL; its id is the entry's
	// index.
	OpOpenSession
	// OpCloseSession deletes Session.
	OpCloseSession
)

// String returns the name of the operation, "put" for OpPut.
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpOpenSession:
		return "open-session"
	case OpCloseSession:
		return "close-session"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is the content of one raft log entry of the kv example, encoded by
// Marshal as a msgpack array. Its fields are encoded by position: a field
// may only be appended at the end, never reordered, removed or retyped, and
// must be added to the hand-written codec too (command_codec.go says how).
type Command struct {
	// Op is the operation.
	Op Op
	// Key is the key of OpPut and OpDelete.
	Key string
	// Value is the value of OpPut.
	Value []byte
	// Cond makes OpPut and OpDelete a compare-and-set: they apply only if
	// the key's ModRevision equals IfModRevision.
	Cond bool
	// IfModRevision is the ModRevision Cond compares with; 0 means the key
	// must be absent.
	IfModRevision int64
	// Session is the session the write belongs to; 0 for none. With a
	// session the write applies at most once per (Session, Seq).
	Session uint64
	// Seq numbers the writes of Session, starting at 1.
	Seq uint64
	// SessionTTL is, for OpOpenSession, the idle time in nanoseconds after
	// which the session expires; 0 or less means DefaultSessionTTL.
	SessionTTL int64
	// Time is the proposer's wall clock in unix nanoseconds. The store's
	// clock is the largest Time applied so far.
	Time int64
	// RequestID lets the proposing node find the waiter of this entry. It
	// does not affect the state.
	RequestID uint64
}

// ErrDecode is wrapped into the errors of Command.Unmarshal,
// Member.Unmarshal, Apply and Restore when the bytes are not an encoding of
// what was asked for.
var ErrDecode = errors.New("store: undecodable bytes")

// mpMaxDepth is the nesting level at which mpHandle refuses a container,
// the outermost one being level 1: deeper than any type here; it bounds
// hostile nesting. Command's decoder refuses the same.
const mpMaxDepth = 16

// mpHandle is the one codec configuration of the package, never changed
// after init, so safe for concurrent use. Command has a hand-written codec
// (command_codec.go) that writes and reads what mpHandle does; Member and
// snapshots, which are rare, use mpHandle through encode and decode.
var mpHandle = func() *codec.MsgpackHandle {
	h := new(codec.MsgpackHandle)
	h.StructToArray = true // a struct is an array of its fields in order
	h.WriteExt = true      // []byte as msgpack bin, not str
	h.MaxDepth = mpMaxDepth
	return h
}()

// encode returns the msgpack encoding of v.
func encode(v any, what string) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("store: encode %s: panic: %v", what, r)
		}
	}()
	if err := codec.NewEncoderBytes(&out, mpHandle).Encode(v); err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", what, err)
	}
	return out, nil
}

// decode sets v, a pointer to a zero struct, from b, which must hold exactly
// one msgpack array. Every error wraps ErrDecode; a panic of the codec on
// hostile bytes is one.
func decode(b []byte, v any, what string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: panic: %v", ErrDecode, what, r)
		}
	}()
	if len(b) == 0 {
		return fmt.Errorf("%w: %s: empty input", ErrDecode, what)
	}
	if c := b[0]; !(c >= 0x90 && c <= 0x9f) && c != 0xdc && c != 0xdd {
		return fmt.Errorf("%w: %s: want a msgpack array, found type byte 0x%02x", ErrDecode, what, c)
	}
	d := codec.NewDecoderBytes(b, mpHandle)
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDecode, what, err)
	}
	if n := d.NumBytesRead(); n != len(b) {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrDecode, what, len(b)-n)
	}
	return nil
}
