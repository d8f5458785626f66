package kvbench_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/keelraft/raft/example/kv/kvbench"
)

// Run a 10-second mixed load on a local cluster and print the report.
func ExampleRun() {
	res, err := kvbench.Run(context.Background(), kvbench.Options{
		Endpoints: []string{"http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003"},
		Clients:   16,
		Duration:  10 * time.Second,
		ValueSize: 128,
		ReadRatio: 0.8,
		Keys:      1000,
		Calibrate: true, // fsync in "." (on the servers' disk) and the loopback round trip, first
		Out:       os.Stdout,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.0f writes/s, write p99 %v (fsync p50 %v)\n",
		res.WritesPerSecond(), res.WriteLatency.P99, res.Fsync.P50)
}
