// Package kvbench is the load generator behind `kv bench`: it runs
// concurrent clients of the kv example's HTTP API for a while, each doing
// a mix of linearizable reads and writes on a fixed key space, and reports
// throughput and latency percentiles.
//
//	res, err := kvbench.Run(ctx, kvbench.Options{
//		Endpoints: []string{"http://127.0.0.1:8001"},
//		Clients:   16,
//		Duration:  10 * time.Second,
//		ReadRatio: 0.5,
//		Out:       os.Stdout, // progress line, then the report
//	})
//
// Each client is its own client.Client with one session, so it has one
// request in flight at a time: throughput grows with Clients until the
// cluster saturates. A write's latency includes its retries; requests
// still in flight when the run ends are not counted.
package kvbench
