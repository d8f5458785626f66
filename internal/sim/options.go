package sim

import (
	"fmt"

	"github.com/keelraft/raft"
)

// Options configure one simulated cluster. Every node gets the same raft
// configuration.
type Options struct {
	// Nodes is the number of voters, 3 to 7, with IDs 1 to Nodes.
	Nodes int
	// ElectionTick and HeartbeatTick are the raft timeouts, in ticks.
	ElectionTick, HeartbeatTick int
	// PreVote and CheckQuorum are passed to raft.Config.
	PreVote, CheckQuorum bool
	// MaxSizePerMsg, MaxInflightMsgs and MaxCommittedSizePerReady are passed
	// to raft.Config; small values split the log into many messages and
	// Readies.
	MaxSizePerMsg            uint64
	MaxInflightMsgs          int
	MaxCommittedSizePerReady uint64
	// Wire sends every message through Marshal and Unmarshal, so that no
	// memory is shared between nodes, as over a real network.
	Wire bool
	// LeaseReads sets raft.Config.ReadOnlyOption to ReadOnlyLeaseBased,
	// which needs CheckQuorum. A lease is safe only under bounded clock
	// drift, and the simulator models none: with LeaseReads every tick is
	// global (OpTick ticks every node that is up, as OpTickAll does, and
	// the liveness check ticks all nodes before it delivers anything), so
	// that all clocks run at one rate. Messages, drops, partitions and
	// crashes stay as random as in any run.
	LeaseReads bool
	// Membership lets OpConfChange change the configuration: add voters
	// and learners (new nodes, which start with empty storage), remove
	// members, promote learners, demote voters, and joint changes (see
	// membership.go). Without it OpConfChange does nothing.
	Membership bool
	// PipelineDepth is how many Readys a host may hold at once, taking the
	// next before it advanced the last (see raft.Ready on pipelining);
	// 0 and 1 mean one at a time. OpReady with an odd B takes one more
	// while there is room.
	PipelineDepth int
	// Logger receives the nodes' log lines; nil discards them.
	Logger raft.Logger
}

// GoString renders o as a Go literal, for regression tests.
func (o Options) GoString() string {
	return fmt.Sprintf("Options{Nodes: %d, ElectionTick: %d, HeartbeatTick: %d, PreVote: %t, CheckQuorum: %t, "+
		"MaxSizePerMsg: %d, MaxInflightMsgs: %d, MaxCommittedSizePerReady: %d, Wire: %t, LeaseReads: %t, Membership: %t, "+
		"PipelineDepth: %d}",
		o.Nodes, o.ElectionTick, o.HeartbeatTick, o.PreVote, o.CheckQuorum,
		o.MaxSizePerMsg, o.MaxInflightMsgs, o.MaxCommittedSizePerReady, o.Wire, o.LeaseReads, o.Membership,
		o.PipelineDepth)
}

// pipelineDepth is PipelineDepth, at least 1.
func (o Options) pipelineDepth() int { return max(o.PipelineDepth, 1) }

// DrawOptions draws a configuration. The first choice of each draw is the
// plain one (three nodes, no PreVote, no limits), which is where a shrinker
// drifts. Odd cluster sizes are likelier: they tolerate the most failures
// for their size, which is where subtle schedules live.
func DrawOptions(src Source) Options {
	o := Options{
		Nodes:           3 + pick(src, "nodes", 4, 2, 3, 1, 2),
		ElectionTick:    3 + src.Intn(6, "electionTick"),
		HeartbeatTick:   1,
		PreVote:         src.Intn(2, "preVote") == 1,
		CheckQuorum:     src.Intn(2, "checkQuorum") == 1,
		MaxInflightMsgs: 256,
	}
	if src.Intn(3, "heartbeatTick") == 2 {
		o.HeartbeatTick = 1 + src.Intn(o.ElectionTick-1, "heartbeatTicks")
	}
	if src.Intn(3, "smallMsgs") == 2 {
		// An entry costs 24 bytes of overhead plus a few of data: this
		// allows one to three entries per message.
		o.MaxSizePerMsg = 1 + uint64(src.Intn(80, "maxSizePerMsg"))
	}
	if src.Intn(3, "smallInflight") == 2 {
		o.MaxInflightMsgs = 1 + src.Intn(4, "maxInflightMsgs")
	}
	if src.Intn(4, "smallReadies") == 3 {
		o.MaxCommittedSizePerReady = 1 + uint64(src.Intn(80, "maxCommittedSizePerReady"))
	}
	o.Wire = src.Intn(4, "wire") == 3
	if o.CheckQuorum {
		o.LeaseReads = src.Intn(2, "leaseReads") == 1
	}
	o.Membership = src.Intn(2, "membership") == 1
	if src.Intn(2, "pipeline") == 1 {
		o.PipelineDepth = 2 + src.Intn(3, "pipelineDepth")
	}
	return o
}

func (o Options) validate() error {
	if o.Nodes < 1 || o.Nodes > 7 {
		return fmt.Errorf("sim: Nodes %d is outside [1, 7]", o.Nodes)
	}
	if o.ElectionTick <= o.HeartbeatTick || o.HeartbeatTick < 1 {
		return fmt.Errorf("sim: need 1 <= HeartbeatTick %d < ElectionTick %d", o.HeartbeatTick, o.ElectionTick)
	}
	if o.LeaseReads && !o.CheckQuorum {
		return fmt.Errorf("sim: LeaseReads needs CheckQuorum")
	}
	if o.PipelineDepth < 0 {
		return fmt.Errorf("sim: PipelineDepth %d is negative", o.PipelineDepth)
	}
	if o.MaxInflightMsgs < 1 {
		return fmt.Errorf("sim: MaxInflightMsgs %d must be positive", o.MaxInflightMsgs)
	}
	return nil
}

// config returns the raft configuration of node id over disk.
func (o Options) config(id uint64, disk *raft.MemoryStorage, applied uint64) *raft.Config {
	logger := o.Logger
	if logger == nil {
		logger = raft.DiscardLogger
	}
	return &raft.Config{
		ID:                       id,
		ElectionTick:             o.ElectionTick,
		HeartbeatTick:            o.HeartbeatTick,
		Storage:                  disk,
		Applied:                  applied,
		MaxSizePerMsg:            o.MaxSizePerMsg,
		MaxCommittedSizePerReady: o.MaxCommittedSizePerReady,
		MaxInflightMsgs:          o.MaxInflightMsgs,
		CheckQuorum:              o.CheckQuorum,
		PreVote:                  o.PreVote,
		ReadOnlyOption:           o.readOnlyOption(),
		Logger:                   logger,
	}
}

func (o Options) readOnlyOption() raft.ReadOnlyOption {
	if o.LeaseReads {
		return raft.ReadOnlyLeaseBased
	}
	return raft.ReadOnlySafe
}
