package main

import (
	"context"
	"io"

	"github.com/keelraft/raft/example/kv/kvbench"
)

// runBench loads the cluster at o.endpoints and prints the report,
// preceded by the fsync and loopback measurements it is judged against
// unless o.noCalibrate.
func runBench(ctx context.Context, o benchOptions, stdout io.Writer) error {
	_, err := kvbench.Run(ctx, kvbench.Options{
		Endpoints:  o.endpoints,
		Clients:    o.clients,
		Conns:      o.conns,
		Duration:   o.duration,
		ValueSize:  o.valueSize,
		ReadRatio:  o.readRatio,
		Keys:       o.keys,
		StaleReads: o.staleReads,
		Calibrate:  !o.noCalibrate,
		FsyncDir:   o.fsyncDir,
		Out:        stdout, // a progress line, then the report
	})
	return err
}
