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
//		Calibrate: true,      // first measure fsync in "." and the loopback round trip
//		Out:       os.Stdout, // progress line, then the report
//	})
//
// Each of the Clients has one operation in flight at a time, so
// throughput grows with Clients until the cluster saturates. They share
// Conns client.Client instances (one by default), each with a session per
// worker on it. A write's latency includes its retries; requests still in
// flight when the run ends are not counted.
//
// A latency means little without what the hardware allows. With
// Calibrate, Run first measures an fsync on the servers' disk and a
// loopback TCP round trip (MeasureFsync, MeasureLoopbackRTT), and the
// report prints them with the bound a single writer's median write is
// judged against: 2 x (fsync p50 + round trip p50).
package kvbench
