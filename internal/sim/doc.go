// Package sim is a deterministic simulator of a raft cluster, and the
// property-based tests of Raft's safety and liveness that run on it.
//
// A Sim runs up to 7 raft.RawNodes (3 to 7 at the start) in one goroutine. Each node has a host
// that follows the Ready contract in separate steps (take the Ready and send
// its messages; persist; apply; Advance), over a raft.MemoryStorage that
// plays the disk: a crash keeps what was persisted and loses the rest, with
// every message in flight to or from the node. Every choice is a Step: which
// node ticks or moves its Ready cycle on, which message is delivered,
// dropped or duplicated (the network is a bag, so delivery order is a
// choice too), partitions and one-way link cuts, crashes, restarts and
// reboots, log compaction, client proposals and ReadIndex reads, leadership
// transfers and campaigns. The steps come from one Source (rapid's
// generator, or a *rand.Rand from a seed), and raft seeds its election
// timeouts from the node's ID and term, so a run replays exactly from its
// Options and steps (see Replay).
//
// After every step (and after every event of the steps that run many) the
// simulator checks election safety, leader append-only, log matching,
// leader completeness, state machine safety, durability and read
// linearizability (see the Prop constants and check.go). CheckLiveness then
// ends the faults and checks that a leader is elected and a new proposal
// commits on every live member within a bound (see LivenessBound).
//
// # Lease reads
//
// With Options.LeaseReads (drawn only with CheckQuorum, as raft.Config
// requires) reads use raft.ReadOnlyLeaseBased, and the read linearizability
// check covers them. A lease is safe only under bounded clock drift; the
// simulator models zero drift: every tick is global (it ticks every node
// that is up once), while delays, drops, partitions and crashes stay
// random.
//
// # Membership changes
//
// With Options.Membership, OpConfChange has the leader propose random
// changes: add a voter or a learner (a new node, started with empty
// storage and no bootstrap), remove a member, promote a learner, demote a
// voter, and joint changes of one to three of these, left automatically or
// explicitly (a later OpConfChange proposes the explicit leave). Hosts
// apply changes with ApplyConfChange and keep the ConfState in their
// snapshots; a removed node runs until every member applied the
// configuration without it, then is retired (membership.go). At most 7
// nodes run, and at least one voter remains. The checks that count
// majorities use configurations: durability holds a committed entry to a
// quorum (each half, if joint) of the configuration of a leader that
// committed it (commit certificates, see Sim.certify); every node that
// applies a configuration change must get the same configuration from it;
// the liveness check restarts voters of the applied sequence's
// configuration (and, with membership changes, of the one before it), and
// asks the proposal, the reads and the catching up of the live members of
// that configuration only.
//
// # Running the tests
//
// CI runs a bounded number of cases, fewer under -race (see ciSeeds and
// ciChecks in norace_test.go and race_test.go):
//
//	go test ./internal/sim
//
// Many cases locally, with rapid (which shrinks a failure to a short
// schedule) and with a seed sweep (each seed a whole schedule; a sweep is a
// fixed range of seeds, so it is repeatable):
//
//	go test ./internal/sim -run TestProperties -rapid.checks=100000 -timeout=0
//	go test ./internal/sim -run TestSeeds -sim.seeds=100000 -timeout=0
//	go test ./internal/sim -run TestSeeds -sim.seeds=100000 -sim.seed0=100000 -timeout=0
//
// A rapid case runs 300 steps on average here (-rapid.steps overrides it).
// A failure prints a readable trace of its minimized schedule and Go
// literals of its Options and steps: paste them into a TestRegression_ test
// (see regress_test.go). One seed replays with -sim.seeds=1 -sim.seed0=N.
//
// The bugs of internal/bugs must each be found by a seed sweep:
//
//	go test -tags keelraft_bugs ./internal/sim -run TestInjectedBugs -v
package sim
