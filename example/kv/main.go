// Command kv is the keelraft key-value example: a replicated key-value
// store with an HTTP API, built on the raft library.
//
// With no arguments it runs a 3-node cluster in this process on
// 127.0.0.1, with its data in ./kv-data, and prints curl lines to try it:
//
//	go run ./example/kv
//
// Reusing the data directory restarts the cluster from disk. The other
// modes:
//
//	kv serve --id N --peers 1=host:port,2=host:port,3=host:port --http :PORT --data DIR
//	         [--join] [--snapshot-every N] [--max-value BYTES] [--debug-faults] [--pprof ADDR]
//	kv bench [--endpoints URL,URL] [--clients 64] [--conns 1] [--duration 10s] [--value-size 128] [--fsync-dir .]
//
// serve runs one node per process; bench loads a running cluster. SIGINT
// and SIGTERM stop the nodes cleanly. Bad flags exit with status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	setGCPercent(os.Getenv)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// gcPercent is the GOGC the kv processes run with unless the environment
// sets one. Their live heap is small (the store, the log's unsnapshotted
// tail, buffers), so at Go's default of 100 the collector runs many times
// a second under load; 400 costs tens of megabytes and gave 15-20% more
// writes per second in BENCHMARKS.md's runs.
const gcPercent = 400

// setGCPercent applies gcPercent, unless GOGC is set in the environment
// (getenv), which then wins as always.
func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `usage:
  kv [--base-port 8000] [--data ./kv-data]    run a 3-node cluster in this process
  kv serve --id N --peers 1=host:port,... --http :PORT --data DIR [flags]
                                              run one node
  kv bench [--endpoints URL,...] [flags]      load a running cluster

Run "kv serve -h" or "kv bench -h" for the flags of each.
`

// run runs the command with args and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode := "local"
	if len(args) > 0 && !isFlag(args[0]) {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "local":
		var opts localOptions
		if opts, err = parseLocal(args, stderr); err == nil {
			err = runLocal(ctx, opts, stdout, stderr)
		}
	case "serve":
		var opts serveOptions
		if opts, err = parseServe(args, stderr); err == nil {
			err = runServe(ctx, opts, stdout, stderr)
		}
	case "bench":
		var opts benchOptions
		if opts, err = parseBench(args, stderr); err == nil {
			err = runBench(ctx, opts, stdout)
		}
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "kv: unknown command %q\n%s", mode, usage)
		return exitUsage
	}
	var uerr usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "kv %s: %v\n", mode, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "kv %s: %v\n", mode, err)
		return exitError
	}
}

func isFlag(s string) bool { return len(s) > 1 && s[0] == '-' }

// newLogger returns a text logger to w at the named level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
