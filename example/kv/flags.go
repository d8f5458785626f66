package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/keelraft/raft/example/kv/server"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// parse parses args with fs, turning its errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// levelFlag is a slog level given by name: debug, info, warn, error.
type levelFlag struct{ level *slog.Level }

func (f levelFlag) String() string {
	if f.level == nil {
		return ""
	}
	return strings.ToLower(f.level.String())
}

func (f levelFlag) Set(s string) error { return f.level.UnmarshalText([]byte(s)) }

// localOptions configure the in-process cluster.
type localOptions struct {
	basePort int
	dataDir  string
	logLevel slog.Level
}

// The local cluster's ports are basePort+1..+3 (HTTP) and
// basePort+101..+103 (raft).
const peerPortOffset = 100

func parseLocal(args []string, stderr io.Writer) (localOptions, error) {
	// Errors only by default: the three nodes start one after the other,
	// and the first ones would warn that the others cannot be reached yet.
	o := localOptions{logLevel: slog.LevelError}
	fs := flag.NewFlagSet("kv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.basePort, "base-port", 8000, "node i serves HTTP on base-port+i and raft on base-port+100+i")
	fs.StringVar(&o.dataDir, "data", "kv-data", "data directory (one subdirectory per node); an existing one restarts the cluster from disk")
	fs.Var(levelFlag{&o.logLevel}, "log-level", "log level: debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return o, err
	}
	if o.basePort <= 0 || o.basePort+peerPortOffset+3 > 65535 {
		return o, usagef("--base-port %d: want 1..%d", o.basePort, 65535-peerPortOffset-3)
	}
	if o.dataDir == "" {
		return o, usagef("--data must not be empty")
	}
	return o, nil
}

// serveOptions configure one node.
type serveOptions struct {
	cfg      server.Config
	logLevel slog.Level
	pprof    string // address for net/http/pprof, "" for none
}

func parseServe(args []string, stderr io.Writer) (serveOptions, error) {
	o := serveOptions{logLevel: slog.LevelInfo}
	c := &o.cfg
	var peers string
	fs := flag.NewFlagSet("kv serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&c.ID, "id", 0, "this node's id (required; 1..65535)")
	fs.StringVar(&peers, "peers", "", "raft peer address of each initial member, 1=host:port,2=host:port,... (required; includes this node)")
	fs.StringVar(&c.ListenHTTP, "http", "", "HTTP listen address, :8001 or 127.0.0.1:8001 (required)")
	fs.StringVar(&c.ListenPeer, "listen-peer", "", "raft listen address (default: this node's address in --peers)")
	fs.StringVar(&c.DataDir, "data", "", "data directory (required)")
	fs.BoolVar(&c.Join, "join", false, "join a running cluster (after POST /members on it) instead of bootstrapping one")
	fs.Uint64Var(&c.SnapshotEvery, "snapshot-every", server.DefaultSnapshotEvery, "applied entries between snapshots")
	fs.IntVar(&c.MaxValueSize, "max-value", server.DefaultMaxValueSize, "largest value in bytes")
	fs.DurationVar(&c.TickInterval, "tick", server.DefaultTickInterval, "raft tick (election timeout 10 ticks, heartbeat 1)")
	fs.BoolVar(&c.DebugFaults, "debug-faults", false, "enable POST /debug/cut?peer=N&cut=true|false")
	fs.Var(levelFlag{&o.logLevel}, "log-level", "log level: debug, info, warn or error")
	fs.StringVar(&o.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6061")
	if err := parse(fs, args); err != nil {
		return o, err
	}
	switch {
	case c.ID == 0 || c.ID >= 1<<16:
		return o, usagef("--id: want 1..65535")
	case peers == "":
		return o, usagef("--peers is required")
	case c.ListenHTTP == "":
		return o, usagef("--http is required")
	case c.DataDir == "":
		return o, usagef("--data is required")
	case c.SnapshotEvery == 0:
		return o, usagef("--snapshot-every must be positive")
	case c.MaxValueSize <= 0:
		return o, usagef("--max-value must be positive")
	case c.TickInterval <= 0:
		return o, usagef("--tick must be positive")
	}
	var err error
	if c.Peers, err = parsePeers(peers); err != nil {
		return o, usageError{err}
	}
	if _, ok := c.Peers[c.ID]; !ok && c.ListenPeer == "" {
		return o, usagef("--peers has no address for node %d; add it or set --listen-peer", c.ID)
	}
	if _, _, err := net.SplitHostPort(c.ListenHTTP); err != nil {
		return o, usagef("--http %q: %v", c.ListenHTTP, err)
	}
	return o, nil
}

// parsePeers parses "1=host:port,2=host:port".
func parsePeers(s string) (map[uint64]string, error) {
	peers := map[uint64]string{}
	for _, item := range strings.Split(s, ",") {
		idText, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("--peers: %q is not id=host:port", item)
		}
		id, err := strconv.ParseUint(idText, 10, 64)
		if err != nil || id == 0 || id >= 1<<16 {
			return nil, fmt.Errorf("--peers: id %q: want 1..65535", idText)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--peers: address of %d: %v", id, err)
		}
		if _, dup := peers[id]; dup {
			return nil, fmt.Errorf("--peers: node %d listed twice", id)
		}
		peers[id] = addr
	}
	return peers, nil
}

// benchOptions configure a load run.
type benchOptions struct {
	endpoints   []string
	clients     int
	conns       int
	duration    time.Duration
	valueSize   int
	readRatio   float64
	keys        int
	staleReads  bool
	noCalibrate bool
	fsyncDir    string
}

func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	var o benchOptions
	var endpoints string
	fs := flag.NewFlagSet("kv bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&endpoints, "endpoints", "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003", "comma-separated HTTP URLs of the cluster's nodes")
	fs.IntVar(&o.clients, "clients", 64, "concurrent workers, each with one operation in flight")
	fs.IntVar(&o.conns, "conns", 1, "client instances the workers share (worker i uses client i % conns)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	fs.IntVar(&o.valueSize, "value-size", 128, "bytes per value")
	fs.Float64Var(&o.readRatio, "read-ratio", 0.5, "fraction of operations that are reads, 0..1")
	fs.IntVar(&o.keys, "keys", 1000, "number of distinct keys")
	fs.BoolVar(&o.staleReads, "stale", false, "local (stale) reads instead of linearizable ones")
	fs.StringVar(&o.fsyncDir, "fsync-dir", ".", "directory to measure fsync in before the run; put it on the disk of the servers' --data directories")
	fs.BoolVar(&o.noCalibrate, "no-calibrate", false, "skip measuring fsync and the loopback round trip before the run")
	if err := parse(fs, args); err != nil {
		return o, err
	}
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if !strings.Contains(e, "://") {
				e = "http://" + e
			}
			o.endpoints = append(o.endpoints, e)
		}
	}
	switch {
	case len(o.endpoints) == 0:
		return o, usagef("--endpoints: no URL")
	case o.clients <= 0:
		return o, usagef("--clients must be positive")
	case o.conns <= 0:
		return o, usagef("--conns must be positive")
	case o.conns > o.clients:
		return o, usagef("--conns %d: more than --clients %d", o.conns, o.clients)
	case o.duration <= 0:
		return o, usagef("--duration must be positive")
	case o.valueSize < 0:
		return o, usagef("--value-size must not be negative")
	case o.readRatio < 0 || o.readRatio > 1:
		return o, usagef("--read-ratio must be in 0..1")
	case o.keys <= 0:
		return o, usagef("--keys must be positive")
	}
	return o, nil
}
