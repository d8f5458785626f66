// Package batchwire is the binary form of POST /batch: a batch request and
// its answer in msgpack, written and read by hand, for the client and the
// server of the kv example.
//
// JSON costs a batch more than its commit: the server decoded each write
// with encoding/json and answered it with the body a single request gets
// (header, key, the echoed value, revisions), which the client decoded
// again, all serially on one goroutine at each end. This form carries only
// what each side needs, and is read in one pass without reflection: every
// length is checked against the bytes left before anything is allocated,
// so that what a hostile body makes the reader allocate is bounded by a
// small multiple of its own size.
//
// A struct is a msgpack array of its fields in order, as in the library's
// wire format (encoding_fastpath.go): a reader leaves the fields missing
// from a short array zero and skips fields past the ones it knows, so that
// a field can be appended later. The encoder drops trailing zero fields of
// a Result.
//
//	request  [writes]
//	writes   [write, ...]                      1..1024 of them (the server's rule)
//	write    [op, key, value, if_mod_revision, session, seq]
//	           op               1 put, 2 delete
//	           key              str (or bin): any bytes
//	           value            bin (or str); nil: none, a put of the empty value
//	           if_mod_revision  integer, or nil: unconditional
//	           session, seq     unsigned integers; 0: no session
//
//	answer   [header, results]
//	header   [member_id, raft_term, revision]  of the node that answered
//	results  [result, ...]                     one per write, in order
//	result   [code, revision, create_revision, mod_revision, version, deleted, error, leader_url]
//
// A result holds the status code the write would get as a request of its
// own and what the client builds its answer from: the revision of the
// answer's header; for a put (200) the key's revisions and version, not the
// key and value, which the client has; for a delete (200) deleted; for a
// failed compare (412) mod_revision; for an error, its text and the URL of
// the leader when the JSON answer would name it. The header's member_id
// and raft_term are those of every result. Integers are written in their
// shortest form and read in any; negative ones only where the field is
// signed.
package batchwire

import (
	"errors"
	"strings"
)

// ContentType is the media type of a binary batch request and answer.
// The body is msgpack; this is the name msgpack tools know it by.
const ContentType = "application/msgpack"

// IsContentType reports whether a Content-Type header value names the
// binary form: application/msgpack, or its other names
// application/x-msgpack and application/vnd.msgpack, with any parameters.
func IsContentType(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	ct = strings.TrimSpace(ct)
	return strings.EqualFold(ct, ContentType) || strings.EqualFold(ct, "application/x-msgpack") ||
		strings.EqualFold(ct, "application/vnd.msgpack")
}

// ErrMalformed is wrapped by the errors of DecodeRequest and DecodeAnswer.
var ErrMalformed = errors.New("malformed msgpack batch")

// Op is the operation of a Write.
type Op uint8

// The operations of a batch.
const (
	// OpPut sets Key to Value.
	OpPut Op = 1
	// OpDelete removes Key.
	OpDelete Op = 2
)

// Write is one write of a batch request, with the fields of the single
// write API.
type Write struct {
	// Op is OpPut or OpDelete; 0 if the write named none.
	Op Op
	// Key is the key. The keys of a decoded request share one string.
	Key string
	// Value is the value of a put; nil if the write carries none (the
	// empty value for a put; a delete must carry none). Decoded, it
	// aliases the body.
	Value []byte
	// Cond makes the write conditional on the key's mod revision being
	// IfModRevision (0: the key is absent).
	Cond          bool
	IfModRevision int64
	// Session and Seq number the write in a client session; 0 for none.
	Session, Seq uint64

	keyStart, keyEnd int // while decoding: the key in the shared string
}

// Header is the header of an answer: the node that answered, its term,
// and the revision it had applied when it answered.
type Header struct {
	MemberID uint64
	RaftTerm uint64
	Revision int64
}

// Result is the answer to one write of a batch: its status code and the
// fields of the JSON body that a client reads. Zero fields are those the
// JSON body does not carry.
type Result struct {
	// Code is the HTTP status code the write would get alone.
	Code int
	// Revision is the revision in the header of that answer.
	Revision int64
	// CreateRevision, ModRevision and Version are the key's after a put
	// (200); ModRevision is the key's current one after a failed compare
	// (412).
	CreateRevision, ModRevision, Version int64
	// Deleted is the number of keys a delete removed (200).
	Deleted int64
	// Error is the error text of an answer other than 200.
	Error string
	// LeaderURL is the leader's HTTP API, where the JSON answer names it
	// (503 and some 504).
	LeaderURL string
}

// fields returns how many fields of r the encoder writes: up to the last
// that is not zero, and at least the code and the revision.
func (r *Result) fields() int {
	switch {
	case r.LeaderURL != "":
		return 8
	case r.Error != "":
		return 7
	case r.Deleted != 0:
		return 6
	case r.Version != 0:
		return 5
	case r.ModRevision != 0:
		return 4
	case r.CreateRevision != 0:
		return 3
	default:
		return 2
	}
}
