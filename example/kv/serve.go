package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof" // --pprof

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
	if o.pprof != "" {
		// The default mux holds net/http/pprof's handlers; the service's
		// own HTTP API is on its own mux.
		go func() {
			if err := http.ListenAndServe(o.pprof, nil); err != nil {
				fmt.Fprintf(stderr, "kv: --pprof %s: %v\n", o.pprof, err)
			}
		}()
	}
	<-ctx.Done()
	return s.Stop()
}
