package store_test

import (
	"fmt"
	"time"

	"github.com/keelraft/raft/example/kv/store"
)

// Apply committed entries in log order; each holds a marshalled Command.
func Example() {
	s := store.New()
	var index uint64
	apply := func(c store.Command) store.Result {
		data, err := c.Marshal()
		if err != nil {
			panic(err)
		}
		index++
		res, err := s.Apply(index, data)
		if err != nil {
			panic(err)
		}
		return res
	}

	r := apply(store.Command{Op: store.OpPut, Key: "greeting", Value: []byte("hello")})
	fmt.Println("put:", r.Revision, r.KV.Version)
	r = apply(store.Command{Op: store.OpPut, Key: "greeting", Value: []byte("hi"), Cond: true, IfModRevision: 7})
	fmt.Println("cas failed:", r.Failed, "current mod revision:", r.KV.ModRevision)

	// A write in a session applies once, however often it is retried.
	sid := apply(store.Command{Op: store.OpOpenSession, SessionTTL: int64(time.Minute)}).Session
	w := store.Command{Op: store.OpPut, Key: "greeting", Value: []byte("hey"), Session: sid, Seq: 1}
	apply(w)
	apply(w)
	kv, _ := s.Get("greeting")
	fmt.Println("after retry:", string(kv.Value), "version", kv.Version, "revision", s.Revision())
	// Output:
	// put: 1 1
	// cas failed: true current mod revision: 1
	// after retry: hey version 2 revision 2
}

// Snapshot bytes depend only on the entries applied, so replicas can
// compare them.
func ExampleStore_Snapshot() {
	a, b := store.New(), store.New()
	data, _ := store.Command{Op: store.OpPut, Key: "k", Value: []byte("v")}.Marshal()
	a.Apply(1, data)
	b.Apply(1, data)
	sa, _ := a.Snapshot()
	sb, _ := b.Snapshot()

	c := store.New()
	if err := c.Restore(sa); err != nil {
		panic(err)
	}
	sc, _ := c.Snapshot()
	fmt.Println(string(sa) == string(sb), string(sa) == string(sc))
	// Output: true true
}
