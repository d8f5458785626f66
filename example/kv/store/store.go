package store

import (
	"fmt"
	"sync"
)

// KeyValue is a key with its value and revisions.
type KeyValue struct {
	// Key is the key.
	Key string
	// Value is the value. It shares memory with the store: do not modify it.
	Value []byte
	// CreateRevision is the revision of the put that created the key.
	CreateRevision int64
	// ModRevision is the revision of the last put of the key.
	ModRevision int64
	// Version counts the puts since the key was created, 1 after the first.
	Version int64
}

// Result is the outcome of one applied Command.
type Result struct {
	// Revision is the store's revision after the command.
	Revision int64
	// KV is, for a put, the key after the write; for a delete, the key
	// before it (zero if it was absent); for a failed compare, the current
	// key (zero, ModRevision 0, if absent).
	KV KeyValue
	// Deleted is 1 if a delete removed the key, else 0.
	Deleted int64
	// Failed reports a compare-and-set whose condition did not hold:
	// nothing was written.
	Failed bool
	// Session is, for OpOpenSession, the id of the new session.
	Session uint64
	// Err is a session error (ErrMsgSessionExpired, ErrMsgUnknownSession,
	// ErrMsgStaleSequence); nothing was written.
	Err string
	// RequestID is the RequestID of the applied command, so that its
	// proposer can tell its own entry without decoding it again.
	RequestID uint64
}

// Store is the state machine. It is safe for concurrent use: Apply,
// Restore and the member setters are meant to be called by one goroutine,
// in log order; the readers may be called from any.
type Store struct {
	mu       sync.RWMutex
	keys     map[string]KeyValue
	revision int64
	applied  uint64
	clock    int64 // largest Command.Time applied, unix nanos
	sessions map[uint64]*session
	// nextExpiry is a lower bound of the earliest session deadline, so that
	// Apply scans the sessions only when one may have expired. It is
	// derived state, not part of snapshots.
	nextExpiry int64
	members    map[uint64]Member
}

// New returns an empty store: revision 0, nothing applied.
func New() *Store {
	s := &Store{}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.keys = make(map[string]KeyValue)
	s.revision = 0
	s.applied = 0
	s.clock = 0
	s.sessions = make(map[uint64]*session)
	s.nextExpiry = noExpiry
	s.members = make(map[uint64]Member)
}

// Get returns the key's current value and whether it exists.
func (s *Store) Get(key string) (KeyValue, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kv, ok := s.keys[key]
	return kv, ok
}

// Revision returns the current revision: the number of writes applied.
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revision
}

// Applied returns the index of the last entry given to Apply or MarkApplied
// (or restored from a snapshot).
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Clock returns the store's clock: the largest Command.Time applied, in
// unix nanoseconds.
func (s *Store) Clock() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clock
}

// MarkApplied records that the entry at index was applied without a
// Command (a leader's empty entry, a conf change), so that Applied and
// snapshots account for it. An index at or below Applied is ignored.
func (s *Store) MarkApplied(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index > s.applied {
		s.applied = index
	}
}

// Apply applies the entry at index whose data is a marshalled Command and
// returns its outcome. Entries must come in log order:
//
//   - an index at or below Applied (a replay after Restore) is skipped and
//     returns the current Revision;
//   - empty data (the leader's no-op entry) only marks index applied;
//   - data that is not a Command returns an error wrapping ErrDecode; the
//     index is still consumed, so every replica stays identical.
//
// Session errors are not Go errors: they are in Result.Err.
func (s *Store) Apply(index uint64, data []byte) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.applied && s.applied != 0 {
		return Result{Revision: s.revision}, nil
	}
	s.applied = index
	if len(data) == 0 {
		return Result{Revision: s.revision}, nil
	}
	var c Command
	if err := c.Unmarshal(data); err != nil {
		return Result{Revision: s.revision}, fmt.Errorf("store: apply entry %d: %w", index, err)
	}
	switch c.Op {
	case OpPut, OpDelete, OpOpenSession, OpCloseSession:
	default:
		return Result{Revision: s.revision}, fmt.Errorf("store: apply entry %d: %w: unknown op %d", index, ErrDecode, c.Op)
	}
	s.advanceClock(c.Time)
	var res Result
	switch {
	case c.Op == OpOpenSession:
		res = s.openSession(index, c.SessionTTL)
	case c.Op == OpCloseSession:
		res = s.closeSession(c.Session)
	case c.Session == 0:
		res = s.write(&c)
	default:
		res = s.writeInSession(&c)
	}
	res.RequestID = c.RequestID
	return res, nil
}

// write applies a put or a delete.
func (s *Store) write(c *Command) Result {
	cur, exists := s.keys[c.Key]
	if c.Cond && cur.ModRevision != c.IfModRevision {
		if !exists {
			cur = KeyValue{Key: c.Key}
		}
		return Result{Revision: s.revision, KV: cur, Failed: true}
	}
	if c.Op == OpDelete {
		if !exists {
			return Result{Revision: s.revision}
		}
		s.revision++
		delete(s.keys, c.Key)
		return Result{Revision: s.revision, KV: cur, Deleted: 1}
	}
	s.revision++
	kv := KeyValue{Key: c.Key, Value: normalize(c.Value), ModRevision: s.revision}
	if exists {
		kv.CreateRevision, kv.Version = cur.CreateRevision, cur.Version+1
	} else {
		kv.CreateRevision, kv.Version = s.revision, 1
	}
	s.keys[c.Key] = kv
	return Result{Revision: s.revision, KV: kv}
}

// normalize returns nil for an empty value, so that a value decoded as
// nil on one replica and as []byte{} on another (or after a restore) is
// stored, and snapshotted, the same way.
func normalize(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
