package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults of the Config fields left zero.
const (
	// DefaultSnapshotEvery is the number of applied entries between two
	// snapshots.
	DefaultSnapshotEvery = 10000
	// DefaultMaxValueSize is the largest value a PUT may carry, in bytes.
	DefaultMaxValueSize = 1 << 20
	// DefaultTickInterval is the duration of one raft tick.
	DefaultTickInterval = 100 * time.Millisecond
	// DefaultRequestTimeout is how long a request may wait for its
	// outcome when it does not say (?timeout_ms=).
	DefaultRequestTimeout = 5 * time.Second
)

// Config configures one node.
type Config struct {
	// ID is the raft id of this node; it must not be 0.
	ID uint64
	// Peers maps the id of every initial member to its raft peer address.
	// A node whose data directory is new bootstraps the cluster with them
	// (unless Join is set). A joining node should list the members it can
	// reach, itself included.
	Peers map[uint64]string
	// Join makes a node with a new data directory start empty and wait for
	// the leader, instead of bootstrapping: it was added with POST /members.
	Join bool
	// ListenPeer is the address the transport listens on; it defaults to
	// Peers[ID].
	ListenPeer string
	// ListenHTTP is the address of the HTTP API, "127.0.0.1:8001"; port 0
	// picks a free port (see Server.HTTPURL).
	ListenHTTP string
	// DataDir holds the write-ahead log and the snapshots.
	DataDir string
	// SnapshotEvery is the number of applied entries between snapshots,
	// after which the log before the snapshot is dropped, but for its last
	// SnapshotEvery/2 entries: a follower that far behind is sent entries
	// rather than the snapshot. Zero means DefaultSnapshotEvery.
	SnapshotEvery uint64
	// MaxValueSize is the largest value a PUT may carry. Zero means
	// DefaultMaxValueSize.
	MaxValueSize int
	// TickInterval is the duration of one raft tick: an election timeout
	// is 10 ticks, a heartbeat 1. Zero means DefaultTickInterval.
	TickInterval time.Duration
	// DebugFaults enables POST /debug/cut?peer=N&cut=true|false, which cuts
	// or restores the link to a peer, for fault-injection tests.
	DebugFaults bool
	// Logger receives the node's log lines; nil discards them.
	Logger *slog.Logger
}

// ErrInvalidConfig is wrapped by the errors of Start for a Config it
// refuses.
var ErrInvalidConfig = errors.New("server: invalid config")

// withDefaults checks c and returns it with the zero fields set to their
// defaults.
func (c Config) withDefaults() (Config, error) {
	if c.ID == 0 {
		return c, fmt.Errorf("%w: ID must not be 0", ErrInvalidConfig)
	}
	if c.ID >= 1<<16 {
		// The id fills the high 16 bits of the request ids.
		return c, fmt.Errorf("%w: ID %d must be below 65536", ErrInvalidConfig, c.ID)
	}
	if c.DataDir == "" {
		return c, fmt.Errorf("%w: DataDir must be set", ErrInvalidConfig)
	}
	for id, addr := range c.Peers {
		if id == 0 {
			return c, fmt.Errorf("%w: peer id 0", ErrInvalidConfig)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return c, fmt.Errorf("%w: peer %d address %q: %w", ErrInvalidConfig, id, addr, err)
		}
	}
	if c.ListenPeer == "" {
		c.ListenPeer = c.Peers[c.ID]
	}
	if c.ListenPeer == "" {
		return c, fmt.Errorf("%w: no peer address for node %d (set ListenPeer or Peers[%d])", ErrInvalidConfig, c.ID, c.ID)
	}
	if !c.Join && len(c.Peers) == 0 {
		return c, fmt.Errorf("%w: Peers must list the initial members", ErrInvalidConfig)
	}
	if !c.Join {
		if _, ok := c.Peers[c.ID]; !ok {
			return c, fmt.Errorf("%w: Peers must include node %d itself", ErrInvalidConfig, c.ID)
		}
	}
	if c.ListenHTTP == "" {
		return c, fmt.Errorf("%w: ListenHTTP must be set", ErrInvalidConfig)
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = DefaultSnapshotEvery
	}
	if c.MaxValueSize < 0 {
		return c, fmt.Errorf("%w: MaxValueSize %d is negative", ErrInvalidConfig, c.MaxValueSize)
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.TickInterval < 0 {
		return c, fmt.Errorf("%w: TickInterval %v is negative", ErrInvalidConfig, c.TickInterval)
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
