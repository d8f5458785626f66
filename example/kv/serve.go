package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keelraft/raft/example/kv/server"
)

// runServe runs one node until ctx ends.
func runServe(ctx context.Context, o serveOptions, stdout, stderr io.Writer) error {
	o.cfg.Logger = newLogger(stderr, o.logLevel)
	s, err := server.Start(o.cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kv: node %d serving %s (raft %s), data in %s\n", s.ID(), s.HTTPURL(), s.PeerAddr(), o.cfg.DataDir)
	<-ctx.Done()
	return s.Stop()
}
