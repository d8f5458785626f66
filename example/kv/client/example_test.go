package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/keelraft/raft/example/kv/client"
)

// A client of a three-node cluster: it finds the leader itself and fails
// over when a node goes down.
func Example() {
	c, err := client.New([]string{
		"http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003",
	}, client.Options{Timeout: 2 * time.Second, MaxRetryTime: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx := context.Background()

	put, err := c.Put(ctx, "greeting", []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written at revision", put.KV.ModRevision)

	got, err := c.Get(ctx, "greeting")
	switch {
	case errors.Is(err, client.ErrKeyNotFound):
		fmt.Println("no greeting")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("%s (version %d)\n", got.KV.Value, got.KV.Version)
	}
}

// A write whose outcome is unknown was applied once or not at all; read to
// find out.
func ExampleErrOutcomeUnknown() {
	c, _ := client.New([]string{"http://127.0.0.1:8001"}, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Put(ctx, "k", []byte("v"))
	if errors.Is(err, client.ErrOutcomeUnknown) {
		if got, gerr := c.Get(context.Background(), "k"); gerr == nil && string(got.KV.Value) == "v" {
			fmt.Println("it was applied (or someone else wrote the same value)")
		}
	}
}

// Optimistic concurrency: read, compute, write back only if nobody wrote
// in between; on a conflict, start over from the current value.
func ExampleClient_CompareAndSwap() {
	c, _ := client.New([]string{"http://127.0.0.1:8001"}, client.Options{})
	ctx := context.Background()
	for {
		var value []byte
		var rev int64 // 0: the key must still be absent
		got, err := c.Get(ctx, "counter")
		switch {
		case errors.Is(err, client.ErrKeyNotFound):
		case err != nil:
			log.Fatal(err)
		default:
			value, rev = got.KV.Value, got.KV.ModRevision
		}
		next := append(value, '+')
		_, err = c.CompareAndSwap(ctx, "counter", next, rev)
		if errors.Is(err, client.ErrCompareFailed) {
			continue // someone else won; try again on the new value
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
}
