package client

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a method returns wraps at most a few of
// these; test with errors.Is.
var (
	// ErrKeyNotFound: Get found no such key.
	ErrKeyNotFound = errors.New("kv: key not found")
	// ErrCompareFailed: a CompareAndSwap or CompareAndDelete found another
	// mod revision; nothing was written. The error is a *CompareError that
	// holds the current one.
	ErrCompareFailed = errors.New("kv: compare failed")
	// ErrSessionExpired: the write's session expired after an earlier
	// attempt of the write whose outcome is unknown; it comes wrapped
	// together with ErrOutcomeUnknown. (A session that expired before a
	// write is replaced without the caller noticing.)
	ErrSessionExpired = errors.New("kv: session expired")
	// ErrOutcomeUnknown: a write gave up (context done, MaxRetryTime
	// spent, session expired) after an attempt that may have reached the
	// leader. The write was applied once or not at all, never twice.
	ErrOutcomeUnknown = errors.New("kv: outcome of the write unknown")
	// ErrUnavailable: no endpoint answered within MaxRetryTime.
	ErrUnavailable = errors.New("kv: cluster unavailable")
	// ErrValueTooLarge: the server refused the value (413).
	ErrValueTooLarge = errors.New("kv: value too large")
	// ErrMemberNotFound: RemoveMember named no member (404).
	ErrMemberNotFound = errors.New("kv: member not found")
	// ErrInvalidMemberChange: the server refused a membership change (400).
	ErrInvalidMemberChange = errors.New("kv: invalid membership change")
	// ErrChangePending: another membership change is in progress (409).
	ErrChangePending = errors.New("kv: membership change pending")
	// ErrBadRequest: the server refused the request as malformed (400).
	ErrBadRequest = errors.New("kv: bad request")
)

// CompareError is the error of a compare-and-swap whose condition failed.
// errors.Is(err, ErrCompareFailed) holds for it.
type CompareError struct {
	// Key is the key compared.
	Key string
	// Want is the mod revision the caller asked for (0: absent).
	Want int64
	// ModRevision is the key's current mod revision, 0 if absent.
	ModRevision int64
	// Header is the header of the server's answer.
	Header Header
}

// Error describes the mismatch.
func (e *CompareError) Error() string {
	return fmt.Sprintf("kv: compare failed on %q: mod_revision is %d, want %d", e.Key, e.ModRevision, e.Want)
}

// Is reports whether target is ErrCompareFailed.
func (e *CompareError) Is(target error) bool { return target == ErrCompareFailed }

// StatusError is an answer of the server with an unexpected or unhandled
// status code. It wraps the matching sentinel, if any (ErrBadRequest for
// 400, ...).
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Message is the "error" text of the answer.
	Message string
	// Header is the header of the answer (zero if the body had none).
	Header Header
	// Endpoint is the base URL that answered.
	Endpoint string
	sentinel error
}

// Error returns the status code and message.
func (e *StatusError) Error() string {
	return fmt.Sprintf("kv: %s answered %d: %s", e.Endpoint, e.Code, e.Message)
}

// Unwrap returns the sentinel matching the status, or nil.
func (e *StatusError) Unwrap() error { return e.sentinel }
