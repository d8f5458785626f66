package store

import "time"

// tester is what replica needs of a *testing.T, *testing.F or *rapid.T.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// replica feeds commands to a store as consecutive log entries.
type replica struct {
	t     tester
	s     *Store
	index uint64
}

func newReplica(t tester) *replica { return &replica{t: t, s: New()} }

// apply appends c at the next index and returns its result.
func (r *replica) apply(c Command) Result {
	r.t.Helper()
	data, err := c.Marshal()
	if err != nil {
		r.t.Fatalf("marshal %+v: %v", c, err)
	}
	r.index++
	res, err := r.s.Apply(r.index, data)
	if err != nil {
		r.t.Fatalf("apply %+v at %d: %v", c, r.index, err)
	}
	return res
}

func (r *replica) put(key, value string) Result {
	r.t.Helper()
	return r.apply(Command{Op: OpPut, Key: key, Value: []byte(value)})
}

func (r *replica) del(key string) Result {
	r.t.Helper()
	return r.apply(Command{Op: OpDelete, Key: key})
}

// openSession opens a session with ttl at clock time now and returns its id.
func (r *replica) openSession(ttl time.Duration, now int64) uint64 {
	r.t.Helper()
	res := r.apply(Command{Op: OpOpenSession, SessionTTL: int64(ttl), Time: now})
	if res.Err != "" || res.Session != r.index {
		r.t.Fatalf("open session: %+v, want session %d", res, r.index)
	}
	return res.Session
}

func (r *replica) snapshot() []byte {
	r.t.Helper()
	b, err := r.s.Snapshot()
	if err != nil {
		r.t.Fatalf("snapshot: %v", err)
	}
	return b
}

// kv is a KeyValue literal shorthand for comparisons.
func kv(key, value string, create, mod, version int64) KeyValue {
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	return KeyValue{Key: key, Value: v, CreateRevision: create, ModRevision: mod, Version: version}
}
