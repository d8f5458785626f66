package store

import (
	"math"
	"time"
)

// The texts of Result.Err. A write that gets one wrote nothing.
const (
	// ErrMsgSessionExpired: the write named a session that expired (or,
	// since expired sessions are forgotten, one that never existed but
	// whose id is an index already applied).
	ErrMsgSessionExpired = "session expired"
	// ErrMsgUnknownSession: the write named a session id above the applied
	// index, which cannot have been opened yet.
	ErrMsgUnknownSession = "unknown session"
	// ErrMsgStaleSequence: the write's Seq is below the last Seq applied in
	// its session; its result is no longer known.
	ErrMsgStaleSequence = "stale sequence"
)

// DefaultSessionTTL is the TTL of a session opened with SessionTTL <= 0.
const DefaultSessionTTL = time.Minute

// noExpiry is nextExpiry when there is no session.
const noExpiry = math.MaxInt64

// session is what the store remembers of one client session (thesis §6.3):
// the last Seq applied and its result, to answer a retry of that Seq.
type session struct {
	ID       uint64
	TTL      int64 // nanoseconds
	LastUsed int64 // store clock at the last command of the session
	LastSeq  uint64
	Last     Result
}

// deadline is the clock value after which the session is expired: it is
// expired when clock > deadline.
func (se *session) deadline() int64 {
	if se.LastUsed > math.MaxInt64-se.TTL {
		return math.MaxInt64
	}
	return se.LastUsed + se.TTL
}

// advanceClock moves the clock to t if t is later, then expires the
// sessions idle for longer than their TTL.
func (s *Store) advanceClock(t int64) {
	if t > s.clock {
		s.clock = t
	}
	if s.clock <= s.nextExpiry {
		return
	}
	s.nextExpiry = noExpiry
	for id, se := range s.sessions {
		d := se.deadline()
		if s.clock > d {
			delete(s.sessions, id)
		} else if d < s.nextExpiry {
			s.nextExpiry = d
		}
	}
}

func (s *Store) openSession(index uint64, ttl int64) Result {
	if ttl <= 0 {
		ttl = int64(DefaultSessionTTL)
	}
	se := &session{ID: index, TTL: ttl, LastUsed: s.clock}
	s.sessions[index] = se
	s.nextExpiry = min(s.nextExpiry, se.deadline())
	return Result{Revision: s.revision, Session: index}
}

func (s *Store) closeSession(id uint64) Result {
	if _, ok := s.sessions[id]; !ok {
		return Result{Revision: s.revision, Err: s.missingSession(id)}
	}
	delete(s.sessions, id)
	return Result{Revision: s.revision}
}

// missingSession returns the error text for a session id not in the store.
func (s *Store) missingSession(id uint64) string {
	if id == 0 || id > s.applied {
		return ErrMsgUnknownSession
	}
	return ErrMsgSessionExpired
}

// writeInSession applies c at most once per (c.Session, c.Seq).
func (s *Store) writeInSession(c *Command) Result {
	se, ok := s.sessions[c.Session]
	if !ok {
		return Result{Revision: s.revision, Err: s.missingSession(c.Session)}
	}
	// Any command of the session, a retry included, shows the client alive.
	se.LastUsed = s.clock
	switch {
	case c.Seq == se.LastSeq && c.Seq != 0:
		return se.Last
	case c.Seq <= se.LastSeq:
		return Result{Revision: s.revision, Err: ErrMsgStaleSequence}
	}
	r := s.write(c)
	se.LastSeq, se.Last = c.Seq, r
	return r
}
