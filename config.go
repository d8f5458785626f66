package raft

import (
	"errors"
	"fmt"
)

// ReadOnlyOption chooses how the leader confirms a read index (§8).
type ReadOnlyOption uint8

const (
	// ReadOnlySafe confirms each read with a round of heartbeats acknowledged
	// by a quorum. It relies on nothing but the protocol.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased answers from the leader's commit index without a
	// heartbeat round, trusting that no other leader can exist while this
	// one has heard from a quorum within an election timeout (CheckQuorum).
	// It assumes the nodes' clocks advance at about the same rate: a node
	// whose ticks run slow may keep leading past its lease, and a read may
	// then miss writes committed by a newer leader. Use it only where
	// bounded clock drift is a given.
	//
	// To keep the leases it confirmed, a node neither votes for another
	// nor campaigns when its host calls Campaign while it heard from a
	// leader within an election timeout, nor for an election timeout
	// after it starts (it may have confirmed a lease before a crash).
	// A leadership transfer still works: the leader gives its lease up.
	ReadOnlyLeaseBased
)

var readOnlyOptionNames = [...]string{"ReadOnlySafe", "ReadOnlyLeaseBased"}

func (o ReadOnlyOption) String() string {
	return enumName(readOnlyOptionNames[:], uint8(o), "ReadOnlyOption")
}

// Config holds what a node needs to start. The zero value of each field
// is a usable default except where Validate says otherwise: ID, Storage and
// MaxInflightMsgs must be set.
type Config struct {
	// ID identifies this node; it must not be 0.
	ID uint64

	// ElectionTick is the number of Ticks a follower waits without hearing
	// from a leader before it campaigns. Each election waits a random
	// timeout in [ElectionTick, 2*ElectionTick) so that split votes end
	// (§5.2). Zero means 10.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between a leader's heartbeats.
	// It must be less than ElectionTick. Zero means 1.
	HeartbeatTick int

	// Storage is the node's stable storage: its log, hard state and
	// snapshots. The node reads it; the host writes it.
	Storage Storage
	// Applied is the last index the host applied before a restart. The node
	// hands out committed entries after it.
	Applied uint64

	// MaxSizePerMsg limits the bytes of entries in one append message. An
	// append carries at least one entry whatever the limit. Zero means
	// 1 MiB.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady limits the bytes of committed entries in
	// one Ready (at least one entry is handed out). Zero means no limit.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize limits the payload bytes a leader holds
	// appended but not yet committed; proposals past it are refused with
	// ErrProposalDropped. Zero means no limit.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs limits the appends in flight to one follower in
	// StateReplicate. It must be positive; 256 is a good start.
	MaxInflightMsgs int
	// MaxInflightBytes limits the payload bytes in flight to one follower.
	// Zero means no limit.
	MaxInflightBytes uint64

	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers that heard
	// from a leader recently ignore vote requests.
	CheckQuorum bool
	// PreVote makes a node ask whether it could win an election before it
	// raises its term (Raft thesis §9.6), so that a node returning from a
	// partition does not depose a healthy leader.
	PreVote bool
	// ReadOnlyOption chooses how read indexes are confirmed.
	// ReadOnlyLeaseBased needs CheckQuorum.
	ReadOnlyOption ReadOnlyOption

	// Logger receives the node's log lines. Nil means a logger built on
	// log/slog's default handler.
	Logger Logger

	// DisableProposalForwarding makes followers refuse proposals with
	// ErrProposalDropped instead of forwarding them to the leader.
	DisableProposalForwarding bool
}

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("raft: invalid config")

// Validate reports the first mistake in c, as an error wrapping
// ErrInvalidConfig that names the field. It does not change c.
func (c *Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.ID == None:
		return fmt.Errorf("%w: ID must not be 0", ErrInvalidConfig)
	case d.ElectionTick < 0:
		return fmt.Errorf("%w: ElectionTick %d is negative", ErrInvalidConfig, d.ElectionTick)
	case d.HeartbeatTick < 0:
		return fmt.Errorf("%w: HeartbeatTick %d is negative", ErrInvalidConfig, d.HeartbeatTick)
	case d.HeartbeatTick >= d.ElectionTick:
		return fmt.Errorf("%w: HeartbeatTick %d must be less than ElectionTick %d", ErrInvalidConfig, d.HeartbeatTick, d.ElectionTick)
	case d.Storage == nil:
		return fmt.Errorf("%w: Storage must not be nil", ErrInvalidConfig)
	case d.MaxInflightMsgs <= 0:
		return fmt.Errorf("%w: MaxInflightMsgs %d must be positive", ErrInvalidConfig, d.MaxInflightMsgs)
	case d.ReadOnlyOption > ReadOnlyLeaseBased:
		return fmt.Errorf("%w: unknown ReadOnlyOption %d", ErrInvalidConfig, d.ReadOnlyOption)
	case d.ReadOnlyOption == ReadOnlyLeaseBased && !d.CheckQuorum:
		return fmt.Errorf("%w: ReadOnlyLeaseBased needs CheckQuorum", ErrInvalidConfig)
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c *Config) withDefaults() Config {
	d := *c
	if d.ElectionTick == 0 {
		d.ElectionTick = 10
	}
	if d.HeartbeatTick == 0 {
		d.HeartbeatTick = 1
	}
	if d.MaxSizePerMsg == 0 {
		d.MaxSizePerMsg = 1 << 20
	}
	if d.MaxCommittedSizePerReady == 0 {
		d.MaxCommittedSizePerReady = noLimit
	}
	if d.MaxUncommittedEntriesSize == 0 {
		d.MaxUncommittedEntriesSize = noLimit
	}
	if d.Logger == nil {
		d.Logger = defaultLogger(d.ID)
	}
	return d
}
